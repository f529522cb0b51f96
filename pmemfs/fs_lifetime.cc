// Inode lifetime: open and release of file handles, and freeing an unlinked
// inode once nothing references it.
#include "pmemfs/fs_impl.h"

namespace pmemfs {

Status FsImpl::destroy_locked(Inode& f) {
  f.mapping.evict(0, UINT64_MAX);
  f.rec.size = 0;
  PMEMFS_TRY(unmap_locked(f, 0, UINT64_MAX, journal_->begin()));
  Txn txn = journal_->begin();
  f.extents.free_chain(txn);
  free_xattrs_locked(txn, f);
  orphans_->remove(txn, f.ino);
  inodes_->release(txn, f);
  return txn.commit();
}

void FsImpl::reclaim_if_unused(const InodeRef& inode) {
  if (inode->nlookup.load() != 0 || inode->nopen.load() != 0) return;
  std::unique_lock<InodeLock> lk(inode->lock);
  if (inode->rec.nlink != 0 || inode->rec.mode == 0) return;
  if (inode->nlookup.load() != 0 || inode->nopen.load() != 0) return;
  (void)destroy_locked(*inode);
  inode->rec.mode = 0;  // freed: a late forget must not free it twice
}

Status FsImpl::open(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  (*inode)->nopen.fetch_add(1);
  return {};
}

void FsImpl::release(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return;
  if ((*inode)->nopen.fetch_sub(1) == 1) reclaim_if_unused(*inode);
}

}  // namespace pmemfs
