// O_TMPFILE through a real mount (pmemfs.8, "O_TMPFILE"): the kernel sends
// FUSE_TMPFILE (kernel >= 6.7), which the transport layer answers since
// libfuse 3.14 does not dispatch it. An unnamed file lives until its last
// close, linkat(2) from /proc/self/fd gives it a name (unless it was opened
// with O_EXCL), and a crash never leaves an unnamed one behind.
#include <sys/mount.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <string>
#include <thread>

#include "fuse/exit_status.h"
#include "tests/mount/stats_json.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

using Clock = std::chrono::steady_clock;

struct Usage {
  uint64_t free_inodes = 0, free_blocks = 0;
  bool operator==(const Usage& o) const {
    return free_inodes == o.free_inodes && free_blocks == o.free_blocks;
  }
};

Usage usage(const std::string& mnt) {
  struct statvfs sv {};
  if (statvfs(mnt.c_str(), &sv) != 0) return {};
  return {sv.f_ffree, sv.f_bfree};
}

std::ostream& operator<<(std::ostream& os, const Usage& u) {
  return os << u.free_inodes << " free inodes, " << u.free_blocks << " free blocks";
}

// RELEASE and FORGET reach the daemon after close(2) returns: wait for them.
Usage usage_settled(const std::string& mnt, const Usage& want) {
  Usage u = usage(mnt);
  for (auto end = Clock::now() + std::chrono::seconds(5); !(u == want) && Clock::now() < end;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    u = usage(mnt);
  }
  return u;
}

int open_tmpfile(const std::string& dir, int extra_flags = 0, mode_t mode = 0640) {
  return open(dir.c_str(), O_TMPFILE | O_RDWR | extra_flags, mode);
}

int link_fd(int fd, const std::string& path) {
  const std::string proc = "/proc/self/fd/" + std::to_string(fd);
  return linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW) == 0 ? 0 : errno;
}

int write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, static_cast<off_t>(done));
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

std::string read_fd(int fd, size_t n) {
  std::string s(n, '\0');
  ssize_t got = pread(fd, s.data(), n, 0);
  s.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return s;
}

long long tmpfile_requests(const std::string& mnt) {
  const nlohmann::json stats = stats_json(mnt);
  if (!stats.is_object() || !stats.contains("requests") || !stats["requests"].contains("tmpfile")) return -1;
  const uint64_t n = stats_counter(stats["requests"]["tmpfile"], "count");
  return n == ~uint64_t{0} ? -1 : static_cast<long long>(n);
}

class TmpfileTest : public MountTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }
  uint64_t pool_size() const override { return 64 * kMiB; }
};

TEST_P(TmpfileTest, CreateWriteReadLinkAndTheDataSurvivesARemount) {
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  const long long before = tmpfile_requests(fs_->mnt());
  const std::string data = pattern(3 * kMiB + 777, 21);
  {
    Fd fd(open_tmpfile(p("d")));
    ASSERT_GE(fd, 0) << "open(O_TMPFILE): " << strerror(errno);
    EXPECT_EQ(1, tmpfile_requests(fs_->mnt()) - before) << "one FUSE_TMPFILE per open";
    struct stat st {};
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_TRUE(S_ISREG(st.st_mode));
    EXPECT_EQ(0640u & ~022u, st.st_mode & 07777);
    EXPECT_EQ(0u, st.st_nlink);
    ASSERT_EQ(0, write_all(fd, data));
    EXPECT_TRUE(read_fd(fd, data.size()) == data) << "read back differs";
    // No name yet: the directory is still empty.
    EXPECT_EQ(0, rmdir(p("d").c_str())) << "the unnamed file must not be in the directory";
    ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
    ASSERT_EQ(0, link_fd(fd, p("d/named")));
    ASSERT_EQ(0, fstat(fd, &st));
    EXPECT_EQ(1u, st.st_nlink);
    ASSERT_EQ(0, fsync(fd));
    // A second name is an ordinary link now.
    ASSERT_EQ(0, link_fd(fd, p("second")));
  }
  EXPECT_TRUE(read_file(p("d/named")) == data);
  ASSERT_TRUE(fs_->remount()) << fs_->daemon_log();
  EXPECT_TRUE(read_file(p("d/named")) == data) << "linked tmpfile lost by the remount";
  struct stat st {};
  ASSERT_EQ(0, stat(p("second").c_str(), &st));
  EXPECT_EQ(2u, st.st_nlink);
  ASSERT_EQ(0, fs_->unmount());
  auto r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

TEST_P(TmpfileTest, AnUnnamedTmpfileIsFreedAtItsLastCloseSpaceAndInode) {
  const Usage empty = usage(fs_->mnt());
  {
    Fd fd(open_tmpfile(fs_->mnt()));
    ASSERT_GE(fd, 0) << "open(O_TMPFILE): " << strerror(errno);
    ASSERT_EQ(0, write_all(fd, pattern(8 * kMiB, 4)));
    ASSERT_EQ(0, fsync(fd));
    const Usage used = usage(fs_->mnt());
    EXPECT_EQ(empty.free_inodes - 1, used.free_inodes);
    EXPECT_LE(used.free_blocks + 2048, empty.free_blocks) << "8 MiB written, not allocated?";
  }
  EXPECT_EQ(empty, usage_settled(fs_->mnt(), empty)) << "space or inode of the tmpfile kept";
  ASSERT_EQ(0, fs_->unmount());
  auto r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

TEST_P(TmpfileTest, OExclForbidsLinkingAndAFileUnlinkedNormallyStaysUnlinked) {
  {
    Fd fd(open_tmpfile(fs_->mnt(), O_EXCL));
    ASSERT_GE(fd, 0) << "open(O_TMPFILE|O_EXCL): " << strerror(errno);
    ASSERT_EQ(0, write_all(fd, "secret"));
    EXPECT_EQ(ENOENT, link_fd(fd, p("named")));
    EXPECT_NE(0, access(p("named").c_str(), F_OK));
  }
  {
    Fd fd(open(p("plain").c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, unlink(p("plain").c_str()));
    EXPECT_EQ(ENOENT, link_fd(fd, p("back")));
  }
  // Permissions: O_TMPFILE needs write access to the directory, as creat(2).
  ASSERT_EQ(0, mkdir(p("ro").c_str(), 0555));
  int e = run_as(65534, 65534, [&] {
    int fd = open_tmpfile(p("ro"));
    if (fd >= 0) {
      close(fd);
      return 1;
    }
    return errno == EACCES ? 0 : 2;
  });
  EXPECT_EQ(0, e) << "O_TMPFILE in a directory without write permission";
}

// After a crash (kill -9 of the daemon, or a power cut) the next mount has
// no trace of an unnamed tmpfile, while one that got its name is kept.
class TmpfileCrashTest : public TmpfileTest {
 protected:
  void crash(bool power_cut) {
    const Usage empty = usage(fs_->mnt());
    const std::string kept = pattern(70000, 8);
    int linked = open_tmpfile(fs_->mnt());
    ASSERT_GE(linked, 0) << "open(O_TMPFILE): " << strerror(errno);
    ASSERT_EQ(0, write_all(linked, kept));
    ASSERT_EQ(0, fsync(linked));
    ASSERT_EQ(0, link_fd(linked, p("kept")));
    ASSERT_EQ(0, fsync(linked));
    const Usage with_kept = usage(fs_->mnt());
    int unnamed = open_tmpfile(fs_->mnt());
    ASSERT_GE(unnamed, 0);
    ASSERT_EQ(0, write_all(unnamed, pattern(5 * kMiB, 9)));
    ASSERT_EQ(0, fsync(unnamed));
    EXPECT_EQ(with_kept.free_inodes - 1, usage(fs_->mnt()).free_inodes);

    if (power_cut) {
      auto r = run({ctl_path(), "powercut", fs_->mnt()});
      ASSERT_EQ(0, r.status) << r.output << fs_->daemon_log();
      EXPECT_EQ(daemon::kExitPowerCut, fs_->wait_daemon(5000)) << fs_->daemon_log();
    } else {
      ASSERT_EQ(0, kill(fs_->daemon_pid(), SIGKILL));
      EXPECT_EQ(128 + SIGKILL, fs_->wait_daemon(5000));
    }
    close(linked);
    close(unnamed);
    umount2(fs_->mnt().c_str(), MNT_DETACH);

    ASSERT_TRUE(fs_->mount(GetParam())) << fs_->daemon_log();
    EXPECT_TRUE(read_file(p("kept")) == kept) << "the linked tmpfile was lost";
    EXPECT_EQ(with_kept, usage(fs_->mnt())) << "the unnamed tmpfile survived the crash (empty: "
                                            << empty << ")";
    ASSERT_EQ(0, fs_->unmount()) << fs_->daemon_log();
    auto r = run({fsck_path(), "-n", fs_->pool()});
    EXPECT_EQ(0, r.status) << r.output;
  }
};

TEST_P(TmpfileCrashTest, AnUnnamedTmpfileIsGoneAfterKill9) { crash(false); }

TEST_P(TmpfileCrashTest, AnUnnamedTmpfileIsGoneAfterAPowerCut) {
  if (std::string(GetParam()).find("powerfail_sim") == std::string::npos)
    GTEST_SKIP() << "a power cut needs -o powerfail_sim";
  crash(true);
}

INSTANTIATE_TEST_SUITE_P(Tmpfile, TmpfileTest,
                         ::testing::Values("", "cache=none", "cache=writethrough"));
INSTANTIATE_TEST_SUITE_P(Tmpfile, TmpfileCrashTest,
                         ::testing::Values("", "powerfail_sim",
                                           "powerfail_sim,powerfail_evict=0.5"));

}  // namespace
}  // namespace pmemfs::test
