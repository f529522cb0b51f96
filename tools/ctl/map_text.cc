#include "map_text.h"

#include <cinttypes>
#include <cstdio>

namespace pmemfs::ctl {

bool map_json_to_text(const DaemonJson& extents, const std::string& what, std::string* text) {
  if (!extents.is_array()) return unexpected(what, "not a JSON array");
  std::string out;
  char line[160];
  std::snprintf(line, sizeof(line), "%-16s %-16s %-16s %s\n", "FILE_OFFSET", "LENGTH", "POOL_OFFSET",
                "SIZE");
  out += line;
  uint64_t total = 0, huge = 0;
  for (size_t i = 0; i < extents.size(); ++i) {
    const DaemonJson& e = extents[i];
    const std::string entry = what + ", extent " + std::to_string(i);
    uint64_t off, len, pool;
    std::string size_class;
    if (!json_member(e, "file_offset", entry, &off) || !json_member(e, "length", entry, &len) ||
        !json_member(e, "pool_offset", entry, &pool) ||
        !json_member(e, "size_class", entry, &size_class))
      return false;
    if (size_class != "2M" && size_class != "4K")
      return unexpected(entry, "\"size_class\" is \"" + size_class + "\", not \"2M\" or \"4K\"");
    const bool is_huge = size_class == "2M";
    std::snprintf(line, sizeof(line), "%-16" PRIu64 " %-16" PRIu64 " %-16" PRIu64 " %s\n", off, len,
                  pool, size_class.c_str());
    out += line;
    total += len;
    huge += is_huge ? len : 0;
  }
  std::snprintf(line, sizeof(line), "%" PRIu64 " bytes mapped, %.1f%% in 2 MiB extents\n", total,
                total ? 100.0 * static_cast<double>(huge) / static_cast<double>(total) : 0.0);
  out += line;
  *text = std::move(out);
  return true;
}

}  // namespace pmemfs::ctl
