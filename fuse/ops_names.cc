// Names and attributes: lookup and the kernel's reference counting,
// getattr/setattr, and the operations that create, link and remove names.
#include "fuse/ops_internal.h"

#include "fuse/heap.h"
#include "fuse/kernel_abi.h"
#include "fuse/kill_privs.h"
#include "fuse/request_note.h"

#include <linux/fs.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT

#include <string>

namespace pmemfs::daemon {
namespace {

void pm_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("lookup", [&] {
    auto r = c.fs->lookup(parent, name);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  if (err == ENOENT) {
    // A negative entry the kernel may cache: only this daemon creates names,
    // and it does so through the kernel, which drops the negative dentry.
    e = fuse_entry_param{};
    e.entry_timeout = c.timeout;
    fuse_reply_entry(req, &e);
    return;
  }
  reply_entry(req, err, e);
}

void pm_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) noexcept {
  guarded("forget", [&] {
    fs(req).forget(ino, nlookup);
    return 0;
  });
  fuse_reply_none(req);
}

void pm_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) noexcept {
  guarded("forget_multi", [&] {
    for (size_t i = 0; i < count; ++i) fs(req).forget(forgets[i].ino, forgets[i].nlookup);
    // The kernel forgets in batches when it reclaims (drop_caches, memory
    // pressure): give what the evicted inodes held back to the system.
    heap_trim();
    return 0;
  });
  fuse_reply_none(req);
}


void pm_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  Attr a;
  int err = guarded("getattr", [&] {
    auto r = fs(req).getattr(ino);
    if (!r) return r.error();
    a = *r;
    return 0;
  });
  reply_attr(req, err, a);
}

SetAttr to_setattr(const struct stat* st, int valid) {
  SetAttr s;
  if (valid & FUSE_SET_ATTR_MODE) { s.valid |= SetAttr::kMode; s.mode = st->st_mode; }
  if (valid & FUSE_SET_ATTR_UID) { s.valid |= SetAttr::kUid; s.uid = st->st_uid; }
  if (valid & FUSE_SET_ATTR_GID) { s.valid |= SetAttr::kGid; s.gid = st->st_gid; }
  if (valid & FUSE_SET_ATTR_SIZE) { s.valid |= SetAttr::kSize; s.size = st->st_size; }
  // utimensat(UTIME_NOW) arrives as ATIME|ATIME_NOW with no time: the
  // daemon's clock is the one to use. UTIME_OMIT arrives as neither bit.
  if (valid & FUSE_SET_ATTR_ATIME_NOW) s.valid |= SetAttr::kAtimeNow;
  else if (valid & FUSE_SET_ATTR_ATIME) { s.valid |= SetAttr::kAtime; s.atime = st->st_atim; }
  if (valid & FUSE_SET_ATTR_MTIME_NOW) s.valid |= SetAttr::kMtimeNow;
  else if (valid & FUSE_SET_ATTR_MTIME) { s.valid |= SetAttr::kMtime; s.mtime = st->st_mtim; }
  if (valid & FUSE_SET_ATTR_CTIME) { s.valid |= SetAttr::kCtime; s.ctime = st->st_ctim; }
  return s;
}

void pm_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int valid,
                fuse_file_info*) noexcept {
  Attr a;
  int err = guarded("setattr", [&] {
    SetAttr sa = to_setattr(attr, valid);
    // FATTR_KILL_SUIDGID (HANDLE_KILLPRIV_V2), as the transport noted it;
    // libfuse 3.14 happens to pass the same bit on as FUSE_SET_ATTR_KILL_SUID.
    const RequestNote* n = current_request(kabi::FUSE_SETATTR, ino);
    const bool kill = n ? n->kill_suidgid : (valid & FUSE_SET_ATTR_KILL_SUID) != 0;
    if (int e = kill_privs_for_setattr(req, ino, sa, kill)) return e;
    auto r = fs(req).setattr(ino, sa);
    if (!r) return r.error();
    a = *r;
    return 0;
  });
  reply_attr(req, err, a);
}

// ---- creating and removing names -----------------------------------------

void pm_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              dev_t rdev) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("mknod", [&] {
    Caller who;
    if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    auto r = c.fs->mknod(parent, name, mode, rdev, who);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("mkdir", [&] {
    Caller who;
    mode |= S_IFDIR;
    if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    auto r = c.fs->mkdir(parent, name, mode, who);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("symlink", [&] {
    Caller who;
    mode_t mode = S_IFLNK | 0777;
    if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    auto r = c.fs->symlink(parent, name, target, who);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_readlink(fuse_req_t req, fuse_ino_t ino) noexcept {
  std::string target;
  int err = guarded("readlink", [&] {
    auto r = fs(req).readlink(ino);
    if (!r) return r.error();
    target = std::move(*r);
    return 0;
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_readlink(req, target.c_str());
}

void pm_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("link", [&] {
    auto r = c.fs->link(ino, new_parent, new_name);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  reply_status(req, guarded("unlink", [&] { return fs(req).unlink(parent, name).error(); }));
}

void pm_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  reply_status(req, guarded("rmdir", [&] { return fs(req).rmdir(parent, name).error(); }));
}

void pm_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
               const char* new_name, unsigned int flags) noexcept {
  int err = guarded("rename", [&] {
    // RENAME_WHITEOUT (overlayfs upper layers): the whiteout is a new node of
    // the caller's, in the source directory.
    Caller who;
    if (flags & RENAME_WHITEOUT) {
      mode_t mode = S_IFCHR;
      if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    }
    return fs(req).rename(parent, name, new_parent, new_name, flags, who).error();
  });
  reply_status(req, err);
}

}  // namespace

void add_name_ops(fuse_lowlevel_ops& o) {
  o.lookup = pm_lookup;
  o.forget = pm_forget;
  o.forget_multi = pm_forget_multi;
  o.getattr = pm_getattr;
  o.setattr = pm_setattr;
  o.readlink = pm_readlink;
  o.mknod = pm_mknod;
  o.mkdir = pm_mkdir;
  o.unlink = pm_unlink;
  o.rmdir = pm_rmdir;
  o.symlink = pm_symlink;
  o.rename = pm_rename;
  o.link = pm_link;
}

}  // namespace pmemfs::daemon
