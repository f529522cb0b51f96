// When the pool's backing store fails under the daemon (the pool file is
// truncated, its filesystem runs full, a device DAX block goes bad) the
// library survives the SIGBUS (pmemfs/bus_guard.h) and the request that hit
// it gets EIO (guarded() in ops_internal.h). From then on part of the pool
// reads as zeros, so the mount is shut down the way xfs or ext4 shut down
// after a metadata I/O error: every request that would read or change the
// pool gets EIO; statfs, getattr, closing files and unmounting still work.
// The failure is logged once, naming the pool offset.
#pragma once

#include <fuse_lowlevel.h>

namespace pmemfs::daemon {

// Wraps every callback set in o (call it once the table is complete).
void gate_on_pool_failure(fuse_lowlevel_ops& o);

}  // namespace pmemfs::daemon
