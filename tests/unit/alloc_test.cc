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

}  // namespace
}  // namespace pmemfs
