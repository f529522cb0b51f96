// SQLite under power cuts, as a user tests a database on pmemfs: a stream of
// committed transactions (tests/mount/sqlite_workload.py), the machine
// stopped mid-run, the power cut, recovery, then PRAGMA integrity_check and
// every transaction the program saw committed must be there. Each journal
// mode (WAL, rollback) in each cache mode, with and without eviction, four
// cuts in a row on the same database. On the code before the PMD eviction
// fix, the WAL runs with cache=none reported "database disk image is
// malformed" after the first cut.
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "fuse/exit_status.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

std::string workload_script() {
  const char* dir = getenv("PMEMFS_TEST_SCRIPTS");
  return std::string(dir ? dir : "tests/mount") + "/sqlite_workload.py";
}

// The last complete line of path as a number, and how many lines it has.
std::pair<long, long> last_counter(const std::string& path) {
  std::ifstream in(path);
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  long last = 0, lines = 0;
  std::istringstream s(all.substr(0, all.rfind('\n') == std::string::npos ? 0 : all.rfind('\n') + 1));
  for (std::string line; std::getline(s, line); ++lines) last = std::stol(line);
  return {last, lines};
}

struct Case {
  const char* name;
  const char* mount_options;
  const char* journal;  // wal | delete
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.journal << " with " << c.mount_options; }

class SqlitePowercutTest : public MountTest, public ::testing::WithParamInterface<Case> {
 protected:
  std::string mount_options() const override { return GetParam().mount_options; }
  uint64_t pool_size() const override { return 128 * kMiB; }

  std::vector<std::string> args(const std::string& verb) const {
    std::vector<std::string> a = {python(), workload_script(), verb, p("db"), GetParam().journal};
    if (std::string(GetParam().mount_options).find("cache=none") != std::string::npos)
      a.push_back("exclusive");
    return a;
  }

  // Starts the workload, lets it commit at least min_commits more, stops it
  // (as a power failure stops every process at once), cuts the power and
  // kills it. Returns the last counter it printed.
  long run_until_cut(long min_commits, long already) {
    const std::string out = fs_->dir() + "/committed.txt";
    pid_t pid = fork();
    if (pid == 0) {
      int fd = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(fd, 1);
      auto a = args("run");
      std::vector<char*> argv;
      for (auto& s : a) argv.push_back(s.data());
      argv.push_back(nullptr);
      execvp(argv[0], argv.data());
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    long last = already;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid, &status, WNOHANG) == pid) {
        ADD_FAILURE() << "the workload exited with status " << status << " after " << last;
        return -1;
      }
      auto [l, lines] = last_counter(out);
      last = lines ? l : already;
      if (last - already >= min_commits) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    kill(pid, SIGSTOP);
    last = last_counter(out).first;  // all it printed before it stopped
    auto r = run({ctl_path(), "powercut", fs_->mnt()});
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
    EXPECT_EQ(0, r.status) << r.output;
    EXPECT_EQ(daemon::kExitPowerCut, fs_->wait_daemon(5000)) << fs_->daemon_log();
    EXPECT_GT(last - already, min_commits / 2) << "the workload barely ran";
    return last;
  }
};

TEST_P(SqlitePowercutTest, EveryCommittedTransactionSurvivesAndTheDatabaseIsIntact) {
  long last = 0;
  for (int cut = 1; cut <= 4; ++cut) {
    last = run_until_cut(600, last);
    ASSERT_GT(last, 0);
    ASSERT_TRUE(fs_->mount(GetParam().mount_options)) << "recovery after cut " << cut;
    auto a = args("check");
    a.push_back(std::to_string(last));
    auto r = run(a);
    ASSERT_EQ(0, r.status) << "after cut " << cut << ", " << last << " transactions committed:\n"
                           << r.output;
  }
  // The checker can fail: claiming two more commits than could have
  // happened must be reported as lost transactions.
  auto a = args("check");
  a.push_back(std::to_string(last + 2));
  EXPECT_NE(0, run(a).status) << "the checker missed two lost transactions";
  ASSERT_EQ(0, fs_->unmount()) << fs_->daemon_log();
  auto r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

const Case kCases[] = {
    {"WalWritethrough", "powerfail_sim", "wal"},
    {"RollbackWritethrough", "powerfail_sim", "delete"},
    {"WalWritethroughHalfEvicted", "powerfail_sim,powerfail_evict=0.5", "wal"},
    {"RollbackWritethroughHalfEvicted", "powerfail_sim,powerfail_evict=0.5", "delete"},
    {"WalWriteback", "powerfail_sim,cache=writeback", "wal"},
    {"RollbackWriteback", "powerfail_sim,cache=writeback", "delete"},
    {"WalWritebackHalfEvicted", "powerfail_sim,cache=writeback,powerfail_evict=0.5", "wal"},
    {"RollbackWritebackHalfEvicted", "powerfail_sim,cache=writeback,powerfail_evict=0.5", "delete"},
    {"WalNoCache", "powerfail_sim,cache=none", "wal"},
    {"RollbackNoCache", "powerfail_sim,cache=none", "delete"},
    {"WalNoCacheHalfEvicted", "powerfail_sim,cache=none,powerfail_evict=0.5", "wal"},
    {"RollbackNoCacheHalfEvicted", "powerfail_sim,cache=none,powerfail_evict=0.5", "delete"},
};
INSTANTIATE_TEST_SUITE_P(Sqlite, SqlitePowercutTest, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& info) { return info.param.name; });

}  // namespace
}  // namespace pmemfs::test
