#include "fuse/kill_privs.h"

#include <algorithm>
#include <vector>

#include "fuse/ops_internal.h"

namespace pmemfs::daemon {
namespace {

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

}  // namespace

int drop_suid_sgid_after_data_change(fuse_req_t req, fuse_ino_t ino) {
  auto a = fs(req).getattr(ino);
  if (!a) return a.error();
  if (!(a->mode & (S_ISUID | S_ISGID))) return 0;  // the common case: nothing to ask
  const bool privileged = fuse_req_ctx(req)->uid == 0;
  const mode_t drop = suid_sgid_to_drop(a->mode, a->gid, privileged,
                                        [&](gid_t g) { return caller_in_group(req, g); });
  if (!drop) return 0;
  SetAttr sa;
  sa.valid = SetAttr::kMode;
  sa.mode = a->mode & 07777 & ~drop;
  return fs(req).setattr(ino, sa).error();
}

}  // namespace pmemfs::daemon
