// Allocator: 4 KiB blocks and 2 MiB extents of the data area.
//
// The pool's block bitmap changes only through journal bit records in the
// caller's Txn; DRAM holds what is free in a compact form that grows with
// what is stored, not with the pool: groups (the 2 MiB aligned runs of 512
// blocks) that are wholly free as runs of groups, groups partly used with
// their 512 bits, and full groups as nothing at all. So an empty 16 TiB pool
// costs a few hundred bytes, and mounting it reads only the pages of the
// bitmap that hold anything (Pool::data_ranges: the holes of a sparse or
// fallocated pool file are never touched). Groups are split among shards,
// each with its own mutex, so two threads allocating or freeing at once
// usually take different locks. Freed blocks return to the free lists only when the freeing Txn
// commits (a crash before then must find them still owned); reserved blocks
// return if the reserving Txn is dropped.
//
// Frees on their way: blocks of a removed file are freed by a thread of
// their own (the one answering UNLINK, RELEASE or FORGET), which may still be
// at it, or about to start, when another allocates. An allocation that
// would fail with ENOSPC then waits for them rather than report a full
// filesystem that is not: for every Freeing scope open now, and for every
// free announce()d until its deadline (or withdraw()). statfs settles() the
// same way, briefly.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <map>
#include <unordered_map>
#include <vector>

#include "pmemfs/journal.h"
#include "pmemfs/layout.h"
#include "pmemfs/pool.h"
#include "pmemfs/result.h"

namespace pmemfs {

struct Run {
  uint64_t pool_block;  // absolute pool block
  uint32_t nblocks;
};

class Allocator {
 public:
  Allocator(Pool& pool, const layout::Superblock& sb);

  // Up to `want` (1..512) contiguous blocks. Tries `goal` (an absolute pool
  // block, 0 for none) first so that files grow contiguously; a fresh group is
  // entered at the offset matching file_block % 512 so that a 2 MiB range of
  // the file written in 4 KiB steps can still end up aligned in the pool.
  Result<Run> alloc(Txn& txn, uint32_t want, uint64_t goal, uint64_t file_block);
  // Exactly n (1..512) contiguous blocks inside one group, or ENOSPC.
  Result<Run> alloc_exact(Txn& txn, uint32_t n);
  // One free 2 MiB aligned extent, or ENOSPC when none is left.
  Result<Run> alloc_huge(Txn& txn);
  void free(Txn& txn, uint64_t pool_block, uint64_t nblocks);

  using Clock = std::chrono::steady_clock;
  // Marks this thread as freeing blocks (of an inode being destroyed) for
  // its lifetime: an allocation elsewhere that meets ENOSPC waits for it to
  // end. An allocation inside a Freeing scope never waits.
  class Freeing {
   public:
    explicit Freeing(Allocator& a);
    ~Freeing();
    Freeing(const Freeing&) = delete;
    Freeing& operator=(const Freeing&) = delete;

   private:
    Allocator& a_;
  };
  // Allocations on this thread never wait for frees while it lives (code
  // that holds a lock a freeing thread may need).
  class NoWait {
   public:
    NoWait();
    ~NoWait();
    NoWait(const NoWait&) = delete;
    NoWait& operator=(const NoWait&) = delete;
  };
  // A free of the blocks known as key (an ino) should come before deadline:
  // allocations that meet ENOSPC wait for it until then.
  void announce(uint64_t key, Clock::time_point deadline);
  void withdraw(uint64_t key);
  // Waits, up to max_wait, until no Freeing scope is open and no announced
  // free is due. For statfs, so that it counts what unlink just freed.
  void settle(Clock::duration max_wait);

  // Whether pool blocks [pool_block, pool_block + n) lie in the data area:
  // the only blocks an extent, extent block or xattr run may use.
  bool in_data_area(uint64_t pool_block, uint64_t n) const {
    return pool_block >= data_start_block_ && n <= data_blocks_ &&
           pool_block - data_start_block_ <= data_blocks_ - n;
  }
  uint64_t free_blocks() const { return free_.load(std::memory_order_relaxed); }
  uint64_t total_blocks() const { return data_blocks_; }
  uint64_t free_huge_extents() const;
  // The data area as 2 MiB cells (usage.h), one per group: how many, how
  // many are wholly free and partly used (the rest are full), and the cells
  // [from, from + n) as letters: '.' free, 'p' partly used, 'f' full.
  uint64_t cells() const { return ngroups_; }
  struct CellCounts {
    uint64_t free = 0, partial = 0;
  };
  CellCounts cell_counts() const;
  std::string cells_of(uint64_t from, uint64_t n) const;
  // For tests: is this data block in use in DRAM?
  bool in_use(uint64_t pool_block) const;

 private:
  static constexpr uint32_t kWordsPerGroup = layout::kBlocksPerHuge / 64;
  // A partly used group: its bits (1 = used or reserved) and how many are 0.
  struct Group {
    uint64_t bits[kWordsPerGroup];
    uint32_t nfree;
  };
  struct Shard {
    std::mutex mu;  // guards everything below but the bounds; a leaf lock
    // Runs of wholly free groups: first group -> end group (exclusive).
    std::map<uint32_t, uint32_t> free_runs;
    uint64_t free_groups = 0;         // groups in free_runs
    std::map<uint32_t, Group> partial;  // groups with blocks both used and free
    uint32_t first_group = 0, end_group = 0;
  };
  Shard& shard_of(uint32_t group) { return *shards_[group / groups_per_shard_]; }
  uint32_t home_shard() const;
  // The DRAM state of groups, for the shard that holds them. REQUIRES s.mu
  // (or the constructor).
  static bool wholly_free_locked(const Shard& s, uint32_t group);
  static void add_free_locked(Shard& s, uint32_t first, uint32_t end);
  static void remove_free_locked(Shard& s, uint32_t group);
  // The bits of group, to change: a free group becomes a partial one of
  // zeros, a full one of ones. settle_locked() files it again afterwards.
  static Group& open_locked(Shard& s, uint32_t group);
  static void settle_locked(Shard& s, uint32_t group);
  static bool used_locked(const Shard& s, uint64_t index);
  // Builds the shards from the persistent bitmap, reading only its pages
  // that may hold set bits.
  void load();
  // Takes up to want free blocks starting exactly at index; returns how many.
  uint32_t take_run_locked(Shard& s, uint64_t index, uint32_t want, uint64_t group_end);
  Run reserve(Txn& txn, uint64_t index, uint32_t n);
  void release(uint64_t index, uint64_t n);
  Result<Run> alloc_in_shard(Txn& txn, Shard& s, uint32_t want, uint64_t file_block);
  Result<Run> alloc_once(Txn& txn, uint32_t want, uint64_t goal, uint64_t file_block);
  Result<Run> alloc_exact_once(Txn& txn, uint32_t n);
  // An allocation failed with ENOSPC when free_blocks() was free_before:
  // waits while frees are on their way; true when blocks were freed since
  // (worth trying again). False at once inside a Freeing scope.
  bool wait_for_frees(uint64_t free_before);
  // Whether frees are on their way, and until when to wait for announced
  // ones (drops those past their deadline). REQUIRES wait_mu_.
  bool frees_due_locked(Clock::time_point now, Clock::time_point* until);

  Pool& pool_;
  const uint64_t data_start_block_;  // absolute pool block of data index 0
  const uint64_t data_blocks_;
  const uint64_t bitmap_off_;
  uint32_t ngroups_ = 0;
  uint32_t groups_per_shard_ = 1;
  std::vector<std::unique_ptr<Shard>> shards_;
  std::atomic<uint64_t> free_{0};
  std::mutex wait_mu_;  // guards freeing_, announced_; a leaf lock
  std::condition_variable freed_;  // blocks freed, a Freeing scope ended or a free withdrawn
  uint32_t freeing_ = 0;            // Freeing scopes open
  std::unordered_map<uint64_t, Clock::time_point> announced_;
};

}  // namespace pmemfs
