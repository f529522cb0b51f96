#include "tree_dump.h"

#include <sys/stat.h>
#include <sys/uio.h>

#include <algorithm>
#include <functional>
#include <sstream>
#include <vector>

#include <spdlog/spdlog.h>

namespace pmemfs::crash {

namespace {

std::string join(const std::string& dir, const std::string& name) {
  return dir == "/" ? "/" + name : dir + "/" + name;
}

// data_file: leave out size and contents, which the byte-wise rule of data
// operations checks instead.
Result<std::string> describe(Filesystem& fs, const Attr& a, bool data_file, bool hash_data = true) {
  std::ostringstream s;
  s << "mode=" << std::oct << a.mode << std::dec << " uid=" << a.uid << " gid=" << a.gid
    << " nlink=" << a.nlink << " ino=" << a.ino;
  if (!data_file) s << " size=" << a.size;
  if (S_ISREG(a.mode) && !data_file && hash_data) {
    std::string buf(a.size, '\0');
    auto n = fs.read(a.ino, 0, buf.size(), buf.data());
    if (!n.ok()) return err(n.error());
    buf.resize(*n);
    s << " data#" << std::hash<std::string>{}(buf);
  }
  if (S_ISLNK(a.mode)) {
    auto t = fs.readlink(a.ino);
    if (!t.ok()) return err(t.error());
    s << " -> " << *t;
  }
  if (S_ISCHR(a.mode) || S_ISBLK(a.mode)) s << " rdev=" << a.rdev;
  auto names = fs.listxattr(a.ino, Caller{0, 0, 0, /*cap_sys_admin=*/true});  // every name
  if (!names.ok()) return err(names.error());
  std::sort(names->begin(), names->end());
  for (const auto& n : *names) {
    auto v = fs.getxattr(a.ino, n);
    if (!v.ok()) return err(v.error());
    s << " xattr:" << n << "#" << std::hash<std::string>{}(*v);
  }
  return s.str();
}

}  // namespace

Result<TreeDump> dump_tree(Filesystem& fs, const std::string& data_path, bool all_files) {
  TreeDump d;
  auto root = fs.getattr(kRootIno);
  if (!root.ok()) return err(root.error());
  auto line = describe(fs, *root, false);
  if (!line.ok()) return err(line.error());
  d.nodes["/"] = *line;

  std::function<Status(uint64_t, const std::string&)> walk = [&](uint64_t dir,
                                                                   const std::string& path) -> Status {
    std::vector<std::string> names;
    Status st = fs.readdir(dir, 0, [&](const DirEntry& e) {
      if (e.name != "." && e.name != "..") names.push_back(e.name);
      return true;
    });
    if (!st.ok()) return st;
    for (const auto& name : names) {
      const std::string p = join(path, name);
      auto a = fs.lookup(dir, name);
      if (!a.ok()) {
        spdlog::error("{}: lookup failed after readdir listed it", p);
        return err(a.error());
      }
      const bool is_data = p == data_path;
      auto desc = describe(fs, *a, is_data, !all_files);
      if (desc.ok() && all_files && S_ISREG(a->mode) && !d.files.count(a->ino)) {
        // Appended straight from the pool's iovecs: no zero fill first.
        std::string buf;
        buf.reserve(a->size);
        auto n = fs.read_direct(a->ino, 0, a->size, [&](const iovec* iov, int count) {
          for (int i = 0; i < count; ++i) buf.append(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
          return 0;
        });
        if (!n.ok()) desc = err(n.error());
        d.files[a->ino] = std::move(buf);
      }
      fs.forget(a->ino, 1);
      if (!desc.ok()) return err(desc.error());
      d.nodes[p] = *desc;
      if (is_data) {
        std::string buf(a->size, '\0');
        auto n = fs.read(a->ino, 0, buf.size(), buf.data());
        if (!n.ok()) return err(n.error());
        buf.resize(*n);
        d.data = std::move(buf);
        d.data_present = true;
      }
      if (S_ISDIR(a->mode)) PMEMFS_TRY(walk(a->ino, p));
    }
    return {};
  };
  PMEMFS_TRY(walk(kRootIno, "/"));
  return d;
}

std::string describe_difference(const TreeDump& a, const TreeDump& b) {
  std::ostringstream s;
  for (const auto& [p, line] : a.nodes) {
    auto it = b.nodes.find(p);
    if (it == b.nodes.end())
      s << "  only in first:  " << p << " " << line << "\n";
    else if (it->second != line)
      s << "  " << p << ":\n    " << line << "\n    " << it->second << "\n";
  }
  for (const auto& [p, line] : b.nodes)
    if (!a.nodes.count(p)) s << "  only in second: " << p << " " << line << "\n";
  return s.str();
}

}  // namespace pmemfs::crash
