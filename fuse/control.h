// The control interface of a mounted pmemfs: virtual extended attributes that
// `pmemfs-ctl` reads through getxattr(2) (and, for a power cut, sets with
// setxattr(2)), so it needs no socket and works on any path of the mount.
// They are computed on each read, never stored and never listed (listxattr
// must show only what users stored: cp -a, rsync -X and tar --xattrs would
// otherwise try to copy them).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuse/ops.h"
#include "pmemfs/filesystem.h"

namespace pmemfs::daemon {

// On the root: Filesystem::stats() as JSON.
inline constexpr std::string_view kStatsXattr = "user.pmemfs.stats";
// On any file: its extents as a JSON array (see extents_to_json).
inline constexpr std::string_view kMapXattr = "user.pmemfs.map";
// On the root: the mount's power-fail simulation and the daemon's pid, as
// {"powerfail_sim":true,"evict_probability":0.5,"power_cut":false,"pid":1234}.
// `pmemfs-ctl powercut` reads it before changing anything: to refuse a mount
// without powerfail_sim, and to learn which process must exit.
inline constexpr std::string_view kPowerFailXattr = "user.pmemfs.powerfail";
// On the root, set only: setting it (any value) cuts the power now
// (power_cut.h): the FUSE connection is aborted, then the pool frozen, so the
// setxattr itself fails with ECONNABORTED. Detaching the dead mount and
// waiting for the daemon to exit is left to pmemfs-ctl.
inline constexpr std::string_view kPowerCutXattr = "user.pmemfs.powercut";

bool is_control_xattr(std::string_view name);

// nullopt when name is no control attribute (ask the library instead);
// otherwise the value or an errno (ENODATA for a root-only one elsewhere).
std::optional<Result<std::string>> control_getxattr(OpsContext& c, uint64_t ino,
                                                    std::string_view name);

// nullopt when name is no control attribute; otherwise the errno to reply
// (see cut_power in power_cut.h for user.pmemfs.powercut; EPERM for the others).
std::optional<int> control_setxattr(OpsContext& c, uint64_t ino, std::string_view name,
                                    uid_t caller, pid_t caller_pid);

// [{"file_offset":0,"length":2097152,"pool_offset":4194304,"size_class":"2M"}, ...]
std::string extents_to_json(const std::vector<ExtentInfo>& extents);

}  // namespace pmemfs::daemon
