// Inode lifetime: open and release of file handles, and freeing an unlinked
// inode once nothing references it.
//
// An unlinked inode is freed in two steps, so that its space is free when
// unlink returns, as on ext4 and tmpfs, although its number is not:
//   - its data (extents, extent blocks) as soon as no file handle is open:
//     at unlink, or at the RELEASE of its last handle. Without a handle
//     nothing can read or write it any more; the kernel may still hold the
//     inode (nlookup), for stat of an O_PATH descriptor, say;
//   - the record itself once the kernel forgets it too (FORGET).
// Both steps are listed in the orphan table from the unlink on, so a crash
// in between is finished at the next mount.
//
// The daemon cannot know of a close(2) whose RELEASE is still on its way
// (the kernel sends it asynchronously, and another daemon thread may answer
// the UNLINK first). So an unlink that finds a handle open announces the
// free to the allocator for a short while: an allocation that meets ENOSPC
// meanwhile waits for it (alloc.h, "Frees on their way"), and statfs does so
// briefly.
#include <cstring>

#include <spdlog/spdlog.h>

#include "pmemfs/fs_impl.h"

namespace pmemfs {

namespace {

// How long after an unlink a RELEASE of the file is still taken to be on
// its way; a handle open longer is really open (and its blocks in use).
constexpr auto kReleaseGrace = std::chrono::milliseconds(250);

}  // namespace

Status FsImpl::free_data_locked(Inode& f) {
  Allocator::Freeing freeing(*alloc_);
  revoke_locked(f, 0, UINT64_MAX);
  // Every block is freed: what is dirty in them no longer matters.
  if (InodeExtra* x = f.extra_if()) (void)x->mapping.evict(0, UINT64_MAX);
  // The size stays (stat of a descriptor the kernel holds still shows it);
  // the file reads as a hole, which nobody can open again (open()).
  PMEMFS_TRY(unmap_locked(f, 0, UINT64_MAX, journal_->begin()));
  Txn txn = journal_->begin();
  f.extents.free_chain(txn, f.extent_owner(*pool_, *alloc_));
  inodes_->write(txn, f);
  PMEMFS_TRY(txn.commit());
  f.rec.data_freed = true;
  return {};
}

Status FsImpl::destroy_locked(Inode& f) {
  Allocator::Freeing freeing(*alloc_);
  revoke_locked(f, 0, UINT64_MAX);
  // Every block is freed: what is dirty in them no longer matters.
  if (InodeExtra* x = f.extra_if()) (void)x->mapping.evict(0, UINT64_MAX);
  f.rec.size = 0;
  // Nothing mapped (an empty file, or its data freed at unlink): no
  // transaction of its own for unmapping nothing.
  if (f.extents.allocated_blocks() != 0) PMEMFS_TRY(unmap_locked(f, 0, UINT64_MAX, journal_->begin()));
  Txn txn = journal_->begin();
  f.extents.free_chain(txn, f.extent_owner(*pool_, *alloc_));
  free_xattrs_locked(txn, f);
  orphans_->remove(txn, f.ino);
  inodes_->release(txn, f);
  return txn.commit();
}

void FsImpl::reclaim_if_unused(const InodeRef& inode, bool unlinked_now) {
  // Read-only: the orphan stays listed; set_read_only(false) or the next
  // mount frees it.
  if (read_only_.load()) return;
  Inode& f = *inode;
  std::unique_lock<InodeLock> lk(f.lock);
  if (f.rec.nlink != 0 || f.rec.mode == 0) return;
  if (f.nopen.load() != 0) {
    // Perhaps a close(2) whose RELEASE has not reached us yet.
    if (unlinked_now && f.extents.allocated_blocks() != 0)
      alloc_->announce(f.ino, Allocator::Clock::now() + kReleaseGrace);
    return;
  }
  Status s;
  if (f.nlookup.load() == 0) {
    s = destroy_locked(f);
    f.rec.mode = 0;  // freed: a late forget must not free it twice
  } else if (!f.rec.data_freed && f.type() == S_IFREG) {
    // (Directories are empty when removed, and an open one is still read.)
    // Without data there is nothing to give back before the last forget,
    // which frees the rest: two commits spared per unlink of an empty file.
    if (f.extents.allocated_blocks() != 0) s = free_data_locked(f);
    else f.rec.data_freed = true;
  }
  alloc_->withdraw(f.ino);
  if (!s.ok())
    spdlog::error("inode {}: freeing the unlinked inode failed: {} (the next mount retries)", f.ino,
                  std::strerror(s.error()));
}

Status FsImpl::open(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  // Shared: an open either happens before reclaim_if_unused looks at nopen
  // (which then keeps the data) or finds the data gone.
  std::shared_lock<InodeLock> lk(f.lock);
  if (f.rec.data_freed || f.rec.mode == 0) return err(ENOENT);
  f.nopen.fetch_add(1);
  return {};
}

void FsImpl::release(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return;
  if ((*inode)->nopen.fetch_sub(1) == 1) {
    trim_stream_tail(**inode);
    reclaim_if_unused(*inode);
  }
}

}  // namespace pmemfs
