// The hole-page race of shared/seed-thread.txt, through a real mount: reader
// processes map a hole and read it (and pread it) in a loop while a writer
// fills it with pwrite and through a MAP_SHARED mapping. Once a write has
// returned, no reader may see the old zeros there again. Each round punches
// the range back into a hole, so every round starts with hole pages cached.
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr size_t kFileSize = 8u << 20;
constexpr uint64_t kPages = 8;
constexpr uint64_t kRounds = 300;

// Shared between the processes (an anonymous MAP_SHARED page).
struct Board {
  std::atomic<uint64_t> written[kPages];  // round in which page i was written, 0 = not yet
  std::atomic<uint64_t> violations;
  std::atomic<uint64_t> reads;
  std::atomic<bool> stop;
};

char pattern_of(uint64_t round) { return static_cast<char>(round % 250 + 1); }
off_t page_off(uint64_t i) { return static_cast<off_t>((i * 61 + 3) % 1024 * 4096); }

// A reader process: by mmap (use_mmap) or pread. Exits 0 or a code.
int reader(const std::string& path, Board* board, bool use_mmap, uint32_t seed) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) return 1;
  const char* m = nullptr;
  if (use_mmap) {
    m = static_cast<const char*>(mmap(nullptr, kFileSize, PROT_READ, MAP_SHARED, fd, 0));
    if (m == MAP_FAILED) return 2;
  }
  std::mt19937 rng(seed);
  while (!board->stop.load()) {
    const uint64_t i = rng() % kPages;
    const uint64_t before = board->written[i].load();
    char c;
    if (use_mmap) {
      c = *static_cast<const volatile char*>(m + page_off(i));
    } else if (pread(fd, &c, 1, page_off(i)) != 1) {
      return 3;
    }
    const uint64_t after = board->written[i].load();
    if (before != 0 && before == after && c != pattern_of(before)) board->violations.fetch_add(1);
    board->reads.fetch_add(1);
  }
  return 0;
}

class HoleRaceTest : public MountTest {
 protected:
  // Shared mappings need the page cache; direct I/O mounts test pread/pwrite.
  virtual bool mmap_works() const { return true; }
  void run_race() {
    const std::string path = p("race");
    Fd fd(open(path.c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, ftruncate(fd, kFileSize));
    auto* board = static_cast<Board*>(
        mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(MAP_FAILED, board);
    new (board) Board{};
    std::vector<pid_t> readers;
    for (int r = 0; r < 2; ++r) {
      pid_t pid = fork();
      ASSERT_GE(pid, 0);
      if (pid == 0)
        _exit(reader(path, board, /*use_mmap=*/r == 0 && mmap_works(), static_cast<uint32_t>(r + 1)));
      readers.push_back(pid);
    }
    char* map = nullptr;
    if (mmap_works()) {
      map = static_cast<char*>(mmap(nullptr, kFileSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
      ASSERT_NE(MAP_FAILED, map);
    }
    std::string page(4096, '\0');
    uint64_t stale_after_write = 0;
    for (uint64_t round = 1; round <= kRounds; ++round) {
      usleep(200);  // the readers fault the fresh holes in
      std::memset(page.data(), pattern_of(round), page.size());
      for (uint64_t i = 0; i < kPages; ++i) {
        if (!map || (round + i) % 2) {
          ASSERT_EQ(4096, pwrite(fd, page.data(), page.size(), page_off(i)));
        } else {
          std::memcpy(map + page_off(i), page.data(), page.size());
          ASSERT_EQ(0, msync(map + page_off(i), 4096, MS_SYNC));
        }
        board->written[i].store(round);
        char c;
        ASSERT_EQ(1, pread(fd, &c, 1, page_off(i)));
        if (c != pattern_of(round)) ++stale_after_write;
      }
      for (auto& w : board->written) w.store(0);
      ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 4u << 20));
    }
    board->stop.store(true);
    for (pid_t pid : readers) {
      int status = 0;
      ASSERT_EQ(pid, waitpid(pid, &status, 0));
      EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "reader status " << status;
    }
    EXPECT_EQ(0u, board->violations.load()) << "readers saw zeros after a write returned";
    EXPECT_EQ(0u, stale_after_write);
    EXPECT_GT(board->reads.load(), kRounds) << "the readers hardly ran: the test proved nothing";
    if (map) munmap(map, kFileSize);
    munmap(board, sizeof(Board));
  }
};

TEST_F(HoleRaceTest, WritebackCacheNoReaderSeesZerosAfterAWrite) { run_race(); }

class HoleRaceDirectTest : public HoleRaceTest {
  // Every read reaches the daemon's fault path, not the kernel's page cache.
  std::string mount_options() const override { return "cache=none"; }
  bool mmap_works() const override { return false; }
};

TEST_F(HoleRaceDirectTest, UncachedNoReaderSeesZerosAfterAWrite) { run_race(); }

}  // namespace
}  // namespace pmemfs::test
