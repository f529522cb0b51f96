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

bool read_map(const std::string& path, std::string* out) {
  std::string all = "[";
  for (uint64_t from = 0;;) {
    const std::string name = "user.pmemfs.map." + std::to_string(from);
    std::string page;
    const int e = get_control(path, name.c_str(), &page);
    if (e && from == 0 && (e == ENODATA || e == ENOTSUP))
      return read_control(path, "user.pmemfs.map", false, out);  // says why if it fails too
    if (e) {
      fail(path + ": " + std::strerror(e));
      return false;
    }
    if (page == "[]") break;
    // Continue after the page's last extent; a page that does not move on
    // would never end.
    const size_t last = page.rfind('{');
    const std::string tail = last == std::string::npos ? std::string() : page.substr(last);
    uint64_t off = 0, len = 0;
    if (page.size() < 4 || page.front() != '[' || page.back() != ']' ||
        !json_u64(tail, "file_offset", &off) || !json_u64(tail, "length", &len) ||
        off + len <= from) {
      fail("unexpected answer from the daemon to " + name + ": " + page.substr(0, 200));
      return false;
    }
    if (all.size() > 1) all += ',';
    all.append(page, 1, page.size() - 2);
    from = off + len;
  }
  all += ']';
  *out = std::move(all);
  return true;
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

std::string collapse_spaces(const std::string& json) {
  std::string out;
  out.reserve(json.size());
  bool in_string = false;
  for (size_t i = 0; i < json.size(); ++i) {
    const char c = json[i];
    if (in_string) {
      out += c;
      if (c == '\\' && i + 1 < json.size()) out += json[++i];
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

}  // namespace pmemfs::ctl
