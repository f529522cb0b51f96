#include "fuse/uring_setup.h"

#include <fcntl.h>
#include <liburing.h>
#include <spdlog/spdlog.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <string>

#include "fuse/uring_transport.h"

namespace pmemfs::daemon {
namespace {

// "Y" or "N", or "" when the parameter does not exist.
std::string read_param(const std::string& path) {
  std::ifstream in(path);
  std::string v;
  if (!(in >> v)) return "";
  return v;
}

std::string write_param(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd < 0) return strerror(errno);
  const ssize_t n = ::write(fd, "Y", 1);
  const int e = errno;
  ::close(fd);
  if (n != 1) return strerror(n < 0 ? e : EIO);
  return {};
}

}  // namespace

std::string probe_ring() {
  io_uring ring;
  io_uring_params p{};
  p.flags = UringTransport::kRingFlags;
  const int rc = io_uring_queue_init_params(UringTransport::kRingDepth, &ring, &p);
  if (rc < 0) return std::string("cannot create an io_uring: ") + strerror(-rc);
  io_uring_queue_exit(&ring);
  return {};
}

UringDecision decide_uring(UringMode mode, bool may_enable_module, bool single_thread,
                           const std::string& param) {
  if (mode == UringMode::kOff) return {false, ""};  // asked for: nothing to explain
  if (single_thread) return {false, "-s asks for one thread; io_uring needs one per CPU"};
  const std::string v = read_param(param);
  if (v.empty())
    return {false, "this kernel has no FUSE io_uring (no " + param +
                       "; it needs Linux >= 6.14 built with CONFIG_FUSE_IO_URING)"};
  std::string done;
  if (v != "Y") {
    if (!may_enable_module)
      return {false, "the kernel's FUSE io_uring is off (" + param + " is " + v +
                         "; -o io_uring_enable_module lets the daemon set it to Y)"};
    if (std::string e = write_param(param); !e.empty())
      return {false, "cannot turn the kernel's FUSE io_uring on: writing Y to " + param + ": " + e};
    // System-wide and on purpose: said once, at warn, so nobody wonders
    // later who changed it.
    spdlog::warn("-o io_uring_enable_module: wrote Y to {} (was {}; system-wide, stays Y after "
                 "this daemon exits)",
                 param, v);
    done = "the daemon set " + param + " to Y";
  }
  if (std::string e = probe_ring(); !e.empty()) return {false, e};
  return {true, done.empty() ? param + " is Y" : done};
}

unsigned uring_queue_count() {
  // "0-1", "0-3,8-11": the queue count is the highest CPU number plus one.
  std::ifstream in("/sys/devices/system/cpu/possible");
  std::string s;
  unsigned highest = 0;
  bool any = false;
  if (in >> s) {
    size_t at = 0;
    while (at < s.size()) {
      size_t end = s.find_first_of(",", at);
      if (end == std::string::npos) end = s.size();
      const std::string range = s.substr(at, end - at);
      const size_t dash = range.find('-');
      const std::string last = dash == std::string::npos ? range : range.substr(dash + 1);
      unsigned n = 0;
      auto [p, ec] = std::from_chars(last.data(), last.data() + last.size(), n);
      if (ec == std::errc() && p == last.data() + last.size()) {
        highest = std::max(highest, n);
        any = true;
      }
      at = end + 1;
    }
  }
  if (!any) return static_cast<unsigned>(std::max(1, get_nprocs_conf()));
  return highest + 1;
}

}  // namespace pmemfs::daemon
