#include "fuse/pool_failure.h"

#include <cerrno>

#include "pmemfs/bus_guard.h"

namespace pmemfs::daemon {
namespace {

// The callbacks as ops_*.cc set them; the table libfuse gets calls these
// through the wrappers below.
fuse_lowlevel_ops g_inner;

constexpr const char* kConsequence =
    "the mount is shut down: requests that use the pool get EIO; unmount it and run fsck.pmemfs";

void after_request() {
  if (bus_guard::failures() != 0) bus_guard::log_first_failure(kConsequence);
}

// Member M of the table, wrapped: refused with EIO once the pool failed
// unless kAnswers (it needs nothing from the pool), and the failure logged
// after the request that found it.
template <auto M, bool kAnswers, typename... A>
void gated(fuse_req_t req, A... a) noexcept {
  if (!kAnswers && bus_guard::failures() != 0) {
    after_request();
    fuse_reply_err(req, EIO);
    return;
  }
  (g_inner.*M)(req, a...);
  after_request();
}

template <auto M, bool kAnswers, typename... A>
void wrap(fuse_lowlevel_ops& o, void (*fuse_lowlevel_ops::*)(fuse_req_t, A...)) {
  if (o.*M != nullptr) o.*M = &gated<M, kAnswers, A...>;
}

}  // namespace

void gate_on_pool_failure(fuse_lowlevel_ops& o) {
  g_inner = o;
#define PMEMFS_GATE(name, answers) \
  wrap<&fuse_lowlevel_ops::name, answers>(o, &fuse_lowlevel_ops::name)
  // Answered after a failure: nothing of these reads or writes the pool
  // (getattr answers from the inode in DRAM), and the kernel needs them to
  // close files and unmount.
  // (forget, forget_multi and retrieve_reply take no reply at all.)
  PMEMFS_GATE(forget, true);
  PMEMFS_GATE(forget_multi, true);
  PMEMFS_GATE(retrieve_reply, true);
  PMEMFS_GATE(getattr, true);
  PMEMFS_GATE(statfs, true);
  PMEMFS_GATE(flush, true);
  PMEMFS_GATE(release, true);
  PMEMFS_GATE(releasedir, true);
  PMEMFS_GATE(opendir, true);
  // EIO after a failure.
  PMEMFS_GATE(lookup, false);
  PMEMFS_GATE(setattr, false);
  PMEMFS_GATE(readlink, false);
  PMEMFS_GATE(mknod, false);
  PMEMFS_GATE(mkdir, false);
  PMEMFS_GATE(unlink, false);
  PMEMFS_GATE(rmdir, false);
  PMEMFS_GATE(symlink, false);
  PMEMFS_GATE(rename, false);
  PMEMFS_GATE(link, false);
  PMEMFS_GATE(open, false);
  PMEMFS_GATE(read, false);
  PMEMFS_GATE(write, false);
  PMEMFS_GATE(write_buf, false);
  PMEMFS_GATE(fsync, false);
  PMEMFS_GATE(readdir, false);
  PMEMFS_GATE(readdirplus, false);
  PMEMFS_GATE(fsyncdir, false);
  PMEMFS_GATE(setxattr, false);
  PMEMFS_GATE(getxattr, false);
  PMEMFS_GATE(listxattr, false);
  PMEMFS_GATE(removexattr, false);
  PMEMFS_GATE(access, false);
  PMEMFS_GATE(create, false);
  PMEMFS_GATE(getlk, false);
  PMEMFS_GATE(setlk, false);
  PMEMFS_GATE(flock, false);
  PMEMFS_GATE(bmap, false);
  PMEMFS_GATE(ioctl, false);
  PMEMFS_GATE(poll, false);
  PMEMFS_GATE(fallocate, false);
  PMEMFS_GATE(copy_file_range, false);
  PMEMFS_GATE(lseek, false);
#undef PMEMFS_GATE
}

}  // namespace pmemfs::daemon
