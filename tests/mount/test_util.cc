#include "tests/mount/test_util.h"

#include <sys/xattr.h>

#include <cerrno>
#include <fstream>
#include <sstream>

namespace pmemfs::test {

std::string pattern(size_t n, uint32_t seed) {
  std::string s(n, '\0');
  uint32_t x = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>(x >> 16);
  }
  return s;
}

int write_file(const std::string& path, const std::string& data, mode_t mode) {
  Fd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, mode));
  if (fd < 0) return errno;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0) return errno;
    off += static_cast<size_t>(n);
  }
  return ::close(std::exchange(fd.fd, -1)) == 0 ? 0 : errno;
}

std::string read_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY));
  if (fd < 0) return "<open: " + std::string(strerror(errno)) + ">";
  std::string out;
  char buf[1 << 16];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  if (n < 0) return "<read: " + std::string(strerror(errno)) + ">";
  return out;
}

std::string mount_options_of(const std::string& mnt) {
  std::ifstream in("/proc/self/mounts");
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream ls(line);
    std::string src, dir, type, opts;
    ls >> src >> dir >> type >> opts;
    if (dir == mnt) return opts;
  }
  return {};
}

}  // namespace pmemfs::test
