#include "fuse/mount_flags.h"

#include "fuse/mountinfo.h"

#include <sys/mount.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace pmemfs::daemon {
namespace {

struct Word {
  std::string_view name;
  unsigned long flag;
  bool set;
};
constexpr Word kAtimeWords[] = {
    {"relatime", MS_RELATIME, true},       {"norelatime", MS_RELATIME, false},
    {"strictatime", MS_STRICTATIME, true}, {"nostrictatime", MS_STRICTATIME, false},
    {"noatime", MS_NOATIME, true},         {"atime", MS_NOATIME, false},
    {"nodiratime", MS_NODIRATIME, true},   {"diratime", MS_NODIRATIME, false},
    {"lazytime", MS_LAZYTIME, true},       {"nolazytime", MS_LAZYTIME, false},
};

unsigned long flags_of(const std::string& list) {
  unsigned long f = 0;
  std::istringstream in(list);
  std::string w;
  while (std::getline(in, w, ',')) {
    if (w == "ro") f |= MS_RDONLY;
    else if (w == "nosuid") f |= MS_NOSUID;
    else if (w == "nodev") f |= MS_NODEV;
    else if (w == "noexec") f |= MS_NOEXEC;
    else if (w == "noatime") f |= MS_NOATIME;
    else if (w == "nodiratime") f |= MS_NODIRATIME;
    else if (w == "relatime") f |= MS_RELATIME;
    else if (w == "nosymfollow") f |= MS_NOSYMFOLLOW;
    else if (w == "sync") f |= MS_SYNCHRONOUS;
    else if (w == "dirsync") f |= MS_DIRSYNC;
    else if (w == "lazytime") f |= MS_LAZYTIME;
  }
  return f;
}

}  // namespace

bool apply_atime_word(std::string_view word, unsigned long& flags) {
  for (const Word& w : kAtimeWords) {
    if (w.name != word) continue;
    if (w.set) flags |= w.flag;
    else flags &= ~w.flag;
    return true;
  }
  return false;
}

AtimeOptions atime_policy(unsigned long flags) {
  AtimeOptions o;
  if (flags & MS_STRICTATIME) o.mode = AtimeMode::kStrict;
  else if (flags & MS_NOATIME) o.mode = AtimeMode::kNever;
  else o.mode = AtimeMode::kRelative;
  o.dirs = !(flags & MS_NODIRATIME);
  return o;
}

std::optional<unsigned long> current_mount_flags(const std::string& mountpoint) {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  std::optional<unsigned long> found;
  while (std::getline(in, line)) {
    // id parent maj:min root point mount-options [optional...] - type source super-options
    std::istringstream ls(line);
    std::string id, parent, dev, root, point, mnt_opts, w;
    if (!(ls >> id >> parent >> dev >> root >> point >> mnt_opts)) continue;
    if (unescape_mountinfo(point) != mountpoint) continue;
    while (ls >> w && w != "-") {}
    std::string type, source, super_opts;
    ls >> type >> source >> super_opts;
    unsigned long f = flags_of(mnt_opts) | flags_of(super_opts);
    // Neither noatime nor relatime shown: strictatime.
    if (!(f & (MS_NOATIME | MS_RELATIME))) f |= MS_STRICTATIME;
    found = f;  // the last one is on top
  }
  return found;
}

std::string remount_kernel(const std::string& mountpoint, unsigned long flags) {
  if (::mount(nullptr, mountpoint.c_str(), nullptr, MS_REMOUNT | flags, nullptr) == 0) return {};
  const int e = errno;
  std::string why = std::strerror(e);
  if (e == EBUSY && (flags & MS_RDONLY))
    why += " (a file is open for writing, or unlinked and still open)";
  else if (e == EPERM)
    why += " (remounting needs root)";
  return why;
}

std::string set_mount_time_flags(const std::string& mountpoint, unsigned long atime_flags) {
  constexpr unsigned long kAtime = MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME;
  // relatime (the kernel's default) and noatime (libfuse's) are there already.
  if (!(atime_flags & (MS_STRICTATIME | MS_NODIRATIME | MS_LAZYTIME))) return {};
  auto cur = current_mount_flags(mountpoint);
  if (!cur) return mountpoint + " is not in /proc/self/mountinfo";
  unsigned long f = (*cur & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_NOSYMFOLLOW |
                             MS_SYNCHRONOUS)) |
                    (atime_flags & (kAtime | MS_LAZYTIME));
  // MS_BIND changes only the mount's own flags, touching nothing of the
  // superblock; lazytime is the superblock's, so it takes a full remount.
  if (!(atime_flags & MS_LAZYTIME)) f |= MS_BIND;
  return remount_kernel(mountpoint, f);
}

}  // namespace pmemfs::daemon
