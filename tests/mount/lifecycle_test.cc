// Starting, stopping and mounting the daemon the ways users do: SIGTERM,
// umount, a second mount, the background mode that mount(8) relies on, the
// mount helper, and bad input.
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

class LifecycleTest : public MountTest {
 protected:
  std::string second_mountpoint() {
    std::string m = fs_->dir() + "/mnt2";
    mkdir(m.c_str(), 0755);
    return m;
  }
};

bool mounted_in_proc(const std::string& mnt, std::string* line_out = nullptr) {
  std::ifstream in("/proc/self/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string src, dir, type;
    ls >> src >> dir >> type;
    if (dir == mnt) {
      if (line_out) *line_out = line;
      return true;
    }
  }
  return false;
}

// Reaps any child (daemons orphaned to us as subreaper) within timeout.
int reap_any(int timeout_ms) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    pid_t r = waitpid(-1, &status, WNOHANG);
    if (r > 0) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return -1;
}

TEST_F(LifecycleTest, SigtermWritesBackExitsZeroAndARemountFollowsAtOnce) {
  // Written through the writeback cache, not fsynced: SIGTERM must not lose it.
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_TRUE(fs_->mount("cache=writeback"));
  const std::string data = pattern(3 << 20, 30);
  ASSERT_EQ(0, write_file(p("unsynced"), data));
  EXPECT_EQ(0, fs_->terminate()) << fs_->daemon_log();
  EXPECT_FALSE(mounted_in_proc(fs_->mnt()));
  ASSERT_TRUE(fs_->mount(""));
  EXPECT_TRUE(read_file(p("unsynced")) == data);
}

TEST_F(LifecycleTest, SigtermWithOpenFilesStillEndsCleanly) {
  Fd fd(open(p("held").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(5, write(fd, "hello", 5));
  EXPECT_EQ(0, fs_->terminate()) << fs_->daemon_log();
  EXPECT_FALSE(mounted_in_proc(fs_->mnt()));
  close(std::exchange(fd.fd, -1));
  ASSERT_TRUE(fs_->mount(""));
  EXPECT_EQ("hello", read_file(p("held")));
}

TEST_F(LifecycleTest, ReadOnlyMountServesReadsAndRefusesWrites) {
  ASSERT_EQ(0, write_file(p("f"), "frozen"));
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_TRUE(fs_->mount("ro"));
  EXPECT_EQ("frozen", read_file(p("f")));
  errno = 0;
  EXPECT_EQ(-1, open(p("f").c_str(), O_WRONLY));
  EXPECT_EQ(EROFS, errno);
  EXPECT_EQ(-1, mkdir(p("d").c_str(), 0755));
  EXPECT_EQ(EROFS, errno);
}

TEST_F(LifecycleTest, SecondMountOfTheSamePoolFailsWithAMessage) {
  const std::string mnt2 = second_mountpoint();
  auto r = run({daemon_path(), "-f", "-o", "lock_wait=0", fs_->pool(), mnt2});
  EXPECT_NE(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find("in use")) << r.output;
  EXPECT_NE(std::string::npos, r.output.find(fs_->pool())) << r.output;
  EXPECT_FALSE(mounted_in_proc(mnt2));
  // The first mount is unharmed.
  EXPECT_EQ(0, write_file(p("still"), "fine"));
}

TEST_F(LifecycleTest, MountRightAfterUmountWaitsForTheOldDaemon) {
  ASSERT_EQ(0, write_file(p("f"), "kept"));
  ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));  // so the new daemon can be reaped here
  ASSERT_EQ(0, umount2(fs_->mnt().c_str(), 0));
  // Do not wait for the old daemon: the new one must wait for the pool.
  auto r = run({daemon_path(), "-o", "allow_other", fs_->pool(), fs_->mnt()});
  EXPECT_EQ(0, r.status) << r.output;
  EXPECT_EQ(0, fs_->wait_daemon());
  EXPECT_EQ("kept", read_file(p("f")));
  EXPECT_EQ(0, umount2(fs_->mnt().c_str(), 0));
  EXPECT_EQ(0, reap_any(15000));
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_F(LifecycleTest, BackgroundModeReturnsOnlyOnceMountedAndEndsOnUmount) {
  ASSERT_EQ(0, write_file(p("f"), "bg"));
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));  // so the daemon can be reaped here
  auto r = run({daemon_path(), "-o", "allow_other", fs_->pool(), fs_->mnt()});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_EQ("", r.output);  // a successful mount is silent
  // Usable the moment the command returned: no polling.
  EXPECT_TRUE(fs_->is_mounted());
  EXPECT_EQ("bg", read_file(p("f")));
  ASSERT_EQ(0, umount2(fs_->mnt().c_str(), 0));
  EXPECT_EQ(0, reap_any(15000));
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_F(LifecycleTest, BackgroundModeReportsAFailedMountOnTheTerminal) {
  const std::string mnt2 = second_mountpoint();
  // The pool is busy (mounted by the fixture): the error must come back
  // from the daemonised child through the parent, with a non-zero status.
  auto r = run({daemon_path(), "-o", "lock_wait=0", fs_->pool(), mnt2});
  EXPECT_NE(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find("in use")) << r.output;
  EXPECT_FALSE(mounted_in_proc(mnt2));
}

TEST_F(LifecycleTest, BadInputGetsOneClearMessageAndNonZeroExit) {
  const std::string d = daemon_path();
  const std::string mnt2 = second_mountpoint();
  struct Case {
    std::vector<std::string> argv;
    std::string must_mention;
  } cases[] = {
      {{d, fs_->pool()}, "MOUNTPOINT"},
      {{d}, "SOURCE"},
      {{d, "-o", "bogus_option,cache=sometimes", fs_->pool(), mnt2}, "bogus_option"},
      {{d, "-o", "cache=sometimes", fs_->pool(), mnt2}, "cache="},
      {{d, "-x", fs_->pool(), mnt2}, "-x"},
      {{d, fs_->dir() + "/no-such-pool", mnt2}, "no-such-pool"},
      {{d, fs_->pool(), fs_->dir() + "/no-such-dir"}, "no-such-dir"},
      {{d, fs_->pool(), fs_->pool()}, "not a directory"},
      {{d, fs_->pool(), fs_->mnt()}, "already a mount point"},
  };
  for (const Case& c : cases) {
    auto r = run(c.argv);
    std::string cmd;
    for (const auto& a : c.argv) cmd += a + " ";
    EXPECT_NE(0, r.status) << cmd;
    EXPECT_NE(std::string::npos, r.output.find(c.must_mention)) << cmd << "\n" << r.output;
    EXPECT_FALSE(mounted_in_proc(mnt2)) << cmd;
  }
  // A file that is no pool at all.
  const std::string junk = fs_->dir() + "/junk.img";
  {
    std::ofstream(junk) << std::string(1 << 20, 'j');
  }
  auto r = run({d, junk, mnt2});  // background mode: returns even if it wrongly mounted
  EXPECT_NE(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find(junk)) << r.output;
  EXPECT_FALSE(mounted_in_proc(mnt2));
  if (mounted_in_proc(mnt2)) umount2(mnt2.c_str(), MNT_DETACH);
  r = run({d, "--help"});
  EXPECT_EQ(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find("usage:"));
}

TEST_F(LifecycleTest, MountHelperTakesMount8GrammarAndFstabWords) {
  ASSERT_EQ(0, write_file(p("f"), "via helper"));
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
  // What mount(8) runs for an fstab line with the usual noise in it.
  auto r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-n", "-o",
                "defaults,nofail,_netdev,noauto,user,x-systemd.automount,comment=x,rw,"
                "allow_other,cache=writethrough"},
               {"PMEMFS_DAEMON=" + daemon_path()});
  ASSERT_EQ(0, r.status) << r.output;
  std::string line;
  ASSERT_TRUE(mounted_in_proc(fs_->mnt(), &line));
  EXPECT_NE(std::string::npos, line.find("fuse.pmemfs")) << line;
  EXPECT_NE(std::string::npos, line.find(fs_->pool())) << line;
  EXPECT_EQ("via helper", read_file(p("f")));
  ASSERT_EQ(0, umount2(fs_->mnt().c_str(), 0));
  EXPECT_EQ(0, reap_any(15000));

  // -f (fake) does nothing; a missing DIR is a usage error.
  r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-f"}, {"PMEMFS_DAEMON=" + daemon_path()});
  EXPECT_EQ(0, r.status);
  EXPECT_FALSE(mounted_in_proc(fs_->mnt()));
  r = run({mount_helper_path(), fs_->pool()});
  EXPECT_NE(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find("usage")) << r.output;
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

// mount(8) lets the last of ro and rw win; so must the helper and the daemon.
TEST_F(LifecycleTest, MountHelperLetsTheLastOfRoAndRwWin) {
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
  struct Case {
    const char* options;
    bool read_only;
  };
  for (const Case& c : {Case{"ro,rw", false}, Case{"rw,ro", true}, Case{"ro,allow_other,rw", false},
                        Case{"rw,ro,defaults,ro", true}}) {
    SCOPED_TRACE(c.options);
    auto r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-o", c.options},
                 {"PMEMFS_DAEMON=" + daemon_path()});
    ASSERT_EQ(0, r.status) << r.output;
    std::string line;
    ASSERT_TRUE(mounted_in_proc(fs_->mnt(), &line));
    std::istringstream ls(line);
    std::string src, dir, type, opts;
    ls >> src >> dir >> type >> opts;
    EXPECT_EQ(c.read_only ? "ro" : "rw", opts.substr(0, 2)) << line;
    const int w = write_file(p("probe"), "x");
    EXPECT_EQ(c.read_only ? EROFS : 0, w);
    ASSERT_EQ(0, umount2(fs_->mnt().c_str(), 0));
    EXPECT_EQ(0, reap_any(15000));
  }
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_F(LifecycleTest, MountDashTWorksWhenTheHelperIsInstalled) {
  struct stat st {};
  if (stat("/sbin/mount.pmemfs", &st) != 0 && stat("/usr/sbin/mount.pmemfs", &st) != 0)
    GTEST_SKIP() << "mount.pmemfs is not installed (covered by the previous test)";
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_EQ(0, prctl(PR_SET_CHILD_SUBREAPER, 1));
  auto r = run({"mount", "-t", "pmemfs", fs_->pool(), fs_->mnt(), "-o", "allow_other"});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(mounted_in_proc(fs_->mnt()));
  r = run({"umount", fs_->mnt()});
  EXPECT_EQ(0, r.status) << r.output;
  EXPECT_EQ(0, reap_any(15000));
  prctl(PR_SET_CHILD_SUBREAPER, 0);
}

TEST_F(LifecycleTest, CopiedTreeComparesEqualAfterRemount) {
  const std::string tree = "/usr/include/linux";
  struct stat st {};
  if (stat(tree.c_str(), &st) != 0) GTEST_SKIP() << tree << " is missing";
  auto r = run({"cp", "-a", tree, fs_->mnt() + "/"});
  ASSERT_EQ(0, r.status) << r.output;
  ASSERT_TRUE(fs_->remount());
  r = run({"diff", "-r", "--no-dereference", tree, p("linux")});
  EXPECT_EQ(0, r.status) << r.output.substr(0, 4000);
}

}  // namespace
}  // namespace pmemfs::test
