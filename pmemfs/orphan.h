// OrphanTable: inodes whose work must be finished at the next mount — files
// unlinked while still open (freed when closed, or at mount after a crash)
// and truncates too large for one transaction (finished at mount).
//
// On media (layout.h): the fixed table of the superblock and, from format
// version 2, a chain of OrphanBlocks that grows by one block whenever every
// slot is taken, so the number of orphans is limited only by free space, as
// ext4's orphan list is. DRAM holds the free slots and, per listed ino, its
// slot: some 40 bytes per orphan and 8 per free slot.
//
// Crash safety: a slot is one u64 written through the caller's Txn, as
// before. Growing commits a Txn of its own before the caller's: a new block
// is zeroed and persisted, then one Txn allocates it and links it. A crash
// after that leaves an empty block on the chain, which is harmless and
// freed by shrink() at the next mount.
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "pmemfs/layout.h"
#include "pmemfs/result.h"

namespace pmemfs {

class Allocator;
class Journal;
class Pool;
class Txn;

class OrphanTable {
 public:
  OrphanTable(Pool& pool, Allocator& alloc, Journal& journal, const layout::Superblock& sb);
  // Reads the table and its chain. EUCLEAN (logged, naming the block) when a
  // chain block is damaged, outside the data area or reached twice.
  Status load();

  // Records ino in txn (nothing if it is listed already). When every slot
  // is taken the chain first grows by a block, in a Txn committed here.
  // ENOSPC only when no data block is left for that (or, on a version 1
  // pool, when the table is full); the caller then goes on unlisted.
  // REQUIRES: no Txn of the caller's is committing; the caller may hold
  // inode locks (the growth Txn takes only leaf locks).
  Status add(Txn& txn, uint64_t ino);
  // Clears ino's slot in txn; the slot is reused once txn commits.
  void remove(Txn& txn, uint64_t ino);
  std::vector<uint64_t> list() const;
  size_t size() const;
  // Blocks on the chain (for tests and statistics).
  size_t chain_blocks() const;

  // Frees the chain blocks past the last one in use, in as many Txns as it
  // takes. REQUIRES: nothing else uses the table (mount, unmount).
  Status shrink();

 private:
  Status grow();
  // Slots are numbered in chain order: the table's ino slots first, then
  // kOrphansPerBlock per chain block. REQUIRES mu_ (for a chain slot).
  uint64_t slot_offset_locked(uint64_t slot) const;
  // Journals the link to chain block k -- the table's link slot for k == 0,
  // else block k-1's header -- as pointing at pool block pb (0: the end).
  void write_link_locked(Txn& txn, size_t k, uint64_t pb) const;

  Pool& pool_;
  Allocator& alloc_;
  Journal& journal_;
  const uint64_t off_;          // the table
  const uint64_t table_inos_;   // its ino slots
  const bool chain_;            // format version >= 2
  const uint64_t link_off_;     // the table's link slot (chain_ only)
  // Serialises growth and shrinking; held across the growth Txn's commit.
  // Taken after inode locks, before the leaves (allocator, journal, mu_).
  std::mutex grow_mu_;
  mutable std::mutex mu_;  // guards what follows; a leaf lock
  std::vector<uint64_t> blocks_;  // chain blocks (absolute pool blocks), in order
  // Free slot numbers, a min-heap: the lowest is taken first, so that the
  // blocks at the end of the chain empty first and shrink() can free them.
  std::vector<uint64_t> free_;
  std::unordered_map<uint64_t, uint64_t> where_;  // listed ino -> its slot number
};

}  // namespace pmemfs
