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

// The DRAM copy of an InodeRecord without what lives elsewhere in DRAM: the
// inline extents (ExtentMap holds them), the reserved bytes and the checksum
// (both rebuilt by InodeTable::write). Field for field as in layout.h.
struct InodeCore {
  uint32_t mode, uid, gid, nlink;
  uint32_t flags;  // kInode* flags
  // DRAM only (in what would be padding), REQUIRES the inode lock to change:
  // Unlinked, and its data freed as no handle was open; the record waits
  // for the kernel's FORGET. Never opened again.
  bool data_freed = false;
  // An O_TMPFILE that link() may still give a name (the VFS's I_LINKABLE):
  // DRAM only, since a crash frees every unnamed tmpfile anyway.
  bool linkable = false;
  uint64_t size, generation, rdev;
  int64_t atime_ns, mtime_ns, ctime_ns, btime_ns;
  uint64_t parent, xattr_head, extent_next;
};

// What an inode needs only once it is used for more than a stat: the fault
// path's mapping, the allocation hints and times of writes and reads, the
// directory index, the xattrs. Allocated on first use (Inode::extra), so that
// an inode the kernel merely holds costs sizeof(Inode) (issue 12, item 1).
struct InodeExtra {
  // mtime/ctime of writes that hold only the shared lock; folded into rec
  // (and persisted) by the next change or fsync. 0 = none pending.
  std::atomic<int64_t> pending_mtime{0};
  // The access time of reads and listings (which hold only the shared
  // lock), kept the same way. 0 = none pending.
  std::atomic<int64_t> pending_atime{0};
  // Allocation hints (fault.h, WriteIntent), DRAM only: where the last write
  // ended, so that a write continuing it counts as sequential (relaxed: a
  // lost update only costs a 2 MiB extent); and the first block of the last
  // 2 MiB extent a sequential writer took, whose part past EOF the last
  // close gives back (UINT64_MAX: none; REQUIRES lock exclusive to change).
  std::atomic<uint64_t> write_end{0};
  std::atomic<uint64_t> stream_tail{UINT64_MAX};
  Mapping mapping;
  // Whether a client process was ever handed an entry of this file (dax.h):
  // only then do changes of its mapping need a revocation.
  std::atomic<bool> dax_mapped{false};
  // The daemon's note that the kernel may cache pages of the file
  // (Filesystem::note_kernel_cache).
  std::atomic<bool> kernel_cache_note{false};
  std::once_flag dir_once;     // directory index built on first use
  std::unique_ptr<Directory> dir;
  int dir_load_error = 0;
  std::once_flag xattr_once;   // xattr chain read on first use
  int xattr_load_error = 0;
  std::vector<XattrEntry> xattrs;
};

struct Inode {
  explicit Inode(uint64_t n) : ino(n) {}
  ~Inode() { delete extra_.load(std::memory_order_relaxed); }
  Inode(const Inode&) = delete;
  Inode& operator=(const Inode&) = delete;

  const uint64_t ino;
  // The i_rwsem/i_mmap_sem of this inode: shared for reads, non-allocating
  // writes and lookups; exclusive for every metadata change and for
  // allocating write faults (the upgrade path in fault.cc).
  InodeLock lock;
  std::atomic<uint32_t> nopen{0};    // open file handles
  std::atomic<uint64_t> nlookup{0};  // kernel references
  InodeCore rec{};  // DRAM copy; REQUIRES lock exclusive to change
  ExtentMap extents;           // loaded with the inode

  // The lazily allocated part; safe from any thread (the first caller's
  // allocation wins). REQUIRES lock held (shared is enough).
  InodeExtra& extra() {
    InodeExtra* x = extra_.load(std::memory_order_acquire);
    if (x) return *x;
    auto* mine = new InodeExtra;
    if (extra_.compare_exchange_strong(x, mine, std::memory_order_acq_rel)) return *mine;
    delete mine;
    return *x;
  }
  // nullptr while nothing needed it (then nothing is pending or mapped).
  InodeExtra* extra_if() const { return extra_.load(std::memory_order_acquire); }
  int64_t pending_mtime() const {
    auto* x = extra_if();
    return x ? x->pending_mtime.load(std::memory_order_relaxed) : 0;
  }
  int64_t pending_atime() const {
    auto* x = extra_if();
    return x ? x->pending_atime.load(std::memory_order_relaxed) : 0;
  }
  // The ExtentMap mutators' view of this inode.
  ExtentOwner extent_owner(Pool& pool, Allocator& alloc) { return {pool, alloc, ino, rec.extent_next}; }

  uint32_t type() const { return rec.mode & S_IFMT; }
  bool is_dir() const { return type() == S_IFDIR; }
  // Folds pending_mtime and pending_atime into rec. REQUIRES lock exclusive.
  void fold_times();
  bool times_pending() const { return pending_mtime() != 0 || pending_atime() != 0; }

 private:
  std::atomic<InodeExtra*> extra_{nullptr};
};

// The cached inodes by number: open addressing with linear probing over
// shared_ptrs (16 bytes a cell at a load of at most 0.7, no node per inode;
// an unordered_map cost 48 + 8..16 bytes of heap per inode). Erasing shifts
// the cells behind back, so there are no tombstones. Not locked itself.
class InodeCache {
 public:
  std::shared_ptr<Inode>* find(uint64_t ino);
  // Inserts or replaces.
  void put(uint64_t ino, std::shared_ptr<Inode> inode);
  void erase(uint64_t ino);
  size_t size() const { return size_; }
  template <typename Fn>
  void for_each(Fn&& fn) const {
    for (const auto& c : cells_)
      if (c) fn(c);
  }

 private:
  size_t home(uint64_t ino) const { return (ino * 0x9E3779B97F4A7C15ull) >> shift_; }
  void resize(size_t cap);
  std::vector<std::shared_ptr<Inode>> cells_;  // size a power of two, or empty
  size_t size_ = 0;
  unsigned shift_ = 64;
};

class InodeTable {
 public:
  InodeTable(Pool& pool, Allocator& alloc, const layout::Superblock& sb);

  // The live inode ino, loaded on first use. ENOENT if it is free.
  Result<std::shared_ptr<Inode>> get(uint64_t ino);
  // Builds the on-media record of inode (extents from its ExtentMap, sealed).
  static layout::InodeRecord record_of(const Inode& inode);
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
  InodeCache cache_;
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
