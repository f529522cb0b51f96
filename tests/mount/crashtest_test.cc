// pmemfs-crashtest as a user runs it (tools/crashtest/pmemfs-crashtest): a
// correct program passes, the two classic mistakes are caught, real
// databases keep every commit they reported, and bad input gets one line.
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

std::string crashtest() {
  const char* p = getenv("PMEMFS_CRASHTEST");
  return p ? p : "pmemfs-crashtest";
}

std::string script(const std::string& name) {
  const char* dir = getenv("PMEMFS_CRASHTEST_SCRIPTS");
  return std::string(dir ? dir : "tests/crashtest") + "/" + name;
}

ProcResult crashtest_run(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {crashtest(), "--pool", "64M", "--seed", "42"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {"PMEMFS_DAEMON=" + daemon_path(), "PMEMFS_CTL=" + ctl_path(),
                    "PMEMFS_FSCK=" + fsck_path(), "PMEMFS_MKFS=" + std::string(getenv("PMEMFS_MKFS"))});
}

std::string records(const std::string& args) { return python() + " " + script("records.py") + " " + args; }

class CrashtestTest : public ::testing::Test {
 protected:
  void SetUp() override { PMEMFS_REQUIRE_FUSE(); }
};

TEST_F(CrashtestTest, AProgramThatFsyncsEachRecordPasses50RunsWithEviction) {
  auto r = crashtest_run({"--runs", "50", "--evict", "0.5", "--max-time", "0.4", "--run",
                          records("append"), "--check", records("check-append")});
  EXPECT_EQ(0, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("50 of 50 runs passed")) << r.output;
}

TEST_F(CrashtestTest, AProgramThatNeverFsyncsIsCaughtWithin50Runs) {
  auto r = crashtest_run({"--runs", "50", "--stop-on-failure", "--max-time", "0.4", "--run",
                          records("append --no-fsync"), "--check", records("check-append")});
  EXPECT_EQ(1, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("CHECKER FAILED")) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("replay: pmemfs-crashtest --runs 1 --seed")) << r.output;
}

TEST_F(CrashtestTest, ARenameOverAFileWhoseDataWasNeverSyncedIsCaughtWithin50Runs) {
  auto r = crashtest_run({"--runs", "50", "--stop-on-failure", "--max-time", "0.4", "--run",
                          records("replace"), "--check", records("check-replace")});
  EXPECT_EQ(1, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("CHECKER FAILED")) << r.output;
}

TEST_F(CrashtestTest, TheSameRenameWithTheDataSyncedFirstPasses) {
  auto r = crashtest_run({"--runs", "15", "--evict", "0.5", "--max-time", "0.4", "--run",
                          records("replace --fsync-data"), "--check", records("check-replace")});
  EXPECT_EQ(0, r.status) << r.output;
}

TEST_F(CrashtestTest, ACutRightAfterTheKthSyncKeepsExactlyWhatWasSynced) {
  auto r = crashtest_run({"--runs", "3", "--cut", "after-sync=25", "--run", records("append"),
                          "--check", records("check-append")});
  EXPECT_EQ(0, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("cut right after sync 25")) << r.output;
}

TEST_F(CrashtestTest, SqliteKeepsEveryTransactionItReportedCommitted) {
  const std::string sqlite = python() + " " + script("../mount/sqlite_workload.py");
  auto r = crashtest_run({"--runs", "4", "--evict", "0.5", "--max-time", "1.5", "--run",
                          sqlite + " run $PMEMFS_MNT/db wal", "--check",
                          sqlite + " check $PMEMFS_MNT/db wal $(n=$(tail -n 1 \"$PMEMFS_RUN_OUTPUT\"); echo ${n:-0})"});
  EXPECT_EQ(0, r.status) << r.output;
}

TEST_F(CrashtestTest, LmdbKeepsEveryTransactionItReportedCommitted) {
  const std::string lmdb = python() + " " + script("lmdb_workload.py");
  auto r = crashtest_run({"--runs", "4", "--evict", "0.5", "--max-time", "1", "--run", lmdb + " run",
                          "--check", lmdb + " check"});
  EXPECT_EQ(0, r.status) << r.output;
}

TEST_F(CrashtestTest, BadInputGetsOneClearLine) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  } cases[] = {
      {{"--check", "true"}, "give the program to test with --run"},
      {{"--run", "true"}, "give the checker with --check"},
      {{"--run", "no-such-program-here", "--check", "true"}, "cannot run 'no-such-program-here'"},
      {{"--cut", "sometimes", "--run", "true", "--check", "true"}, "--cut sometimes"},
      {{"--evict", "2", "--run", "true", "--check", "true"}, "--evict 2"},
      {{"--runs", "0", "--run", "true", "--check", "true"}, "--runs 0"},
  };
  for (const Case& c : cases) {
    auto r = crashtest_run(c.args);
    EXPECT_EQ(2, r.status) << r.output;
    EXPECT_NE(std::string::npos, r.output.find(c.says)) << r.output;
    EXPECT_EQ(1, std::count(r.output.begin(), r.output.end(), '\n')) << r.output;
  }
}

}  // namespace
}  // namespace pmemfs::test
