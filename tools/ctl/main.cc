// pmemfs-ctl: talks to a mounted pmemfs daemon through its control xattrs
// (see fuse/control.h).
//   pmemfs-ctl stats MOUNTPOINT        fault-path and fsync counters, JSON
//   pmemfs-ctl map FILE [--json]       the file's extents and their size class
#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "map_text.h"

namespace {

constexpr const char* kUsage =
    "usage: pmemfs-ctl stats MOUNTPOINT\n"
    "       pmemfs-ctl map FILE [--json]\n";

int fail(const std::string& msg) {
  std::fprintf(stderr, "pmemfs-ctl: %s\n", msg.c_str());
  return 1;
}

// Reads a control attribute; empty with a message printed on failure.
bool read_control(const char* path, const char* name, std::string* out) {
  for (;;) {
    ssize_t n = getxattr(path, name, nullptr, 0);
    if (n >= 0) {
      out->resize(static_cast<size_t>(n));
      ssize_t m = getxattr(path, name, out->data(), out->size());
      if (m >= 0) {
        out->resize(static_cast<size_t>(m));
        return true;
      }
      if (errno == ERANGE) continue;  // grew in between
    }
    if (errno == ENODATA || errno == ENOTSUP)
      fail(std::string(path) + ": not on a pmemfs mount" +
           (std::strcmp(name, "user.pmemfs.stats") == 0 ? " (give the mount point)" : ""));
    else
      fail(std::string(path) + ": " + std::strerror(errno));
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail(std::string("missing command\n") + kUsage), 2;
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "stats") {
    if (argc != 3) return fail(std::string("stats takes one MOUNTPOINT\n") + kUsage), 2;
    std::string json;
    if (!read_control(argv[2], "user.pmemfs.stats", &json)) return 1;
    std::printf("%s\n", json.c_str());
    return 0;
  }
  if (cmd == "map") {
    bool as_json = false;
    const char* file = nullptr;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--json") == 0) as_json = true;
      else if (!file) file = argv[i];
      else return fail(std::string("map takes one FILE\n") + kUsage), 2;
    }
    if (!file) return fail(std::string("map needs a FILE\n") + kUsage), 2;
    std::string json;
    if (!read_control(file, "user.pmemfs.map", &json)) return 1;
    if (as_json) {
      std::printf("%s\n", json.c_str());
      return 0;
    }
    std::string text = pmemfs::ctl::map_json_to_text(json);
    if (text.empty()) return fail("unexpected answer from the daemon: " + json);
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  return fail("unknown command '" + cmd + "'\n" + kUsage), 2;
}
