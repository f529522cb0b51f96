// Exit statuses of the daemon (pmemfs.8, "pmemfs"). The mount tests include
// this too, so it depends on nothing.
#pragma once

namespace pmemfs::daemon {

inline constexpr int kExitOk = 0;
// Bad arguments, a pool that cannot be mounted, or an unclean end.
inline constexpr int kExitError = 1;
// `pmemfs-ctl powercut` cut the power (-o powerfail_sim): the pool holds what
// was durable at the cut and needs the recovery of the next mount. Not 0,
// since the mount did not end cleanly; not 1, since nothing went wrong.
inline constexpr int kExitPowerCut = 3;

}  // namespace pmemfs::daemon
