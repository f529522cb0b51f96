// Files unlinked while open, and space given back by unlink (pmemfs.8,
// "ORPHANS" and "SPACE"): however many files are unlinked while still open,
// a crash (kill -9 of the daemon, or a power cut) and the next mount free
// every one of them; and the space of a removed file is free, for statfs and
// for the next allocation, as soon as unlink (or the last close) returns.
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/statvfs.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <vector>

#include "fuse/exit_status.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

using Clock = std::chrono::steady_clock;

// More than the 2,048 slots the orphan table had in format version 1.
constexpr int kOrphans = 3000;

struct Usage {
  uint64_t free_inodes = 0, free_blocks = 0, block_size = 0;
};

// Free inodes and blocks; the blocks of the root directory (which keeps the
// slot blocks its names needed) count as free, so that only files count.
Usage usage(const std::string& mnt) {
  struct statvfs sv {};
  struct stat root {};
  if (statvfs(mnt.c_str(), &sv) != 0 || stat(mnt.c_str(), &root) != 0) return {};
  const uint64_t dir_blocks = static_cast<uint64_t>(root.st_blocks) * 512 / sv.f_frsize;
  return {sv.f_ffree, sv.f_bfree + dir_blocks, sv.f_frsize};
}

// Lets this process hold kOrphans descriptors (the default soft limit is 1024).
bool raise_fd_limit() {
  struct rlimit rl {};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return false;
  if (rl.rlim_cur >= kOrphans + 64) return true;
  rl.rlim_cur = std::max<rlim_t>(rl.rlim_cur, std::min<rlim_t>(rl.rlim_max, kOrphans + 256));
  if (rl.rlim_cur < kOrphans + 64) rl.rlim_max = rl.rlim_cur = kOrphans + 256;  // root may raise it
  return setrlimit(RLIMIT_NOFILE, &rl) == 0;
}

// Creates, writes, fsyncs and unlinks kOrphans files, keeping each open.
// Returns the descriptors; on failure an empty vector and why in *why.
std::vector<int> make_open_unlinked(MountedFs& fs, std::string* why) {
  std::vector<int> fds;
  const std::string data = pattern(5000, 7);  // two blocks each
  for (int i = 0; i < kOrphans; ++i) {
    const std::string path = fs.path("o" + std::to_string(i));
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL, 0644);
    if (fd < 0 || pwrite(fd, data.data(), data.size(), 0) != static_cast<ssize_t>(data.size()) ||
        fsync(fd) != 0 || unlink(path.c_str()) != 0) {
      *why = "file " + std::to_string(i) + ": " + strerror(errno);
      if (fd >= 0) close(fd);
      for (int f : fds) close(f);
      return {};
    }
    fds.push_back(fd);
  }
  return fds;
}

class OrphanCrashTest : public MountTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }
  uint64_t pool_size() const override { return 128 * kMiB; }

  // Every open-unlinked file is gone after a crash and a remount: df -i and
  // df show the values of the empty filesystem, and fsck -n exits 0.
  void crash_with_orphans(bool power_cut) {
    ASSERT_TRUE(raise_fd_limit());
    const Usage empty = usage(fs_->mnt());
    ASSERT_GT(empty.free_inodes, static_cast<uint64_t>(kOrphans));
    std::string why;
    std::vector<int> fds = make_open_unlinked(*fs_, &why);
    ASSERT_EQ(static_cast<size_t>(kOrphans), fds.size()) << why;
    EXPECT_EQ(empty.free_inodes - kOrphans, usage(fs_->mnt()).free_inodes);

    if (power_cut) {
      auto r = run({ctl_path(), "powercut", fs_->mnt()});
      ASSERT_EQ(0, r.status) << r.output << fs_->daemon_log();
      EXPECT_EQ(daemon::kExitPowerCut, fs_->wait_daemon(5000)) << fs_->daemon_log();
    } else {
      ASSERT_EQ(0, kill(fs_->daemon_pid(), SIGKILL));
      EXPECT_EQ(128 + SIGKILL, fs_->wait_daemon(5000));
    }
    for (int fd : fds) close(fd);  // on a dead connection: nothing reaches a daemon
    umount2(fs_->mnt().c_str(), MNT_DETACH);

    ASSERT_TRUE(fs_->mount(GetParam()));  // recovery: the orphans are freed here
    const Usage after = usage(fs_->mnt());
    EXPECT_EQ(empty.free_inodes, after.free_inodes) << "inodes leaked by the crash";
    EXPECT_EQ(empty.free_blocks, after.free_blocks) << "blocks leaked by the crash";
    ASSERT_EQ(0, fs_->unmount()) << fs_->daemon_log();
    auto r = run({fsck_path(), "-n", fs_->pool()});
    EXPECT_EQ(0, r.status) << r.output;
    ASSERT_TRUE(fs_->mount(GetParam()));
    EXPECT_EQ(empty.free_inodes, usage(fs_->mnt()).free_inodes);
  }
};

TEST_P(OrphanCrashTest, ThousandsOfOpenUnlinkedFilesAreFreedAfterKill9) {
  crash_with_orphans(false);
}

TEST_P(OrphanCrashTest, ThousandsOfOpenUnlinkedFilesAreFreedAfterAPowerCut) {
  if (std::string(GetParam()).find("powerfail_sim") == std::string::npos)
    GTEST_SKIP() << "a power cut needs -o powerfail_sim";
  crash_with_orphans(true);
}

INSTANTIATE_TEST_SUITE_P(Orphans, OrphanCrashTest,
                         ::testing::Values("", "powerfail_sim",
                                           "powerfail_sim,powerfail_evict=0.5"));

// A clean unmount with thousands of open-unlinked files (the kernel releases
// them all at umount) leaves nothing for fsck and the inodes free.
TEST_F(MountTest, ThousandsOfOpenUnlinkedFilesAreFreedByUnmount) {
  ASSERT_TRUE(raise_fd_limit());
  const Usage empty = usage(fs_->mnt());
  std::string why;
  std::vector<int> fds = make_open_unlinked(*fs_, &why);
  ASSERT_EQ(static_cast<size_t>(kOrphans), fds.size()) << why;
  for (int fd : fds) close(fd);
  ASSERT_TRUE(fs_->remount());
  EXPECT_EQ(empty.free_inodes, usage(fs_->mnt()).free_inodes);
  ASSERT_EQ(0, fs_->unmount());
  auto r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

// ---- space given back by unlink ----

// A pool whose data area is just over 1 GiB.
constexpr uint64_t kGiB = uint64_t{1} << 30;

class SpaceTest : public MountTest {
 protected:
  uint64_t pool_size() const override { return kGiB + 48 * kMiB; }
  std::string mount_options() const override { return "cache=writethrough"; }
};

// fallocate(1)'s steps: open, fallocate, close.
int fallocate_file(const std::string& path, uint64_t len) {
  Fd fd(open(path.c_str(), O_RDWR | O_CREAT, 0644));
  if (fd < 0) return errno;
  return fallocate(fd, 0, 0, static_cast<off_t>(len)) == 0 ? 0 : errno;
}

TEST_F(SpaceTest, RemovedFallocatedGigabyteIsFreeWhenUnlinkReturns) {
  const Usage empty = usage(p(""));
  ASSERT_GE(empty.free_blocks * empty.block_size, kGiB);
  ASSERT_LT(empty.free_blocks * empty.block_size, 2 * kGiB);
  for (int round = 0; round < 3; ++round) {
    const std::string f = p("f" + std::to_string(round % 2));
    ASSERT_EQ(0, fallocate_file(f, kGiB)) << "round " << round;
    const auto t0 = Clock::now();
    ASSERT_EQ(0, unlink(f.c_str()));
    const auto unlink_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
    // statfs right after unlink: the space is free.
    const Usage after = usage(p(""));
    EXPECT_EQ(empty.free_blocks, after.free_blocks) << "round " << round << ": statfs after unlink";
    // And the next allocation gets it at once.
    const std::string g = p("g" + std::to_string(round % 2));
    EXPECT_EQ(0, fallocate_file(g, kGiB)) << "round " << round << ": early ENOSPC";
    ASSERT_EQ(0, unlink(g.c_str()));
    // A figure for the test report, not a check: timings belong in bench/.
    RecordProperty("unlink_ms_round_" + std::to_string(round), std::to_string(unlink_ms));
  }
}

// Writes 1 MiB at a time until ENOSPC; returns the bytes written.
uint64_t fill(const std::string& path, int* fd_out) {
  static const std::string chunk = pattern(kMiB, 11);
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  *fd_out = fd;
  if (fd < 0) return 0;
  uint64_t done = 0;
  for (;;) {
    ssize_t n = pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(done));
    if (n <= 0) break;
    done += static_cast<uint64_t>(n);
  }
  return done;
}

class FillTest : public SpaceTest {
 protected:
  uint64_t pool_size() const override { return 160 * kMiB; }
};

// write-until-ENOSPC, rm, write again: the second fill never meets an early
// ENOSPC, whether the file was closed before the unlink or after it (its
// RELEASE then comes asynchronously, after close returned).
TEST_F(FillTest, WriteUntilFullRemoveWriteAgainNeverGetsAnEarlyEnospc) {
  uint64_t first = 0;
  for (int round = 0; round < 10; ++round) {
    const std::string f = p("fill" + std::to_string(round % 2));
    int fd = -1;
    const uint64_t got = fill(f, &fd);
    ASSERT_GE(fd, 0);
    if (round == 0) first = got;
    // Within a few extent blocks of the first fill.
    EXPECT_GE(got + 4 * kMiB, first) << "round " << round << ": ENOSPC after " << got
                                     << " bytes, the first fill got " << first;
    if (round % 2 == 0) {
      close(fd);
      ASSERT_EQ(0, unlink(f.c_str()));
    } else {
      ASSERT_EQ(0, unlink(f.c_str()));
      close(fd);
    }
  }
  EXPECT_GT(first, 64 * kMiB);
}

}  // namespace
}  // namespace pmemfs::test
