// Directory: the DRAM name index of one directory over its persistent slots.
//
// Entries live in fixed DirentSlots (15 per 4 KiB block) in the directory's
// own data blocks; the index (name -> slot) is built on first use by one scan
// of the slots, so a lookup is O(1) on average even with millions of names.
// The index keeps no names: an open-addressing table of (slot, 32-bit hash)
// cells, 8 bytes each at a load factor of at most 0.7, and a candidate is
// confirmed against the slot's name in the pool. So a name costs the
// directory 11 to 23 bytes of DRAM, not a heap string and a hash node
// (issue 12: DRAM per inode, the directory's share counted in it).
// A readdir cookie is slot index + 3 (1 and 2 are "." and ".."), stable
// while entries come and go, as telldir/seekdir need.
//
// Locking: mutators REQUIRE the directory inode's lock exclusive, lookups and
// iteration the lock shared; the index itself is not otherwise locked.
#pragma once

#include <dirent.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "pmemfs/layout.h"
#include "pmemfs/result.h"

namespace pmemfs {

// The d_type a directory record stores for an inode of this mode.
inline uint8_t dirent_type(uint32_t mode) { return static_cast<uint8_t>(IFTODT(mode)); }

class Allocator;
class Pool;
class Txn;
struct Inode;

struct DirSlotRef {
  uint64_t ino;
  uint8_t type;  // DT_*
  uint32_t slot;
};

class Directory {
 public:
  Directory(Pool& pool, Allocator& alloc, Inode& dir);
  Status load();

  std::optional<DirSlotRef> lookup(std::string_view name) const;
  bool empty() const { return live_ == 0; }
  size_t entries() const { return live_; }
  // Heap bytes of the index (for the DRAM figures of bench_metadata).
  size_t index_bytes() const {
    return table_.capacity() * sizeof(Cell) + free_slots_.capacity() * sizeof(uint32_t);
  }
  // Adds a name (that must not exist). May grow the directory by a block,
  // which changes the directory's record: the caller writes the inode.
  Status add(Txn& txn, std::string_view name, uint64_t ino, uint8_t type);
  // Points an existing name at another inode (rename over a name).
  void replace(Txn& txn, std::string_view name, uint64_t ino, uint8_t type);
  void remove(Txn& txn, std::string_view name);

  // Calls fn for each live slot from slot index `from`; stops when fn
  // returns false.
  void for_each(uint32_t from,
                const std::function<bool(uint32_t slot, const layout::DirentSlot&)>& fn) const;

 private:
  // One cell of the index: slot + 1 (0: never used, kTomb: removed) and the
  // low 32 bits of the name's hash, which also place it in the table.
  struct Cell {
    uint32_t slot1 = 0;
    uint32_t hash = 0;
  };
  static constexpr uint32_t kTomb = UINT32_MAX;
  static uint32_t hash_of(std::string_view name);

  uint64_t slot_offset(uint32_t slot) const;
  void write_slot(Txn& txn, uint32_t slot, std::string_view name, uint64_t ino, uint8_t type);
  // The cell holding name, or SIZE_MAX.
  size_t find_cell(std::string_view name) const;
  void index_insert(uint32_t hash, uint32_t slot);
  // Rebuilds the table with room for n live names at load <= 0.7.
  void rehash(size_t n);
  uint32_t take_free_slot();

  Pool& pool_;
  Allocator& alloc_;
  Inode& dir_;
  std::vector<Cell> table_;         // capacity a power of two (or empty)
  size_t live_ = 0, tombs_ = 0;     // cells in use / removed
  std::vector<uint32_t> free_slots_;  // a min-heap: the lowest free slot is reused first
  uint32_t nslots_ = 0;
};

// Checksummed slot contents.
layout::DirentSlot make_slot(std::string_view name, uint64_t ino, uint8_t type);
bool slot_valid(const layout::DirentSlot& s);

}  // namespace pmemfs
