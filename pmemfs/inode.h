// Inode: the DRAM side of one inode, and InodeTable, which loads, allocates,
// writes and frees them.
//
// Lock order (outermost first):
//   Filesystem::rename_mu_ (only for rename)
//   directory Inode::lock — an ancestor before its descendants; two unrelated
//                directories only under rename_mu_, in ino order
//   non-directory Inode::lock, in ino order
//   leaves: Mapping::mu_, ExtentMap::mu_, Directory index, InodeTable::mu_,
//           Allocator shards, Journal::mu_, orphan_mu_
#pragma once

#include <sys/stat.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "pmemfs/dir.h"
#include "pmemfs/extent.h"
#include "pmemfs/inode_lock.h"
#include "pmemfs/inode_numbers.h"
#include "pmemfs/layout.h"
#include "pmemfs/mapping.h"
#include "pmemfs/result.h"
#include "pmemfs/xattr.h"

namespace pmemfs {

class Allocator;
class Pool;
class Txn;

struct Inode {
  Inode(uint64_t n, Pool& pool, Allocator& alloc)
      : ino(n), extents(pool, alloc, n, rec) {}
  const uint64_t ino;
  // The i_rwsem/i_mmap_sem of this inode: shared for reads, non-allocating
  // writes and lookups; exclusive for every metadata change and for
  // allocating write faults (the upgrade path in fault.cc).
  InodeLock lock;
  layout::InodeRecord rec{};  // DRAM copy; REQUIRES lock exclusive to change
  // mtime/ctime of writes that hold only the shared lock; folded into rec
  // (and persisted) by the next change or fsync. 0 = none pending.
  std::atomic<int64_t> pending_mtime{0};
  // The access time of reads and listings (which hold only the shared
  // lock), kept the same way. 0 = none pending.
  std::atomic<int64_t> pending_atime{0};
  ExtentMap extents;           // loaded with the inode
  std::once_flag dir_once;     // directory index built on first use
  std::unique_ptr<Directory> dir;
  int dir_load_error = 0;
  std::once_flag xattr_once;   // xattr chain read on first use
  std::vector<XattrEntry> xattrs;
  int xattr_load_error = 0;
  Mapping mapping;
  // Allocation hints (fault.h, WriteIntent), DRAM only: where the last write
  // ended, so that a write continuing it counts as sequential (relaxed: a
  // lost update only costs a 2 MiB extent); and the first block of the last
  // 2 MiB extent a sequential writer took, whose part past EOF the last
  // close gives back (UINT64_MAX: none; REQUIRES lock exclusive to change).
  std::atomic<uint64_t> write_end{0};
  std::atomic<uint64_t> stream_tail{UINT64_MAX};
  std::atomic<uint64_t> nlookup{0};  // kernel references
  std::atomic<uint64_t> nopen{0};    // open file handles
  // Unlinked, and its data freed as no handle was open; the record waits
  // for the kernel's FORGET. Never opened again. REQUIRES lock to change.
  bool data_freed = false;
  // An O_TMPFILE that link() may still give a name (the VFS's I_LINKABLE):
  // DRAM only, since a crash frees every unnamed tmpfile anyway. REQUIRES
  // lock to change.
  bool linkable = false;

  uint32_t type() const { return rec.mode & S_IFMT; }
  bool is_dir() const { return type() == S_IFDIR; }
  // Folds pending_mtime and pending_atime into rec. REQUIRES lock exclusive.
  void fold_times();
  bool times_pending() const { return pending_mtime.load() != 0 || pending_atime.load() != 0; }
};

class InodeTable {
 public:
  InodeTable(Pool& pool, Allocator& alloc, const layout::Superblock& sb);

  // The live inode ino, loaded on first use. ENOENT if it is free.
  Result<std::shared_ptr<Inode>> get(uint64_t ino);
  // Reserves a free inode number; its bit is set in txn. The record is the
  // caller's to fill and write(). Released again if txn is dropped.
  Result<std::shared_ptr<Inode>> allocate(Txn& txn);
  // Journals the inode's whole record (checksum recomputed).
  void write(Txn& txn, Inode& inode);
  // Clears the bit and the record (keeping nothing but the generation); the
  // number is reusable once txn commits.
  void release(Txn& txn, Inode& inode);
  // Drops an inode that nobody holds from the cache (it stays on media).
  void evict(uint64_t ino);
  std::vector<std::shared_ptr<Inode>> loaded() const;

  uint64_t count() const { return count_; }
  uint64_t free_count() const { return free_.load(); }
  // Every inode number in use, in order.
  std::vector<uint64_t> used_numbers() const;
  // DRAM runs of free numbers held (what the free-number state costs).
  size_t free_number_runs() const;
  uint64_t next_generation() { return generation_base_ | next_gen_.fetch_add(1); }
  void set_generation_base(uint64_t mount_count) { generation_base_ = mount_count << 32; }

 private:
  uint64_t record_off(uint64_t ino) const { return table_off_ + (ino - 1) * sizeof(layout::InodeRecord); }

  Pool& pool_;
  Allocator& alloc_;
  const uint64_t count_, table_off_, bitmap_off_;
  mutable std::mutex mu_;  // guards cache_, numbers_, hint_; a leaf lock
  std::unordered_map<uint64_t, std::shared_ptr<Inode>> cache_;
  InodeNumbers numbers_;  // which numbers are free (inode_numbers.h)
  uint64_t hint_ = 1;     // where the next allocation starts looking
  std::atomic<uint64_t> free_{0};
  uint64_t generation_base_ = 0;
  std::atomic<uint64_t> next_gen_{1};
};

// Builds the checksum of an InodeRecord in place.
void seal(layout::InodeRecord& rec);
int64_t now_ns();

}  // namespace pmemfs
