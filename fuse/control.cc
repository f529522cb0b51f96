#include "fuse/control.h"

#include <fuse_lowlevel.h>  // FUSE_ROOT_ID

namespace pmemfs::daemon {

bool is_control_xattr(std::string_view name) { return name == kStatsXattr || name == kMapXattr; }

std::string extents_to_json(const std::vector<ExtentInfo>& extents) {
  std::string out = "[";
  for (size_t i = 0; i < extents.size(); ++i) {
    const ExtentInfo& e = extents[i];
    if (i) out += ',';
    out += "{\"file_offset\":" + std::to_string(e.file_offset) +
           ",\"length\":" + std::to_string(e.length) +
           ",\"pool_offset\":" + std::to_string(e.pool_offset) +
           ",\"size_class\":\"" + (e.huge ? "2M" : "4K") + "\"}";
  }
  out += ']';
  return out;
}

std::optional<Result<std::string>> control_getxattr(Filesystem& fs, uint64_t ino,
                                                    std::string_view name) {
  if (name == kStatsXattr) {
    // Only the root carries it, so `getfattr -d` on ordinary files stays quiet.
    if (ino != FUSE_ROOT_ID) return Result<std::string>(err(ENODATA));
    return Result<std::string>(fs.stats().to_json());
  }
  if (name == kMapXattr) {
    auto m = fs.map(ino);
    if (!m) return Result<std::string>(err(m.error()));
    return Result<std::string>(extents_to_json(*m));
  }
  return std::nullopt;
}

}  // namespace pmemfs::daemon
