// ExtentMap: one inode's file-block -> pool-block map, in DRAM, loaded from
// the inode's inline extents and its chain of ExtentBlocks on first use.
//
// Each extent lives in a slot: slots 0..4 are the inode's inline array (the
// caller writes the whole InodeRecord into the Txn after a change), later
// slots are in ExtentBlocks and are journaled one 24-byte record at a time.
//
// Locking: mutators REQUIRE the inode lock exclusive; readers the inode lock
// shared. mu_ (a leaf) additionally guards the map itself so that the
// upgrade-disabled test mode, which mutates under the shared lock, is a
// logical race (the one the tests look for) and not a memory-unsafe one.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <set>
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

class ExtentMap {
 public:
  // rec must outlive the map (it is the owning Inode's DRAM record).
  ExtentMap(Pool& pool, Allocator& alloc, uint64_t ino, layout::InodeRecord& rec);
  // Fails with EUCLEAN when a record's checksum is bad.
  Status load();

  // The extent containing fb, if any.
  std::optional<Mapped> find(uint64_t fb) const;
  // The first extent ending after fb (containing it or after it).
  std::optional<Mapped> next(uint64_t fb) const;
  // Maps [fb, fb+n) (a hole) to pool blocks [pb, pb+n); merges with the
  // extent before it when both are contiguous.
  Status insert(Txn& txn, uint64_t fb, uint64_t pb, uint64_t n);
  // Unmaps and frees blocks in [fb, end), then frees the ExtentBlocks left
  // without extents (unlinking them from the chain in the same Txn). Stops
  // early when the Txn is nearly full; returns true when all of it is done.
  Result<bool> remove(Txn& txn, uint64_t fb, uint64_t end);
  // Frees the ExtentBlocks themselves (inode being freed; extents removed).
  void free_chain(Txn& txn);

  std::vector<Mapped> all() const;
  uint64_t allocated_blocks() const;
  // The highest mapped file block + 1 (0 when empty).
  uint64_t end_block() const;

 private:
  struct Slotted {
    uint64_t pool_block, nblocks;
    uint32_t slot;
  };
  Status write_slot(Txn& txn, uint32_t slot, uint64_t fb, uint64_t pb, uint64_t n);
  Result<uint32_t> take_slot(Txn& txn);
  void release_slot(uint32_t slot);
  // Frees ExtentBlocks that hold no extent; false when the Txn ran out of room
  // first. REQUIRES: mu_ held.
  bool free_empty_blocks(Txn& txn);
  uint64_t slot_offset(uint32_t slot) const;

  Pool& pool_;
  Allocator& alloc_;
  const uint64_t ino_;
  layout::InodeRecord& rec_;
  mutable std::mutex mu_;
  std::map<uint64_t, Slotted> extents_;  // by file block
  std::set<uint32_t> free_slots_;
  std::vector<uint64_t> chain_;          // pool blocks of the ExtentBlocks, in order
  std::vector<uint32_t> chain_used_;     // extents in each of them
  bool chain_has_empty_ = false;         // some chain_used_ is 0
};

// Builds a checksummed Extent record (all zero for an empty slot).
layout::Extent make_extent(uint64_t fb, uint64_t pb, uint64_t n);

}  // namespace pmemfs
