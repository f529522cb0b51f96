// The control interface of a mounted pmemfs: virtual extended attributes that
// `pmemfs-ctl` reads through getxattr(2), so it needs no socket and works on
// any path of the mount. They are computed on each read, never stored and
// never listed (listxattr must show only what users stored: cp -a, rsync -X
// and tar --xattrs would otherwise try to copy them).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "pmemfs/filesystem.h"

namespace pmemfs::daemon {

// On the root: Filesystem::stats() as JSON.
inline constexpr std::string_view kStatsXattr = "user.pmemfs.stats";
// On any file: its extents as a JSON array (see extents_to_json).
inline constexpr std::string_view kMapXattr = "user.pmemfs.map";

bool is_control_xattr(std::string_view name);

// nullopt when name is no control attribute (ask the library instead);
// otherwise the value or an errno (ENODATA for stats on a non-root inode).
std::optional<Result<std::string>> control_getxattr(Filesystem& fs, uint64_t ino,
                                                    std::string_view name);

// [{"file_offset":0,"length":2097152,"pool_offset":4194304,"size_class":"2M"}, ...]
std::string extents_to_json(const std::vector<ExtentInfo>& extents);

}  // namespace pmemfs::daemon
