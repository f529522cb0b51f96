// pmemfs-ctl's reading of the daemon's JSON (tools/ctl/daemon_json.h,
// map_text.h): a malformed value or a missing key is one line on stderr that
// names it, and false, never an exception.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "daemon_json.h"
#include "map_text.h"

namespace pmemfs::ctl {
namespace {

// What fn printed on stderr; *ok what it returned.
template <typename F>
std::string stderr_of(F&& fn, bool* ok) {
  ::testing::internal::CaptureStderr();
  *ok = fn();
  return ::testing::internal::GetCapturedStderr();
}

TEST(CtlDaemonJson, NotJsonIsOneLineNamingTheAttribute) {
  DaemonJson j;
  bool ok = true;
  const std::string err = stderr_of([&] { return parse_daemon_json("{\"pid\":12", "user.pmemfs.powerfail of /m", &j); }, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ(0u, err.find("pmemfs-ctl: unexpected answer from the daemon: user.pmemfs.powerfail of /m: not JSON")) << err;
  EXPECT_EQ(1, std::count(err.begin(), err.end(), '\n')) << err;
}

TEST(CtlDaemonJson, MissingKeyAndWrongTypeAreNamed) {
  DaemonJson j;
  ASSERT_TRUE(parse_daemon_json(R"({"pid":12,"powerfail_sim":"yes","evict_probability":0.5})", "x", &j));
  uint64_t pid = 0;
  bool sim = false, ok = true;
  double evict = 0;
  EXPECT_TRUE(json_member(j, "pid", "x", &pid));
  EXPECT_EQ(12u, pid);
  EXPECT_TRUE(json_member(j, "evict_probability", "x", &evict));
  EXPECT_EQ(0.5, evict);
  std::string err = stderr_of([&] { return json_member(j, "power_cut", "x", &sim); }, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ("pmemfs-ctl: unexpected answer from the daemon: x: \"power_cut\" is missing\n", err);
  err = stderr_of([&] { return json_member(j, "powerfail_sim", "x", &sim); }, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ("pmemfs-ctl: unexpected answer from the daemon: x: \"powerfail_sim\" is not true or false\n", err);
  err = stderr_of([&] { return json_member(DaemonJson::array(), "pid", "x", &pid); }, &ok);
  EXPECT_FALSE(ok);
  EXPECT_NE(std::string::npos, err.find("not a JSON object")) << err;
}

TEST(CtlDaemonJson, MapTableAndABadEntry) {
  DaemonJson map;
  ASSERT_TRUE(parse_daemon_json(
      R"([{"file_offset":0,"length":2097152,"pool_offset":4194304,"size_class":"2M"},)"
      R"({"file_offset":2097152,"length":4096,"pool_offset":8192,"size_class":"4K"}])",
      "m", &map));
  std::string text;
  ASSERT_TRUE(map_json_to_text(map, "the map of f", &text));
  EXPECT_NE(std::string::npos, text.find("2097152          4096             8192             4K\n")) << text;
  EXPECT_NE(std::string::npos, text.find("2101248 bytes mapped, 99.8% in 2 MiB extents")) << text;
  map[1].erase("pool_offset");
  bool ok = true;
  const std::string err = stderr_of([&] { return map_json_to_text(map, "the map of f", &text); }, &ok);
  EXPECT_FALSE(ok);
  EXPECT_EQ("pmemfs-ctl: unexpected answer from the daemon: the map of f, extent 1: \"pool_offset\" is missing\n", err);
}

}  // namespace
}  // namespace pmemfs::ctl
