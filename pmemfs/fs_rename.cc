// rename(2) in all its forms: plain, over an existing name, RENAME_NOREPLACE,
// RENAME_EXCHANGE, RENAME_WHITEOUT, within a directory and across directories.
#include <dirent.h>
#include <linux/fs.h>

#include <algorithm>
#include <set>

#include "pmemfs/fs_impl.h"

namespace pmemfs {

Status FsImpl::rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                      std::string_view new_name, unsigned flags, const Caller& who) {
  if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT)) return err(EINVAL);
  if ((flags & (RENAME_NOREPLACE | RENAME_WHITEOUT)) && (flags & RENAME_EXCHANGE))
    return err(EINVAL);
  for (auto n : {name, new_name}) {
    if (n.empty()) return err(ENOENT);
    if (n.size() > layout::kMaxNameLen) return err(ENAMETOOLONG);
    if (n == "." || n == ".." || n.find('/') != std::string_view::npos) return err(EINVAL);
  }
  auto sp = get(parent);
  if (!sp.ok()) return err(sp.error());
  auto dp = get(new_parent);
  if (!dp.ok()) return err(dp.error());
  Inode &src_dir = **sp, &dst_dir = **dp;
  if (!src_dir.is_dir() || !dst_dir.is_dir()) return err(ENOTDIR);
  const bool cross = parent != new_parent;

  // Directory locks: ancestors first. Parent fields only change under
  // rename_mu_, so walking them up is stable while we hold it.
  std::unique_lock<std::mutex> rename_lock(rename_mu_, std::defer_lock);
  auto is_ancestor = [&](uint64_t anc, uint64_t ino) {
    for (int depth = 0; depth < 4096 && ino != layout::kRootIno; ++depth) {
      auto i = get(ino);
      if (!i.ok()) return false;
      ino = (*i)->rec.parent;
      if (ino == anc) return true;
    }
    return anc == layout::kRootIno;
  };
  std::unique_lock<InodeLock> l1, l2;
  if (!cross) {
    l1 = std::unique_lock<InodeLock>(src_dir.lock);
  } else {
    rename_lock.lock();
    Inode* first = &src_dir;
    Inode* second = &dst_dir;
    if (is_ancestor(new_parent, parent) ||
        (!is_ancestor(parent, new_parent) && new_parent < parent))
      std::swap(first, second);
    l1 = std::unique_lock<InodeLock>(first->lock);
    l2 = std::unique_lock<InodeLock>(second->lock);
  }
  auto sd = dir_of(src_dir);
  if (!sd.ok()) return err(sd.error());
  auto dd = dir_of(dst_dir);
  if (!dd.ok()) return err(dd.error());
  if (dst_dir.rec.nlink == 0) return err(ENOENT);
  auto sref = (*sd)->lookup(name);
  if (!sref) return err(ENOENT);
  auto dref = (*dd)->lookup(new_name);
  if ((flags & RENAME_EXCHANGE) && !dref) return err(ENOENT);
  if ((flags & RENAME_NOREPLACE) && dref) return err(EEXIST);
  if (dref && dref->ino == sref->ino) return {};  // same inode: POSIX says do nothing

  auto s = get(sref->ino);
  if (!s.ok()) return err(EUCLEAN);
  InodeRef src = *s, dst;
  if (dref) {
    auto d = get(dref->ino);
    if (!d.ok()) return err(EUCLEAN);
    dst = *d;
  }
  // A directory may not move below itself.
  if (cross && src->is_dir() && (new_parent == src->ino || is_ancestor(src->ino, new_parent)))
    return err(EINVAL);
  // Nor may the target be an ancestor of the source: Linux says ENOTEMPTY
  // (it holds the source), EINVAL for an exchange. Checked before the child
  // locks below, which would otherwise take src_dir's lock a second time.
  if (cross && dst && dst->is_dir() && (parent == dst->ino || is_ancestor(dst->ino, parent)))
    return err((flags & RENAME_EXCHANGE) ? EINVAL : ENOTEMPTY);

  // Children after their directories, in ino order.
  std::unique_lock<InodeLock> c1, c2;
  {
    Inode* a = src.get();
    Inode* b = dst.get();
    if (b && b->ino < a->ino) std::swap(a, b);
    c1 = std::unique_lock<InodeLock>(a->lock);
    if (b) c2 = std::unique_lock<InodeLock>(b->lock);
  }
  if (dst && !(flags & RENAME_EXCHANGE)) {
    if (src->is_dir() && !dst->is_dir()) return err(ENOTDIR);
    if (!src->is_dir() && dst->is_dir()) return err(EISDIR);
    if (dst->is_dir()) {
      auto ddir = dir_of(*dst);
      if (!ddir.ok()) return err(ddir.error());
      if (!(*ddir)->empty()) return err(ENOTEMPTY);
    }
  }

  Txn txn = journal_->begin();
  const int64_t now = now_ns();
  std::set<Inode*> touched{&src_dir, &dst_dir, src.get()};
  // The whiteout is born in this Txn: a crash shows the old names or the new
  // names with it, never the source name gone without it.
  InodeRef whiteout;
  if (flags & RENAME_WHITEOUT) {
    auto w = inodes_->allocate(txn);
    if (!w.ok()) return err(w.error());
    whiteout = *w;
    auto& r = whiteout->rec;
    r.mode = S_IFCHR;  // WHITEOUT_MODE 0, rdev WHITEOUT_DEV 0:0, as ext4 and tmpfs
    r.rdev = 0;
    r.uid = who.uid;
    r.gid = (src_dir.rec.mode & S_ISGID) ? src_dir.rec.gid : who.gid;
    r.nlink = 1;
    r.atime_ns = r.mtime_ns = r.ctime_ns = r.btime_ns = now;
    touched.insert(whiteout.get());
  }
  if (flags & RENAME_EXCHANGE) {
    (*sd)->replace(txn, name, dst->ino, dirent_type(dst->rec.mode));
    (*dd)->replace(txn, new_name, src->ino, dirent_type(src->rec.mode));
    touched.insert(dst.get());
    if (cross) {
      if (src->is_dir()) {
        src->rec.parent = new_parent;
        src_dir.rec.nlink -= 1;
        dst_dir.rec.nlink += 1;
      }
      if (dst->is_dir()) {
        dst->rec.parent = parent;
        dst_dir.rec.nlink -= 1;
        src_dir.rec.nlink += 1;
      }
    }
    dst->fold_times();
    dst->rec.ctime_ns = now;
  } else {
    if (dst) {
      (*dd)->replace(txn, new_name, src->ino, dirent_type(src->rec.mode));
      touched.insert(dst.get());
      dst->fold_times();
      dst->rec.ctime_ns = now;
      if (dst->is_dir()) {
        dst->rec.nlink = 0;
        dst_dir.rec.nlink -= 1;
      } else {
        dst->rec.nlink -= 1;
      }
      if (dst->rec.nlink == 0 && orphans_->add(txn, dst->ino).ok())
        dst->rec.flags |= layout::kInodeOrphan;
    } else {
      PMEMFS_TRY((*dd)->add(txn, new_name, src->ino, dirent_type(src->rec.mode)));
    }
    if (whiteout)
      (*sd)->replace(txn, name, whiteout->ino, DT_CHR);
    else
      (*sd)->remove(txn, name);
    if (src->is_dir() && cross) {
      src->rec.parent = new_parent;
      src_dir.rec.nlink -= 1;
      dst_dir.rec.nlink += 1;
    }
  }
  src->fold_times();
  src->rec.ctime_ns = now;
  for (Inode* d : {&src_dir, &dst_dir}) {
    d->fold_times();
    d->rec.mtime_ns = d->rec.ctime_ns = now;
  }
  for (Inode* i : touched) inodes_->write(txn, *i);
  PMEMFS_TRY(txn.commit());
  const bool dst_unlinked = dst && dst->rec.nlink == 0;
  c2 = {};
  c1 = {};
  l2 = {};
  l1 = {};
  rename_lock = {};
  if (dst_unlinked) reclaim_if_unused(dst, true);
  if (whiteout) {
    // The kernel holds no reference to it: no need to keep it cached.
    const uint64_t wino = whiteout->ino;
    whiteout.reset();
    inodes_->evict(wino);
  }
  return {};
}

}  // namespace pmemfs
