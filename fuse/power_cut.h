// The daemon's side of `pmemfs-ctl powercut` (-o powerfail_sim): what
// setting the control attribute user.pmemfs.powercut does.
#pragma once

#include <sys/types.h>

#include "fuse/ops.h"

namespace pmemfs::daemon {

// Where the FUSE control filesystem shows each connection.
inline constexpr const char* kFuseConnections = "/sys/fs/fuse/connections";

// Cuts the power of the mount, in this order:
//   1. abort the FUSE connection (its abort file in kFuseConnections): the
//      kernel drops its dirty pages and fails every request still open --
//      this one too -- so no caller can learn of success from now on;
//   2. Filesystem::power_cut(): the pool file keeps what was durable.
// The other order would let a request that finished between the two report
// success for changes that the cut then loses. What requests still running
// make durable between 1 and 2 is what a crash in the middle of a system call
// may leave; their callers saw them fail.
// Returns an errno when nothing was changed: EINVAL without powerfail_sim,
// EPERM for a caller who is neither root nor the daemon's user, or why the
// connection could not be aborted. Returns 0 once the power is cut (the
// reply then goes nowhere); a second cut does nothing.
int cut_power(OpsContext& c, uid_t caller, pid_t caller_pid);

// Counts a sync the daemon has just answered with success (FSYNC or
// FSYNCDIR) and, under -o powerfail_cut_after=N, cuts the power after the
// N-th: the program has seen that sync succeed, and nothing after it.
void sync_answered(OpsContext& c);

}  // namespace pmemfs::daemon
