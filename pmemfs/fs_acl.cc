// POSIX ACLs on top of the xattr chain: what the kernel leaves to a FUSE
// server with FUSE_POSIX_ACL (it caches and enforces them, and checks who may
// set them): checking what is stored, keeping mode and access ACL in step
// both ways, and inheriting default ACLs. The rules are acl.h's.
#include <sys/xattr.h>

#include <algorithm>

#include <spdlog/spdlog.h>

#include "pmemfs/acl.h"
#include "pmemfs/fs_impl.h"

namespace pmemfs {

namespace {

constexpr mode_t kPermBits = S_IRWXU | S_IRWXG | S_IRWXO;

// The stored ACL `name` of f, nullptr without one. REQUIRES: f.lock held.
const XattrEntry* find_acl(std::vector<XattrEntry>& xs, std::string_view name) {
  auto it = std::find_if(xs.begin(), xs.end(), [&](const XattrEntry& x) { return x.name == name; });
  return it == xs.end() ? nullptr : &*it;
}

// Parses a stored ACL: it was checked when stored, so a bad one is damage.
Result<acl::Acl> parse_stored(const XattrEntry& x, uint64_t ino) {
  auto a = acl::parse(x.value);
  if (!a.ok()) {
    spdlog::error("inode {}: {} in xattr block {} is not a valid ACL (run fsck.pmemfs)", ino,
                  x.name, x.block);
    return err(EUCLEAN);
  }
  return a;
}

}  // namespace

Status FsImpl::set_acl_locked(Txn& txn, Inode& f, std::string_view name, std::string_view value,
                              int flags) {
  auto a = acl::parse(value);
  if (!a.ok()) return err(a.error());
  if (name == acl::kDefaultXattr) {
    if (!f.is_dir()) return err(EACCES);  // as the VFS says for other filesystems
    return stage_setxattr_locked(txn, f, name, acl::encode(*a), flags);
  }
  // posix_acl_update_mode(): the mode takes the ACL's bits; an ACL with no
  // more in it than the mode is not kept (setfacl -m u::rwx on a plain file).
  bool equivalent = false;
  const mode_t perms = acl::mode_of(*a, equivalent);
  if (equivalent) {
    Status s = stage_removexattr_locked(txn, f, name);
    if (!s.ok() && s.error() != ENODATA) return s;
  } else {
    PMEMFS_TRY(stage_setxattr_locked(txn, f, name, acl::encode(*a), flags));
  }
  f.rec.mode = (f.rec.mode & ~kPermBits) | perms;
  return {};
}

Status FsImpl::inherit_acls_locked(Txn& txn, Inode& dir, Inode& child, mode_t umask) {
  auto& mode = child.rec.mode;
  if (child.type() == S_IFLNK) return {};  // symlinks have neither ACLs nor a umask
  auto list = xattrs_of(dir);
  if (!list.ok()) return err(list.error());
  const XattrEntry* def = find_acl(**list, acl::kDefaultXattr);
  if (!def) {
    mode &= ~(umask & 07777);
    return {};
  }
  // posix_acl_create(): the umask plays no part; the default ACL masked by
  // the create mode becomes the access ACL, and a directory also inherits
  // the default ACL itself.
  auto a = parse_stored(*def, dir.ino);
  if (!a.ok()) return err(a.error());
  const std::string def_value = def->value;  // def points into dir's list
  acl::Acl access = *a;
  mode_t new_mode = mode;
  const bool needs_access = acl::create_masq(access, new_mode);
  if (child.is_dir()) PMEMFS_TRY(stage_setxattr_locked(txn, child, acl::kDefaultXattr, def_value, 0));
  if (needs_access)
    PMEMFS_TRY(stage_setxattr_locked(txn, child, acl::kAccessXattr, acl::encode(access), 0));
  mode = new_mode;
  return {};
}

Status FsImpl::chmod_acl_locked(Txn& txn, const InodeRef& inode) {
  Inode& f = *inode;
  auto list = xattrs_of(f);
  if (!list.ok()) return err(list.error());
  const XattrEntry* x = find_acl(**list, acl::kAccessXattr);
  if (!x) return {};
  auto a = parse_stored(*x, f.ino);
  if (!a.ok()) return err(a.error());
  acl::chmod(*a, f.rec.mode);
  std::string value = acl::encode(*a);
  if (value == x->value) return {};  // e.g. the kernel clearing setuid on write
  const uint64_t head = f.rec.xattr_head;
  PMEMFS_TRY(stage_setxattr_locked(txn, f, acl::kAccessXattr, value, XATTR_REPLACE));
  restore_xattrs_on_abort(txn, inode, head);
  return {};
}

}  // namespace pmemfs
