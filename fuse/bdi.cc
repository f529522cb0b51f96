#include "fuse/bdi.h"

#include "fuse/mountinfo.h"

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace pmemfs::daemon {
namespace {

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
