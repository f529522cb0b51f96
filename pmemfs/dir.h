// Directory: the DRAM name index of one directory over its persistent slots.
//
// Entries live in fixed DirentSlots (15 per 4 KiB block) in the directory's
// own data blocks; the index (name -> slot) is built on first use by one scan
// of the slots, so a lookup is O(1) on average even with millions of names.
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
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

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
  bool empty() const { return index_.empty(); }
  size_t entries() const { return index_.size(); }
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
  uint64_t slot_offset(uint32_t slot) const;
  void write_slot(Txn& txn, uint32_t slot, std::string_view name, uint64_t ino, uint8_t type);

  Pool& pool_;
  Allocator& alloc_;
  Inode& dir_;
  std::unordered_map<std::string, DirSlotRef> index_;
  std::set<uint32_t> free_slots_;
  uint32_t nslots_ = 0;
};

// Checksummed slot contents.
layout::DirentSlot make_slot(std::string_view name, uint64_t ino, uint8_t type);
bool slot_valid(const layout::DirentSlot& s);

}  // namespace pmemfs
