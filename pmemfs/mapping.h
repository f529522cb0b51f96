// Mapping: the per-inode cache of fault entries, the daemon's analogue of the
// kernel's radix tree of DAX entries (see shared/seed-thread.txt).
//
// An entry is a HOLE (the shared read-only zero page), a PTE (one 4 KiB block)
// or a PMD (one 2 MiB extent aligned in file and pool). Reads and writes
// resolve through cached entries; the extent tree is walked only on a miss.
//
// Locking: every call REQUIRES the owning inode's lock (Inode::lock), shared
// or exclusive as noted. mu_ is the "tree lock": a leaf that lets holders of
// the shared inode lock insert entries concurrently. Entries are erased only
// under the exclusive inode lock, so an Entry* found under the shared lock
// stays valid until that lock is dropped.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace pmemfs {

enum class EntryKind : uint8_t { kHole, kPte, kPmd };

struct Entry {
  EntryKind kind;
  // A client process maps it writable (pmemfs/dax.h): its stores mark
  // nothing, so every fsync flushes the whole entry for as long as it lives.
  std::atomic<bool> client_writable{false};
  uint64_t first_page;  // file page (4 KiB units)
  uint64_t pool_block;  // first pool block; unused for HOLE
  // Dirty pages since the last fsync, one bit per 4 KiB page of the entry.
  std::array<std::atomic<uint64_t>, 8> dirty{};
  // The owning Mapping's any_dirty_ flag (set by insert), raised after every
  // new mark so that take_dirty() need not scan a file nobody dirtied.
  std::atomic<bool>* owner_marks = nullptr;

  // Pages this entry maps to blocks. A HOLE maps whatever page it was looked
  // up for to the zero page; its first_page is not to be relied on.
  uint32_t npages() const { return kind == EntryKind::kPmd ? 512 : 1; }
  void mark_client_writable() {
    client_writable.store(true, std::memory_order_relaxed);
    if (owner_marks) owner_marks->store(true, std::memory_order_release);
  }
  void mark_dirty(uint64_t page) {
    uint64_t i = page - first_page;
    dirty[i / 64].fetch_or(uint64_t{1} << (i % 64), std::memory_order_relaxed);
    // After the mark (release): whoever takes the flag sees the mark.
    if (owner_marks) owner_marks->store(true, std::memory_order_release);
  }
};

// A contiguous pool range to flush, in bytes.
struct DirtyRange {
  uint64_t pool_off, len;
};

class Mapping {
 public:
  Mapping();
  ~Mapping();
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  // The entry covering page, or nullptr. PTE/HOLE entries shadow a PMD: the
  // order the hole-page race would corrupt, so the race tests can see it.
  // REQUIRES: inode lock held (shared or exclusive).
  // Served from a small per-thread cache of recent lookups while epoch_ is
  // unchanged, so cached read faults take no lock but the inode's.
  Entry* find(uint64_t page) const;
  // Inserts unless an entry already sits at first_page (returns that one
  // then); a PTE or PMD replaces a HOLE there.
  // REQUIRES: inode lock held; a HOLE may be inserted under the shared lock.
  Entry* insert(EntryKind kind, uint64_t first_page, uint64_t pool_block);
  // Drops HOLE entries in [first, last]; returns how many.
  // REQUIRES: inode lock held exclusive. The upgrade-disabled test mode holds
  // it shared and passes defer_free: other holders may still use the entries,
  // so they are kept until the next evict() (which needs the lock exclusive).
  uint64_t evict_holes(uint64_t first, uint64_t last, bool defer_free = false);
  // Whether a HOLE entry sits in [first, last]. REQUIRES: inode lock held.
  bool has_hole(uint64_t first, uint64_t last) const;
  // Drops every entry overlapping [first, last] and hands back the dirty
  // ranges of every entry it dropped, merged as take_dirty() does. A PMD
  // overlapping the range is dropped whole, so its dirty pages outside
  // [first, last] still hold data the file keeps: the caller must flush them
  // (FsImpl::evict_locked does) unless the whole file is being freed.
  // REQUIRES: inode lock exclusive.
  [[nodiscard]] std::vector<DirtyRange> evict(uint64_t first, uint64_t last);
  // Takes and clears every dirty mark, merged into pool ranges, each byte once
  // even where entries overlap in the pool. REQUIRES: inode lock held.
  std::vector<DirtyRange> take_dirty();
  size_t size() const;

 private:
  Entry* find_locked(uint64_t page) const;
  void changed();  // REQUIRES: mu_ held
  // Changes (to a value unique across all Mappings) whenever an entry is
  // inserted or erased, so a thread's cached lookup (see find) stays valid
  // exactly while it reads the same value. In steady state nobody writes it:
  // cached read faults from several threads share the line read-only.
  std::atomic<uint64_t> epoch_;
  // Whether an entry may hold dirty marks: raised by Entry::mark_dirty,
  // taken by take_dirty. Without it every fsync scanned all entries of the
  // file (8 words per PMD): 15% of the daemon's CPU in a 4 KiB write+fsync
  // loop over a 256 MiB file, where the daemon's writes mark nothing.
  std::atomic<bool> any_dirty_{false};
  mutable std::shared_mutex mu_;  // leaf lock; guards the two maps' structure (shared: find)
  std::map<uint64_t, std::unique_ptr<Entry>> pages_;  // HOLE and PTE, by page
  std::map<uint64_t, std::unique_ptr<Entry>> pmds_;   // PMD, by first page
  std::vector<std::unique_ptr<Entry>> retired_;       // see evict_holes
};

// The shared zero page that HOLE entries map: read only, page aligned.
const char* zero_page();

}  // namespace pmemfs
