// The fault path (DESIGN.md, "The fault path"): resolves file pages to
// mapping entries, allocating on write faults through the upgrade-and-retry
// path of Jan Kara's proposal in shared/seed-thread.txt.
//
//   read fault:  inode lock shared; cached entry, else the extent tree; a
//                hole yields the shared HOLE entry and allocates nothing.
//   write fault: shared first, resolve without allocating. Mapped: done.
//                Hole: the caller drops the lock, takes it exclusive and calls
//                write_fault_locked(), which resolves again (somebody may
//                have allocated meanwhile: a retry), allocates a PMD when the
//                whole aligned 2 MiB range is a hole that is being filled
//                (see WriteIntent), else a run of PTE blocks, zeroes and
//                persists them, commits the extent, evicts the HOLE entries
//                the blocks cover, inserts the new entry.
// Because allocation needs the exclusive lock and a read fault holds the
// shared lock from resolve to insert, a read fault can never insert a HOLE
// over blocks a write fault allocated — the race of the thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>

#include "pmemfs/filesystem.h"
#include "pmemfs/mapping.h"
#include "pmemfs/result.h"

namespace pmemfs {

class Allocator;
class DaxRevoker;
class InodeTable;
class Journal;
class Pool;
struct Inode;

struct FaultCounters {
  std::atomic<uint64_t> hole_faults{0}, pte_faults{0}, pmd_faults{0};
  std::atomic<uint64_t> upgrades{0}, retries{0}, hole_evictions{0};
  std::atomic<uint64_t> fsync_calls{0}, fsync_bytes_flushed{0};
};

// Test seams for the race tests; never set in production.
struct FaultTestHooks {
  // Called by a read fault between finding a hole and inserting the HOLE
  // entry: the window of the race, widened by tests.
  std::function<void()> hole_window;
  // Allocate under the shared lock instead of upgrading: the pre-fix kernel
  // behaviour, kept so that the race test proves it detects the bug.
  bool disable_upgrade = false;
};

// What the write (or fallocate) that faults asks for: the allocation policy
// (pmemfs.8, GUARANTEES, "2 MiB extents"). A hole's aligned 2 MiB range R
// gets one 2 MiB extent only where it is being filled:
//   - the request covers all of R (a large write, fallocate), or
//   - a sequential writer enters R at its first page: the write continues
//     the file's previous write or appends at EOF, R is not the file's first
//     2 MiB (small files keep 4 KiB blocks) and it reaches R from below.
// Anything else (scattered writes into a sparse file) gets 4 KiB blocks, a
// run of them for the pages the request covers in R. The part of a
// sequential writer's extent past EOF is speculative: given back when the
// last handle closes (Inode::stream_tail, FsImpl::trim_stream_tail_locked).
struct WriteIntent {
  uint64_t first = 0, end = 0;  // file pages [first, end) the request covers
  bool sequential = false;      // a write continuing a stream (above)
};

struct FaultContext {
  Pool& pool;
  Journal& journal;
  Allocator& alloc;
  InodeTable& inodes;
  FaultCounters& counters;
  FaultTestHooks& hooks;
  // Takes client mappings back before a change (dax.h); set once by the
  // daemon before it serves anything, nullptr without direct access.
  DaxRevoker* revoker = nullptr;
};

// REQUIRES: inode.lock held (shared or exclusive). Never nullptr.
Entry* read_fault(FaultContext& fc, Inode& inode, uint64_t page);
// REQUIRES: inode.lock held. nullptr when the page is a hole (upgrade).
Entry* write_fault_mapped(FaultContext& fc, Inode& inode, uint64_t page);
// REQUIRES: inode.lock exclusive (or hooks.disable_upgrade). Allocates the
// hole at page (inside [intent.first, intent.end)) by the policy above.
Result<Entry*> write_fault_locked(FaultContext& fc, Inode& inode, uint64_t page,
                                  const WriteIntent& intent);


// Address of file page `page` through entry e (the zero page for a HOLE).
char* entry_address(Pool& pool, const Entry& e, uint64_t page);

}  // namespace pmemfs
