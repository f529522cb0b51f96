// fsck.pmemfs as fsck(8) runs it: exit codes for bad usage and for sources
// that cannot be checked, one clear line each.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

namespace {

struct Run {
  int code;
  std::string output;  // stdout and stderr
};

Run run(const std::string& args) {
  const std::string cmd = std::string(FSCK_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Run r{-1, ""};
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::string temp_path(const char* what) {
  return "/tmp/fsck-cli-test-" + std::to_string(getpid()) + "-" + what;
}

TEST(FsckCli, NoSourceIsUsageError) {
  auto r = run("");
  EXPECT_EQ(r.code, 16);
  EXPECT_NE(r.output.find("usage:"), std::string::npos) << r.output;
}

TEST(FsckCli, ConflictingModesAreUsageError) {
  EXPECT_EQ(run("-n -y /nonexistent").code, 16);
  EXPECT_EQ(run("-n -p /nonexistent").code, 16);
}

TEST(FsckCli, UnknownOptionIsUsageError) {
  auto r = run("-Z /nonexistent");
  EXPECT_EQ(r.code, 16);
  EXPECT_NE(r.output.find("-Z"), std::string::npos) << r.output;
}

TEST(FsckCli, TwoSourcesIsUsageError) { EXPECT_EQ(run("-n /a /b").code, 16); }

TEST(FsckCli, MissingSourceIsOperationalError) {
  auto r = run("-n /nonexistent/pool");
  EXPECT_EQ(r.code, 8);
  EXPECT_NE(r.output.find("No such file"), std::string::npos) << r.output;
}

TEST(FsckCli, ForeignFileIsOperationalError) {
  const std::string path = temp_path("zero.pool");
  {
    std::ofstream f(path);
    f.seekp((32 << 20) - 1);
    f.put('\0');
  }
  auto r = run("-y " + path);
  EXPECT_EQ(r.code, 8);
  EXPECT_NE(r.output.find("not a pmemfs pool"), std::string::npos) << r.output;
  unlink(path.c_str());
}

TEST(FsckCli, TinyFileIsOperationalError) {
  const std::string path = temp_path("tiny.pool");
  { std::ofstream(path) << "hello"; }
  auto r = run("-n " + path);
  EXPECT_EQ(r.code, 8);
  EXPECT_NE(r.output.find("too small"), std::string::npos) << r.output;
  unlink(path.c_str());
}

TEST(FsckCli, DirectoryIsOperationalError) { EXPECT_EQ(run("-n /tmp").code, 8); }

TEST(FsckCli, HelpAndVersionSucceed) {
  EXPECT_EQ(run("--help").code, 0);
  EXPECT_EQ(run("-V").code, 0);
}

}  // namespace
