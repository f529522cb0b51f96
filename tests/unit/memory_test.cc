// DRAM per cached inode (issue 12, item 1): a small regular file or an empty
// directory the kernel holds costs at most 256 bytes of the daemon's heap,
// its share of its parent's name index included; and a forgotten inode gives
// that memory back. Counted exactly, with a global operator new that adds up
// what malloc hands out (malloc_usable_size), not timed.
#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pmemfs/inode.h"
#include "test_pool.h"

namespace {

std::atomic<long> g_heap{0};

void* counted(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  g_heap.fetch_add(static_cast<long>(malloc_usable_size(p)), std::memory_order_relaxed);
  return p;
}
void uncounted(void* p) {
  if (!p) return;
  g_heap.fetch_sub(static_cast<long>(malloc_usable_size(p)), std::memory_order_relaxed);
  std::free(p);
}

}  // namespace

void* operator new(size_t n) { return counted(n); }
void* operator new[](size_t n) { return counted(n); }
void operator delete(void* p) noexcept { uncounted(p); }
void operator delete[](void* p) noexcept { uncounted(p); }
void operator delete(void* p, size_t) noexcept { uncounted(p); }
void operator delete[](void* p, size_t) noexcept { uncounted(p); }

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr int kFiles = 2000;
constexpr long kBudget = 256;  // bytes per cached inode (issue 12)

// The heap of one cached inode, without the cache's bookkeeping.
TEST(MemoryTest, InodeObjectIsCompact) {
  // Inode (with ExtentMap inline) + the shared_ptr control block of
  // make_shared leave room in 256 for the cache's hash node and the
  // parent's index cell.
  EXPECT_LE(sizeof(Inode), 168u);
  EXPECT_LE(sizeof(InodeCore), 104u);
  EXPECT_LE(sizeof(InodeLock), 4u);
  EXPECT_LE(sizeof(ExtentMap), 40u);
}

struct Tree {
  uint64_t dir;
  std::vector<std::string> names;
};

// Creates kFiles entries in /d (small files with 4 KiB of data, or empty
// directories), unmounts, and returns them for a fresh mount to look up.
Tree make_tree(TempPool& pool, bool dirs) {
  Tree t;
  auto fs = pool.mount();
  Caller who = root_caller();
  t.dir = fs->mkdir(kRoot, "d", 0755, who)->ino;
  const std::string data(4096, 'x');
  for (int i = 0; i < kFiles; ++i) {
    t.names.push_back("entry" + std::to_string(i));
    if (dirs) {
      auto a = fs->mkdir(t.dir, t.names.back(), 0755, who);
      EXPECT_TRUE(a.ok());
    } else {
      auto a = fs->mknod(t.dir, t.names.back(), S_IFREG | 0644, 0, who);
      EXPECT_TRUE(a.ok());
      if (a.ok()) {
        EXPECT_TRUE(fs->write(a->ino, 0, data.data(), data.size()).ok());
      }
    }
  }
  EXPECT_TRUE(fs->unmount().ok());
  return t;
}

// Looks every entry up on a fresh mount (as the kernel does after a
// restart): the heap it grows by, per entry, includes the parent's index.
void check_per_inode(bool dirs) {
  TempPool pool(256u << 20, 16384);
  Tree t = make_tree(pool, dirs);
  auto fs = pool.mount();
  ASSERT_TRUE(fs->lookup(kRoot, "d").ok());
  std::vector<uint64_t> inos;
  inos.reserve(kFiles);
  const long before = g_heap.load();
  for (const auto& n : t.names) {
    auto a = fs->lookup(t.dir, n);
    ASSERT_TRUE(a.ok()) << n;
    ASSERT_TRUE(fs->getattr(a->ino).ok());
    inos.push_back(a->ino);
  }
  const long held = g_heap.load() - before;
  const double per = static_cast<double>(held) / kFiles;
  ::testing::Test::RecordProperty("bytes_per_inode", std::to_string(per));
  EXPECT_LE(per, kBudget) << (dirs ? "empty directory" : "small file") << ": " << per
                          << " bytes per cached inode";
  // Forgotten, they give it back; what stays is the parent's index.
  for (uint64_t ino : inos) fs->forget(ino, 1);
  const long after = g_heap.load() - before;
  EXPECT_LE(static_cast<double>(after) / kFiles, 32.0)
      << "after forget: " << static_cast<double>(after) / kFiles << " bytes per inode";
  EXPECT_TRUE(fs->unmount().ok());
}

TEST(MemoryTest, SmallFileCostsAtMost256Bytes) { check_per_inode(false); }
TEST(MemoryTest, EmptyDirectoryCostsAtMost256Bytes) { check_per_inode(true); }

// A newly created file (the kernel holds it after create) costs no more.
TEST(MemoryTest, NewlyCreatedFileCostsAtMost256Bytes) {
  TempPool pool(256u << 20, 16384);
  auto fs = pool.mount();
  Caller who = root_caller();
  uint64_t d = fs->mkdir(kRoot, "d", 0755, who)->ino;
  // Warm the parent's index up first: its growth is amortised over the files.
  ASSERT_TRUE(fs->mknod(d, "warm", S_IFREG | 0644, 0, who).ok());
  std::vector<uint64_t> inos;
  inos.reserve(kFiles);
  const long before = g_heap.load();
  for (int i = 0; i < kFiles; ++i) {
    auto a = fs->mknod(d, "f" + std::to_string(i), S_IFREG | 0644, 0, who);
    ASSERT_TRUE(a.ok());
    inos.push_back(a->ino);
  }
  const double per = static_cast<double>(g_heap.load() - before) / kFiles;
  EXPECT_LE(per, kBudget) << per << " bytes per created file";
  // The kernel forgets them: gone from the cache, their memory freed.
  for (uint64_t ino : inos) fs->forget(ino, 1);
  const double left = static_cast<double>(g_heap.load() - before) / kFiles;
  EXPECT_LE(left, 32.0) << left << " bytes per created file after forget";
  EXPECT_LE(TempPool::impl(*fs).inodes_for_tests().loaded().size(), 3u);
  EXPECT_TRUE(fs->unmount().ok());
}

}  // namespace
}  // namespace pmemfs::test
