// pmemfs: the daemon. Parses arguments, checks them before anything else,
// goes to the background (unless -f), opens the pool, mounts, serves until
// umount or SIGTERM, then makes the pool durable and marks it clean -- unless
// a simulated power cut ended it, which leaves the pool as the cut left it.
#include <fuse_lowlevel.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include "fuse/daemonize.h"
#include "fuse/exit_status.h"
#include "fuse/heap.h"
#include "fuse/log.h"
#include "fuse/mount_flags.h"
#include "fuse/options.h"
#include "fuse/remount.h"
#include "fuse/session.h"
#include "pmemfs/filesystem.h"

#ifndef PMEMFS_VERSION
#define PMEMFS_VERSION "unknown"
#endif

namespace pmemfs::daemon {
namespace {

// One line on how persist points reach the media, and what that means for a
// crash of the host (pmemfs.8, "PERSISTENCE").
void log_persistence(std::string_view method, PersistMode asked) {
  if (method == "cpu")
    spdlog::info("persist=cpu: cache-line flush into the host's page cache (pmem timing); a crash "
                 "of the daemon loses nothing, a crash of the host what was not yet written back "
                 "(at unmount or remount,ro; -o persist=msync to write back at every persist point)");
  else if (method == "msync")
    spdlog::info("persist=msync: msync(2) at every persist point (durable against a crash of the host)");
  else if (method == "pmem")
    spdlog::info("persist: cache-line flush to pmem (the pool is DAX){}",
                 asked == PersistMode::kMsync ? "; persist=msync has nothing to add" : "");
  else
    spdlog::info("persist: {}", method);
}

std::string real_path(const std::string& p, std::string& error, const char* what) {
  char buf[PATH_MAX];
  if (!realpath(p.c_str(), buf)) {
    error = std::string(what) + " " + p + ": " + strerror(errno);
    return {};
  }
  return buf;
}

// Returns an error message, or "" when the source may be a pool.
std::string check_source(const std::string& source) {
  struct stat st {};
  if (stat(source.c_str(), &st) != 0) return "source " + source + ": " + strerror(errno);
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) && !S_ISBLK(st.st_mode))
    return "source " + source + " is neither a pool file nor a pmem device";
  return {};
}

std::string check_mountpoint(const std::string& mnt) {
  // ENOTCONN: a daemon died (SIGKILL, crash) and left its mount behind.
  struct stat st {}, parent {};
  if (stat(mnt.c_str(), &st) != 0) {
    if (errno == ENOTCONN)
      return "mount point " + mnt + " belongs to a FUSE daemon that died; run: umount " + mnt;
    return "mount point " + mnt + ": " + strerror(errno);
  }
  if (!S_ISDIR(st.st_mode)) return "mount point " + mnt + " is not a directory";
  // Mounting over a mount hides it; almost always a mistake (a second mount
  // of the same directory from a script that ran twice).
  if (mnt != "/" && stat((mnt + "/..").c_str(), &parent) == 0 && parent.st_dev != st.st_dev)
    return "mount point " + mnt + " is already a mount point (umount it first)";
  return {};
}

std::string describe_mount_error(const std::string& source, int e) {
  switch (e) {
    case EBUSY:
    case EWOULDBLOCK:
      return source + " is in use by another pmemfs process (already mounted?)";
    case EUCLEAN:
      return source + " has a corrupt file system; run fsck.pmemfs " + source;
    case EACCES:
    case EPERM:
      return "cannot open " + source + ": " + strerror(e);
    default:
      return "cannot mount " + source + ": " + strerror(e);
  }
}

std::string joined_args(int argc, char** argv) {
  std::string s;
  for (int i = 0; i < argc; ++i) {
    if (i) s += ' ';
    s += argv[i];
  }
  return s;
}

int run(int argc, char** argv) {
  ParsedArgs parsed = parse_args(argc, argv);
  Options opts = parsed.opts;
  if (opts.help) {
    fputs(usage(argv[0]).c_str(), stdout);
    return 0;
  }
  if (opts.version) {
    printf("pmemfs %s (libfuse %s)\n", PMEMFS_VERSION, fuse_pkgversion());
    return 0;
  }
  // Bad input: report everything found at once, change nothing.
  if (!parsed.errors.empty()) {
    for (const std::string& e : parsed.errors) fprintf(stderr, "pmemfs: %s\n", e.c_str());
    fprintf(stderr, "usage: %s [-f] [-d] [-s] [-o OPTIONS] SOURCE MOUNTPOINT (see --help)\n",
            argv[0]);
    return kExitError;
  }
  std::string error;
  opts.source = real_path(opts.source, error, "source");
  if (error.empty()) error = check_source(opts.source);
  if (error.empty()) opts.mountpoint = real_path(opts.mountpoint, error, "mount point");
  if (error.empty()) error = check_mountpoint(opts.mountpoint);
  if (!error.empty()) {
    fprintf(stderr, "pmemfs: %s\n", error.c_str());
    return kExitError;
  }

  Daemonizer daemon(opts.foreground);
  // Before the library or libfuse start threads, so that only the session's
  // main thread receives SIGTERM/SIGINT/SIGHUP.
  block_termination_signals();
  init_logging(opts.foreground, opts.log_level);
  spdlog::info("pmemfs {} (libfuse {}, {}) starting: {}", PMEMFS_VERSION, fuse_pkgversion(),
               heap_name(), joined_args(argc, argv));
  spdlog::info("source {}, mount point {}, cache={}{}", opts.source, opts.mountpoint,
               cache_mode_name(opts.cache), opts.read_only ? ", read-only" : "");
  if (opts.powerfail_sim)
    spdlog::info("power-failure simulation: only persisted data reaches {}; each unpersisted "
                 "cache line survives a cut with probability {}",
                 opts.source, opts.powerfail_evict.value_or(0));

  // The pool is opened before the mount exists, so a bad or busy pool is
  // reported on the terminal (through the daemonizer's pipe) and no empty
  // mount is ever left behind.
  MountOptions mo;
  mo.source = opts.source;
  mo.read_only = opts.read_only;
  mo.atime = atime_policy(opts.mount_flags);
  mo.lock_wait_seconds = opts.lock_wait_seconds;
  mo.powerfail = powerfail_options(opts);
  mo.persist = opts.persist;
  auto mounted = Filesystem::mount(mo);
  if (!mounted) {
    // Prefer the library's own explanation ("pool is 1 MiB; the minimum is
    // 32 MiB") over what its errno alone would say.
    std::string why = take_last_error();
    if (!why.empty() && (why.back() == ' ' || why.back() == ':'))  // a message without detail
      why += strerror(mounted.error());
    daemon.fail(why.empty() ? describe_mount_error(opts.source, mounted.error()) : why);
  }
  std::unique_ptr<Filesystem> fs = std::move(*mounted);
  remount_setup(*fs, opts);
  log_persistence(fs->stats().persistence, opts.persist);

  int rc = kExitOk;
  bool power_was_cut = false;
  {
    Session session(*fs, opts);
    std::string err = session.mount(opts.mountpoint);
    if (!err.empty()) {
      (void)fs->unmount();
      daemon.fail(err);
    }
    if (std::string why = set_mount_time_flags(opts.mountpoint, opts.mount_flags); !why.empty())
      spdlog::warn("cannot show the atime options in /proc/mounts: {}; reads follow them anyway", why);
    spdlog::info("mounted {} on {}", opts.source, opts.mountpoint);
    daemon.succeeded();
    rc = session.run();
    power_was_cut = session.power_was_cut();
  }
  remount_shutdown();
  if (power_was_cut) {
    // Syncing now would only write the working copy, which is lost. Release
    // the pool (the library's unmount touches only that copy) while the
    // logger still exists: it may log.
    fs.reset();
    spdlog::warn("power was cut: {} holds only what was durable at the cut and is not marked "
                 "clean; the next mount recovers it (exit status {})",
                 opts.source, kExitPowerCut);
    spdlog::shutdown();
    return kExitPowerCut;
  }
  // No request can arrive any more: make everything durable, mark it clean.
  if (auto s = fs->syncfs(); !s) {
    spdlog::error("syncfs of {} failed: {}", opts.source, strerror(s.error()));
    rc = kExitError;
  }
  if (auto s = fs->unmount(); !s) {
    spdlog::error("unmount of {} failed: {}", opts.source, strerror(s.error()));
    rc = kExitError;
  } else {
    spdlog::info("unmounted {} from {}; pool is clean", opts.source, opts.mountpoint);
  }
  spdlog::shutdown();
  return rc;
}

}  // namespace
}  // namespace pmemfs::daemon

int main(int argc, char** argv) {
  try {
    return pmemfs::daemon::run(argc, argv);
  } catch (const std::exception& e) {
    fprintf(stderr, "pmemfs: fatal: %s\n", e.what());
    return pmemfs::daemon::kExitError;
  }
}
