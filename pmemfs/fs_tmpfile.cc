// O_TMPFILE: a regular file created without a name.
//
// Crash safety: the transaction that allocates the inode also lists it in
// the orphan table (with kInodeOrphan set), so whatever the moment of a
// crash, the next mount finds an unnamed tmpfile there and frees it
// (finish_orphans), as it frees a file unlinked while open. The link() that
// gives it its first name takes it off the list in the transaction that adds
// the name: a crash leaves it either unnamed and freed, or named and kept.
//
// Without a name it lives as an open-unlinked file does (fs_lifetime.cc):
// the last release frees its data, the kernel's FORGET the inode. Mode,
// group and ACLs come from the directory as for any new file.
#include "pmemfs/fs_impl.h"

namespace pmemfs {

Result<Attr> FsImpl::tmpfile(uint64_t parent, mode_t mode, const Caller& who, bool linkable) {
  if ((mode & S_IFMT) != S_IFREG) return err(EINVAL);
  auto p = get(parent);
  if (!p.ok()) return err(p.error());
  Inode& dir = **p;
  // Nothing of the directory changes (no name, no times); it lends its
  // setgid group and its default ACL, and must not be a removed one.
  // Exclusive, as inherit_acls_locked requires.
  std::unique_lock<InodeLock> lk(dir.lock);
  if (!dir.is_dir()) return err(ENOTDIR);
  if (dir.rec.nlink == 0) return err(ENOENT);

  Txn txn = journal_->begin();
  auto c = inodes_->allocate(txn);
  if (!c.ok()) return err(c.error());
  Inode& child = **c;
  auto& r = child.rec;
  r.mode = S_IFREG | (mode & 07777);  // umask or default ACL: below
  r.uid = who.uid;
  r.gid = who.gid;
  // A setgid directory's group, as make_node gives it (and ext4 to tmpfiles).
  if (dir.rec.mode & S_ISGID) r.gid = dir.rec.gid;
  r.nlink = 0;
  r.parent = 0;
  r.atime_ns = r.mtime_ns = r.ctime_ns = r.btime_ns = now_ns();
  // As for any new file (ext4 gives tmpfiles the default ACL too).
  PMEMFS_TRY(inherit_acls_locked(txn, dir, child, who.umask));
  // Unlike unlink, which goes on unlisted when the list cannot grow, a
  // tmpfile that could outlive a crash is refused.
  PMEMFS_TRY(orphans_->add(txn, child.ino));
  r.flags |= layout::kInodeOrphan;
  inodes_->write(txn, child);
  PMEMFS_TRY(txn.commit());
  {
    std::unique_lock<InodeLock> cl(child.lock);
    child.rec.linkable = linkable;
  }
  child.nlookup.fetch_add(1);
  child.nopen.fetch_add(1);
  std::shared_lock<InodeLock> cl(child.lock);
  return attr_of(child);
}

void FsImpl::unlist_tmpfile_locked(Txn& txn, Inode& f) {
  orphans_->remove(txn, f.ino);
  f.rec.flags &= ~layout::kInodeOrphan;
}

}  // namespace pmemfs
