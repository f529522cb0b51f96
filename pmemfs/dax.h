// Direct access for client processes (DESIGN.md, "Direct access: DAX for user
// processes"): the library's half. A client process maps the pages of a file
// straight from the pool; the daemon answers its faults with
// Filesystem::dax_fault() and takes mappings back through a DaxRevoker before
// it changes what they map: the seed's race (shared/seed-thread.txt), across
// processes.
//
// The protocol, as fs/dax.c keeps it with i_mmap_rwsem and its entry locks:
//   fault    read fault, or a write to mapped blocks: inode lock shared.
//            Write to a hole: exclusive, resolved again (upgrade and retry,
//            fault.h). The entry is handed out while the lock is held, so it
//            is current when the client gets it; the inode is marked
//            DAX-mapped (InodeExtra::dax_mapped) before that.
//   change   allocation over a hole, truncate, punch, zero range and the
//            freeing of an unlinked file's data hold the inode lock
//            exclusive and call DaxRevoker::revoke() for the pages whose
//            mapping they change, after nothing else can fault them in again
//            and BEFORE the change is visible through the file or any freed
//            block can be reused. revoke() returns once no client maps those
//            pages: each one dropped them, exited, or was cut off.
//   pages    revoke() covers whole 2 MiB ranges: a PMD entry is dropped whole
//            (Mapping::evict), so a client re-faults what stays valid.
// Lock order: inode lock -> the revoker's own locks. revoke() never takes an
// inode lock and never waits for a request that needs one; a client drops a
// mapping without calling back into the daemon.
#pragma once

#include <cstdint>

#include "pmemfs/mapping.h"

namespace pmemfs {

// The entry covering a faulting page (mapping.h, Entry), as a client maps it.
struct DaxEntry {
  EntryKind kind = EntryKind::kHole;
  uint64_t first_page = 0;  // file page (4 KiB) where the entry starts
  uint32_t npages = 1;      // 1 for HOLE and PTE, 512 for PMD
  uint64_t pool_off = 0;    // pool byte offset of first_page; 0 for a HOLE
};

class DaxRevoker {
 public:
  virtual ~DaxRevoker() = default;
  // Takes back every client mapping of file pages [first_page, last_page] of
  // ino (see the protocol above). REQUIRES: ino's inode lock held exclusive.
  virtual void revoke(uint64_t ino, uint64_t first_page, uint64_t last_page) = 0;
};

// [first, last] widened to whole 2 MiB ranges (clamped at the last page).
void dax_revoke_range(DaxRevoker* r, uint64_t ino, uint64_t first_page, uint64_t last_page);

}  // namespace pmemfs
