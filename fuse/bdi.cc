#include "fuse/bdi.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pmemfs::daemon {
namespace {

// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size()) {
      int v = 0;
      bool ok = true;
      for (size_t k = 1; k <= 3; ++k) {
        char c = s[i + k];
        if (c < '0' || c > '7') { ok = false; break; }
        v = v * 8 + (c - '0');
      }
      if (ok) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

// "MAJ:MIN" of the last mount on mountpoint, or "".
std::string device_of(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, point;
    if (!(ls >> id >> parent >> dev >> root >> point)) continue;
    if (unescape(point) == mountpoint) found = dev;  // the last one is on top
  }
  return found;
}

void write_knob(const std::string& dev, const char* knob, int value) {
  const std::string path = "/sys/class/bdi/" + dev + "/" + knob;
  std::ofstream out(path);
  out << value;
  out.flush();
  if (!out) spdlog::warn("cannot set {} to {}: {}", path, value, strerror(errno));
  else spdlog::debug("set {} to {}", path, value);
}

}  // namespace

void tune_bdi(const std::string& mountpoint, const BdiTuning& t) {
  if (t.max_dirty_ratio <= 0 && t.read_ahead_kb <= 0) return;
  const std::string dev = device_of(mountpoint);
  if (dev.empty()) {
    spdlog::warn("cannot find {} in /proc/self/mountinfo; device limits left alone", mountpoint);
    return;
  }
  if (t.read_ahead_kb > 0) write_knob(dev, "read_ahead_kb", t.read_ahead_kb);
  if (t.max_dirty_ratio > 0) {
    // Order matters: lift the strict limit, then widen the share.
    write_knob(dev, "strict_limit", 0);
    write_knob(dev, "max_ratio", t.max_dirty_ratio);
  }
}

}  // namespace pmemfs::daemon
