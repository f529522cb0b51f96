// Parallel O_DIRECT writes (pmemfs.8, "cache="): two writers of one file
// with O_DIRECT, neither extending it, are in the kernel's write path at the
// same time, in every cache mode. The kernel runs such writes under a shared
// inode lock only for files opened with FOPEN_DIRECT_IO and
// FOPEN_PARALLEL_DIRECT_WRITES; any other write holds the lock exclusive
// for its whole length.
//
// How it is seen without timing anything: the first writer's buffer is a
// page registered with userfaultfd, so the kernel, gathering the buffer's
// pages inside the write (under the inode lock), stops on the missing page
// until the test supplies it. While it is stopped, a second writer's
// O_DIRECT write of another block of the file must complete; with the lock
// exclusive it cannot until the first is let go.
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <future>
#include <string>
#include <thread>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr size_t kPage = 4096;

// One anonymous page whose first touch waits for the test (userfaultfd).
class StalledPage {
 public:
  StalledPage() {
    uffd_ = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
    if (uffd_ < 0) return;
    uffdio_api api{};
    api.api = UFFD_API;
    if (ioctl(uffd_, UFFDIO_API, &api) != 0) return;
    void* m = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return;
    page_ = static_cast<char*>(m);
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(page_);
    reg.range.len = kPage;
    reg.mode = UFFDIO_REGISTER_MODE_MISSING;
    ok_ = ioctl(uffd_, UFFDIO_REGISTER, &reg) == 0;
  }
  ~StalledPage() {
    if (page_) munmap(page_, kPage);
    if (uffd_ >= 0) close(uffd_);
  }
  bool ok() const { return ok_; }
  char* page() const { return page_; }
  std::string error() const { return std::string("userfaultfd: ") + strerror(errno); }

  // Waits until something touched the page (it is then stopped in the
  // fault); false after timeout_ms.
  bool wait_for_touch(int timeout_ms) {
    pollfd p{uffd_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) != 1) return false;
    uffd_msg msg{};
    return read(uffd_, &msg, sizeof msg) == sizeof msg && msg.event == UFFD_EVENT_PAGEFAULT;
  }
  // Supplies the page's contents and lets the toucher go on.
  bool supply(const std::string& bytes) {
    uffdio_copy copy{};
    copy.dst = reinterpret_cast<uint64_t>(page_);
    copy.src = reinterpret_cast<uint64_t>(bytes.data());
    copy.len = kPage;
    return ioctl(uffd_, UFFDIO_COPY, &copy) == 0;
  }

 private:
  int uffd_ = -1;
  char* page_ = nullptr;
  bool ok_ = false;
};

class ParallelDirectWriteTest : public MountTest,
                                public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }
};

TEST_P(ParallelDirectWriteTest, ASecondWriterIsNotHeldUpByAStalledOne) {
  const std::string f = p("shared");
  ASSERT_EQ(0, write_file(f, std::string(64 * kPage, 'o')));
  Fd first(open(f.c_str(), O_WRONLY | O_DIRECT));
  Fd second(open(f.c_str(), O_WRONLY | O_DIRECT));
  ASSERT_GE(first, 0) << strerror(errno);
  ASSERT_GE(second, 0) << strerror(errno);
  StalledPage stalled;
  ASSERT_TRUE(stalled.ok()) << stalled.error();

  auto stalled_write = std::async(std::launch::async, [&] {
    return pwrite(first, stalled.page(), kPage, 0);
  });
  const bool touched = stalled.wait_for_touch(10000);
  EXPECT_TRUE(touched) << "the first O_DIRECT write never reached its buffer";

  // The second write, while the first waits for its page.
  void* aligned = nullptr;
  ASSERT_EQ(0, posix_memalign(&aligned, kPage, kPage));
  std::memset(aligned, 'b', kPage);
  auto other_write = std::async(std::launch::async, [&] {
    return pwrite(second, aligned, kPage, 8 * kPage);
  });
  const bool other_done =
      other_write.wait_for(std::chrono::seconds(10)) == std::future_status::ready;
  EXPECT_TRUE(other_done) << "the second O_DIRECT write waited for the stalled one: "
                             "the kernel serialised them";

  const std::string first_bytes(kPage, 'a');
  ASSERT_TRUE(stalled.supply(first_bytes)) << strerror(errno);
  EXPECT_EQ(static_cast<ssize_t>(kPage), stalled_write.get());
  EXPECT_EQ(static_cast<ssize_t>(kPage), other_write.get());
  free(aligned);

  std::string want(64 * kPage, 'o');
  want.replace(0, kPage, first_bytes);
  want.replace(8 * kPage, kPage, std::string(kPage, 'b'));
  EXPECT_TRUE(read_file(f) == want) << "the file does not hold both writes";
}

// What FOPEN_DIRECT_IO must not take away in the cached modes: a shared
// mapping of a file opened O_DIRECT works (FUSE_DIRECT_IO_ALLOW_MMAP), and
// what a direct write puts in the file, the mapping then shows.
TEST_P(ParallelDirectWriteTest, AnODirectFileCanStillBeMappedShared) {
  const std::string f = p("mapped");
  ASSERT_EQ(0, write_file(f, std::string(4 * kPage, 'o')));
  Fd fd(open(f.c_str(), O_RDWR | O_DIRECT));
  ASSERT_GE(fd, 0) << strerror(errno);
  void* m = mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (std::string(GetParam()) == "cache=none") {
    // pmemfs.8: cache=none has no shared mappings, O_DIRECT or not.
    EXPECT_EQ(MAP_FAILED, m);
    EXPECT_EQ(ENODEV, errno) << strerror(errno);
    return;
  }
  ASSERT_NE(MAP_FAILED, m) << strerror(errno);
  char* c = static_cast<char*>(m);
  EXPECT_EQ('o', c[kPage]);
  std::memset(c, 'm', kPage);
  ASSERT_EQ(0, msync(m, kPage, MS_SYNC)) << strerror(errno);

  void* aligned = nullptr;
  ASSERT_EQ(0, posix_memalign(&aligned, kPage, kPage));
  std::memset(aligned, 'd', kPage);
  ASSERT_EQ(static_cast<ssize_t>(kPage), pwrite(fd, aligned, kPage, 2 * kPage));
  free(aligned);
  EXPECT_EQ('d', c[2 * kPage]) << "the mapping kept the bytes from before the direct write";
  munmap(m, 4 * kPage);

  std::string want(4 * kPage, 'o');
  want.replace(0, kPage, std::string(kPage, 'm'));
  want.replace(2 * kPage, kPage, std::string(kPage, 'd'));
  EXPECT_TRUE(read_file(f) == want);
}

INSTANTIATE_TEST_SUITE_P(CacheModes, ParallelDirectWriteTest, kCacheModes, cache_mode_name);

}  // namespace
}  // namespace pmemfs::test
