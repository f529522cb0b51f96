// Free inode numbers as runs (inode_numbers.h) and the pool's data ranges
// they and the allocator are loaded from: the DRAM state follows what is in
// use, not the table's size, and holes of the pool file are never read.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include <gtest/gtest.h>

#include "pmemfs/inode_numbers.h"
#include "pmemfs/pool.h"

namespace pmemfs {
namespace {

void set_bit(Pool& pool, uint64_t ino) {
  *pool.at<uint64_t>((ino - 1) / 64 * 8) |= uint64_t{1} << ((ino - 1) % 64);
}

TEST(InodeNumbers, RunsFollowTheBitmap) {
  auto pool = Pool::in_memory(1 << 20);
  for (uint64_t ino : {1, 2, 3, 70, 130, 131}) set_bit(*pool, ino);
  InodeNumbers n(*pool, 0, 200);
  EXPECT_EQ(n.free_count(), 194u);
  // Free: 4..69, 71..129, 132..200.
  EXPECT_EQ(n.runs(), 3u);
  EXPECT_TRUE(n.in_use(1));
  EXPECT_TRUE(n.in_use(70));
  EXPECT_FALSE(n.in_use(4));
  EXPECT_FALSE(n.in_use(200));
  EXPECT_EQ(*n.take(1), 4u);
  EXPECT_EQ(*n.take(70), 71u);
  EXPECT_EQ(*n.take(100), 100u);  // inside a run: the hint itself
  EXPECT_EQ(n.runs(), 4u);
  EXPECT_EQ(*n.take(201), 5u);  // past the end: wraps to the lowest
  n.give_back(100);
  n.give_back(4);
  // 100 joined its neighbours; 4 stands alone (5 is taken): 4, 6..69, 72..129, 132..200.
  EXPECT_EQ(n.runs(), 4u);
  EXPECT_EQ(n.free_count(), 192u);
  n.give_back(4);  // twice: no change
  EXPECT_EQ(n.free_count(), 192u);
}

TEST(InodeNumbers, AnEmptyHugeTableIsOneRun) {
  // A billion inodes (a 16 TiB pool's default) would be 128 MiB of bitmap;
  // here the bitmap's pages past the first are never read.
  auto pool = Pool::in_memory(64 << 20);
  set_bit(*pool, 1);
  InodeNumbers n(*pool, 0, 64ull << 20 << 3);  // every bit of the pool
  EXPECT_EQ(n.runs(), 1u);
  EXPECT_EQ(n.free_count(), (64ull << 23) - 1);
  EXPECT_EQ(*n.take(1), 2u);
}

TEST(InodeNumbers, FullTableIsENOSPC) {
  auto pool = Pool::in_memory(1 << 20);
  InodeNumbers n(*pool, 0, 3);
  EXPECT_EQ(*n.take(1), 1u);
  EXPECT_EQ(*n.take(1), 2u);
  EXPECT_EQ(*n.take(1), 3u);
  EXPECT_EQ(n.take(1).error(), ENOSPC);
  EXPECT_EQ(n.runs(), 0u);
}

TEST(PoolDataRanges, HolesOfAPoolFileAreLeftOut) {
  std::string path = "/dev/shm/pmemfs-ranges-" + std::to_string(getpid());
  constexpr uint64_t kSize = 64 << 20, kAt = 5 << 20;
  PoolOpenOptions o;
  o.create_size = kSize;
  auto pool = Pool::open(path, o);
  ASSERT_TRUE(pool.ok()) << pool.error();
  (*pool)->at<char>(kAt)[0] = 1;
  uint64_t covered = 0;
  bool has_page = false;
  for (auto [off, len] : (*pool)->data_ranges(0, kSize)) {
    covered += len;
    if (off <= kAt && kAt < off + len) has_page = true;
  }
  EXPECT_TRUE(has_page);
  EXPECT_LT(covered, kSize / 2);  // tmpfs: the page alone; others: what was read around it
  pool->reset();
  ::unlink(path.c_str());
  // An anonymous pool cannot tell: all of it.
  auto mem = Pool::in_memory(1 << 20);
  auto all = mem->data_ranges(4096, 8192);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0], std::make_pair(uint64_t{4096}, uint64_t{8192}));
}

}  // namespace
}  // namespace pmemfs
