#include "fuse/mountinfo.h"

#include <fstream>
#include <sstream>

namespace pmemfs::daemon {
// mountinfo escapes space, tab, newline and backslash as \ooo.
std::string unescape_mountinfo(const std::string& s) {
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


std::string device_of(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line, found;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string id, parent, dev, root, point;
    if (!(ls >> id >> parent >> dev >> root >> point)) continue;
    if (unescape_mountinfo(point) == mountpoint) found = dev;  // the last one is on top
  }
  return found;
}

}  // namespace pmemfs::daemon
