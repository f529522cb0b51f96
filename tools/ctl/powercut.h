// pmemfs-ctl powercut MOUNTPOINT: pulls the plug on a mount made with
// -o powerfail_sim, the way DESIGN.md ("The pool and persistence") describes.
#pragma once

#include <string>

namespace pmemfs::ctl {

// How long the daemon may take to exit after the cut: 10 s, and with
// powerfail_evict 10 s more per GiB of pool, since the cut then compares the
// whole working copy with the pool file (about 5 s per GiB on a busy 2-core
// machine).
inline constexpr int kDaemonExitTimeoutMs = 10'000;
inline constexpr int kEvictionTimeoutMsPerGiB = 10'000;

// In this order, each step needing the one before:
//   1. read user.pmemfs.powerfail on the root: refuse (changing nothing) on a
//      mount without powerfail_sim; learn the daemon's pid and watch it;
//   2. make sure the FUSE control filesystem is mounted on
//      /sys/fs/fuse/connections, where the daemon aborts its connection;
//   3. set user.pmemfs.powercut: the daemon aborts its FUSE connection (the
//      kernel drops its dirty pages, as a real power loss would) and then
//      freezes the pool file as it is durable (fuse/power_cut.h). The
//      setxattr itself dies with the connection: ECONNABORTED is success;
//   4. detach the dead mount, so the mount point is free for the next mount;
//   5. wait (bounded, see above) until the daemon has exited and so released
//      the pool.
// Returns the exit status of the command (0, or 1 after one line saying why).
int powercut(const std::string& mountpoint);

}  // namespace pmemfs::ctl
