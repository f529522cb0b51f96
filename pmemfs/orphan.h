// OrphanTable: inodes whose work must be finished at the next mount — files
// unlinked while still open (freed when closed, or at mount after a crash)
// and truncates too large for one transaction (finished at mount).
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "pmemfs/layout.h"
#include "pmemfs/result.h"

namespace pmemfs {

class Pool;
class Txn;

class OrphanTable {
 public:
  OrphanTable(Pool& pool, const layout::Superblock& sb);
  // Records ino in txn; ENOSPC when the table is full (the caller then does
  // the work at once or accepts that fsck reclaims it after a crash).
  Status add(Txn& txn, uint64_t ino);
  void remove(Txn& txn, uint64_t ino);
  std::vector<uint64_t> list() const;

 private:
  Pool& pool_;
  const uint64_t off_;
  mutable std::mutex mu_;  // a leaf lock
  std::vector<uint64_t> slots_;  // DRAM mirror
};

}  // namespace pmemfs
