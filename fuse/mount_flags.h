// The kernel's flags of a pmemfs mount (MS_*): the atime words libfuse 3.14
// does not know (it takes only atime and noatime), and what a remount
// changes. No libfuse here: mount.pmemfs does not link it.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "pmemfs/filesystem.h"

namespace pmemfs::daemon {

// The words that set or clear MS_NOATIME, MS_RELATIME, MS_STRICTATIME,
// MS_NODIRATIME and MS_LAZYTIME, as libmount does: relatime, norelatime,
// strictatime, nostrictatime, noatime, atime, nodiratime, diratime,
// lazytime, nolazytime. Returns false for any other word.
bool apply_atime_word(std::string_view word, unsigned long& flags);

// The access-time policy the kernel derives from those bits (fs/namespace.c,
// path_mount): strictatime wins, then noatime, else relatime (the default;
// so norelatime alone leaves relatime, as on ext4).
AtimeOptions atime_policy(unsigned long flags);

// The MS_* flags of the topmost mount on mountpoint, per-mount and
// superblock ones together, as /proc/self/mountinfo shows them (no request
// to the daemon). nullopt when it is not mounted.
std::optional<unsigned long> current_mount_flags(const std::string& mountpoint);

// mount(2) with MS_REMOUNT | flags on mountpoint: flags replace the mount's
// nosuid/nodev/noexec/atime bits and the superblock's ro/sync/lazytime.
// Returns "" or why not (the errno's meaning, with a hint for EBUSY).
std::string remount_kernel(const std::string& mountpoint, unsigned long flags);

// Right after mounting: gives the new mount the atime bits of -o (those
// beyond libfuse's noatime) and lazytime, so that /proc/mounts shows them.
// Needs root; returns "" or why not (the daemon applies its policy anyway).
std::string set_mount_time_flags(const std::string& mountpoint, unsigned long atime_flags);

}  // namespace pmemfs::daemon
