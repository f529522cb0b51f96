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

// On the root: Filesystem::stats() as JSON, followed by the transport's
// members: {"hole_faults":0,...,"transport":"/dev/fuse","requests":
// {"lookup":{"count":1,"p50_us":12.0,...},...}} (transport.h), padded with
// trailing spaces to a fixed length (json_text_fixed_width). Every key and
// its type: pmemfs.8, "JSON OUTPUT".
inline constexpr std::string_view kStatsXattr = "user.pmemfs.stats";
// On any file: its extents as a JSON array (see extents_to_json). A value
// read through FUSE holds at most 64 KiB (XATTR_SIZE_MAX), about 800 extents:
// a bigger map fails with E2BIG and is read in pages instead.
inline constexpr std::string_view kMapXattr = "user.pmemfs.map";
// On any file, "user.pmemfs.map.OFFSET" (OFFSET in decimal): a page of the
// map, an array of at most kMapPageEntries extents in the same form, from the
// one that holds or follows byte OFFSET. Each page is whole; the next starts
// at the end (file_offset + length) of its last extent; an empty page, [],
// ends the map.
inline constexpr std::string_view kMapPagePrefix = "user.pmemfs.map.";
// Each entry of extents_to_json takes at most 120 bytes (three 20-digit
// numbers), so a page of 512 stays within 64 KiB.
inline constexpr size_t kMapPageEntries = 512;
// On the root: the mount's power-fail simulation and the daemon's pid, as
// {"powerfail_sim":true,"evict_probability":0.5,"power_cut":false,"syncs":0,
// "pid":1234}.
// `pmemfs-ctl powercut` reads it before changing anything: to refuse a mount
// without powerfail_sim, and to learn which process must exit.
inline constexpr std::string_view kPowerFailXattr = "user.pmemfs.powerfail";
// On the root, set only: setting it (any value) cuts the power now
// (power_cut.h): the FUSE connection is aborted, then the pool frozen, so the
// setxattr itself fails with ECONNABORTED. Detaching the dead mount and
// waiting for the daemon to exit is left to pmemfs-ctl.
inline constexpr std::string_view kPowerCutXattr = "user.pmemfs.powercut";

// On the root: the data area as 2 MiB cells, UsageSummary::to_json()
// (usage.h): {"cells":3072,"cell_bytes":2097152,"free":1200,"partial":300,
// "full":72,"huge":1500,"free_blocks":...,"free_whole_blocks":...}.
inline constexpr std::string_view kUsageXattr = "user.pmemfs.usage";
// On the root, "user.pmemfs.usage.cells.FROM" (FROM in decimal): the cells
// from FROM on, one letter each ('.' free, 'p' partly used, 'f' full in
// smaller pieces, 'H' one 2 MiB extent), at most kUsagePageCells of them; an
// empty value past the last cell.
inline constexpr std::string_view kUsageCellsPrefix = "user.pmemfs.usage.cells.";
inline constexpr size_t kUsagePageCells = 65000;

bool is_control_xattr(std::string_view name);
// user.pmemfs.remount.OPTIONS (remount.h), on the root, get only, root only.
bool is_remount_xattr(std::string_view name);

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
