#include "fuse/kill_privs.h"

#include <algorithm>
#include <vector>

#include "fuse/ops_internal.h"

namespace pmemfs::daemon {
namespace {

constexpr const char* kCapabilityXattr = "security.capability";

// Whether the caller of req is in gid: its fsgid, or one of its groups.
bool caller_in_group(fuse_req_t req, gid_t gid) {
  if (fuse_req_ctx(req)->gid == gid) return true;
  std::vector<gid_t> groups(64);
  for (;;) {
    int n = fuse_req_getgroups(req, static_cast<int>(groups.size()), groups.data());
    if (n < 0) return false;  // unknown: the kernel's answer for a stranger
    if (static_cast<size_t>(n) <= groups.size()) {
      groups.resize(static_cast<size_t>(n));
      return std::find(groups.begin(), groups.end(), gid) != groups.end();
    }
    groups.resize(static_cast<size_t>(n));
  }
}

// Removes ino's file capability, if it has one (a has its attributes).
int remove_capability(fuse_req_t req, fuse_ino_t ino, const Attr& a) {
  if (!a.has_xattrs || S_ISDIR(a.mode)) return 0;
  if (!fs(req).getxattr(ino, kCapabilityXattr)) return 0;  // none (or unreadable: nothing to drop)
  const Status s = fs(req).removexattr(ino, kCapabilityXattr);
  return s.ok() || s.error() == ENODATA ? 0 : s.error();
}

// Clears drop from ino's mode, and tells the kernel: a WRITE's reply carries
// no attributes, and the kernel invalidates only the size and times after a
// write, so it would go on believing in a setuid bit that is gone (and exec
// honours what it believes).
int drop_bits(fuse_req_t req, fuse_ino_t ino, const Attr& a, mode_t drop) {
  SetAttr sa;
  sa.valid = SetAttr::kMode;
  sa.mode = a.mode & 07777 & ~drop;
  if (int e = fs(req).setattr(ino, sa).error()) return e;
  if (fuse_session* se = ctx(req).se) fuse_lowlevel_notify_inval_inode(se, ino, -1, 0);  // attributes only
  return 0;
}

}  // namespace

int kill_privs_before_write(fuse_req_t req, fuse_ino_t ino, bool kill_suidgid) {
  auto a = fs(req).getattr(ino);
  if (!a) return a.error();
  if (int e = remove_capability(req, ino, *a)) return e;
  if (!kill_suidgid || !(a->mode & (S_ISUID | S_ISGID))) return 0;  // the common case
  const mode_t drop = suid_sgid_to_drop(a->mode, a->gid, /*privileged=*/false,
                                        [&](gid_t g) { return caller_in_group(req, g); });
  return drop ? drop_bits(req, ino, *a, drop) : 0;
}

int kill_privs_for_setattr(fuse_req_t req, fuse_ino_t ino, SetAttr& sa, bool kill_suidgid) {
  const bool truncate = sa.valid & SetAttr::kSize;
  const bool chown = sa.valid & (SetAttr::kUid | SetAttr::kGid);
  if (!truncate && !chown) return 0;
  auto a = fs(req).getattr(ino);
  if (!a) return a.error();
  if (int e = remove_capability(req, ino, *a)) return e;
  if (!kill_suidgid || !(a->mode & (S_ISUID | S_ISGID))) return 0;
  auto in_group = [&](gid_t g) { return caller_in_group(req, g); };
  mode_t drop = 0;
  // The flag on a truncate: the caller lacks CAP_FSETID. On a chown the
  // kernel sets it always, so privilege is judged here.
  if (truncate) drop |= suid_sgid_to_drop(a->mode, a->gid, /*privileged=*/false, in_group);
  if (chown) drop |= suid_sgid_to_drop_on_chown(a->mode, a->gid, fuse_req_ctx(req)->uid == 0, in_group);
  if (!drop) return 0;
  // The reply carries the new mode; the kernel takes it from there.
  const mode_t base = (sa.valid & SetAttr::kMode) ? sa.mode : a->mode;
  sa.valid |= SetAttr::kMode;
  sa.mode = base & 07777 & ~drop;
  return 0;
}

int drop_suid_sgid_after_data_change(fuse_req_t req, fuse_ino_t ino) {
  auto a = fs(req).getattr(ino);
  if (!a) return a.error();
  if (int e = remove_capability(req, ino, *a)) return e;
  if (!(a->mode & (S_ISUID | S_ISGID))) return 0;  // the common case: nothing to ask
  const bool privileged = fuse_req_ctx(req)->uid == 0;
  const mode_t drop = suid_sgid_to_drop(a->mode, a->gid, privileged,
                                        [&](gid_t g) { return caller_in_group(req, g); });
  return drop ? drop_bits(req, ino, *a, drop) : 0;
}

}  // namespace pmemfs::daemon
