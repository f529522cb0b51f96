// Every operation of the daemon through ordinary syscalls on a real mount,
// with the errors users rely on.
#include <dirent.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <cstdio>
#include <cstring>
#include <chrono>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

int renameat2_(const std::string& a, const std::string& b, unsigned flags) {
  return static_cast<int>(
      syscall(SYS_renameat2, AT_FDCWD, a.c_str(), AT_FDCWD, b.c_str(), flags));
}

class OpsTest : public MountTest {};

// ---- data path, under each cache mode ------------------------------------

class DataPathTest : public MountTest, public ::testing::WithParamInterface<const char*> {
  std::string mount_options() const override { return std::string("cache=") + GetParam(); }
};

TEST_P(DataPathTest, WritesReadBackAcrossBlockAndExtentBoundariesAndRemount) {
  // 5 MiB + a bit: spans 4 KiB blocks, whole 2 MiB extents and a tail.
  const std::string data = pattern(5 * kMiB + 1234, 1);
  ASSERT_EQ(0, write_file(p("f"), data));
  struct stat st {};
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(static_cast<off_t>(data.size()), st.st_size);
  EXPECT_EQ(data, read_file(p("f")));

  // Overwrite unaligned ranges in place, including one across 2 MiB.
  {
    Fd fd(open(p("f").c_str(), O_RDWR));
    ASSERT_GE(fd, 0);
    const std::string patch = pattern(10000, 2);
    ASSERT_EQ(10000, pwrite(fd, patch.data(), patch.size(), 2 * kMiB - 5000));
    std::string want = data;
    want.replace(2 * kMiB - 5000, patch.size(), patch);
    std::string got(12345, '\0');
    ASSERT_EQ(12345, pread(fd, got.data(), got.size(), 2 * kMiB - 6000));
    EXPECT_EQ(want.substr(2 * kMiB - 6000, 12345), got);
    ASSERT_EQ(0, fsync(fd));
    // Reads past EOF are short, then empty.
    char buf[100];
    EXPECT_EQ(34, pread(fd, buf, sizeof buf, data.size() - 34));
    EXPECT_EQ(0, pread(fd, buf, sizeof buf, data.size() + 4096));
  }
  std::string want = data;
  want.replace(2 * kMiB - 5000, 10000, pattern(10000, 2));
  ASSERT_TRUE(fs_->remount());
  EXPECT_EQ(want, read_file(p("f")));
}

TEST_P(DataPathTest, SparseWritesReadZerosInHolesAndTruncateZeroesTail) {
  {
    Fd fd(open(p("sparse").c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(5, pwrite(fd, "hello", 5, 3 * kMiB + 7));
    std::string got(3 * kMiB + 12, 'x');
    ASSERT_EQ(static_cast<ssize_t>(got.size()), pread(fd, got.data(), got.size(), 0));
    EXPECT_EQ(std::string(3 * kMiB + 7, '\0'), got.substr(0, 3 * kMiB + 7));
    EXPECT_EQ("hello", got.substr(3 * kMiB + 7));
    // Shrink into the data, grow again: the cut-off bytes must read as zeros.
    ASSERT_EQ(0, ftruncate(fd, 3 * kMiB + 9));
    ASSERT_EQ(0, ftruncate(fd, 4 * kMiB));
    char buf[5];
    ASSERT_EQ(5, pread(fd, buf, 5, 3 * kMiB + 7));
    EXPECT_EQ(std::string("he\0\0\0", 5), std::string(buf, 5));
  }
  ASSERT_TRUE(fs_->remount());
  struct stat st {};
  ASSERT_EQ(0, stat(p("sparse").c_str(), &st));
  EXPECT_EQ(static_cast<off_t>(4 * kMiB), st.st_size);
}

INSTANTIATE_TEST_SUITE_P(CacheModes, DataPathTest,
                         ::testing::Values("writeback", "writethrough", "none"));

TEST_F(OpsTest, ODirectReadsComeFromTheDaemon) {
  const std::string data = pattern(2 * kMiB, 3);
  ASSERT_EQ(0, write_file(p("d"), data));
  Fd fd(open(p("d").c_str(), O_RDONLY | O_DIRECT));
  ASSERT_GE(fd, 0);
  void* buf = nullptr;
  ASSERT_EQ(0, posix_memalign(&buf, 4096, 2 * kMiB));
  ASSERT_EQ(static_cast<ssize_t>(2 * kMiB), pread(fd, buf, 2 * kMiB, 0));
  EXPECT_EQ(0, memcmp(buf, data.data(), 2 * kMiB));
  free(buf);
}

// ---- names ------------------------------------------------------------------

TEST_F(OpsTest, CreateExclusiveAndNameErrors) {
  ASSERT_EQ(0, write_file(p("a"), "x"));
  EXPECT_ERRNO(open(p("a").c_str(), O_CREAT | O_EXCL | O_WRONLY, 0644), EEXIST);
  EXPECT_ERRNO(open(p("missing").c_str(), O_RDONLY), ENOENT);
  EXPECT_ERRNO(open(p("a/b").c_str(), O_RDONLY), ENOTDIR);
  const std::string max_name(255, 'n');
  EXPECT_EQ(0, write_file(p(max_name), "ok"));
  EXPECT_EQ("ok", read_file(p(max_name)));
  EXPECT_ERRNO(open(p(max_name + "n").c_str(), O_CREAT | O_WRONLY, 0644), ENAMETOOLONG);
  EXPECT_ERRNO(mkdir(p(max_name + "n").c_str(), 0755), ENAMETOOLONG);
}

TEST_F(OpsTest, MkdirRmdirUnlinkErrors) {
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  EXPECT_ERRNO(mkdir(p("d").c_str(), 0755), EEXIST);
  ASSERT_EQ(0, write_file(p("d/f"), "x"));
  EXPECT_ERRNO(rmdir(p("d").c_str()), ENOTEMPTY);
  EXPECT_ERRNO(unlink(p("d").c_str()), EISDIR);
  EXPECT_ERRNO(rmdir(p("d/f").c_str()), ENOTDIR);
  EXPECT_ERRNO(unlink(p("d/nope").c_str()), ENOENT);
  ASSERT_EQ(0, unlink(p("d/f").c_str()));
  ASSERT_EQ(0, rmdir(p("d").c_str()));
  struct stat st {};
  EXPECT_ERRNO(stat(p("d").c_str(), &st), ENOENT);
  // A directory's link count: 2 plus one per subdirectory.
  ASSERT_EQ(0, mkdir(p("e").c_str(), 0755));
  ASSERT_EQ(0, mkdir(p("e/s1").c_str(), 0755));
  ASSERT_EQ(0, mkdir(p("e/s2").c_str(), 0755));
  ASSERT_EQ(0, stat(p("e").c_str(), &st));
  EXPECT_EQ(4u, st.st_nlink);
}

TEST_F(OpsTest, SymlinkReadlinkAndFollow) {
  ASSERT_EQ(0, write_file(p("target"), "through the link"));
  ASSERT_EQ(0, symlink("target", p("ln").c_str()));
  char buf[256];
  ssize_t n = readlink(p("ln").c_str(), buf, sizeof buf);
  ASSERT_EQ(6, n);
  EXPECT_EQ("target", std::string(buf, 6));
  struct stat st {};
  ASSERT_EQ(0, lstat(p("ln").c_str(), &st));
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  EXPECT_EQ(6, st.st_size);
  EXPECT_EQ("through the link", read_file(p("ln")));
  ASSERT_EQ(0, symlink("/nowhere/at/all", p("dangling").c_str()));
  EXPECT_ERRNO(stat(p("dangling").c_str(), &st), ENOENT);
  EXPECT_ERRNO(symlink("x", p("ln").c_str()), EEXIST);
  // A long target (more than one block's worth of inline space in most formats).
  const std::string long_target(3000, 't');
  ASSERT_EQ(0, symlink(long_target.c_str(), p("long").c_str()));
  std::string got(4096, '\0');
  ASSERT_EQ(3000, readlink(p("long").c_str(), got.data(), got.size()));
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(6, readlink(p("ln").c_str(), buf, sizeof buf));
  EXPECT_EQ("target", std::string(buf, 6));
}

TEST_F(OpsTest, HardLinksShareDataAndCountLinks) {
  ASSERT_EQ(0, write_file(p("one"), "shared"));
  ASSERT_EQ(0, mkdir(p("dir").c_str(), 0755));
  ASSERT_EQ(0, link(p("one").c_str(), p("two").c_str()));
  ASSERT_EQ(0, link(p("one").c_str(), p("dir/three").c_str()));
  struct stat a {}, b {};
  ASSERT_EQ(0, stat(p("one").c_str(), &a));
  ASSERT_EQ(0, stat(p("dir/three").c_str(), &b));
  EXPECT_EQ(a.st_ino, b.st_ino);
  EXPECT_EQ(3u, a.st_nlink);
  ASSERT_EQ(0, write_file(p("two"), "changed"));
  EXPECT_EQ("changed", read_file(p("dir/three")));
  ASSERT_EQ(0, unlink(p("one").c_str()));
  ASSERT_EQ(0, stat(p("two").c_str(), &a));
  EXPECT_EQ(2u, a.st_nlink);
  EXPECT_ERRNO(link(p("two").c_str(), p("dir/three").c_str()), EEXIST);
  EXPECT_ERRNO(link(p("dir").c_str(), p("dirlink").c_str()), EPERM);
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(0, stat(p("dir/three").c_str(), &a));
  EXPECT_EQ(2u, a.st_nlink);
  EXPECT_EQ("changed", read_file(p("dir/three")));
}

TEST_F(OpsTest, UnlinkedFileStaysUsableWhileOpen) {
  Fd fd(open(p("tmp").c_str(), O_RDWR | O_CREAT, 0600));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, unlink(p("tmp").c_str()));
  const std::string data = pattern(100000, 4);
  ASSERT_EQ(static_cast<ssize_t>(data.size()), pwrite(fd, data.data(), data.size(), 0));
  std::string got(data.size(), '\0');
  ASSERT_EQ(static_cast<ssize_t>(data.size()), pread(fd, got.data(), got.size(), 0));
  EXPECT_EQ(data, got);
  struct stat st {};
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(0u, st.st_nlink);
  EXPECT_ERRNO(access(p("tmp").c_str(), F_OK), ENOENT);
}

TEST_F(OpsTest, RenameReplacesAndHonoursNoreplaceAndExchange) {
  ASSERT_EQ(0, write_file(p("a"), "A"));
  ASSERT_EQ(0, write_file(p("b"), "B"));
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  // Plain rename across directories, replacing nothing.
  ASSERT_EQ(0, rename(p("a").c_str(), p("d/a").c_str()));
  EXPECT_EQ("A", read_file(p("d/a")));
  EXPECT_ERRNO(access(p("a").c_str(), F_OK), ENOENT);
  // Replacing an existing file.
  ASSERT_EQ(0, write_file(p("c"), "C"));
  ASSERT_EQ(0, rename(p("c").c_str(), p("b").c_str()));
  EXPECT_EQ("C", read_file(p("b")));
  // RENAME_NOREPLACE refuses an existing target and leaves both alone.
  ASSERT_EQ(0, write_file(p("x"), "X"));
  EXPECT_ERRNO(renameat2_(p("x"), p("b"), RENAME_NOREPLACE), EEXIST);
  EXPECT_EQ("X", read_file(p("x")));
  EXPECT_EQ("C", read_file(p("b")));
  ASSERT_EQ(0, renameat2_(p("x"), p("y"), RENAME_NOREPLACE));
  EXPECT_EQ("X", read_file(p("y")));
  // RENAME_EXCHANGE swaps, also a file with a directory.
  ASSERT_EQ(0, renameat2_(p("y"), p("b"), RENAME_EXCHANGE));
  EXPECT_EQ("X", read_file(p("b")));
  EXPECT_EQ("C", read_file(p("y")));
  ASSERT_EQ(0, renameat2_(p("y"), p("d"), RENAME_EXCHANGE));
  EXPECT_EQ("A", read_file(p("y/a")));
  EXPECT_EQ("C", read_file(p("d")));
  EXPECT_ERRNO(renameat2_(p("b"), p("nonexistent"), RENAME_EXCHANGE), ENOENT);
  // A directory onto a non-empty directory, and into its own subtree.
  ASSERT_EQ(0, mkdir(p("e").c_str(), 0755));
  ASSERT_EQ(0, mkdir(p("f").c_str(), 0755));
  ASSERT_EQ(0, write_file(p("f/keep"), "k"));
  EXPECT_ERRNO(rename(p("e").c_str(), p("f").c_str()), ENOTEMPTY);
  EXPECT_ERRNO(rename(p("f").c_str(), p("f/sub").c_str()), EINVAL);
  ASSERT_EQ(0, rename(p("f").c_str(), p("e").c_str()));  // onto an empty directory
  EXPECT_EQ("k", read_file(p("e/keep")));
  ASSERT_TRUE(fs_->remount());
  EXPECT_EQ("k", read_file(p("e/keep")));
  EXPECT_EQ("A", read_file(p("y/a")));
  EXPECT_EQ("X", read_file(p("b")));
}

TEST_F(OpsTest, MknodFifoWorksAsAPipe) {
  ASSERT_EQ(0, mkfifo(p("fifo").c_str(), 0644));
  struct stat st {};
  ASSERT_EQ(0, stat(p("fifo").c_str(), &st));
  EXPECT_TRUE(S_ISFIFO(st.st_mode));
  Fd r(open(p("fifo").c_str(), O_RDONLY | O_NONBLOCK));
  ASSERT_GE(r, 0);
  Fd w(open(p("fifo").c_str(), O_WRONLY | O_NONBLOCK));
  ASSERT_GE(w, 0);
  ASSERT_EQ(4, write(w, "ping", 4));
  char buf[8];
  ASSERT_EQ(4, read(r, buf, sizeof buf));
  EXPECT_EQ("ping", std::string(buf, 4));
  // Device nodes are created as well (root may).
  ASSERT_EQ(0, mknod(p("null").c_str(), S_IFCHR | 0666, makedev(1, 3)));
  ASSERT_EQ(0, stat(p("null").c_str(), &st));
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(makedev(1, 3), st.st_rdev);
}

TEST_F(OpsTest, SetattrModeOwnerTimes) {
  ASSERT_EQ(0, write_file(p("f"), "x"));
  ASSERT_EQ(0, chmod(p("f").c_str(), 04751));
  struct stat st {};
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(04751u, st.st_mode & 07777);
  ASSERT_EQ(0, chown(p("f").c_str(), 1234, 5678));
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(1234u, st.st_uid);
  EXPECT_EQ(5678u, st.st_gid);
  // chown drops setuid (and group-executable setgid), as on every Linux fs.
  EXPECT_EQ(0751u, st.st_mode & 07777);
  // Explicit times, then UTIME_OMIT keeps one and UTIME_NOW sets the other.
  struct timespec ts[2] = {{1000000000, 123456789}, {1100000000, 987654321}};
  ASSERT_EQ(0, utimensat(AT_FDCWD, p("f").c_str(), ts, 0));
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(1000000000, st.st_atim.tv_sec);
  EXPECT_EQ(123456789, st.st_atim.tv_nsec);
  EXPECT_EQ(1100000000, st.st_mtim.tv_sec);
  EXPECT_EQ(987654321, st.st_mtim.tv_nsec);
  struct timespec before {};
  clock_gettime(CLOCK_REALTIME, &before);
  struct timespec ts2[2] = {{0, UTIME_OMIT}, {0, UTIME_NOW}};
  ASSERT_EQ(0, utimensat(AT_FDCWD, p("f").c_str(), ts2, 0));
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(1000000000, st.st_atim.tv_sec);
  EXPECT_GE(st.st_mtim.tv_sec, before.tv_sec - 1);
  struct timespec ts3[2] = {{0, UTIME_NOW}, {0, UTIME_OMIT}};
  ASSERT_EQ(0, utimensat(AT_FDCWD, p("f").c_str(), ts3, 0));
  struct stat st2 {};
  ASSERT_EQ(0, stat(p("f").c_str(), &st2));
  EXPECT_GE(st2.st_atim.tv_sec, before.tv_sec - 1);
  EXPECT_EQ(st.st_mtim.tv_sec, st2.st_mtim.tv_sec);
  EXPECT_EQ(st.st_mtim.tv_nsec, st2.st_mtim.tv_nsec);
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(0751u, st.st_mode & 07777);
  EXPECT_EQ(1234u, st.st_uid);
  EXPECT_EQ(st2.st_mtim.tv_sec, st.st_mtim.tv_sec);
}

TEST_F(OpsTest, ReaddirListsEveryNameOnceAcrossManyCalls) {
  ASSERT_EQ(0, mkdir(p("many").c_str(), 0755));
  std::set<std::string> want;
  for (int i = 0; i < 1500; ++i) {
    // Long-ish names so the listing needs many readdir replies.
    std::string name = "file-with-a-rather-long-name-" + std::to_string(i);
    ASSERT_EQ(0, write_file(p("many/" + name), "")) << name;
    want.insert(name);
  }
  auto list = [&] {
    std::multiset<std::string> got;
    DIR* d = opendir(p("many").c_str());
    EXPECT_NE(nullptr, d);
    if (!d) return got;
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (n == "." || n == "..") continue;
      EXPECT_EQ(DT_REG, e->d_type) << n;
      got.insert(n);
      struct stat st {};  // readdirplus has filled the attribute cache
      EXPECT_EQ(0, fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW)) << n;
    }
    closedir(d);
    return got;
  };
  auto got = list();
  EXPECT_EQ(want.size(), got.size());
  EXPECT_EQ(std::multiset<std::string>(want.begin(), want.end()), got);
  // Remove every other name; the listing follows.
  int k = 0;
  for (auto it = want.begin(); it != want.end();) {
    if (k++ % 2) {
      ASSERT_EQ(0, unlink(p("many/" + *it).c_str()));
      it = want.erase(it);
    } else {
      ++it;
    }
  }
  got = list();
  EXPECT_EQ(std::multiset<std::string>(want.begin(), want.end()), got);
  ASSERT_TRUE(fs_->remount());
  got = list();
  EXPECT_EQ(std::multiset<std::string>(want.begin(), want.end()), got);
}

// ---- durability calls, concurrency, space reclaim ---------------------------

TEST_F(OpsTest, FsyncFdatasyncAndDirectoryFsyncSucceed) {
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  Fd f(open(p("d/f").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(f, 0);
  ASSERT_EQ(3, write(f, "abc", 3));
  EXPECT_EQ(0, fdatasync(f));
  EXPECT_EQ(0, fsync(f));
  Fd d(open(p("d").c_str(), O_RDONLY | O_DIRECTORY));
  ASSERT_GE(d, 0);
  EXPECT_EQ(0, fsync(d));
  EXPECT_EQ(0, syncfs(d));
  char buf[1 << 16];
  ssize_t n = getxattr(fs_->mnt().c_str(), "user.pmemfs.stats", buf, sizeof buf);
  ASSERT_GT(n, 0);
  std::string stats(buf, static_cast<size_t>(n));
  EXPECT_NE(std::string::npos, stats.find("fsync_calls")) << stats;
}

TEST_F(OpsTest, ConcurrentWritersToSeparateFilesKeepTheirData) {
  constexpr int kThreads = 4;
  std::vector<std::thread> threads;
  std::vector<int> errors(kThreads, 0);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string data = pattern(6 * kMiB + 4096 * t, 40 + t);
      errors[t] = write_file(p("t" + std::to_string(t)), data);
      if (!errors[t] && read_file(p("t" + std::to_string(t))) != data) errors[t] = -1;
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(0, errors[t]) << "thread " << t;
  ASSERT_TRUE(fs_->remount());
  for (int t = 0; t < kThreads; ++t)
    EXPECT_TRUE(read_file(p("t" + std::to_string(t))) == pattern(6 * kMiB + 4096 * t, 40 + t));
}

TEST_F(OpsTest, SpaceOfAnUnlinkedFileReturnsWhenTheLastDescriptorCloses) {
  auto free_bytes = [&] {
    struct statvfs sv {};
    EXPECT_EQ(0, statvfs(fs_->mnt().c_str(), &sv));
    return sv.f_bfree * sv.f_frsize;
  };
  const uint64_t before = free_bytes();
  Fd fd(open(p("big").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  const std::string data = pattern(32 * kMiB, 12);
  ASSERT_EQ(static_cast<ssize_t>(data.size()), write(fd, data.data(), data.size()));
  ASSERT_EQ(0, fsync(fd));
  ASSERT_EQ(0, unlink(p("big").c_str()));
  EXPECT_LT(free_bytes() + 30 * kMiB, before) << "space freed while still open";
  close(std::exchange(fd.fd, -1));
  // The kernel sends RELEASE and FORGET asynchronously after close.
  uint64_t after = 0;
  for (int i = 0; i < 200 && (after = free_bytes()) + kMiB < before; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_GE(after + kMiB, before);
}

}  // namespace
}  // namespace pmemfs::test
