// Names: lookup, create, link, unlink, rmdir, rename, readdir, readlink.
#include <dirent.h>
#include <linux/fs.h>

#include <algorithm>
#include <cstring>

#include "pmemfs/fs_impl.h"

namespace pmemfs {

using layout::kBlockSize;

namespace {

constexpr uint32_t kMaxLinks = 65000;

Status check_name(std::string_view name) {
  if (name.empty()) return err(ENOENT);
  if (name.size() > layout::kMaxNameLen) return err(ENAMETOOLONG);
  if (name.find('/') != std::string_view::npos || name.find('\0') != std::string_view::npos)
    return err(EINVAL);
  return {};
}

bool is_dot(std::string_view n) { return n == "." || n == ".."; }

}  // namespace

Result<Directory*> FsImpl::dir_of(Inode& dir) {
  if (!dir.is_dir()) return err(ENOTDIR);
  InodeExtra& x = dir.extra();
  std::call_once(x.dir_once, [&] {
    auto d = std::make_unique<Directory>(*pool_, *alloc_, dir);
    Status s = d->load();
    if (s.ok())
      x.dir = std::move(d);
    else
      x.dir_load_error = s.error();
  });
  if (!x.dir) return err(x.dir_load_error);
  return x.dir.get();
}

Result<Attr> FsImpl::lookup(uint64_t parent, std::string_view name) {
  if (name.size() > layout::kMaxNameLen) return err(ENAMETOOLONG);
  auto p = get(parent);
  if (!p.ok()) return err(p.error());
  InodeRef child;
  {
    std::shared_lock<InodeLock> lk((*p)->lock);
    // "." of any inode is itself: the kernel looks it up that way to open a
    // file handle (open_by_handle_at) whose inode it no longer caches.
    if (!(*p)->is_dir() && name != ".") return err(ENOTDIR);
    uint64_t target;
    if (name == ".") {
      target = parent;
    } else if (name == "..") {
      target = (*p)->rec.parent;
    } else {
      auto d = dir_of(**p);
      if (!d.ok()) return err(d.error());
      auto ref = (*d)->lookup(name);
      if (!ref) return err(ENOENT);
      target = ref->ino;
    }
    auto c = get(target);
    if (!c.ok()) return err(c.error() == ESTALE ? EUCLEAN : c.error());
    child = *c;
  }
  std::shared_lock<InodeLock> lk(child->lock);
  child->nlookup.fetch_add(1);
  return attr_of(*child);
}

void FsImpl::forget(uint64_t ino, uint64_t n) {
  auto inode = get(ino);
  if (!inode.ok()) return;
  // Never below zero, even with two forgets of one inode at once.
  uint64_t cur = (*inode)->nlookup.load();
  uint64_t left;
  do {
    left = cur - std::min(n, cur);
  } while (!(*inode)->nlookup.compare_exchange_weak(cur, left));
  if (left == 0 && (*inode)->nopen.load() == 0) {
    reclaim_if_unused(*inode);
    if (ino != layout::kRootIno) {
      // Eviction drops the DRAM state: persist what lives only there first
      // (the mtime of overwrites done under the shared lock, and the dirty
      // ranges fsync/syncfs would flush), or a later lookup and syncfs at
      // unmount never see them.
      Inode& f = **inode;
      {
        std::unique_lock<InodeLock> lk(f.lock);
        // Freed above: release() already dropped it from the cache, and the
        // number may belong to a new inode by now, whose cache entry (and
        // kernel references) evict() must not throw away.
        if (f.rec.mode == 0) return;
        // Read-only: the switch made everything durable, and nothing may
        // be written now.
        if (!read_only_.load()) {
          if (f.type() == S_IFREG) (void)flush_data(f);
          if (f.times_pending()) {
            f.fold_times();
            Txn txn = journal_->begin();
            inodes_->write(txn, f);
            (void)txn.commit();
          }
        }
      }
      InodeRef drop = std::move(*inode);
      drop.reset();
      inodes_->evict(ino);  // only if nobody else holds it
    }
  }
}

Result<Attr> FsImpl::make_node(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                               const Caller& who, std::string_view symlink_target) {
  PMEMFS_TRY(check_name(name));
  if (is_dot(name)) return err(EEXIST);
  auto p = get(parent);
  if (!p.ok()) return err(p.error());
  Inode& dir = **p;
  std::unique_lock<InodeLock> lk(dir.lock);
  auto d = dir_of(dir);
  if (!d.ok()) return err(d.error());
  if (dir.rec.nlink == 0) return err(ENOENT);  // removed directory
  if ((*d)->lookup(name)) return err(EEXIST);
  const bool is_dir = S_ISDIR(mode);
  if (is_dir && dir.rec.nlink >= kMaxLinks) return err(EMLINK);

  Txn txn = journal_->begin();
  auto c = inodes_->allocate(txn);
  if (!c.ok()) return err(c.error());
  Inode& child = **c;
  auto& r = child.rec;
  const int64_t now = now_ns();
  r.mode = (mode & S_IFMT) | (mode & 07777);  // umask or default ACL: below
  r.uid = who.uid;
  r.gid = who.gid;
  if (dir.rec.mode & S_ISGID) {
    // BSD group semantics of a setgid directory, as ext4 and XFS do it.
    r.gid = dir.rec.gid;
    if (is_dir) r.mode |= S_ISGID;
  }
  r.nlink = is_dir ? 2 : 1;
  r.parent = is_dir ? parent : 0;
  r.rdev = (S_ISCHR(mode) || S_ISBLK(mode)) ? rdev : 0;
  r.atime_ns = r.mtime_ns = r.ctime_ns = r.btime_ns = now;
  if (!symlink_target.empty()) {
    auto run = alloc_->alloc(txn, 1, 0, 0);
    if (!run.ok()) return err(run.error());
    char* blk = pool_->at<char>(run->pool_block * kBlockSize);
    std::memcpy(blk, symlink_target.data(), symlink_target.size());
    std::memset(blk + symlink_target.size(), 0, kBlockSize - symlink_target.size());
    pool_->persist(blk, kBlockSize);
    PMEMFS_TRY(child.extents.insert(txn, child.extent_owner(*pool_, *alloc_), 0, run->pool_block, 1));
    r.size = symlink_target.size();
  }
  // A new directory's index is built (from no blocks at all) when first
  // used, like any other's: until then it costs no DRAM.
  PMEMFS_TRY(inherit_acls_locked(txn, dir, child, who.umask));
  PMEMFS_TRY((*d)->add(txn, name, child.ino, dirent_type(r.mode)));
  if (is_dir) dir.rec.nlink += 1;
  dir.fold_times();
  dir.rec.mtime_ns = dir.rec.ctime_ns = now;
  inodes_->write(txn, child);
  inodes_->write(txn, dir);
  PMEMFS_TRY(txn.commit());
  child.nlookup.fetch_add(1);
  return attr_of(child);
}

Result<Attr> FsImpl::mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                           const Caller& who) {
  const mode_t type = mode & S_IFMT;
  if (type == 0) mode |= S_IFREG;
  else if (type != S_IFREG && type != S_IFCHR && type != S_IFBLK && type != S_IFIFO &&
           type != S_IFSOCK)
    return err(EINVAL);
  return make_node(parent, name, mode, rdev, who, {});
}

Result<Attr> FsImpl::mkdir(uint64_t parent, std::string_view name, mode_t mode,
                           const Caller& who) {
  return make_node(parent, name, S_IFDIR | (mode & 07777), 0, who, {});
}

Result<Attr> FsImpl::symlink(uint64_t parent, std::string_view name, std::string_view target,
                             const Caller& who) {
  if (target.empty()) return err(ENOENT);
  if (target.size() > layout::kMaxSymlinkLen) return err(ENAMETOOLONG);
  Caller no_umask = who;
  no_umask.umask = 0;
  return make_node(parent, name, S_IFLNK | 0777, 0, no_umask, target);
}

Result<std::string> FsImpl::readlink(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  std::shared_lock<InodeLock> lk((*inode)->lock);
  if ((*inode)->type() != S_IFLNK) return err(EINVAL);
  auto m = (*inode)->extents.find(0);
  if (!m || (*inode)->rec.size > kBlockSize) return err(EUCLEAN);
  return std::string(pool_->at<char>(m->pool_block * kBlockSize), (*inode)->rec.size);
}

Result<Attr> FsImpl::link(uint64_t ino, uint64_t new_parent, std::string_view new_name) {
  PMEMFS_TRY(check_name(new_name));
  if (is_dot(new_name)) return err(EEXIST);
  auto f = get(ino);
  if (!f.ok()) return err(f.error());
  if ((*f)->is_dir()) return err(EPERM);
  auto p = get(new_parent);
  if (!p.ok()) return err(p.error());
  Inode &dir = **p, &file = **f;
  std::unique_lock<InodeLock> lk(dir.lock);
  auto d = dir_of(dir);
  if (!d.ok()) return err(d.error());
  if (dir.rec.nlink == 0) return err(ENOENT);
  std::unique_lock<InodeLock> fl(file.lock);
  // A tmpfile's first name (fs_tmpfile.cc) takes it off the orphan list.
  const bool naming_tmpfile = file.rec.nlink == 0;
  if (naming_tmpfile && (!file.rec.linkable || file.rec.data_freed)) return err(ENOENT);
  if (file.rec.nlink >= kMaxLinks) return err(EMLINK);
  if ((*d)->lookup(new_name)) return err(EEXIST);
  Txn txn = journal_->begin();
  PMEMFS_TRY((*d)->add(txn, new_name, file.ino, dirent_type(file.rec.mode)));
  const int64_t now = now_ns();
  file.fold_times();
  file.rec.nlink += 1;
  file.rec.ctime_ns = now;
  if (naming_tmpfile) unlist_tmpfile_locked(txn, file);
  dir.fold_times();
  dir.rec.mtime_ns = dir.rec.ctime_ns = now;
  inodes_->write(txn, file);
  inodes_->write(txn, dir);
  PMEMFS_TRY(txn.commit());
  if (naming_tmpfile) file.rec.linkable = false;
  file.nlookup.fetch_add(1);
  return attr_of(file);
}

Status FsImpl::unlink(uint64_t parent, std::string_view name) {
  PMEMFS_TRY(check_name(name));
  if (is_dot(name)) return err(EISDIR);
  auto p = get(parent);
  if (!p.ok()) return err(p.error());
  Inode& dir = **p;
  InodeRef child;
  {
    std::unique_lock<InodeLock> lk(dir.lock);
    auto d = dir_of(dir);
    if (!d.ok()) return err(d.error());
    auto ref = (*d)->lookup(name);
    if (!ref) return err(ENOENT);
    auto c = get(ref->ino);
    if (!c.ok()) return err(EUCLEAN);
    child = *c;
    if (child->is_dir()) return err(EISDIR);
    std::unique_lock<InodeLock> cl(child->lock);
    Txn txn = journal_->begin();
    (*d)->remove(txn, name);
    const int64_t now = now_ns();
    child->fold_times();
    child->rec.nlink -= 1;
    child->rec.ctime_ns = now;
    if (child->rec.nlink == 0 && orphans_->add(txn, child->ino).ok())
      child->rec.flags |= layout::kInodeOrphan;
    dir.fold_times();
    dir.rec.mtime_ns = dir.rec.ctime_ns = now;
    inodes_->write(txn, *child);
    inodes_->write(txn, dir);
    PMEMFS_TRY(txn.commit());
  }
  reclaim_if_unused(child, true);
  return {};
}

Status FsImpl::rmdir(uint64_t parent, std::string_view name) {
  PMEMFS_TRY(check_name(name));
  if (name == ".") return err(EINVAL);
  if (name == "..") return err(ENOTEMPTY);
  auto p = get(parent);
  if (!p.ok()) return err(p.error());
  Inode& dir = **p;
  InodeRef child;
  {
    std::unique_lock<InodeLock> lk(dir.lock);
    auto d = dir_of(dir);
    if (!d.ok()) return err(d.error());
    auto ref = (*d)->lookup(name);
    if (!ref) return err(ENOENT);
    auto c = get(ref->ino);
    if (!c.ok()) return err(EUCLEAN);
    child = *c;
    if (!child->is_dir()) return err(ENOTDIR);
    std::unique_lock<InodeLock> cl(child->lock);
    auto cd = dir_of(*child);
    if (!cd.ok()) return err(cd.error());
    if (!(*cd)->empty()) return err(ENOTEMPTY);
    Txn txn = journal_->begin();
    (*d)->remove(txn, name);
    const int64_t now = now_ns();
    child->rec.nlink = 0;
    child->rec.ctime_ns = now;
    if (orphans_->add(txn, child->ino).ok()) child->rec.flags |= layout::kInodeOrphan;
    dir.fold_times();
    dir.rec.nlink -= 1;
    dir.rec.mtime_ns = dir.rec.ctime_ns = now;
    inodes_->write(txn, *child);
    inodes_->write(txn, dir);
    PMEMFS_TRY(txn.commit());
  }
  reclaim_if_unused(child);
  return {};
}

Status FsImpl::readdir(uint64_t ino, uint64_t offset, const DirFiller& fill) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& dir = **inode;
  std::shared_lock<InodeLock> lk(dir.lock);
  auto d = dir_of(dir);
  if (!d.ok()) return err(d.error());
  touch_atime(dir);  // iterate_dir's file_accessed: also for a full buffer
  if (offset == 0 && !fill({".", ino, DT_DIR, 1})) return {};
  if (offset <= 1 && !fill({"..", dir.rec.parent, DT_DIR, 2})) return {};
  const uint32_t from = offset <= 2 ? 0 : static_cast<uint32_t>(offset - 2);
  (*d)->for_each(from, [&](uint32_t slot, const layout::DirentSlot& s) {
    return fill({std::string(s.name, s.name_len), s.ino, s.type, uint64_t{slot} + 3});
  });
  return {};
}

}  // namespace pmemfs
