// Request counting in the transport layer (fuse/transport.h, pmemfs.8
// "STATISTICS"): every request the kernel sends is counted per opcode, and
// the counts are exact, so that tests can pin down how many round trips an
// operation costs -- the same over /dev/fuse and over io_uring (the suite
// runs on both: mount and mount_uring). The stats come from the control xattr user.pmemfs.stats
// and from `pmemfs-ctl stats`.
#include <sys/xattr.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

std::string stats_json(const std::string& mnt) {
  char buf[1 << 16];
  ssize_t n = getxattr(mnt.c_str(), "user.pmemfs.stats", buf, sizeof buf);
  if (n < 0) return "getxattr: " + std::string(strerror(errno));
  return std::string(buf, static_cast<size_t>(n));
}

// The object of requests.<op>, e.g. {"count": 3, "p50_us": 12.0, ...}, or "".
std::string request_object(const std::string& json, const std::string& op) {
  const size_t req = json.find("\"requests\"");
  if (req == std::string::npos) return "";
  const size_t key = json.find("\"" + op + "\"", req);
  if (key == std::string::npos) return "";
  const size_t open = json.find('{', key);
  const size_t close = json.find('}', open);
  if (open == std::string::npos || close == std::string::npos) return "";
  return json.substr(open, close - open + 1);
}

// A number field of an object; -1 when missing.
double field(const std::string& obj, const std::string& name) {
  const size_t at = obj.find("\"" + name + "\"");
  if (at == std::string::npos) return -1;
  const size_t colon = obj.find(':', at);
  if (colon == std::string::npos) return -1;
  return std::strtod(obj.c_str() + colon + 1, nullptr);
}

// requests.<op>.count; -1 when missing.
long long count_of(const std::string& json, const std::string& op) {
  std::string obj = request_object(json, op);
  return obj.empty() ? -1 : static_cast<long long>(field(obj, "count"));
}

// The transport the daemon runs on in this run of the suite: what
// PMEMFS_TEST_MOUNT_OPTIONS asks for, else what io_uring=auto finds (the
// kernel's io_uring when its enable_uring parameter is Y).
std::string expected_transport() {
  const std::string o = "," + test_mount_options() + ",";
  if (o.find(",io_uring=on,") != std::string::npos) return "io_uring";
  if (o.find(",io_uring=off,") != std::string::npos) return "/dev/fuse";
  if (o.find(",io_uring_enable_module,") != std::string::npos) return "io_uring";
  return enable_uring_param() == "Y" ? "io_uring" : "/dev/fuse";
}

class RequestsTest : public MountTest {
 protected:
  std::string mount_options() const override { return "cache=none"; }
};

TEST_F(RequestsTest, StatsNameTheTransportAndCountRequestsByOpcode) {
  const std::string json = stats_json(fs_->mnt());
  EXPECT_NE(std::string::npos, json.find("\"transport\": \"" + expected_transport() + "\""))
      << json;
  EXPECT_NE(std::string::npos, json.find("\"requests\": {")) << json;
  // The mount itself: INIT once, then at least the lookups and getattrs of
  // the test's own setup; and this getxattr is already counted.
  EXPECT_EQ(1, count_of(json, "init")) << json;
  EXPECT_GE(count_of(json, "getxattr"), 1) << json;
  // Every opcode has its key, counted or not.
  for (const char* op : {"lookup", "write", "read", "create", "tmpfile", "statx", "forget"})
    EXPECT_GE(count_of(json, op), 0) << op << " missing in " << json;
  // The fault-path counters are still there.
  EXPECT_NE(std::string::npos, json.find("\"pte_faults\"")) << json;
  EXPECT_EQ('{', json.front());
  EXPECT_EQ('}', json.back());
}

TEST_F(RequestsTest, HundredDirectWritesSendExactlyHundredWrites) {
  Fd fd(open(p("f").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  const std::string block = pattern(4096, 3);
  const std::string before = stats_json(fs_->mnt());
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(4096, pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) * 4096));
  const std::string after = stats_json(fs_->mnt());
  EXPECT_EQ(100, count_of(after, "write") - count_of(before, "write")) << after;
  // The second stats read is the only getxattr in between -- except the
  // security.capability the kernel asks before each write while pmemfs does
  // not negotiate HANDLE_KILLPRIV_V2: counted either way, exactly.
  const long long getxattrs = count_of(after, "getxattr") - count_of(before, "getxattr");
  EXPECT_TRUE(getxattrs == 1 || getxattrs == 101) << getxattrs << "\n" << after;
  RecordProperty("getxattr_per_write", std::to_string((getxattrs - 1) / 100.0));
  // A latency distribution for them, in microseconds.
  const std::string w = request_object(after, "write");
  const double p50 = field(w, "p50_us"), p99 = field(w, "p99_us");
  EXPECT_GT(p50, 0) << w;
  EXPECT_GE(p99, p50) << w;
}

TEST_F(RequestsTest, HundredDirectReadsSendExactlyHundredReads) {
  ASSERT_EQ(0, write_file(p("f"), pattern(100 * 4096, 5)));
  Fd fd(open(p("f").c_str(), O_RDONLY));
  ASSERT_GE(fd, 0);
  char buf[4096];
  const std::string before = stats_json(fs_->mnt());
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(4096, pread(fd, buf, sizeof buf, static_cast<off_t>(i) * 4096));
  const std::string after = stats_json(fs_->mnt());
  EXPECT_EQ(100, count_of(after, "read") - count_of(before, "read")) << after;
}

TEST_F(RequestsTest, EachStatsReadIsOneGetxattr) {
  const std::string a = stats_json(fs_->mnt());
  const std::string b = stats_json(fs_->mnt());
  EXPECT_EQ(1, count_of(b, "getxattr") - count_of(a, "getxattr")) << b;
  // The value's length does not change from one read to the next, so that
  // getxattr(2)'s size probe stays right for the read that follows it.
  EXPECT_EQ(a.size(), b.size());
}

TEST_F(RequestsTest, CtlStatsShowsRequestsAndTransport) {
  auto r = run({ctl_path(), "stats", fs_->mnt()});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("\"transport\": \"" + expected_transport() + "\""))
      << r.output;
  EXPECT_GE(count_of(r.output, "getxattr"), 1) << r.output;
  EXPECT_EQ(1, count_of(r.output, "init")) << r.output;
}

TEST_F(RequestsTest, TheLogSaysWhichTransportRuns) {
  EXPECT_NE(std::string::npos, fs_->daemon_log().find("transport: " + expected_transport() + " ("))
      << fs_->daemon_log();
}

}  // namespace
}  // namespace pmemfs::test
