#include "map_text.h"

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "control_xattr.h"

namespace pmemfs::ctl {

std::string map_json_to_text(const std::string& json) {
  std::string out;
  char line[160];
  std::snprintf(line, sizeof(line), "%-16s %-16s %-16s %s\n", "FILE_OFFSET", "LENGTH", "POOL_OFFSET",
                "SIZE");
  out += line;
  uint64_t total = 0, huge = 0;
  size_t pos = 0;
  while ((pos = json.find('{', pos)) != std::string::npos) {
    size_t end = json.find('}', pos);
    if (end == std::string::npos) return {};
    std::string obj = json.substr(pos, end - pos);
    uint64_t off, len, pool;
    if (!json_u64(obj, "file_offset", &off) || !json_u64(obj, "length", &len) ||
        !json_u64(obj, "pool_offset", &pool))
      return {};
    const bool is_huge = obj.find("\"2M\"") != std::string::npos;
    std::snprintf(line, sizeof(line), "%-16" PRIu64 " %-16" PRIu64 " %-16" PRIu64 " %s\n", off, len,
                  pool, is_huge ? "2M" : "4K");
    out += line;
    total += len;
    huge += is_huge ? len : 0;
    pos = end + 1;
  }
  std::snprintf(line, sizeof(line), "%" PRIu64 " bytes mapped, %.1f%% in 2 MiB extents\n", total,
                total ? 100.0 * static_cast<double>(huge) / static_cast<double>(total) : 0.0);
  out += line;
  return out;
}

}  // namespace pmemfs::ctl
