// The allocator on its own: 4 KiB runs and 2 MiB extents aligned in the pool,
// freed blocks reusable only after the freeing Txn commits, and two threads
// allocating and freeing at once.
#include <set>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pmemfs/alloc.h"
#include "pmemfs/journal.h"
#include "pmemfs/layout.h"
#include "pmemfs/pool.h"

namespace pmemfs {
namespace {

constexpr uint64_t kPoolSize = 64 << 20;

struct Fixture {
  std::unique_ptr<Pool> pool = Pool::in_memory(kPoolSize);
  layout::Superblock sb = make_sb();
  Journal journal{*pool, 0, 4, 256 << 10};
  Allocator alloc{*pool, sb};

  static layout::Superblock make_sb() {
    layout::Superblock sb{};
    sb.block_bitmap_off = 1 << 20;
    sb.data_off = 4 << 20;  // 2 MiB aligned
    sb.data_blocks = (kPoolSize - sb.data_off) / layout::kBlockSize;
    return sb;
  }
  bool persistent_bit(uint64_t pool_block) {
    uint64_t i = pool_block - sb.data_off / layout::kBlockSize;
    return *pool->at<uint64_t>(sb.block_bitmap_off + i / 64 * 8) >> (i % 64) & 1;
  }
};

TEST(Alloc, HugeExtentsAreAlignedAndDistinct) {
  Fixture f;
  const uint64_t groups = f.sb.data_blocks / layout::kBlocksPerHuge;
  EXPECT_EQ(f.alloc.free_huge_extents(), groups);
  Txn txn = f.journal.begin();
  std::set<uint64_t> seen;
  for (uint64_t i = 0; i < groups; ++i) {
    auto r = f.alloc.alloc_huge(txn);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->pool_block % layout::kBlocksPerHuge, 0u);
    EXPECT_EQ(r->nblocks, layout::kBlocksPerHuge);
    EXPECT_TRUE(seen.insert(r->pool_block).second);
  }
  EXPECT_EQ(f.alloc.alloc_huge(txn).error(), ENOSPC);
  ASSERT_TRUE(txn.commit().ok());
  EXPECT_EQ(f.alloc.free_blocks(), 0u);
  EXPECT_TRUE(f.persistent_bit(*seen.begin()));
}

TEST(Alloc, SmallRunsPreferPartialGroupsAndGoals) {
  Fixture f;
  Txn txn = f.journal.begin();
  auto a = f.alloc.alloc(txn, 1, 0, 0);
  ASSERT_TRUE(a.ok());
  auto b = f.alloc.alloc(txn, 4, a->pool_block + 1, 1);  // contiguous goal
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->pool_block, a->pool_block + 1);
  EXPECT_EQ(b->nblocks, 4u);
  const uint64_t groups = f.sb.data_blocks / layout::kBlocksPerHuge;
  EXPECT_EQ(f.alloc.free_huge_extents(), groups - 1) << "small runs share one group";
  auto x = f.alloc.alloc_exact(txn, 17);
  ASSERT_TRUE(x.ok());
  EXPECT_EQ(x->nblocks, 17u);
  ASSERT_TRUE(txn.commit().ok());
}

TEST(Alloc, DroppedTxnReturnsBlocks) {
  Fixture f;
  const uint64_t before = f.alloc.free_blocks();
  {
    Txn txn = f.journal.begin();
    ASSERT_TRUE(f.alloc.alloc_huge(txn).ok());
    ASSERT_TRUE(f.alloc.alloc(txn, 3, 0, 0).ok());
  }
  EXPECT_EQ(f.alloc.free_blocks(), before);
}

TEST(Alloc, FreedBlocksReturnOnlyWhenTheFreeCommits) {
  Fixture f;
  Txn t1 = f.journal.begin();
  auto r = f.alloc.alloc_huge(t1);
  ASSERT_TRUE(t1.commit().ok());
  Txn t2 = f.journal.begin();
  f.alloc.free(t2, r->pool_block, r->nblocks);
  EXPECT_TRUE(f.alloc.in_use(r->pool_block)) << "reusable before the free is durable";
  ASSERT_TRUE(t2.commit().ok());
  EXPECT_FALSE(f.alloc.in_use(r->pool_block));
  EXPECT_FALSE(f.persistent_bit(r->pool_block));
}

TEST(Alloc, TwoThreadsAllocateAndFreeWithoutLosingBlocks) {
  Fixture f;
  const uint64_t before = f.alloc.free_blocks();
  auto worker = [&](int seed) {
    std::vector<pmemfs::Run> held;
    for (int i = 0; i < 3000; ++i) {
      Txn txn = f.journal.begin();
      if (held.size() < 20 || (i + seed) % 3) {
        auto r = (i % 7 == 0) ? f.alloc.alloc_huge(txn) : f.alloc.alloc(txn, 1 + i % 9, 0, i);
        if (r.ok()) held.push_back(*r);
      } else {
        f.alloc.free(txn, held.back().pool_block, held.back().nblocks);
        held.pop_back();
      }
      ASSERT_TRUE(txn.commit().ok());
    }
    Txn txn = f.journal.begin();
    for (const auto& r : held) f.alloc.free(txn, r.pool_block, r.nblocks);
    ASSERT_TRUE(txn.commit().ok());
  };
  std::thread a(worker, 0), b(worker, 1);
  a.join();
  b.join();
  EXPECT_EQ(f.alloc.free_blocks(), before);
  // DRAM and the persistent bitmap agree: everything is free again.
  Allocator reloaded(*f.pool, f.sb);
  EXPECT_EQ(reloaded.free_blocks(), before);
}

// The DRAM state (runs of free groups, partial groups' bits, full groups as
// nothing) rebuilt from the persistent bitmap is the one that wrote it,
// down to the short last group of a data area that is not a multiple of
// 2 MiB.
TEST(Alloc, ReloadedFromTheBitmapAgreesBlockByBlock) {
  auto pool = Pool::in_memory(kPoolSize);
  layout::Superblock sb = Fixture::make_sb();
  sb.data_blocks -= 100;
  Journal journal{*pool, 0, 4, 256 << 10};
  Allocator alloc{*pool, sb};
  const uint64_t groups = (sb.data_blocks + layout::kBlocksPerHuge - 1) / layout::kBlocksPerHuge;
  EXPECT_EQ(alloc.free_blocks(), sb.data_blocks);
  EXPECT_EQ(alloc.free_huge_extents(), groups - 1);
  std::vector<pmemfs::Run> held;
  Txn txn = journal.begin();
  for (int i = 0; i < 3; ++i) held.push_back(*alloc.alloc_huge(txn));
  for (uint32_t n = 1; n < 40; ++n) held.push_back(*alloc.alloc(txn, n, 0, n * 37));
  held.push_back(*alloc.alloc_exact(txn, 300));
  ASSERT_TRUE(txn.commit().ok());
  Txn frees = journal.begin();
  for (size_t i = 0; i < held.size(); i += 3) alloc.free(frees, held[i].pool_block, held[i].nblocks);
  ASSERT_TRUE(frees.commit().ok());

  Allocator reloaded{*pool, sb};
  EXPECT_EQ(reloaded.free_blocks(), alloc.free_blocks());
  EXPECT_EQ(reloaded.free_huge_extents(), alloc.free_huge_extents());
  const uint64_t first = sb.data_off / layout::kBlockSize;
  for (uint64_t b = first; b < first + sb.data_blocks; ++b)
    ASSERT_EQ(reloaded.in_use(b), alloc.in_use(b)) << b;
  // Everything free again: one run of groups, the short last one partial.
  Txn all = journal.begin();
  for (size_t i = 0; i < held.size(); ++i)
    if (i % 3) alloc.free(all, held[i].pool_block, held[i].nblocks);
  ASSERT_TRUE(all.commit().ok());
  EXPECT_EQ(alloc.free_blocks(), sb.data_blocks);
  EXPECT_EQ(alloc.free_huge_extents(), groups - 1);
  // The short group is never a 2 MiB extent, and all of it can be had in 4 KiB runs.
  Txn fill = journal.begin();
  uint64_t got = 0;
  for (auto r = alloc.alloc(fill, 512, 0, 0); r.ok(); r = alloc.alloc(fill, 512, 0, 0)) got += r->nblocks;
  EXPECT_EQ(got, sb.data_blocks);
  EXPECT_EQ(alloc.alloc_huge(fill).error(), ENOSPC);
}

}  // namespace
}  // namespace pmemfs
