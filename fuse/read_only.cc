#include "fuse/read_only.h"

#include <cerrno>

#include "fuse/ops.h"

namespace pmemfs::daemon {
namespace {

fuse_lowlevel_ops g_writable_ops;  // the callbacks as the groups set them

template <auto M, typename... A>
void gated(fuse_req_t req, A... a) noexcept {
  auto* c = static_cast<OpsContext*>(fuse_req_userdata(req));
  if (c->fs->read_only()) {
    fuse_reply_err(req, EROFS);
    return;
  }
  (g_writable_ops.*M)(req, a...);
}

template <auto M, typename... A>
void wrap(fuse_lowlevel_ops& o, void (*fuse_lowlevel_ops::*)(fuse_req_t, A...)) {
  if (o.*M != nullptr) o.*M = &gated<M, A...>;
}

}  // namespace

void gate_on_read_only(fuse_lowlevel_ops& o) {
  g_writable_ops = o;
#define PMEMFS_GATE(name) wrap<&fuse_lowlevel_ops::name>(o, &fuse_lowlevel_ops::name)
  PMEMFS_GATE(setattr);
  PMEMFS_GATE(mknod);
  PMEMFS_GATE(mkdir);
  PMEMFS_GATE(unlink);
  PMEMFS_GATE(rmdir);
  PMEMFS_GATE(symlink);
  PMEMFS_GATE(rename);
  PMEMFS_GATE(link);
  PMEMFS_GATE(write);
  PMEMFS_GATE(write_buf);
  PMEMFS_GATE(create);
  PMEMFS_GATE(setxattr);
  PMEMFS_GATE(removexattr);
  PMEMFS_GATE(fallocate);
  PMEMFS_GATE(copy_file_range);
#undef PMEMFS_GATE
}

}  // namespace pmemfs::daemon
