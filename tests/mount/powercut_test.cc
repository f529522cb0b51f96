// Power failure through the mount (pmemfs.8, "POWER FAILURE"): each test
// mounts with -o powerfail_sim, does its I/O with real system calls, cuts the
// power with `pmemfs-ctl powercut`, mounts the pool again (recovery) and
// checks one guarantee; then the pool must unmount cleanly and fsck -n must
// find nothing wrong. Each guarantee runs twice: without eviction, and with
// powerfail_evict=0.5, where half of the cache lines stored but never
// persisted survive the cut -- the guarantees must hold either way.
#include <sys/mman.h>
#include <sys/xattr.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "fuse/exit_status.h"
#include "tests/mount/stats_json.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

using Clock = std::chrono::steady_clock;

// The first offset where got is neither want's byte nor zero, or npos.
size_t first_foreign_byte(const std::string& got, const std::string& want) {
  for (size_t i = 0; i < got.size(); ++i)
    if (got[i] != 0 && (i >= want.size() || got[i] != want[i])) return i;
  return std::string::npos;
}

bool is_mount_point(const std::string& path) {
  struct stat st {}, parent {};
  return stat(path.c_str(), &st) == 0 && stat((path + "/..").c_str(), &parent) == 0 &&
         st.st_dev != parent.st_dev;
}

bool exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

int write_all(int fd, const std::string& data, off_t off = 0) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// Creates path with data and fsyncs it; 0 or an errno.
int write_synced(const std::string& path, const std::string& data) {
  Fd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644));
  if (fd < 0) return errno;
  if (int e = write_all(fd, data)) return e;
  return fsync(fd) == 0 ? 0 : errno;
}

class PowercutTest : public MountTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }
  // Small, so that blocks freed by one file are soon given to the next, and
  // the cut's eviction and fsck have little to scan.
  uint64_t pool_size() const override { return 64 * kMiB; }

  // pmemfs-ctl powercut: it must succeed, leave the mount point free, and
  // the daemon must have exited saying the power was cut.
  ::testing::AssertionResult cut() {
    auto r = run({ctl_path(), "powercut", fs_->mnt()});
    if (r.status != 0)
      return ::testing::AssertionFailure() << "powercut exited " << r.status << ": " << r.output
                                           << "\ndaemon log:\n" << fs_->daemon_log();
    const int st = fs_->wait_daemon(1000);  // powercut already waited for its exit
    if (st != daemon::kExitPowerCut)
      return ::testing::AssertionFailure() << "daemon exit status " << st << "; its log:\n"
                                           << fs_->daemon_log();
    if (fs_->daemon_log().find("power was cut") == std::string::npos)
      return ::testing::AssertionFailure() << "the log does not say the power was cut:\n"
                                           << fs_->daemon_log();
    if (fs_->is_mounted()) return ::testing::AssertionFailure() << fs_->mnt() << " is still mounted";
    return ::testing::AssertionSuccess();
  }

  // Mounts the pool again, which replays the journal and finishes orphans.
  ::testing::AssertionResult recover() { return fs_->mount(GetParam()); }

  // A clean unmount after recovery, then fsck.pmemfs -n must exit 0.
  void expect_clean_fsck() {
    ASSERT_EQ(0, fs_->unmount()) << fs_->daemon_log();
    auto r = run({fsck_path(), "-n", fs_->pool()});
    EXPECT_EQ(0, r.status) << r.output;
  }
};

TEST_P(PowercutTest, FsyncedAndFdatasyncedDataAndSizeSurvive) {
  const std::string big = pattern(3 * kMiB + 12345, 1);    // 2 MiB extent and 4 KiB blocks
  const std::string small = pattern(70001, 2);
  ASSERT_EQ(0, write_synced(p("fsynced"), big));
  {
    Fd fd(open(p("fdatasynced").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, write_all(fd, small));
    ASSERT_EQ(0, fdatasync(fd));
  }
  ASSERT_TRUE(cut());
  ASSERT_TRUE(recover());
  EXPECT_TRUE(read_file(p("fsynced")) == big) << "fsynced data or size lost";
  EXPECT_TRUE(read_file(p("fdatasynced")) == small) << "fdatasynced data or size lost";
  expect_clean_fsck();
}

TEST_P(PowercutTest, MsyncedRangeOfASharedMappingSurvives) {
  constexpr size_t kSize = 4 * kMiB;
  constexpr size_t kSynced = 2 * kMiB + 8192;  // a PMD and two PTEs' worth
  const std::string synced = pattern(kSynced, 3);
  const std::string unsynced = pattern(kMiB, 4);
  {
    Fd fd(open(p("mapped").c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, ftruncate(fd, kSize));
    void* m = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(MAP_FAILED, m);
    char* base = static_cast<char*>(m);
    std::memcpy(base, synced.data(), kSynced);
    ASSERT_EQ(0, msync(base, kSynced, MS_SYNC));
    std::memcpy(base + 3 * kMiB, unsynced.data(), kMiB);  // never msynced
    // The power goes while the mapping still holds dirty pages.
    EXPECT_TRUE(cut());
    munmap(m, kSize);
  }
  ASSERT_FALSE(HasFailure());
  ASSERT_TRUE(recover());
  const std::string got = read_file(p("mapped"));
  ASSERT_EQ(kSize, got.size());
  EXPECT_TRUE(got.compare(0, kSynced, synced) == 0) << "the msynced range was lost";
  std::string want(kSize, '\0');
  want.replace(0, kSynced, synced);
  want.replace(3 * kMiB, kMiB, unsynced);
  EXPECT_EQ(std::string::npos, first_foreign_byte(got, want));
  expect_clean_fsck();
}

TEST_P(PowercutTest, NamesCreatedInAFsyncedDirectorySurvive) {
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  ASSERT_EQ(0, mkdir(p("never_synced").c_str(), 0755));
  {
    Fd root(open(fs_->mnt().c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_EQ(0, fsync(root));  // "d" itself
  }
  for (int i = 0; i < 20; ++i) ASSERT_EQ(0, write_file(p("d/f" + std::to_string(i)), ""));
  ASSERT_EQ(0, mkdir(p("d/sub").c_str(), 0700));
  ASSERT_EQ(0, symlink("f0", p("d/link").c_str()));
  ASSERT_EQ(0, link(p("d/f1").c_str(), p("d/hard").c_str()));
  ASSERT_EQ(0, mknod(p("d/fifo").c_str(), S_IFIFO | 0600, 0));
  {
    Fd d(open(p("d").c_str(), O_RDONLY | O_DIRECTORY));
    ASSERT_EQ(0, fsync(d));
  }
  ASSERT_EQ(0, write_file(p("never_synced/maybe"), ""));
  ASSERT_TRUE(cut());
  ASSERT_TRUE(recover());
  struct stat st {};
  for (int i = 0; i < 20; ++i)
    EXPECT_TRUE(exists(p("d/f" + std::to_string(i)))) << "d/f" << i << " was lost";
  ASSERT_EQ(0, lstat(p("d/sub").c_str(), &st));
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  char target[16] = {};
  EXPECT_EQ(2, readlink(p("d/link").c_str(), target, sizeof target - 1));
  EXPECT_STREQ("f0", target);
  ASSERT_EQ(0, lstat(p("d/hard").c_str(), &st));
  EXPECT_EQ(2u, st.st_nlink);
  ASSERT_EQ(0, lstat(p("d/fifo").c_str(), &st));
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  // The directory never fsynced may or may not keep its name; if it does,
  // it is whole (fsck below).
  if (lstat(p("never_synced/maybe").c_str(), &st) == 0) {
    EXPECT_TRUE(S_ISREG(st.st_mode));
  }
  expect_clean_fsck();
}

// Versions of the file renamed over "target"; each is fsynced first, so a
// target that names it must hold all of it.
std::string version(int i) { return pattern(8192 + static_cast<size_t>(i), 100 + i); }

TEST_P(PowercutTest, RenameIsAllOrNothingEvenWhenThePowerGoesMidway) {
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  ASSERT_EQ(0, write_synced(p("target"), version(0)));
  const std::string flip = pattern(5000, 7);
  ASSERT_EQ(0, write_synced(p("flip"), flip));
  // The renamer works through descriptors of the mount: once the mount is
  // detached, paths would reach the empty directory beneath it.
  Fd root(open(fs_->mnt().c_str(), O_RDONLY | O_DIRECTORY));
  Fd d(open(p("d").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_GE(root, 0);
  ASSERT_GE(d, 0);
  std::atomic<int> last_renamed{0};
  std::atomic<bool> stop{false}, stopped{false};
  std::thread renamer([&] {
    for (int i = 1; !stop; ++i) {
      const std::string tmp = "new." + std::to_string(i);
      int fd = openat(root, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd < 0) break;  // the connection is gone
      const bool written = write_all(fd, version(i)) == 0 && fsync(fd) == 0;
      close(fd);
      if (!written || renameat(root, tmp.c_str(), root, "target") != 0) break;
      last_renamed = i;
      // And a rename to a new name, across directories, back and forth.
      const bool in_root = i % 2 == 1;
      if (renameat(in_root ? root : d, "flip", in_root ? d : root, "flip") != 0) break;
    }
    stopped = true;
  });
  const auto deadline = Clock::now() + std::chrono::seconds(10);
  while (last_renamed < 20 && !stopped && Clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  // The power goes while renames are under way.
  const bool renaming = !stopped;
  const ::testing::AssertionResult was_cut = renaming ? cut() : ::testing::AssertionFailure();
  stop = true;  // in case the cut failed and the mount still answers
  renamer.join();
  ASSERT_TRUE(renaming) << "the renames failed before the cut, after " << last_renamed;
  ASSERT_TRUE(was_cut);
  const int started = last_renamed + 1;  // the one in flight at the cut, at most
  ASSERT_TRUE(recover());

  const std::string got = read_file(p("target"));
  int k = -1;
  for (int i = 0; i <= started && k < 0; ++i)
    if (got == version(i)) k = i;
  ASSERT_GE(k, 0) << "target holds none of the versions renamed over it (" << got.size()
                  << " bytes)";
  EXPECT_GE(k, last_renamed.load()) << "a rename that returned was lost";
  for (int i = 1; i <= k; ++i)
    EXPECT_FALSE(exists(p("new." + std::to_string(i)))) << "new." << i << " is both renamed and not";
  for (int i = k + 2; i <= started + 1; ++i)
    EXPECT_FALSE(exists(p("new." + std::to_string(i)))) << "new." << i << " was never created";
  const bool in_root = exists(p("flip")), in_d = exists(p("d/flip"));
  EXPECT_NE(in_root, in_d) << "flip must be in exactly one of / and d/";
  EXPECT_TRUE(read_file(p(in_root ? "flip" : "d/flip")) == flip);
  expect_clean_fsck();
}

TEST_P(PowercutTest, BytesNeverWrittenToAFileNeverAppearInIt) {
  // A's blocks are durable, then freed; B likely gets them back. Whatever B
  // holds after the cut must be B's own bytes or zeros, never A's.
  const std::string a = pattern(6 * kMiB, 11);
  ASSERT_EQ(0, write_synced(p("a"), a));
  ASSERT_EQ(0, unlink(p("a").c_str()));
  const std::string b = pattern(8 * kMiB, 12);
  Fd fd(open(p("b").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  // Some of B reaches the daemon (written back, never fsynced), some stays
  // in the page cache, and part of the file is a hole.
  ASSERT_EQ(0, write_all(fd, b.substr(0, 100000)));
  ASSERT_EQ(0, write_all(fd, b.substr(2 * kMiB, 3 * kMiB), 2 * kMiB));
  ASSERT_EQ(0, sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
  ASSERT_EQ(0, write_all(fd, b.substr(6 * kMiB + 123, 777777), 6 * kMiB + 123));
  ASSERT_EQ(0, ftruncate(fd, 8 * kMiB));
  ASSERT_TRUE(cut());
  ASSERT_TRUE(recover());
  EXPECT_FALSE(exists(p("a"))) << "an unlink that returned was undone";
  const std::string got = read_file(p("b"));
  EXPECT_LE(got.size(), b.size());
  const size_t bad = first_foreign_byte(got, b);
  EXPECT_EQ(std::string::npos, bad)
      << "byte " << bad << " of b is " << int(got[bad]) << ", neither b's nor zero"
      << (bad < a.size() && got[bad] == a[bad] ? " (it is a's)" : "");
  expect_clean_fsck();
}

uint64_t write_faults(const std::string& mnt) {
  const nlohmann::json stats = stats_json(mnt);
  const uint64_t pte = stats_counter(stats, "pte_faults"), pmd = stats_counter(stats, "pmd_faults");
  return pte == ~0ull || pmd == ~0ull ? ~0ull : pte + pmd;
}

TEST_P(PowercutTest, UnsyncedDataInTheWritebackCacheIsLost) {
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_TRUE(fs_->mount(std::string(GetParam()) + ",cache=writeback"));
  const std::string data = pattern(kMiB, 13);
  Fd fd(open(p("unsynced").c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  const uint64_t faults_before = write_faults(fs_->mnt());
  ASSERT_EQ(0, write_all(fd, data));
  // The descriptor stays open: a close would write the pages back (FLUSH).
  // Under memory pressure the kernel may write them back anyway; they then
  // reach only the daemon's working copy, which the cut discards too.
  const bool written_back = write_faults(fs_->mnt()) != faults_before;
  ASSERT_TRUE(cut());
  // Closing writes dirty pages back (FLUSH); with the connection gone the
  // kernel has nowhere to send them.
  errno = 0;
  EXPECT_EQ(-1, close(std::exchange(fd.fd, -1)));
  EXPECT_TRUE(errno == ENOTCONN || errno == ECONNABORTED || errno == EIO) << strerror(errno);
  ASSERT_TRUE(recover());
  // The create was a journal transaction, durable at return; none of the
  // data was ever persisted. If the kernel never wrote it back, not even
  // the size grew.
  EXPECT_TRUE(exists(p("unsynced")));
  const std::string left = read_file(p("unsynced"));
  EXPECT_EQ(std::string::npos, left.find_first_not_of('\0')) << "unsynced data survived the cut";
  if (!written_back) {
    EXPECT_EQ("", left);
  }
  expect_clean_fsck();
}

INSTANTIATE_TEST_SUITE_P(Powercut, PowercutTest,
                         ::testing::Values("powerfail_sim", "powerfail_sim,powerfail_evict=0.5"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param).find("evict") == std::string::npos
                                      ? "NoEviction"
                                      : "HalfEvicted";
                         });

// ---- refusals ---------------------------------------------------------------

class PowercutRefusalTest : public MountTest {};

TEST_F(PowercutRefusalTest, WithoutPowerfailSimItRefusesAndChangesNothing) {
  ASSERT_EQ(0, write_file(p("f"), "still here"));
  auto r = run({ctl_path(), "powercut", fs_->mnt()});
  EXPECT_EQ(1, r.status);
  EXPECT_NE(std::string::npos, r.output.find("powerfail_sim")) << r.output;
  EXPECT_EQ(1, std::count(r.output.begin(), r.output.end(), '\n')) << r.output;
  // Still mounted and served by the same daemon.
  EXPECT_TRUE(fs_->is_mounted());
  EXPECT_EQ("still here", read_file(p("f")));
  EXPECT_EQ(0, write_file(p("g"), "new"));
  // Even the attribute set by hand cuts nothing.
  errno = 0;
  EXPECT_NE(0, setxattr(fs_->mnt().c_str(), "user.pmemfs.powercut", "1", 1, 0));
  EXPECT_EQ(EINVAL, errno);
  EXPECT_EQ(0, fs_->unmount()) << fs_->daemon_log();
}

TEST_F(PowercutRefusalTest, APathThatIsNoPmemfsMountPointGetsAClearMessage) {
  ASSERT_EQ(0, mkdir(p("sub").c_str(), 0755));
  struct Case {
    std::string path, must_mention;
  } cases[] = {
      {fs_->dir(), "not on a pmemfs mount"},       // tmpfs
      {p("sub"), "give the mount point"},           // inside the mount
      {fs_->dir() + "/missing", "No such file"},
  };
  for (const Case& c : cases) {
    auto r = run({ctl_path(), "powercut", c.path});
    EXPECT_NE(0, r.status) << c.path;
    EXPECT_NE(std::string::npos, r.output.find(c.must_mention)) << c.path << ": " << r.output;
  }
  auto r = run({ctl_path(), "powercut"});
  EXPECT_EQ(2, r.status);
  EXPECT_TRUE(fs_->is_mounted());
}

TEST_F(PowercutRefusalTest, BadPowerfailOptionsAreRefusedByName) {
  const std::string mnt2 = fs_->dir() + "/mnt2";
  ASSERT_EQ(0, mkdir(mnt2.c_str(), 0755));
  struct Case {
    std::string opts, must_mention;
  } cases[] = {
      {"powerfail_sim,powerfail_evict=1.5", "powerfail_evict=1.5"},
      {"powerfail_sim,powerfail_evict=-0.1", "powerfail_evict=-0.1"},
      {"powerfail_sim,powerfail_evict=half", "powerfail_evict=half"},
      {"powerfail_sim,powerfail_evict=nan", "powerfail_evict=nan"},
      {"powerfail_sim,powerfail_evict=", "powerfail_evict="},
      {"powerfail_evict=0.5", "needs -o powerfail_sim"},
      {"powerfail_cut_after=3", "needs -o powerfail_sim"},
      {"powerfail_seed=7", "needs -o powerfail_sim"},
      {"powerfail_sim,powerfail_cut_after=0", "powerfail_cut_after=0"},
      {"powerfail_sim,powerfail_seed=x", "powerfail_seed=x"},
      {"powerfail_sim,ro", "powerfail_sim cannot be used with ro"},
  };
  for (const Case& c : cases) {
    auto r = run({daemon_path(), "-f", "-o", c.opts, fs_->pool(), mnt2});
    EXPECT_EQ(daemon::kExitError, r.status) << c.opts;
    EXPECT_NE(std::string::npos, r.output.find(c.must_mention)) << c.opts << ": " << r.output;
    EXPECT_FALSE(is_mount_point(mnt2)) << c.opts;
  }
}

TEST_F(PowercutRefusalTest, TheMountHelperPassesThePowerfailOptionsOn) {
  auto r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-f", "-o",
                "nofail,powerfail_sim,powerfail_evict=0.25"},
               {"PMEMFS_DAEMON=" + daemon_path()});
  EXPECT_EQ(0, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("-o powerfail_sim,powerfail_evict=0.25")) << r.output;
}

}  // namespace
}  // namespace pmemfs::test
