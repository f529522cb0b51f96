// mount.pmemfs: what mount(8) runs for `mount -t pmemfs` and fstab lines.
// It accepts exactly mount(8)'s helper grammar,
//     mount.pmemfs SOURCE DIR [-sfnv] [-o OPTIONS]
// drops the words that only mean something to mount(8) and fstab, and execs
// the daemon by the absolute path fixed at build time: helpers run with a
// minimal PATH, and looking the daemon up in PATH would let whoever controls
// PATH pick what runs as root. With -o remount it starts no daemon but asks
// the mount's own to change (remount() below). It is installed as
// mount.fuse.pmemfs too: for `mount -o remount DIR` mount(8) takes the type
// from /proc/self/mountinfo, fuse.pmemfs, and would otherwise fall back to
// mount.fuse, which would start a second daemon.
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <string>
#include <string_view>
#include <vector>

#ifndef PMEMFS_DAEMON_PATH
#error "PMEMFS_DAEMON_PATH must be set by the build"
#endif

namespace {

// Words meaningful only to mount(8)/fstab (or defaults of the daemon anyway).
// "rw" is not one of them: it must still override an "ro" before it, as in
// mount(8), where the last of ro and rw wins; the daemon applies that rule.
bool fstab_only(std::string_view w) {
  static constexpr std::string_view kWords[] = {
      "defaults", "nofail", "_netdev", "user", "users", "owner", "group",
      "noauto",   "auto",   "nouser",
  };
  for (std::string_view k : kWords)
    if (w == k) return true;
  return w.starts_with("x-") || w.starts_with("comment=") || w.starts_with("user=");
}

void usage() {
  fprintf(stderr, "usage: mount.pmemfs SOURCE DIR [-sfnv] [-o OPTIONS]\n");
}

// mount(8)'s exit status for a failed mount.
constexpr int kMountFailure = 32;

// `mount -o remount,...`: the daemon of DIR does the work (fuse/remount.h)
// when its root's control attribute user.pmemfs.remount.OPTIONS is read; a
// getxattr, because setxattr is refused on a read-only mount. The options
// are the words mount(8) passed, "remount" and fstab words left out.
int remount(const std::string& dir, const std::vector<std::string>& words, bool fake, bool verbose) {
  std::string opts;
  for (const std::string& w : words)
    if (w != "remount") opts += (opts.empty() ? "" : ",") + w;
  const std::string name = "user.pmemfs.remount." + opts;
  if (name.size() > 255) {  // XATTR_NAME_MAX
    fprintf(stderr, "mount.pmemfs: %s: too many options for a remount (%zu bytes; at most %zu)\n",
            dir.c_str(), opts.size(), 255 - (name.size() - opts.size()));
    return kMountFailure;
  }
  if (verbose || fake)
    fprintf(stderr, "mount.pmemfs: %sremount %s with %s\n", fake ? "would " : "", dir.c_str(),
            opts.empty() ? "no options" : opts.c_str());
  if (fake) return 0;
  std::vector<char> buf(64 * 1024);
  ssize_t n = getxattr(dir.c_str(), name.c_str(), buf.data(), buf.size());
  if (n < 0) {
    const int e = errno;
    const char* why = strerror(e);
    if (e == ENODATA || e == ENOTSUP)
      why = "not the root of a pmemfs mount (or its daemon cannot remount)";
    else if (e == EPERM)
      why = "remounting needs root";
    else if (e == EBUSY)
      why = "another remount of it is running";
    else if (e == ENOTCONN)
      why = "its daemon is gone (umount it)";
    fprintf(stderr, "mount.pmemfs: cannot remount %s: %s\n", dir.c_str(), why);
    return kMountFailure;
  }
  const std::string value(buf.data(), static_cast<size_t>(n));
  if (value.starts_with("error: ")) {
    size_t start = 0;
    while (start < value.size()) {
      size_t end = value.find('\n', start);
      if (end == std::string::npos) end = value.size();
      std::string line = value.substr(start, end - start);
      if (line.starts_with("error: ")) line = line.substr(7);
      if (!line.empty()) fprintf(stderr, "mount.pmemfs: %s\n", line.c_str());
      start = end + 1;
    }
    return kMountFailure;
  }
  if (verbose) fprintf(stderr, "mount.pmemfs: remounted %s: %s\n", dir.c_str(), value.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> positional;
  std::vector<std::string> kept;  // -o words passed to the daemon
  bool fake = false, verbose = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a.size() < 2 || a[0] != '-') {
      positional.emplace_back(a);
      continue;
    }
    for (size_t j = 1; j < a.size(); ++j) {
      char c = a[j];
      if (c == 's' || c == 'n') continue;  // sloppy, no-mtab: nothing to do for FUSE
      if (c == 'f') { fake = true; continue; }
      if (c == 'v') { verbose = true; continue; }
      if (c == 'o') {
        std::string list;
        if (j + 1 < a.size()) list = std::string(a.substr(j + 1));
        else if (i + 1 < argc) list = argv[++i];
        else { fprintf(stderr, "mount.pmemfs: option -o needs a value\n"); usage(); return 1; }
        size_t start = 0;
        while (start <= list.size()) {
          size_t comma = list.find(',', start);
          if (comma == std::string::npos) comma = list.size();
          std::string w = list.substr(start, comma - start);
          if (!w.empty() && !fstab_only(w)) kept.push_back(w);
          start = comma + 1;
        }
        break;
      }
      fprintf(stderr, "mount.pmemfs: unknown option -%c\n", c);
      usage();
      return 1;
    }
  }
  // A remount: mount(8) names the mount's source and directory; only the
  // directory matters.
  if (std::find(kept.begin(), kept.end(), "remount") != kept.end()) {
    if (positional.empty() || positional.size() > 2) {
      fprintf(stderr, "mount.pmemfs: a remount expects [SOURCE] DIR, got %zu argument(s)\n",
              positional.size());
      usage();
      return 1;
    }
    return remount(positional.back(), kept, fake, verbose);
  }
  if (positional.size() != 2) {
    fprintf(stderr, "mount.pmemfs: expected SOURCE and DIR, got %zu argument(s)\n",
            positional.size());
    usage();
    return 1;
  }

  // Tests run the built tree without installing; secure_getenv ignores the
  // variable when running setuid, so it cannot redirect a privileged mount.
  const char* daemon = secure_getenv("PMEMFS_DAEMON");
  if (!daemon || !*daemon) daemon = PMEMFS_DAEMON_PATH;

  std::vector<std::string> args = {daemon, positional[0], positional[1]};
  if (!kept.empty()) {
    std::string opts;
    for (const std::string& w : kept) opts += (opts.empty() ? "" : ",") + w;
    args.push_back("-o");
    args.push_back(opts);
  }
  if (verbose || fake) {
    std::string line;
    for (const std::string& s : args) line += (line.empty() ? "" : " ") + s;
    fprintf(stderr, "mount.pmemfs: %s%s\n", fake ? "would run: " : "running: ", line.c_str());
  }
  if (fake) return 0;

  std::vector<char*> cargv;
  for (std::string& s : args) cargv.push_back(s.data());
  cargv.push_back(nullptr);
  execv(daemon, cargv.data());
  fprintf(stderr, "mount.pmemfs: cannot run %s: %s\n", daemon, strerror(errno));
  return 1;
}
