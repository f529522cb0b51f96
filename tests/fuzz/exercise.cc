#include "exercise.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <sstream>
#include <unordered_set>
#include <vector>

#include "log_counter.h"
#include "pmemfs/filesystem.h"
#include "pmemfs/layout.h"
#include "tools/fsck/checker.h"

namespace pmemfs::fuzz {
namespace {

// Bounds on one walk, so that a directory claiming millions of entries costs
// a bounded time here (the library's own cost of loading it still counts).
constexpr size_t kMaxDirs = 64;
constexpr size_t kMaxEntries = 1024;
constexpr size_t kReadBytes = 64 << 10;

[[noreturn]] void broken(const std::string& promise, const std::string& detail) {
  std::fprintf(stderr, "fuzz: broken promise: %s\n%s\n", promise.c_str(), detail.c_str());
  std::abort();
}

struct Fsck {
  fsck::CheckResult result;
  std::string report;
  bool clean() const { return result.exit_code == fsck::kExitClean; }
  // Problems found, all of which -y repairs.
  bool repairable() const {
    return result.exit_code == fsck::kExitUncorrected && result.problems > 0 && result.unrepairable == 0;
  }
};

Fsck run_fsck(const std::string& path, fsck::CheckMode mode) {
  std::ostringstream out;
  Fsck f{fsck::check_pool(path, mode, out), {}};
  f.report = out.str();
  const int code = f.result.exit_code;
  if (mode == fsck::CheckMode::kNoChanges) {
    if (code != fsck::kExitClean && code != fsck::kExitUncorrected && code != fsck::kExitOperational)
      broken("fsck -n exits 0, 4 or 8", "exit " + std::to_string(code) + "\n" + f.report);
    if (f.result.repaired) broken("fsck -n never writes", f.report);
  }
  if (code != fsck::kExitClean && f.report.empty()) broken("fsck says what it found", "");
  return f;
}

// Counts the answers that say the media is damaged.
struct Walk {
  Filesystem& fs;
  uint64_t damaged = 0;
  std::string first_damage;

  template <typename R>
  bool ok(const R& r, const char* op, uint64_t ino) {
    if (r.ok()) return true;
    if ((r.error() == EUCLEAN || r.error() == EIO) && damaged++ == 0)
      first_damage = std::string(op) + " of inode " + std::to_string(ino) + ": " +
                     std::strerror(r.error());
    return false;
  }

  void file(uint64_t ino, const Attr& a) {
    static std::vector<char> buf(kReadBytes);
    const uint32_t type = a.mode & S_IFMT;
    if (type == S_IFLNK) {
      (void)ok(fs.readlink(ino), "readlink", ino);
      return;
    }
    if (type != S_IFREG) return;
    if (!ok(fs.open(ino), "open", ino)) return;
    (void)ok(fs.read(ino, 0, buf.size(), buf.data()), "read", ino);
    // The last bytes too: the end of a file is where sizes and extents disagree.
    if (a.size > buf.size())
      (void)ok(fs.read(ino, a.size - buf.size(), buf.size(), buf.data()), "read", ino);
    (void)ok(fs.lseek(ino, 0, SEEK_DATA), "lseek", ino);
    (void)ok(fs.lseek(ino, 0, SEEK_HOLE), "lseek", ino);
    fs.release(ino);
  }

  void xattrs(uint64_t ino) {
    auto names = fs.listxattr(ino, Caller{0, 0, 0, /*cap_sys_admin=*/true});  // every name
    if (!ok(names, "listxattr", ino)) return;
    for (const std::string& n : *names) (void)ok(fs.getxattr(ino, n), "getxattr", ino);
  }

  void tree() {
    (void)ok(fs.statfs(), "statfs", 0);
    std::deque<uint64_t> dirs{layout::kRootIno};
    std::unordered_set<uint64_t> seen{layout::kRootIno};
    size_t entries = 0;
    for (size_t n = 0; !dirs.empty() && n < kMaxDirs; ++n) {
      const uint64_t dir = dirs.front();
      dirs.pop_front();
      if (!ok(fs.getattr(dir), "getattr", dir)) continue;
      xattrs(dir);
      std::vector<DirEntry> list;
      Status s = fs.readdir(dir, 0, [&](const DirEntry& e) {
        list.push_back(e);
        return list.size() < kMaxEntries;
      });
      if (!ok(s, "readdir", dir)) continue;
      // Continuing from a cookie, as a second getdents call would.
      if (list.size() > 3) {
        s = fs.readdir(dir, list[list.size() / 2].offset, [](const DirEntry&) { return true; });
        (void)ok(s, "readdir", dir);
      }
      for (const DirEntry& e : list) {
        if (++entries > kMaxEntries) return;
        if (e.name == ".") continue;
        auto a = fs.lookup(dir, e.name);
        if (!ok(a, "lookup", dir)) continue;
        const uint64_t ino = a->ino;
        if (e.name != ".." && ok(fs.getattr(ino), "getattr", ino)) {
          xattrs(ino);
          if ((a->mode & S_IFMT) == S_IFDIR) {
            if (seen.insert(ino).second) dirs.push_back(ino);
          } else {
            file(ino, *a);
          }
        }
        // The kernel's forget: frees an inode whose link count is 0.
        fs.forget(ino, 1);
      }
    }
  }
};

// Mounts, walks, unmounts. Returns the damage the walk met ("" for none).
std::string mount_and_walk(const std::string& path, bool* mounted) {
  MountOptions mo;
  mo.source = path;
  const uint64_t logged = log_problems();
  auto fs = Filesystem::mount(mo);
  *mounted = fs.ok();
  if (!fs.ok()) {
    if (log_problems() == logged)
      broken("a refused mount logs why", std::string("mount failed with ") +
                                             std::strerror(fs.error()) + " and logged nothing");
    return "mount: " + std::string(std::strerror(fs.error()));
  }
  Walk walk{**fs, 0, {}};
  walk.tree();
  Status s = (*fs)->unmount();
  if (!s.ok() && walk.damaged++ == 0)
    walk.first_damage = std::string("unmount: ") + std::strerror(s.error());
  return walk.first_damage;
}

}  // namespace

void exercise(const std::string& path) {
  static const bool verbose = log_printed();
  Fsck check = run_fsck(path, fsck::CheckMode::kNoChanges);
  std::string story = "fsck -n said:\n" + check.report;
  if (check.repairable()) {
    const Fsck repair = run_fsck(path, fsck::CheckMode::kRepair);
    story += "fsck -y said:\n" + repair.report;
    if (repair.result.exit_code != fsck::kExitCorrected || !repair.result.repaired)
      broken("fsck -y repairs what fsck -n calls repairable", story);
    check = run_fsck(path, fsck::CheckMode::kNoChanges);
    story += "then fsck -n said:\n" + check.report;
    if (!check.clean()) broken("a pool fsck -y repaired is clean", story);
  }
  bool mounted = false;
  const std::string damage = mount_and_walk(path, &mounted);
  story += std::string(mounted ? "mounted" : "not mounted") + (damage.empty() ? "" : ", " + damage) + "\n";
  if (verbose) std::fprintf(stderr, "fuzz: %s", story.c_str());
  if (!check.clean()) return;
  if (!damage.empty()) broken("a pool fsck calls clean mounts and reads without damage", story);
  const Fsck after = run_fsck(path, fsck::CheckMode::kNoChanges);
  if (!after.clean())
    broken("a pool fsck calls clean is still clean after a mount", story + "then fsck -n said:\n" + after.report);
}

}  // namespace pmemfs::fuzz
