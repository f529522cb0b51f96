// Linux semantics a filesystem test suite expects, through a real mount
// (issue "POSIX and Linux semantics"): each test states what ext4 does.
#include <linux/aio_abi.h>
#include <linux/falloc.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>

#include <cstring>
#include <string>
#include <utility>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr uid_t kUser = 4321;
constexpr gid_t kGroup = 4321;

// ---- setuid and setgid are dropped by fallocate as by write ---------------

struct FallocCase {
  const char* name;
  int mode;
};
void PrintTo(const FallocCase& c, std::ostream* os) { *os << c.name; }

class KillPrivsTest : public MountTest, public ::testing::WithParamInterface<FallocCase> {};

// The kernel's rules (setattr_should_drop_sgid): setuid always goes when
// someone changes the file's data; setgid goes when the file is group
// executable, or when the writer is not in the file's group.
TEST_P(KillPrivsTest, AnUnprivilegedWritersFallocateDropsSetuidAndSetgid) {
  struct Case {
    mode_t before, after;
  } cases[] = {
      {S_ISGID | 0666, 0666},            // not group-executable, writer not in the group
      {S_ISUID | 0666, 0666},
      {S_ISUID | S_ISGID | 0777, 0777},
      {0666, 0666},
  };
  for (const Case& c : cases) {
    const std::string f = p("f" + std::to_string(c.before));
    ASSERT_EQ(0, write_file(f, std::string(16384, 'x')));
    ASSERT_EQ(0, chmod(f.c_str(), c.before));
    const int mode = GetParam().mode;
    const int rc = run_as(kUser, kGroup, [&] {
      int fd = open(f.c_str(), O_RDWR);
      if (fd < 0) return 1;
      int r = fallocate(fd, mode, 4096, 4096);
      close(fd);
      return r == 0 ? 0 : 2;
    });
    ASSERT_EQ(0, rc) << std::oct << c.before;
    struct stat st {};
    ASSERT_EQ(0, stat(f.c_str(), &st));
    EXPECT_EQ(c.after, st.st_mode & 07777) << GetParam().name << " of a file of mode " << std::oct
                                           << c.before;
  }
}

TEST_P(KillPrivsTest, TheOwnersOwnFallocateKeepsSetgidOfAGroupItIsIn) {
  const std::string f = p("mine");
  ASSERT_EQ(0, write_file(f, std::string(16384, 'x')));
  ASSERT_EQ(0, chown(f.c_str(), kUser, kGroup));
  ASSERT_EQ(0, chmod(f.c_str(), S_ISGID | 0660));
  const int mode = GetParam().mode;
  ASSERT_EQ(0, run_as(kUser, kGroup, [&] {
    int fd = open(f.c_str(), O_RDWR);
    if (fd < 0) return 1;
    int r = fallocate(fd, mode, 0, 4096);
    close(fd);
    return r == 0 ? 0 : 2;
  }));
  struct stat st {};
  ASSERT_EQ(0, stat(f.c_str(), &st));
  EXPECT_EQ(S_ISGID | 0660u, st.st_mode & 07777) << "setgid without group execute is kept";
}

const FallocCase kFallocCases[] = {
    {"Allocate", 0},
    {"PunchHole", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE},
    {"ZeroRange", FALLOC_FL_ZERO_RANGE},
};
INSTANTIATE_TEST_SUITE_P(Fallocate, KillPrivsTest, ::testing::ValuesIn(kFallocCases),
                         [](const ::testing::TestParamInfo<FallocCase>& i) { return i.param.name; });

// ---- a failed fallocate changes nothing ----------------------------------

class FailedFallocateTest : public MountTest {
 protected:
  uint64_t pool_size() const override { return 64 * kMiB; }
  uint64_t free_blocks() {
    struct statvfs sv {};
    return statvfs(fs_->mnt().c_str(), &sv) == 0 ? sv.f_bfree : 0;
  }
  void expect_clean_fsck() {
    ASSERT_EQ(0, fs_->unmount()) << fs_->daemon_log();
    auto r = run({fsck_path(), "-n", fs_->pool()});
    EXPECT_EQ(0, r.status) << r.output;
  }
};

// ext4 and XFS may keep what a failed fallocate allocated; pmemfs promises
// more (pmemfs.8): an fallocate that fails with ENOSPC leaves the space and
// the file as they were.
TEST_F(FailedFallocateTest, ENOSPCGivesBackEverythingItAllocated) {
  ASSERT_EQ(0, write_file(p("keep"), pattern(20 * kMiB, 5)));
  const uint64_t before = free_blocks();
  Fd fd(open(p("new").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_EQ(-1, fallocate(fd, 0, 0, off_t{200} * static_cast<off_t>(kMiB)));
  EXPECT_EQ(ENOSPC, errno);
  EXPECT_EQ(before, free_blocks()) << "a failed fallocate kept blocks";
  struct stat st {};
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(0, st.st_size);
  EXPECT_EQ(0, st.st_blocks);
  // And the space is usable: a fallocate that fits succeeds.
  EXPECT_EQ(0, fallocate(fd, 0, 0, off_t{8} * static_cast<off_t>(kMiB))) << strerror(errno);
  close(std::exchange(fd.fd, -1));
  EXPECT_TRUE(read_file(p("keep")) == pattern(20 * kMiB, 5));
  expect_clean_fsck();
}

TEST_F(FailedFallocateTest, ENOSPCWithKeepSizeLeavesDataAndHolesAsTheyWere) {
  const std::string head = pattern(kMiB, 6), mid = pattern(kMiB, 7);
  Fd fd(open(p("sparse").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(static_cast<ssize_t>(kMiB), pwrite(fd, head.data(), kMiB, 0));
  ASSERT_EQ(static_cast<ssize_t>(kMiB), pwrite(fd, mid.data(), kMiB, 10 * kMiB));
  ASSERT_EQ(0, ftruncate(fd, 40 * kMiB));
  const uint64_t before = free_blocks();
  errno = 0;
  EXPECT_EQ(-1, fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, off_t{200} * static_cast<off_t>(kMiB)));
  EXPECT_EQ(ENOSPC, errno);
  EXPECT_EQ(before, free_blocks()) << "a failed fallocate kept blocks";
  EXPECT_EQ(static_cast<off_t>(kMiB), lseek(fd, kMiB, SEEK_HOLE)) << "the hole after the head is gone";
  close(std::exchange(fd.fd, -1));
  const std::string got = read_file(p("sparse"));
  ASSERT_EQ(40 * kMiB, got.size());
  EXPECT_TRUE(got.compare(0, kMiB, head) == 0);
  EXPECT_TRUE(got.compare(10 * kMiB, kMiB, mid) == 0);
  EXPECT_EQ(10 * kMiB, got.find_first_not_of('\0', kMiB));
  EXPECT_EQ(std::string::npos, got.find_first_not_of('\0', 11 * kMiB));
  expect_clean_fsck();
}

// ---- asynchronous direct writes and the page cache ------------------------

class DirectAioTest : public MountTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }
};

// A program mixing buffered reads with AIO O_DIRECT writes of the same
// range (as databases do) must read what it wrote once the write completed,
// also when a buffered read ran while the write was in flight (it may see
// either; the page it cached then must not outlive the write). Rounds make
// that overlap likely without a hook.
TEST_P(DirectAioTest, BufferedReadsSeeACompletedAsyncDirectWrite) {
  constexpr size_t kLen = 64 * 1024;
  constexpr int kRounds = 300;
  ASSERT_EQ(0, write_file(p("f"), std::string(kLen, '\x55')));
  Fd buffered(open(p("f").c_str(), O_RDONLY));
  Fd direct(open(p("f").c_str(), O_RDWR | O_DIRECT));
  ASSERT_GE(buffered, 0);
  ASSERT_GE(direct, 0);
  aio_context_t ctx = 0;
  ASSERT_EQ(0, syscall(SYS_io_setup, 4, &ctx)) << strerror(errno);
  void* buf = nullptr;
  ASSERT_EQ(0, posix_memalign(&buf, 4096, kLen));
  std::string got(kLen, '\0');
  int stale_rounds = 0, first_stale = -1;
  for (int round = 0; round < kRounds; ++round) {
    const char value = static_cast<char>(round % 2 ? 0x55 : 0xaa);
    ASSERT_EQ(static_cast<ssize_t>(kLen), pread(buffered, got.data(), kLen, 0));  // cached
    std::memset(buf, value, kLen);
    iocb cb {};
    cb.aio_fildes = static_cast<uint32_t>(direct.fd);
    cb.aio_lio_opcode = IOCB_CMD_PWRITE;
    cb.aio_buf = reinterpret_cast<uint64_t>(buf);
    cb.aio_nbytes = kLen;
    iocb* cbs[] = {&cb};
    ASSERT_EQ(1, syscall(SYS_io_submit, ctx, 1, cbs)) << strerror(errno);
    // While the write is in flight: this read may cache the old bytes.
    ASSERT_EQ(static_cast<ssize_t>(kLen), pread(buffered, got.data(), kLen, 0));
    io_event ev {};
    ASSERT_EQ(1, syscall(SYS_io_getevents, ctx, 1, 1, &ev, nullptr));
    ASSERT_EQ(static_cast<int64_t>(kLen), ev.res);
    ASSERT_EQ(static_cast<ssize_t>(kLen), pread(buffered, got.data(), kLen, 0));
    if (got.find_first_not_of(value) != std::string::npos && stale_rounds++ == 0) first_stale = round;
  }
  syscall(SYS_io_destroy, ctx);
  free(buf);
  EXPECT_EQ(0, stale_rounds) << "buffered reads after a completed direct write returned old bytes in "
                             << stale_rounds << " of " << kRounds << " rounds, the first in round "
                             << first_stale;
}

INSTANTIATE_TEST_SUITE_P(CacheModes, DirectAioTest, kCacheModes, cache_mode_name);

}  // namespace
}  // namespace pmemfs::test
