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

#define EXPECT_ERRNO(expr, e)                              \
  do {                                                     \
    errno = 0;                                             \
    EXPECT_EQ(-1, (expr)) << #expr;                        \
    EXPECT_EQ((e), errno) << #expr << ": " << strerror(errno); \
  } while (0)


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

// ---- space --------------------------------------------------------------------

TEST_F(OpsTest, SeekDataAndHole) {
  Fd fd(open(p("sp").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  const std::string block = pattern(4096, 5);
  ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, 0));
  ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, 16 * kMiB));
  const off_t size = 16 * kMiB + 4096;
  EXPECT_EQ(0, lseek(fd, 0, SEEK_DATA));
  off_t hole = lseek(fd, 0, SEEK_HOLE);
  // Allocation is in 4 KiB blocks or 2 MiB extents: the first hole starts
  // within the first extent, the next data within the last one.
  EXPECT_GE(hole, 4096);
  EXPECT_LE(hole, static_cast<off_t>(2 * kMiB));
  off_t data = lseek(fd, hole, SEEK_DATA);
  EXPECT_GE(data, static_cast<off_t>(14 * kMiB));
  EXPECT_LE(data, static_cast<off_t>(16 * kMiB));
  EXPECT_EQ(size, lseek(fd, 16 * kMiB, SEEK_HOLE));  // EOF is a hole
  EXPECT_ERRNO(lseek(fd, size, SEEK_DATA), ENXIO);
  EXPECT_ERRNO(lseek(fd, size + 1, SEEK_HOLE), ENXIO);
}

TEST_F(OpsTest, FallocateModes) {
  std::string want;
  {
  Fd fd(open(p("fa").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  struct stat st {};
  // Plain allocation extends the size and allocates.
  ASSERT_EQ(0, fallocate(fd, 0, 0, 4 * kMiB));
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(static_cast<off_t>(4 * kMiB), st.st_size);
  EXPECT_GE(st.st_blocks * 512, static_cast<blkcnt_t>(4 * kMiB));
  // KEEP_SIZE allocates past EOF without changing the size.
  ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 * kMiB, 2 * kMiB));
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(static_cast<off_t>(4 * kMiB), st.st_size);
  EXPECT_GE(st.st_blocks * 512, static_cast<blkcnt_t>(6 * kMiB));
  // Allocated space reads as zeros.
  std::string got(4 * kMiB, 'x');
  ASSERT_EQ(static_cast<ssize_t>(got.size()), pread(fd, got.data(), got.size(), 0));
  EXPECT_EQ(std::string(4 * kMiB, '\0'), got);

  const std::string data = pattern(4 * kMiB, 6);
  ASSERT_EQ(static_cast<ssize_t>(data.size()), pwrite(fd, data.data(), data.size(), 0));
  ASSERT_EQ(0, fsync(fd));
  ASSERT_EQ(0, fstat(fd, &st));
  const blkcnt_t before = st.st_blocks;
  // PUNCH_HOLE (must come with KEEP_SIZE) zeroes and frees a 2 MiB aligned range.
  ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * kMiB, 2 * kMiB));
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(static_cast<off_t>(4 * kMiB), st.st_size);
  EXPECT_LT(st.st_blocks, before);
  EXPECT_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
  // ZERO_RANGE zeroes an unaligned range and keeps the rest.
  ASSERT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE, 1000, 5000));
  want = data;
  want.replace(2 * kMiB, 2 * kMiB, std::string(2 * kMiB, '\0'));
  want.replace(1000, 5000, std::string(5000, '\0'));
  ASSERT_EQ(static_cast<ssize_t>(got.size()), pread(fd, got.data(), got.size(), 0));
  EXPECT_TRUE(want == got) << "content differs after punch/zero";
  ASSERT_EQ(0, fsync(fd));
  }
  ASSERT_TRUE(fs_->remount());
  EXPECT_TRUE(want == read_file(p("fa"))) << "content differs after remount";
}

TEST_F(OpsTest, CopyFileRangeCopiesBytes) {
  const std::string data = pattern(3 * kMiB + 100, 7);
  ASSERT_EQ(0, write_file(p("src"), data));
  Fd in(open(p("src").c_str(), O_RDONLY));
  Fd out(open(p("dst").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(in, 0);
  ASSERT_GE(out, 0);
  loff_t off_in = 100, off_out = 4096;
  size_t left = 3 * kMiB;
  while (left > 0) {
    ssize_t n = copy_file_range(in, &off_in, out, &off_out, left, 0);
    ASSERT_GT(n, 0) << strerror(errno);
    left -= static_cast<size_t>(n);
  }
  std::string got(3 * kMiB, '\0');
  ASSERT_EQ(static_cast<ssize_t>(got.size()), pread(out, got.data(), got.size(), 4096));
  EXPECT_TRUE(data.substr(100, 3 * kMiB) == got);
  struct stat st {};
  ASSERT_EQ(0, fstat(out, &st));
  EXPECT_EQ(static_cast<off_t>(4096 + 3 * kMiB), st.st_size);
}

TEST_F(OpsTest, StatfsReportsSpaceThatWritesUse) {
  struct statvfs a {}, b {};
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &a));
  EXPECT_GT(a.f_blocks, 0u);
  EXPECT_GT(a.f_bfree, 0u);
  EXPECT_LE(a.f_bfree, a.f_blocks);
  EXPECT_GT(a.f_files, 0u);
  EXPECT_EQ(255u, a.f_namemax);
  ASSERT_EQ(0, write_file(p("big"), pattern(16 * kMiB, 8)));
  sync();
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &b));
  EXPECT_LE((b.f_bfree + 16 * kMiB / b.f_frsize) * b.f_frsize, a.f_bfree * a.f_frsize + b.f_frsize);
}

// ---- extended attributes ------------------------------------------------------

TEST_F(OpsTest, XattrsFollowTheSyscallContract) {
  ASSERT_EQ(0, write_file(p("x"), "data"));
  const std::string f = p("x");
  ASSERT_EQ(0, setxattr(f.c_str(), "user.color", "blue", 4, 0));
  EXPECT_ERRNO(setxattr(f.c_str(), "user.color", "red", 3, XATTR_CREATE), EEXIST);
  EXPECT_ERRNO(setxattr(f.c_str(), "user.size", "1", 1, XATTR_REPLACE), ENODATA);
  ASSERT_EQ(0, setxattr(f.c_str(), "user.color", "green", 5, XATTR_REPLACE));
  const std::string big(3000, 'v');
  ASSERT_EQ(0, setxattr(f.c_str(), "user.big", big.data(), big.size(), XATTR_CREATE));
  // A size-0 probe returns the size; a short buffer is ERANGE.
  EXPECT_EQ(5, getxattr(f.c_str(), "user.color", nullptr, 0));
  char buf[4096];
  EXPECT_ERRNO(getxattr(f.c_str(), "user.color", buf, 2), ERANGE);
  ASSERT_EQ(5, getxattr(f.c_str(), "user.color", buf, sizeof buf));
  EXPECT_EQ("green", std::string(buf, 5));
  ASSERT_EQ(3000, getxattr(f.c_str(), "user.big", buf, sizeof buf));
  EXPECT_EQ(big, std::string(buf, 3000));
  EXPECT_ERRNO(getxattr(f.c_str(), "user.none", buf, sizeof buf), ENODATA);
  // The list: exactly the stored names, no control attributes.
  ssize_t n = listxattr(f.c_str(), nullptr, 0);
  ASSERT_GT(n, 0);
  EXPECT_ERRNO(listxattr(f.c_str(), buf, 3), ERANGE);
  ASSERT_EQ(n, listxattr(f.c_str(), buf, sizeof buf));
  std::set<std::string> names;
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(strlen(buf + i)) + 1) names.insert(buf + i);
  EXPECT_EQ((std::set<std::string>{"user.big", "user.color"}), names);
  ASSERT_EQ(0, removexattr(f.c_str(), "user.big"));
  EXPECT_ERRNO(removexattr(f.c_str(), "user.big"), ENODATA);
  ASSERT_EQ(0, setxattr(p("").c_str(), "user.on-root", "r", 1, 0));  // directories too
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(5, getxattr(f.c_str(), "user.color", buf, sizeof buf));
  EXPECT_EQ("green", std::string(buf, 5));
  EXPECT_EQ(1, getxattr(p("").c_str(), "user.on-root", buf, sizeof buf));
}

TEST_F(OpsTest, ControlXattrsExposeStatsAndMapsButAreNotListedOrWritable) {
  ASSERT_EQ(0, write_file(p("m"), pattern(3 * kMiB, 9)));
  Fd fd(open(p("m").c_str(), O_RDONLY));
  ASSERT_EQ(0, fsync(fd));
  char buf[65536];
  ssize_t n = getxattr(fs_->mnt().c_str(), "user.pmemfs.stats", buf, sizeof buf);
  ASSERT_GT(n, 1) << strerror(errno);
  std::string stats(buf, static_cast<size_t>(n));
  // pmemfs.8, "JSON OUTPUT": an object (padded with spaces) of counts, the
  // persistence and transport names, and the requests by opcode.
  const auto sj = nlohmann::json::parse(stats, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(sj.is_object()) << stats;
  for (const char* key : {"hole_faults", "pte_faults", "pmd_faults", "upgrades", "retries",
                          "hole_evictions", "fsync_calls", "fsync_bytes_flushed", "journal_commits",
                          "persists", "data_blocks", "free_blocks", "free_huge_regions"})
    EXPECT_TRUE(sj.contains(key) && sj[key].is_number_unsigned()) << key << " in " << stats;
  EXPECT_GE(sj.value("fsync_calls", 0u), 1u) << stats;
  EXPECT_TRUE(sj.contains("persistence") && sj["persistence"].is_string()) << stats;
  EXPECT_TRUE(sj.contains("transport") && sj["transport"].is_string()) << stats;
  EXPECT_TRUE(sj.contains("requests") && sj["requests"]["write"]["count"].is_number_unsigned()) << stats;
  EXPECT_EQ(n, getxattr(fs_->mnt().c_str(), "user.pmemfs.stats", nullptr, 0));
  EXPECT_ERRNO(getxattr(p("m").c_str(), "user.pmemfs.stats", buf, sizeof buf), ENODATA);

  n = getxattr(p("m").c_str(), "user.pmemfs.map", buf, sizeof buf);
  ASSERT_GT(n, 1) << strerror(errno);
  std::string map(buf, static_cast<size_t>(n));
  EXPECT_EQ('[', map.front()) << map;
  EXPECT_EQ(']', map.back()) << map;
  for (const char* key : {"\"file_offset\":", "\"length\":", "\"pool_offset\":", "\"size_class\":"})
    EXPECT_NE(std::string::npos, map.find(key)) << key << " missing in " << map;
  const auto mj = nlohmann::json::parse(map, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(mj.is_array() && !mj.empty()) << map;
  uint64_t mapped = 0;
  for (const auto& e : mj) {
    ASSERT_TRUE(e["file_offset"].is_number_unsigned() && e["length"].is_number_unsigned() &&
                e["pool_offset"].is_number_unsigned()) << map;
    EXPECT_TRUE(e["size_class"] == "2M" || e["size_class"] == "4K") << map;
    mapped += e["length"].get<uint64_t>();
  }
  EXPECT_GE(mapped, 3 * kMiB) << map;  // whole extents: 2 MiB ones may reach past EOF

  EXPECT_ERRNO(setxattr(fs_->mnt().c_str(), "user.pmemfs.stats", "x", 1, 0), EPERM);
  EXPECT_ERRNO(removexattr(p("m").c_str(), "user.pmemfs.map"), EPERM);
  EXPECT_EQ(0, listxattr(p("m").c_str(), buf, sizeof buf));
  EXPECT_EQ(0, listxattr(fs_->mnt().c_str(), buf, sizeof buf));
}

// Leaves 4 KiB of data every 8 KiB, each block an extent of its own: written
// whole (in 2 MiB extents), then every other block punched out. (Written a
// block at a time, a streaming writer would get 2 MiB extents.) A multiple of
// 256 extents fills the last 2 MiB extent: no blocks past EOF remain.
void write_fragmented(const std::string& path, int extents) {
  ASSERT_EQ(0, write_file(path, std::string(size_t{8192} * extents, 'x')));
  Fd fd(open(path.c_str(), O_RDWR));
  ASSERT_GE(fd, 0) << strerror(errno);
  for (int i = 0; i < extents; ++i)
    ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           static_cast<off_t>(i) * 8192 + 4096, 4096))
        << strerror(errno);
  ASSERT_EQ(0, fsync(fd));
}

// A map larger than one xattr value (64 KiB, about 800 extents) comes in pages.
TEST_F(OpsTest, CtlMapShowsEveryExtentOfAHeavilyFragmentedFile) {
  constexpr int kExtents = 5120;
  const std::string f = p("frag");
  write_fragmented(f, kExtents);
  auto r = run({ctl_path(), "map", f, "--json"});
  ASSERT_EQ(0, r.status) << r.output.substr(0, 300);
  const std::string& json = r.output;
  ASSERT_EQ("[{", json.substr(0, 2)) << json.substr(0, 300);
  ASSERT_EQ("}]\n", json.substr(json.size() - 3)) << json.substr(json.size() - 300);
  // Every extent once, in file order, as one JSON array.
  size_t pos = 0;
  int seen = 0;
  for (; (pos = json.find("{\"file_offset\":", pos)) != std::string::npos; ++seen) {
    pos += 15;
    ASSERT_EQ(std::to_string(uint64_t{8192} * seen) + ",\"length\":4096,",
              json.substr(pos, json.find("\"pool_offset\"", pos) - pos))
        << "entry " << seen;
  }
  EXPECT_EQ(kExtents, seen);
  EXPECT_EQ(std::string::npos, json.find("}{")) << "pages joined without a comma";
  EXPECT_EQ(std::string::npos, json.find("]["));

  r = run({ctl_path(), "map", f});
  ASSERT_EQ(0, r.status) << r.output.substr(0, 300);
  size_t lines = 0;
  for (char c : r.output) lines += c == '\n';
  EXPECT_EQ(kExtents + 2u, lines);  // header, one line per extent, total
  EXPECT_NE(std::string::npos,
            r.output.find(std::to_string(uint64_t{4096} * kExtents) + " bytes mapped, 0.0% in 2 MiB"))
      << r.output.substr(r.output.size() - 200);

  // The pages are control attributes too: not listed, not writable.
  char buf[16];
  EXPECT_EQ(0, listxattr(f.c_str(), buf, sizeof buf));
  EXPECT_ERRNO(setxattr(f.c_str(), "user.pmemfs.map.0", "x", 1, 0), EPERM);
  EXPECT_ERRNO(removexattr(f.c_str(), "user.pmemfs.map.0"), EPERM);
}

// pmemfs-ctl usage: the cell counts of a known layout (one file of two 2 MiB
// extents, one of three blocks, the root's directory block), as text and as
// a drawing; refused off the mount point. (usage_test has the exact counts
// of one thread's allocations.)
TEST_F(OpsTest, CtlUsageCountsTheCellsOfAKnownLayout) {
  int fd = open(p("big").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(0, fallocate(fd, 0, 0, 4 << 20)) << strerror(errno);
  close(fd);
  fd = open(p("small").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::string data(3 * 4096, 's');
  ASSERT_EQ(static_cast<ssize_t>(data.size()), write(fd, data.data(), data.size()));
  close(fd);

  auto r = run({ctl_path(), "usage", fs_->mnt()});
  ASSERT_EQ(0, r.status) << r.output;
  uint64_t cells = 0;
  ASSERT_EQ(1, std::sscanf(r.output.c_str(), "data area: %lu cells", &cells)) << r.output;
  ASSERT_GT(cells, 100u);
  ASSERT_LT(cells, MountedFs::kDefaultPoolSize / (2 << 20));
  auto has = [&](const std::string& label, uint64_t n) {
    const size_t at = r.output.find(label);
    if (at == std::string::npos) return false;
    uint64_t got = 0;
    return std::sscanf(r.output.c_str() + at + label.size(), " %lu", &got) == 1 && got == n;
  };
  // The root's block and the small file's share a cell when one thread
  // served both; the allocator's shards are per thread, and the daemon's
  // request threads are several.
  const uint64_t partial = has("partly used", 1) ? 1 : 2;
  EXPECT_TRUE(has("partly used", partial)) << r.output;
  EXPECT_TRUE(has("free (whole 2 MiB regions)", cells - 2 - partial)) << r.output;
  EXPECT_TRUE(has("full, in smaller pieces", 0)) << r.output;
  EXPECT_TRUE(has("full, one 2 MiB extent", 2)) << r.output;

  const std::string svg = fs_->dir() + "/usage.svg";
  auto d = run({ctl_path(), "usage", fs_->mnt(), "--svg", svg});
  ASSERT_EQ(0, d.status) << d.output;
  EXPECT_EQ(r.output, d.output) << "the drawing's counts are the summary's";
  std::string doc;
  {
    std::FILE* f = std::fopen(svg.c_str(), "r");
    ASSERT_TRUE(f);
    char buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) doc.append(buf, n);
    std::fclose(f);
  }
  EXPECT_EQ(0u, doc.find("<svg"));
  size_t rects = 0;
  for (size_t i = 0; (i = doc.find("<rect ", i)) != std::string::npos; ++i) ++rects;
  EXPECT_EQ(cells + 4, rects);  // a cell each, and the legend's four

  auto off = run({ctl_path(), "usage", p("small")});
  EXPECT_EQ(1, off.status);
  EXPECT_NE(std::string::npos, off.output.find("give the mount point")) << off.output;
  char buf[16];
  EXPECT_EQ(0, listxattr(fs_->mnt().c_str(), buf, sizeof buf)) << "control attributes are never listed";
  EXPECT_ERRNO(setxattr(fs_->mnt().c_str(), "user.pmemfs.usage", "x", 1, 0), EPERM);
}

// Waits for statfs's free blocks to reach want (frees may complete just after
// the call that made them returns); returns the last count seen.
uint64_t wait_free_blocks(const std::string& mnt, uint64_t want) {
  struct statvfs v {};
  for (int i = 0; i < 500; ++i) {
    if (statvfs(mnt.c_str(), &v) != 0) return 0;
    if (v.f_bfree == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return v.f_bfree;
}

// A file of more extents than its inode holds spills them to extent blocks;
// those must be freed when the extents go, not only when the file is deleted.
TEST_F(OpsTest, ShrinkingAFragmentedFileFreesItsExtentBlocks) {
  constexpr int kExtents = 3072;
  const std::string f = p("frag");
  ASSERT_EQ(0, write_file(f, ""));
  struct statvfs empty {};
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &empty));
  write_fragmented(f, kExtents);
  struct stat st {};
  ASSERT_EQ(0, stat(f.c_str(), &st));
  const uint64_t chain_blocks = static_cast<uint64_t>(st.st_blocks) / 8 - kExtents;
  EXPECT_EQ(19u, chain_blocks);  // 5 extents in the inode, 169 in each extent block
  const uint64_t used = kExtents + chain_blocks;
  EXPECT_EQ(empty.f_bfree - used, wait_free_blocks(fs_->mnt(), empty.f_bfree - used));

  ASSERT_EQ(0, truncate(f.c_str(), 0));
  EXPECT_EQ(empty.f_bfree, wait_free_blocks(fs_->mnt(), empty.f_bfree));
  ASSERT_EQ(0, stat(f.c_str(), &st));
  EXPECT_EQ(0, st.st_blocks);

  // Punching the middle empties extent blocks between others: the chain is
  // relinked around them, and the rest of the file survives a remount.
  write_fragmented(f, kExtents);
  {
    Fd fd(open(f.c_str(), O_RDWR));
    ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192 * 500,
                           8192 * 2000));
    ASSERT_EQ(0, fsync(fd));
  }
  // 1,072 extents are left, in the inode and in the extent blocks at both
  // ends of the chain; those in between hold none and are freed.
  ASSERT_EQ(0, stat(f.c_str(), &st));
  const uint64_t kept_blocks = static_cast<uint64_t>(st.st_blocks) / 8;
  EXPECT_LT(kept_blocks, kExtents - 2000 + chain_blocks);
  EXPECT_EQ(empty.f_bfree - kept_blocks, wait_free_blocks(fs_->mnt(), empty.f_bfree - kept_blocks));
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(0, stat(f.c_str(), &st));
  EXPECT_EQ(kept_blocks, static_cast<uint64_t>(st.st_blocks) / 8) << "the chain read back differs";
  const std::string data = read_file(f);
  ASSERT_EQ(8192u * kExtents, data.size());
  for (int i = 0; i < kExtents; ++i) {
    const char want = i >= 500 && i < 2500 ? '\0' : 'x';
    ASSERT_EQ(want, data[8192u * i]) << "extent " << i;
    ASSERT_EQ('\0', data[8192u * i + 4096]) << "hole after extent " << i;
  }
  ASSERT_EQ(0, fs_->unmount());
  auto r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

// ---- export ------------------------------------------------------------------

TEST_F(OpsTest, FileHandlesOpenFilesAndDirectoriesAfterRemount) {
  ASSERT_EQ(0, mkdir(p("a").c_str(), 0755));
  ASSERT_EQ(0, mkdir(p("a/b").c_str(), 0755));
  ASSERT_EQ(0, write_file(p("a/b/file"), "by handle"));
  struct Handle {
    file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  };
  auto handle_of = [&](const std::string& path, Handle& h) {
    h.fh.handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    return name_to_handle_at(AT_FDCWD, path.c_str(), &h.fh, &mount_id, 0);
  };
  Handle file_h{}, dir_h{};
  ASSERT_EQ(0, handle_of(p("a/b/file"), file_h)) << strerror(errno);
  ASSERT_EQ(0, handle_of(p("a/b"), dir_h)) << strerror(errno);

  // After a remount the kernel knows none of these inodes: opening by handle
  // makes it LOOKUP "." of the inode (and ".." up to the root for a
  // directory). Each handle gets a fresh mount so neither helps the other.
  auto open_handle = [&](Handle& h, int flags) {
    Fd mfd(open(fs_->mnt().c_str(), O_RDONLY | O_DIRECTORY));
    return open_by_handle_at(mfd, &h.fh, flags);
  };
  ASSERT_TRUE(fs_->remount());
  {
    Fd fd(open_handle(file_h, O_RDONLY));
    EXPECT_GE(fd, 0) << "file handle: " << strerror(errno);
    char buf[64];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    EXPECT_EQ("by handle", std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
  }
  ASSERT_TRUE(fs_->remount());
  {
    Fd fd(open_handle(dir_h, O_RDONLY | O_DIRECTORY));
    ASSERT_GE(fd, 0) << "directory handle: " << strerror(errno);
    struct stat st {};
    EXPECT_EQ(0, fstatat(fd, "file", &st, 0));
    // The directory is connected: its parent chain resolves.
    char path[PATH_MAX];
    std::string link = "/proc/self/fd/" + std::to_string(fd.fd);
    ssize_t n = readlink(link.c_str(), path, sizeof path);
    ASSERT_GT(n, 0);
    EXPECT_EQ(p("a/b"), std::string(path, static_cast<size_t>(n)));
  }
  // A handle of a deleted file is stale.
  ASSERT_EQ(0, unlink(p("a/b/file").c_str()));
  ASSERT_TRUE(fs_->remount());
  EXPECT_ERRNO(open_handle(file_h, O_RDONLY), ESTALE);
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

// ---- full pool ------------------------------------------------------------------

class FullPoolTest : public MountTest {
  // cache=none: write(2) itself reports ENOSPC instead of a later fsync.
  std::string mount_options() const override { return "cache=none"; }
  uint64_t pool_size() const override { return 64ull << 20; }
};

TEST_F(FullPoolTest, EnospcThenWritesSucceedOnceSpaceIsFreed) {
  const std::string chunk = pattern(kMiB, 10);
  int err = 0;
  size_t written = 0;
  {
    Fd fd(open(p("fill").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 128 && err == 0; ++i) {
      ssize_t n = write(fd, chunk.data(), chunk.size());
      if (n < 0) err = errno;
      else written += static_cast<size_t>(n);
      if (n >= 0 && static_cast<size_t>(n) < chunk.size()) {
        // A short write: the next one must fail.
        n = write(fd, chunk.data(), chunk.size());
        err = n < 0 ? errno : 0;
        if (n >= 0) written += static_cast<size_t>(n);
      }
    }
  }
  EXPECT_EQ(ENOSPC, err) << "after " << written << " bytes";
  EXPECT_GT(written, 16 * kMiB);
  struct statvfs sv {};
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &sv));
  EXPECT_LT(sv.f_bavail * sv.f_frsize, 2 * kMiB);
  // What was written is intact.
  std::string got = read_file(p("fill"));
  ASSERT_EQ(written, got.size());
  EXPECT_TRUE(got.substr(0, kMiB) == chunk);
  // Free the space; writing works again.
  ASSERT_EQ(0, unlink(p("fill").c_str()));
  EXPECT_EQ(0, write_file(p("after"), pattern(8 * kMiB, 11)));
  EXPECT_EQ(8 * kMiB, read_file(p("after")).size());
}

}  // namespace
}  // namespace pmemfs::test
