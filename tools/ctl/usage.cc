#include "usage.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "control_xattr.h"
#include "pmemfs/usage.h"

namespace pmemfs::ctl {

int usage(const char* mountpoint, const char* svg) {
  std::string json;
  if (!read_control(mountpoint, "user.pmemfs.usage", /*root_only=*/true, &json)) return 1;
  std::string why;
  auto summary = UsageSummary::from_json(json, &why);
  if (!summary) {
    unexpected(std::string("user.pmemfs.usage of ") + mountpoint, why);
    return 1;
  }
  if (!svg) {
    std::fputs(summary->to_text().c_str(), stdout);
    return 0;
  }
  std::string cells;
  while (cells.size() < summary->cells) {
    const std::string name = "user.pmemfs.usage.cells." + std::to_string(cells.size());
    std::string page;
    if (!read_control(mountpoint, name.c_str(), true, &page)) return 1;
    if (page.empty()) break;
    if (page.find_first_not_of(".pfH") != std::string::npos)
      return fail("unexpected answer from the daemon to " + name + ": " + page.substr(0, 80));
    cells += page;
  }
  // The counts of the cells drawn, so that the picture and its text agree
  // (the pool may have changed between the summary and the last page).
  const UsageSummary drawn = summarize_cells(cells, summary->free_blocks);
  std::FILE* f = std::fopen(svg, "w");
  if (!f) return fail(std::string(svg) + ": " + std::strerror(errno));
  const std::string doc = usage_svg(drawn, cells, std::string("pmemfs usage of ") + mountpoint);
  const bool ok = std::fwrite(doc.data(), 1, doc.size(), f) == doc.size();
  if (std::fclose(f) != 0 || !ok) return fail(std::string(svg) + ": " + std::strerror(errno));
  std::fputs(drawn.to_text().c_str(), stdout);
  return 0;
}

}  // namespace pmemfs::ctl
