// Command line of the daemon: `pmemfs [-f] [-d] [-s] [-o OPTS] SOURCE MOUNTPOINT`.
// Parsing only; nothing here touches the pool or the kernel.
#pragma once

#include <spdlog/common.h>

#include <optional>
#include <string>
#include <vector>

#include "pmemfs/persist_mode.h"
#include "pmemfs/powerfail.h"

namespace pmemfs::daemon {

// How much the kernel may cache. The daemon is the only writer of the pool, so
// the kernel's caches can never go stale behind its back. Writethrough is the
// default because only it and `none` let write(2) itself report ENOSPC and
// EFBIG and make every acknowledged write durable: with the writeback cache
// the daemon sees buffered data only at writeback, so its errors reach the
// program at fsync or close, if at all (as on NFS).
enum class CacheMode {
  kWriteback,    // page cache + writeback cache (fastest for small writes)
  kWritethrough, // page cache for reads, every write goes to the daemon (default)
  kNone,         // direct_io: no page cache at all (shared mmap unavailable)
};

// Whether requests travel over FUSE's io_uring rings (uring_transport.h)
// or read(2)/writev(2) on /dev/fuse (-o io_uring=...).
enum class UringMode {
  kAuto,  // io_uring when the kernel offers it, else /dev/fuse (default)
  kOn,    // io_uring or no mount
  kOff,   // /dev/fuse
};

struct Options {
  std::string source;      // as given on the command line
  std::string mountpoint;  // as given on the command line
  bool foreground = false; // -f (or -d)
  bool debug = false;      // -d: libfuse's request trace, implies -f and log_level=debug
  bool single_thread = false;  // -s
  bool help = false;
  bool version = false;

  CacheMode cache = CacheMode::kWritethrough;
  spdlog::level::level_enum log_level = spdlog::level::info;
  bool read_only = false;
  int lock_wait_seconds = 5;  // a mount right after umount waits for the old daemon
  unsigned max_read = 0;      // 0 = kernel default; must be echoed in init
  bool allow_other = false;
  // Device limits a root daemon sets (see bdi.h); 0 leaves the kernel's.
  int max_dirty_ratio = 20;
  int read_ahead_kb = 1024;  // one 1 MiB request ahead
  // Simulated power failure for testing fsync discipline (pmemfs/powerfail.h):
  // only persisted data reaches the pool file; `pmemfs-ctl powercut` cuts.
  bool powerfail_sim = false;
  // How a pool file without DAX is persisted (-o persist=cpu|msync;
  // pmemfs/persist_mode.h).
  PersistMode persist = PersistMode::kCpu;
  // Share of the unpersisted cache lines a cut lets survive, in [0, 1]; unset
  // means none. Given without powerfail_sim it is an error, not ignored.
  std::optional<double> powerfail_evict;
  // Seed of the eviction's random choice (-o powerfail_seed=N): the same
  // seed and the same requests evict the same lines. Unset: a random seed.
  std::optional<uint64_t> powerfail_seed;
  // Cut the power right after answering the N-th fsync/fdatasync/fsync of a
  // directory/msync (-o powerfail_cut_after=N; 0: never). They all reach the
  // daemon as FSYNC or FSYNCDIR requests.
  uint64_t powerfail_cut_after = 0;

  // MS_* bits of the atime words (relatime, strictatime, noatime,
  // nodiratime, lazytime and their negations; see mount_flags.h): the
  // daemon's access-time policy, and the kernel mount's flags.
  unsigned long mount_flags = 0;

  UringMode io_uring = UringMode::kAuto;
  // -o io_uring_enable_module: the daemon may write Y to
  // /sys/module/fuse/parameters/enable_uring (system-wide; it stays Y) when
  // it is N. Never done without this option.
  bool io_uring_enable_module = false;
  // -o io_uring_poll_us=N: how long a ring thread polls before sleeping
  // (UringTransport::Config::poll_ns); 0 never polls.
  unsigned io_uring_poll_us = 50;
  // -o dax=on|off: direct access for client processes (pmemfs-run).
  bool dax = true;

  // Options handed to libfuse verbatim (kernel/fusermount mount options).
  std::vector<std::string> fuse_opts;
};

// What `mount -o remount,OPTIONS` asks of a running daemon (remount.h).
// mount(8) passes the mount's current options along with the new ones, so
// a word that only repeats how the mount already is changes nothing and is
// accepted, whatever it is.
struct RemountRequest {
  std::optional<bool> read_only;                          // ro / rw
  std::optional<spdlog::level::level_enum> log_level;
  // Kernel flags to set and to clear: nosuid, nodev, noexec, sync, lazytime.
  unsigned long set_flags = 0, clear_flags = 0;
  // The atime bits when any atime word was given (else the mount keeps its
  // policy, as the kernel does on remount).
  std::optional<unsigned long> atime_flags;
  // One line per word that cannot change without unmounting, or is unknown.
  std::vector<std::string> errors;
};

// mounted: the options the daemon runs with.
RemountRequest parse_remount(const std::string& list, const Options& mounted);

struct ParsedArgs {
  Options opts;
  // Every problem found, each a complete sentence; all are printed at once so
  // a user fixes a bad fstab line in one go.
  std::vector<std::string> errors;
};

ParsedArgs parse_args(int argc, const char* const* argv);

const char* cache_mode_name(CacheMode m);
const char* uring_mode_name(UringMode m);

// What the library needs of -o powerfail_sim and powerfail_evict.
PowerFailOptions powerfail_options(const Options& o);

std::string usage(const char* argv0);

}  // namespace pmemfs::daemon
