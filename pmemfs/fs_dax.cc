// Faults of direct-access clients (dax.h): the fault path of fault.h, with the
// inode locks the daemon's own reads and writes take.
#include <sys/stat.h>

#include <mutex>
#include <shared_mutex>

#include "pmemfs/dax.h"
#include "pmemfs/fault.h"
#include "pmemfs/fs_impl.h"
#include "pmemfs/inode.h"

namespace pmemfs {

using layout::kBlocksPerHuge;
using layout::kBlockSize;

namespace {

uint64_t pages_in(uint64_t size) { return (size + kBlockSize - 1) / kBlockSize; }

// What the client maps for page through e. A hole is handed out as the run
// of hole pages around it inside its 2 MiB range and EOF, so that a client
// maps a large hole with one read-only zero mapping rather than page by page.
DaxEntry to_dax(const Inode& f, const Entry& e, uint64_t page) {
  DaxEntry d;
  d.kind = e.kind;
  if (e.kind != EntryKind::kHole) {
    d.first_page = e.first_page;
    d.npages = e.npages();
    d.pool_off = e.pool_block * kBlockSize;
    return d;
  }
  const uint64_t r0 = page - page % kBlocksPerHuge;
  uint64_t first = r0, end = std::min(r0 + kBlocksPerHuge, pages_in(f.rec.size));
  // Blocks below page in the range end the hole there; the next ones above.
  for (auto next = f.extents.next(r0); next && next->file_block < end; next = f.extents.next(next->file_block + next->nblocks)) {
    if (next->file_block + next->nblocks <= page) {
      first = next->file_block + next->nblocks;
    } else {
      end = next->file_block;
      break;
    }
  }
  d.first_page = first;
  d.npages = static_cast<uint32_t>(end - first);
  return d;
}

}  // namespace

Result<DaxEntry> FsImpl::dax_fault(uint64_t ino, uint64_t page, bool write) {
  if (write && read_only()) return err(EROFS);
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  if (f.type() != S_IFREG) return err(f.is_dir() ? EISDIR : EINVAL);
  {
    std::shared_lock<InodeLock> lk(f.lock);
    // Again under the lock: a switch to read-only revokes under it
    // (revoke_all_direct_mappings), before or after this fault.
    if (write && read_only()) return err(EROFS);
    if (page >= pages_in(f.rec.size)) return err(ENXIO);
    // Before the entry is handed out: a change after this must revoke.
    f.extra().dax_mapped.store(true, std::memory_order_release);
    Entry* e = write ? write_fault_mapped(*fc_, f, page) : read_fault(*fc_, f, page);
    if (e) {
      if (write) {
        e->mark_client_writable();
        f.extra().pending_mtime.store(now_ns());
      }
      return to_dax(f, *e, page);
    }
    counters_.upgrades.fetch_add(1, std::memory_order_relaxed);
  }
  // A store into a hole: exclusive, and resolved again (fault.h).
  std::unique_lock<InodeLock> lk(f.lock);
  if (read_only()) return err(EROFS);
  const uint64_t eof_pages = pages_in(f.rec.size);
  if (page >= eof_pages) return err(ENXIO);
  // A PMD where the page's whole aligned range lies inside EOF (taken only
  // if that range is a hole and an aligned extent is free), else a PTE.
  const uint64_t r0 = page - page % kBlocksPerHuge;
  WriteIntent intent{page, page + 1, false};
  if (r0 + kBlocksPerHuge <= eof_pages) intent = {r0, r0 + kBlocksPerHuge, false};
  auto e = write_fault_locked(*fc_, f, page, intent);
  if (!e.ok()) return err(e.error());
  (*e)->mark_client_writable();
  // A store through a mapping changes the file (the kernel's page_mkwrite
  // updates the times the same way).
  f.extra().pending_mtime.store(now_ns());
  return to_dax(f, **e, page);
}

void FsImpl::revoke_locked(Inode& f, uint64_t first, uint64_t last) {
  InodeExtra* x = f.extra_if();
  if (!x || !x->dax_mapped.load(std::memory_order_acquire)) return;
  dax_revoke_range(fc_->revoker, f.ino, first, last);
}

// Remounting read-only (set_read_only) marks the pool clean: from then on
// no client may store into it. Every client mapping of every file a client
// was handed goes (read_only() already refuses new write faults), so that a
// store re-faults, meets EROFS and is a SIGBUS in the client; loads re-fault
// to read-only mappings. The kernel already refuses the remount while a
// client maps a file writable (the client keeps a descriptor open for
// writing); this holds whatever switch gets here.
void FsImpl::revoke_all_direct_mappings() {
  if (!fc_->revoker) return;
  // Under each file's lock, also where no client was handed an entry yet: a
  // fault either finished before (its entry is revoked here) or sees
  // read_only() (dax_fault checks it under the lock).
  for (const auto& inode : inodes_->loaded()) {
    if (inode->type() != S_IFREG) continue;
    std::unique_lock<InodeLock> lk(inode->lock);
    revoke_locked(*inode, 0, UINT64_MAX);
  }
}

}  // namespace pmemfs
