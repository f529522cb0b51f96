// A picture of the pool: the data area as 2 MiB cells (the groups of the
// allocator), each free, partly used, full in smaller pieces, or full as one
// 2 MiB extent of a file, so that fragmentation shows at a glance
// (`pmemfs-ctl usage`, the aging benchmark). Only what is shared by the
// daemon, pmemfs-ctl and the benchmark: the classes, the summary, its JSON
// and text, and the SVG drawing. Depends on nothing else in the library but
// json_text.h.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pmemfs {

// One cell, as a letter: what usage cell strings are made of.
enum class Cell : char {
  kFree = '.',     // all 512 blocks free: a whole free 2 MiB region
  kPartial = 'p',  // some blocks used, some free
  kFull = 'f',     // every block used, by smaller extents or metadata
  kHuge = 'H',     // every block used, by one 2 MiB extent of a file
};

struct UsageSummary {
  uint64_t cells = 0;  // 2 MiB cells in the data area (a short last one included)
  uint64_t free = 0, partial = 0, full = 0, huge = 0;  // each cell in exactly one
  uint64_t free_blocks = 0;        // 4 KiB blocks free
  uint64_t free_whole_blocks = 0;  // of them, in free cells (whole 2 MiB regions)

  // {"cells":N,"cell_bytes":2097152,"free":N,...}: what user.pmemfs.usage
  // holds (pmemfs.8, "JSON OUTPUT").
  std::string to_json() const;
  // nullopt when json is not such an object; then *error (if given) says
  // what is wrong: not JSON, or which key is missing or not a count.
  static std::optional<UsageSummary> from_json(std::string_view json, std::string* error = nullptr);
  // A few lines for people: each class's count and share, and the share of
  // free space in whole 2 MiB regions.
  std::string to_text() const;
};

// The counts of a string of cells (letters as in Cell).
UsageSummary summarize_cells(std::string_view cells, uint64_t free_blocks);

// An SVG drawing of the cells in rows of 64 (128 MiB), a legend and the
// summary's text as its title.
std::string usage_svg(const UsageSummary& s, std::string_view cells, std::string_view title);

}  // namespace pmemfs
