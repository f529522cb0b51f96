#include "pmemfs/usage.h"

#include <cstdio>
#include <nlohmann/json.hpp>

#include "pmemfs/json_text.h"

namespace pmemfs {

namespace {

constexpr uint64_t kBlocksPerCell = 512;

double share(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * static_cast<double>(part) / static_cast<double>(whole) : 0.0;
}

const char* color(char c) {
  switch (c) {
    case static_cast<char>(Cell::kFree): return "#e8e8e8";
    case static_cast<char>(Cell::kPartial): return "#f0a030";
    case static_cast<char>(Cell::kFull): return "#c03030";
    default: return "#2060c0";
  }
}

}  // namespace

std::string UsageSummary::to_json() const {
  return json_text(Json{{"cells", cells},
                        {"cell_bytes", kBlocksPerCell * 4096},
                        {"free", free},
                        {"partial", partial},
                        {"full", full},
                        {"huge", huge},
                        {"free_blocks", free_blocks},
                        {"free_whole_blocks", free_whole_blocks}});
}

std::optional<UsageSummary> UsageSummary::from_json(std::string_view text, std::string* error) {
  auto why = [&](std::string what) {
    if (error) *error = std::move(what);
    return std::nullopt;
  };
  const Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return why("not JSON");
  if (!j.is_object()) return why("not a JSON object");
  UsageSummary s;
  struct {
    const char* key;
    uint64_t* to;
  } fields[] = {{"cells", &s.cells},         {"free", &s.free},
                {"partial", &s.partial},     {"full", &s.full},
                {"huge", &s.huge},           {"free_blocks", &s.free_blocks},
                {"free_whole_blocks", &s.free_whole_blocks}};
  for (auto& f : fields) {
    const auto it = j.find(f.key);
    if (it == j.end()) return why(std::string("no \"") + f.key + "\"");
    if (!it->is_number_unsigned()) return why(std::string("\"") + f.key + "\" is not an unsigned integer");
    *f.to = it->get<uint64_t>();
  }
  return s;
}

std::string UsageSummary::to_text() const {
  char buf[1024];
  std::snprintf(
      buf, sizeof buf,
      "data area: %llu cells of 2 MiB (%.1f GiB)\n"
      "  free (whole 2 MiB regions)  %10llu  %5.1f%%\n"
      "  partly used                 %10llu  %5.1f%%\n"
      "  full, in smaller pieces     %10llu  %5.1f%%\n"
      "  full, one 2 MiB extent      %10llu  %5.1f%%\n"
      "free space: %.1f MiB, of it in whole free 2 MiB regions %.1f MiB (%.1f%%)\n",
      static_cast<unsigned long long>(cells), static_cast<double>(cells) * 2 / 1024,
      static_cast<unsigned long long>(free), share(free, cells),
      static_cast<unsigned long long>(partial), share(partial, cells),
      static_cast<unsigned long long>(full), share(full, cells),
      static_cast<unsigned long long>(huge), share(huge, cells),
      static_cast<double>(free_blocks) / 256, static_cast<double>(free_whole_blocks) / 256,
      share(free_whole_blocks, free_blocks));
  return buf;
}

UsageSummary summarize_cells(std::string_view cells, uint64_t free_blocks) {
  UsageSummary s;
  s.cells = cells.size();
  for (char c : cells) {
    switch (c) {
      case static_cast<char>(Cell::kFree): ++s.free; break;
      case static_cast<char>(Cell::kPartial): ++s.partial; break;
      case static_cast<char>(Cell::kFull): ++s.full; break;
      default: ++s.huge; break;
    }
  }
  s.free_blocks = free_blocks;
  s.free_whole_blocks = s.free * kBlocksPerCell;
  return s;
}

std::string usage_svg(const UsageSummary& s, std::string_view cells, std::string_view title) {
  // The legend is two rows of two, so that counts of any width fit.
  constexpr uint64_t kPerRow = 64, kPx = 8, kTop = 28, kLegend = 32;
  const uint64_t rows = (cells.size() + kPerRow - 1) / kPerRow;
  const uint64_t width = kPerRow * kPx, height = kTop + rows * kPx + kLegend + 8;
  std::string out;
  out.reserve(cells.size() * 64 + 2048);
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%llu\" height=\"%llu\" "
                "font-family=\"sans-serif\" font-size=\"11\">\n",
                static_cast<unsigned long long>(width), static_cast<unsigned long long>(height));
  out += buf;
  std::string text;
  for (char c : s.to_text()) {  // the summary as the drawing's title, XML-safe
    if (c == '<') text += "&lt;";
    else if (c == '&') text += "&amp;";
    else text += c;
  }
  out += "<title>" + text + "</title>\n";
  std::string head(title);
  for (size_t i = 0; (i = head.find_first_of("<&", i)) != std::string::npos; i += 4)
    head.replace(i, 1, head[i] == '<' ? "&lt;" : "&amp;");
  std::snprintf(buf, sizeof buf, "<text x=\"0\" y=\"12\">%s</text>\n", head.c_str());
  out += buf;
  std::snprintf(buf, sizeof buf,
                "<text x=\"0\" y=\"24\">%llu cells of 2 MiB, 64 per row: %.1f%% of free space in whole "
                "2 MiB regions</text>\n",
                static_cast<unsigned long long>(s.cells), share(s.free_whole_blocks, s.free_blocks));
  out += buf;
  for (uint64_t i = 0; i < cells.size(); ++i) {
    std::snprintf(buf, sizeof buf, "<rect x=\"%llu\" y=\"%llu\" width=\"%llu\" height=\"%llu\" fill=\"%s\"/>\n",
                  static_cast<unsigned long long>(i % kPerRow * kPx),
                  static_cast<unsigned long long>(kTop + i / kPerRow * kPx),
                  static_cast<unsigned long long>(kPx - 1), static_cast<unsigned long long>(kPx - 1),
                  color(cells[i]));
    out += buf;
  }
  const struct {
    Cell c;
    const char* what;
    uint64_t n;
  } legend[] = {{Cell::kFree, "free", s.free},
                {Cell::kPartial, "partly used", s.partial},
                {Cell::kFull, "full, in smaller pieces", s.full},
                {Cell::kHuge, "one 2 MiB extent", s.huge}};
  for (size_t i = 0; i < 4; ++i) {
    const auto& l = legend[i];
    const uint64_t x = i % 2 * (width / 2), y = kTop + rows * kPx + 6 + i / 2 * 14;
    std::snprintf(buf, sizeof buf,
                  "<rect x=\"%llu\" y=\"%llu\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                  "<text x=\"%llu\" y=\"%llu\">%s %llu</text>\n",
                  static_cast<unsigned long long>(x), static_cast<unsigned long long>(y),
                  color(static_cast<char>(l.c)), static_cast<unsigned long long>(x + 14),
                  static_cast<unsigned long long>(y + 9), l.what, static_cast<unsigned long long>(l.n));
    out += buf;
  }
  out += "</svg>\n";
  return out;
}

}  // namespace pmemfs
