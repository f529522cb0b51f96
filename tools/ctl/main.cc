// pmemfs-ctl: talks to a mounted pmemfs daemon through its control xattrs
// (see fuse/control.h).
//   pmemfs-ctl stats MOUNTPOINT        fault-path and fsync counters, the
//                                      transport and its requests by opcode, JSON
//   pmemfs-ctl map FILE [--json]       the file's extents and their size class
//   pmemfs-ctl powercut MOUNTPOINT     cuts the power of a -o powerfail_sim mount
//   pmemfs-ctl top MOUNTPOINT [--once [--json]] [--interval S]
//                                      a live view of requests, faults, commits
//                                      and free space (top.h)
//   pmemfs-ctl usage MOUNTPOINT [--svg FILE]
//                                      the data area as 2 MiB cells: counts, and a drawing
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "control_xattr.h"
#include "daemon_json.h"
#include "map_text.h"
#include "powercut.h"
#include "top.h"
#include "pmemfs/json_text.h"
#include "usage.h"

namespace {

using pmemfs::ctl::fail;
using pmemfs::ctl::read_control;

constexpr const char* kUsage =
    "usage: pmemfs-ctl stats MOUNTPOINT\n"
    "       pmemfs-ctl map FILE [--json]\n"
    "       pmemfs-ctl powercut MOUNTPOINT\n"
    "       pmemfs-ctl top MOUNTPOINT [--once [--json]] [--interval SECONDS]\n"
    "       pmemfs-ctl usage MOUNTPOINT [--svg FILE]\n";

int usage_error(const std::string& msg) {
  fail(msg + "\n" + kUsage);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage_error("missing command");
  const std::string cmd = argv[1];
  if (cmd == "-h" || cmd == "--help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
  if (cmd == "stats") {
    if (argc != 3) return usage_error("stats takes one MOUNTPOINT");
    std::string text;
    if (!read_control(argv[2], "user.pmemfs.stats", /*root_only=*/true, &text)) return 1;
    // Parsed and written again: checked, and without the daemon's padding.
    pmemfs::ctl::DaemonJson stats;
    if (!pmemfs::ctl::parse_daemon_json(text, std::string("user.pmemfs.stats of ") + argv[2], &stats))
      return 1;
    if (!stats.is_object()) {
      pmemfs::ctl::unexpected(std::string("user.pmemfs.stats of ") + argv[2], "not a JSON object");
      return 1;
    }
    std::printf("%s\n", pmemfs::json_text(stats).c_str());
    return 0;
  }
  if (cmd == "top") {
    pmemfs::ctl::TopOptions o;
    const char* mnt = nullptr;
    for (int i = 2; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--once") {
        o.once = true;
      } else if (a == "--json") {
        o.json = true;
      } else if (a == "--interval" && i + 1 < argc) {
        char* end = nullptr;
        o.interval = std::strtod(argv[++i], &end);
        if (end == argv[i] || *end) return usage_error(std::string("top: --interval: not a number: ") + argv[i]);
      } else if (!mnt && a[0] != '-') {
        mnt = argv[i];
      } else {
        return usage_error("top: unexpected " + a);
      }
    }
    if (!mnt) return usage_error("top needs a MOUNTPOINT");
    if (o.json && !o.once) return usage_error("top: --json needs --once");
    return pmemfs::ctl::top(mnt, o);
  }
  if (cmd == "powercut") {
    if (argc != 3) return usage_error("powercut takes one MOUNTPOINT");
    return pmemfs::ctl::powercut(argv[2]);
  }
  if (cmd == "usage") {
    const char* mnt = nullptr;
    const char* svg = nullptr;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--svg") == 0) {
        if (++i == argc) return usage_error("--svg needs a FILE");
        svg = argv[i];
      } else if (!mnt) {
        mnt = argv[i];
      } else {
        return usage_error("usage takes one MOUNTPOINT");
      }
    }
    if (!mnt) return usage_error("usage needs a MOUNTPOINT");
    return pmemfs::ctl::usage(mnt, svg);
  }
  if (cmd == "map") {
    bool as_json = false;
    const char* file = nullptr;
    for (int i = 2; i < argc; ++i) {
      if (std::strcmp(argv[i], "--json") == 0) as_json = true;
      else if (!file) file = argv[i];
      else return usage_error("map takes one FILE");
    }
    if (!file) return usage_error("map needs a FILE");
    pmemfs::ctl::DaemonJson extents;
    if (!pmemfs::ctl::read_map(file, &extents)) return 1;
    std::string text;
    if (!pmemfs::ctl::map_json_to_text(extents, std::string("the map of ") + file, &text)) return 1;
    if (as_json) text = pmemfs::json_text(extents) + "\n";  // checked above, as for the table
    std::fputs(text.c_str(), stdout);
    return 0;
  }
  return usage_error("unknown command '" + cmd + "'");
}
