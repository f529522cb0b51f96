// InodeNumbers: which inode numbers are free, in DRAM, in a form that grows
// with the inodes in use and not with the table's size: the free numbers as
// runs (first -> end). An empty table of a billion inodes is one run; mount
// builds it from the persistent inode bitmap, reading only the pages of it
// that may hold set bits (Pool::data_ranges).
//
// Not locked: its owner (InodeTable) holds its own mutex around every call.
// The persistent bitmap changes only through the owner's Txn bit records.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "pmemfs/result.h"

namespace pmemfs {

class Pool;

class InodeNumbers {
 public:
  // The inode bitmap at bitmap_off of pool, one bit per inode, ino = bit + 1.
  InodeNumbers(const Pool& pool, uint64_t bitmap_off, uint64_t count);

  // The lowest free number at or after hint (wrapping to 1), now in use;
  // ENOSPC when none is free.
  Result<uint64_t> take(uint64_t hint);
  // Makes ino free again (a dropped allocation, a committed release).
  void give_back(uint64_t ino);
  bool in_use(uint64_t ino) const;
  // Every number in use, in order.
  std::vector<uint64_t> used() const;
  uint64_t free_count() const { return free_; }
  // DRAM runs held, for tests: what the state costs.
  size_t runs() const { return free_runs_.size(); }

 private:
  void add_free(uint64_t first, uint64_t end);
  std::map<uint64_t, uint64_t> free_runs_;  // first free ino -> end (exclusive)
  uint64_t count_;
  uint64_t free_ = 0;
};

}  // namespace pmemfs
