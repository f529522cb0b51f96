#include "control_xattr.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace pmemfs::ctl {
namespace {

// Where the value of "key" starts, or npos.
size_t value_of(const std::string& obj, const char* key) {
  auto pos = obj.find(std::string("\"") + key + "\"");
  if (pos == std::string::npos) return pos;
  pos = obj.find(':', pos);
  if (pos == std::string::npos) return pos;
  return obj.find_first_not_of(' ', pos + 1);
}

}  // namespace

int fail(const std::string& msg) {
  std::fprintf(stderr, "pmemfs-ctl: %s\n", msg.c_str());
  return 1;
}

bool read_control(const std::string& path, const char* name, bool root_only, std::string* out) {
  for (;;) {
    ssize_t n = getxattr(path.c_str(), name, nullptr, 0);
    if (n >= 0) {
      out->resize(static_cast<size_t>(n));
      ssize_t m = getxattr(path.c_str(), name, out->data(), out->size());
      if (m >= 0) {
        out->resize(static_cast<size_t>(m));
        return true;
      }
      if (errno == ERANGE) continue;  // grew in between
    }
    // ENODATA: no pmemfs, or not its root; ENOTSUP: no user xattrs at all.
    if (errno == ENODATA || errno == ENOTSUP)
      fail(path + ": not on a pmemfs mount" + (root_only ? " (give the mount point)" : ""));
    else
      fail(path + ": " + std::strerror(errno));
    return false;
  }
}

bool json_u64(const std::string& obj, const char* key, uint64_t* out) {
  size_t pos = value_of(obj, key);
  if (pos == std::string::npos || pos >= obj.size() || obj[pos] < '0' || obj[pos] > '9') return false;
  *out = std::strtoull(obj.c_str() + pos, nullptr, 10);
  return true;
}

bool json_double(const std::string& obj, const char* key, double* out) {
  size_t pos = value_of(obj, key);
  if (pos == std::string::npos) return false;
  char* end = nullptr;
  *out = std::strtod(obj.c_str() + pos, &end);
  return end != obj.c_str() + pos;
}

bool json_bool(const std::string& obj, const char* key, bool* out) {
  size_t pos = value_of(obj, key);
  if (pos == std::string::npos) return false;
  if (obj.compare(pos, 4, "true") == 0) *out = true;
  else if (obj.compare(pos, 5, "false") == 0) *out = false;
  else return false;
  return true;
}

}  // namespace pmemfs::ctl
