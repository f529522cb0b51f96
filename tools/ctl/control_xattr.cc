#include "control_xattr.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pmemfs::ctl {
namespace {

// Reads attribute name of path into out; 0 or the errno.
int get_control(const std::string& path, const char* name, std::string* out) {
  for (;;) {
    ssize_t n = getxattr(path.c_str(), name, nullptr, 0);
    if (n < 0) return errno;
    out->resize(static_cast<size_t>(n));
    ssize_t m = getxattr(path.c_str(), name, out->data(), out->size());
    if (m >= 0) {
      out->resize(static_cast<size_t>(m));
      return 0;
    }
    if (errno != ERANGE) return errno;  // else it grew in between
  }
}

}  // namespace

int fail(const std::string& msg) {
  std::fprintf(stderr, "pmemfs-ctl: %s\n", msg.c_str());
  return 1;
}

bool read_control(const std::string& path, const char* name, bool root_only, std::string* out) {
  const int e = get_control(path, name, out);
  if (e == 0) return true;
  // ENODATA: no pmemfs, or not its root; ENOTSUP: no user xattrs at all.
  if (e == ENODATA || e == ENOTSUP)
    fail(path + ": not on a pmemfs mount" + (root_only ? " (give the mount point)" : ""));
  else
    fail(path + ": " + std::strerror(e));
  return false;
}

bool read_map(const std::string& path, DaemonJson* out) {
  DaemonJson all = DaemonJson::array();
  for (uint64_t from = 0;;) {
    const std::string name = "user.pmemfs.map." + std::to_string(from);
    const std::string what = name + " of " + path;
    std::string text;
    const int e = get_control(path, name.c_str(), &text);
    if (e && from == 0 && (e == ENODATA || e == ENOTSUP)) {
      // A daemon without pages: the whole map in one value.
      return read_control(path, "user.pmemfs.map", false, &text) &&
             parse_daemon_json(text, "user.pmemfs.map of " + path, out) &&
             (out->is_array() || unexpected("user.pmemfs.map of " + path, "not a JSON array"));
    }
    if (e) {
      fail(path + ": " + std::strerror(e));
      return false;
    }
    DaemonJson page;
    if (!parse_daemon_json(text, what, &page)) return false;
    if (!page.is_array()) return unexpected(what, "not a JSON array");
    if (page.empty()) break;
    // Continue after the page's last extent; a page that does not move on
    // would never end.
    uint64_t off = 0, len = 0;
    if (!json_member(page.back(), "file_offset", what, &off) ||
        !json_member(page.back(), "length", what, &len))
      return false;
    if (off + len <= from) return unexpected(what, "the page does not move past offset " + std::to_string(from));
    for (auto& extent : page) all.push_back(std::move(extent));
    from = off + len;
  }
  *out = std::move(all);
  return true;
}

}  // namespace pmemfs::ctl
