// The SIGBUS guard (pmemfs/bus_guard.h): a failed backing store under a
// guarded mapping costs the page, not the process; a SIGBUS anywhere else
// still kills it as before.
#include "pmemfs/bus_guard.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "pmemfs/layout.h"
#include "pmemfs/pool.h"

namespace pmemfs {
namespace {

constexpr size_t kLen = 16 * 4096;

// A file of kLen bytes in /dev/shm, mapped shared, full of 'x'.
struct MappedFile {
  std::string path;
  int fd = -1;
  char* p = nullptr;
  MappedFile() {
    path = "/dev/shm/pmemfs-bus-guard-" + std::to_string(getpid()) + "-" +
           ::testing::UnitTest::GetInstance()->current_test_info()->name();
    fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    EXPECT_GE(fd, 0);
    EXPECT_EQ(0, ftruncate(fd, kLen));
    void* m = mmap(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    EXPECT_NE(MAP_FAILED, m);
    p = static_cast<char*>(m);
    std::memset(p, 'x', kLen);
  }
  ~MappedFile() {
    munmap(p, kLen);
    close(fd);
    unlink(path.c_str());
  }
};

TEST(BusGuard, AFailedPageOfAGuardedRangeReadsZeroAndIsCounted) {
  MappedFile f;
  bus_guard::Guard g(f.p, kLen, f.path);
  ASSERT_TRUE(g.active());
  const uint64_t mine = bus_guard::thread_failures();
  const uint64_t all = bus_guard::failures();
  ASSERT_EQ(0, ftruncate(f.fd, 4 * 4096));  // pages 4.. are gone
  volatile char* p = f.p;
  EXPECT_EQ('x', p[4095]);                   // still backed
  EXPECT_EQ(0, p[5 * 4096 + 7]);             // SIGBUS, patched: zeros
  p[5 * 4096 + 8] = 'y';                     // the patch takes stores
  EXPECT_EQ('y', p[5 * 4096 + 8]);
  EXPECT_EQ(1u, g.failures());
  EXPECT_EQ(5u * 4096, g.first_failure_offset());
  EXPECT_EQ(mine + 1, bus_guard::thread_failures());
  EXPECT_EQ(all + 1, bus_guard::failures());
  p[9 * 4096] = 'z';                         // another page, another failure
  EXPECT_EQ(2u, g.failures());
  EXPECT_EQ(5u * 4096, g.first_failure_offset());
}

// What an unguarded SIGBUS does: the default action kills with SIGBUS; under
// a sanitizer the handler the guard chains to is the sanitizer's, which
// reports the fault and aborts.
bool died_of_the_bus_error(int status) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  if (WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT) return true;
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0) return true;
#endif
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGBUS;
}

TEST(BusGuardDeathTest, ASigbusOutsideEveryGuardedRangeStillKills) {
  bus_guard::install();
  EXPECT_EXIT(
      {
        MappedFile f;
        bus_guard::Guard g(f.p, 4096, f.path);  // guards the first page only
        if (ftruncate(f.fd, 0) != 0) _exit(1);
        volatile char* p = f.p;
        (void)p[0];  // guarded: survives
        fprintf(stderr, "guarded page survived\n");
        (void)p[2 * 4096];  // not guarded: dies
        _exit(0);
      },
      died_of_the_bus_error, "guarded page survived");
}

TEST(BusGuardDeathTest, ASentSigbusStillKills) {
  bus_guard::install();
  EXPECT_EXIT(
      {
        kill(getpid(), SIGBUS);
        _exit(0);
      },
      died_of_the_bus_error, "");
}

// Pool registers its mapping: a pool file truncated under it fails the pool
// instead of the process.
TEST(BusGuard, PoolNoticesItsFileWasTruncated) {
  const std::string path = "/dev/shm/pmemfs-bus-guard-pool-" + std::to_string(getpid());
  PoolOpenOptions o;
  o.create_size = layout::kMinPoolSize;
  auto pool = Pool::open(path, o);
  ASSERT_TRUE(pool.ok());
  EXPECT_FALSE((*pool)->failed());
  ASSERT_EQ(0, truncate(path.c_str(), 0));
  (*pool)->memset_persist((*pool)->base() + (1 << 20), 'a', 4096);
  EXPECT_TRUE((*pool)->failed());
  pool->reset();
  unlink(path.c_str());
}

}  // namespace
}  // namespace pmemfs
