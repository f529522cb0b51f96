// ExtentMap: one inode's file-block -> pool-block map, in DRAM, loaded from
// the inode's inline extents and its chain of ExtentBlocks on first use.
//
// Each extent lives in a slot: slots 0..4 are the inode's inline array (the
// caller writes the whole InodeRecord into the Txn after a change), later
// slots are in ExtentBlocks and are journaled one 24-byte record at a time.
//
// A file of at most one extent keeps it inline, with no heap allocation; a
// second extent moves them into a heap Spill (issue 12: DRAM per inode).
//
// Locking: mutators REQUIRE the inode lock exclusive; readers the inode lock
// shared. mu_ (a leaf) additionally guards the map itself so that the
// upgrade-disabled test mode, which mutates under the shared lock, is a
// logical race (the one the tests look for) and not a memory-unsafe one.
#pragma once

#include <cstdint>
#include <atomic>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "pmemfs/layout.h"
#include "pmemfs/result.h"

namespace pmemfs {

class Allocator;
class Pool;
class Txn;

struct Mapped {
  uint64_t file_block, pool_block, nblocks;
};

// What the mutators need of the owning inode: kept out of ExtentMap so that
// a cached inode does not pay for it (issue 12, item 1).
struct ExtentOwner {
  Pool& pool;
  Allocator& alloc;
  uint64_t ino;
  uint64_t& chain_head;  // the inode's extent_next (DRAM copy)
};

// A leaf lock of one byte (ExtentMap::mu_): held only over a few map
// operations, never while sleeping on anything else.
class SpinLock {
 public:
  void lock() {
    while (f_.test_and_set(std::memory_order_acquire))
      while (f_.test(std::memory_order_relaxed)) std::this_thread::yield();
  }
  void unlock() { f_.clear(std::memory_order_release); }

 private:
  std::atomic_flag f_;
};

class ExtentMap {
 public:
  ExtentMap() = default;
  ExtentMap(const ExtentMap&) = delete;
  ExtentMap& operator=(const ExtentMap&) = delete;
  // Fails with EUCLEAN when a record's checksum is bad.
  Status load(const ExtentOwner& o, const layout::Extent (&inline_extents)[layout::kInlineExtents]);

  // The extent containing fb, if any.
  std::optional<Mapped> find(uint64_t fb) const;
  // The first extent ending after fb (containing it or after it).
  std::optional<Mapped> next(uint64_t fb) const;
  // Maps [fb, fb+n) (a hole) to pool blocks [pb, pb+n); merges with the
  // extent before it when both are contiguous.
  Status insert(Txn& txn, const ExtentOwner& o, uint64_t fb, uint64_t pb, uint64_t n);
  // Unmaps and frees blocks in [fb, end), then frees the ExtentBlocks left
  // without extents (unlinking them from the chain in the same Txn). Stops
  // early when the Txn is nearly full; returns true when all of it is done.
  Result<bool> remove(Txn& txn, const ExtentOwner& o, uint64_t fb, uint64_t end);
  // Frees the ExtentBlocks themselves (inode being freed; extents removed).
  void free_chain(Txn& txn, const ExtentOwner& o);

  std::vector<Mapped> all() const;
  uint64_t allocated_blocks() const;
  // The highest mapped file block + 1 (0 when empty).
  uint64_t end_block() const;
  // The inode's inline extent slots as the record stores them.
  void inline_records(layout::Extent (&out)[layout::kInlineExtents]) const;
  // Whether the extents live on the heap (more than one of them at some point).
  bool spilled() const { return spill_ != nullptr; }

 private:
  struct Slotted {
    uint64_t pool_block, nblocks;
    uint32_t slot;
  };
  // A file with more than one extent: the general structures. One extent
  // (every small file) lives inline in one_*, with no heap at all.
  struct Spill {
    std::map<uint64_t, Slotted> extents;  // by file block
    std::set<uint32_t> free_chain_slots;  // free slots in ExtentBlocks
    std::vector<uint64_t> chain;          // pool blocks of the ExtentBlocks, in order
    std::vector<uint32_t> chain_used;     // extents in each of them
    bool chain_has_empty = false;         // some chain_used is 0
    layout::Extent inline_rec[layout::kInlineExtents]{};  // what write_slot put there
  };
  Status write_slot(Txn& txn, uint32_t slot, uint64_t fb, uint64_t pb, uint64_t n);
  Result<uint32_t> take_slot(Txn& txn, const ExtentOwner& o);
  void release_slot(uint32_t slot);
  // Frees ExtentBlocks that hold no extent; false when the Txn ran out of room
  // first. REQUIRES: mu_ held, spill_.
  bool free_empty_blocks(Txn& txn, const ExtentOwner& o);
  uint64_t slot_offset(uint32_t slot) const;
  // Moves the inline extent into a new Spill / back when the Spill holds at
  // most one extent and no chain. REQUIRES: mu_ held.
  void spill();
  void unspill();

  mutable SpinLock mu_;
  uint8_t one_slot_ = 0;                                // inline slot of one_*
  uint8_t inline_free_ = (1u << layout::kInlineExtents) - 1;  // free inline slots, a bit each
  uint32_t one_n_ = 0;                                  // 0: no extent (or spill_)
  uint64_t one_fb_ = 0, one_pb_ = 0;
  std::unique_ptr<Spill> spill_;
};

// Builds a checksummed Extent record (all zero for an empty slot).
layout::Extent make_extent(uint64_t fb, uint64_t pb, uint64_t n);

}  // namespace pmemfs
