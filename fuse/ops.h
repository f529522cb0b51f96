// The FUSE low-level operations: each callback translates one kernel request
// into one pmemfs::Filesystem call and replies exactly once. No policy lives
// here beyond what FUSE itself requires (reference counting of replies, the
// virtual control attributes, setgid inheritance the kernel leaves to us).
#pragma once

#include <fuse_lowlevel.h>

#include <atomic>
#include <string>

#include "fuse/options.h"
#include "fuse/transport.h"
#include "pmemfs/filesystem.h"

namespace pmemfs::daemon {

// The session's userdata. Lives as long as the session; fs outlives both.
// Its TransportHost part is how the transport's callbacks find the layer.
class DaxServer;

struct OpsContext : TransportHost {
  Filesystem* fs = nullptr;
  CacheMode cache = CacheMode::kWriteback;
  // Entry and attribute timeouts. The daemon is the only writer of the pool,
  // so nothing can change behind the kernel's back: a day is as good as
  // forever and saves a LOOKUP/GETATTR round trip (10-30 us) per stat.
  double timeout = 86400.0;
  unsigned max_read = 0;  // echoed to libfuse in init when -o max_read was given
  // For notifications to the kernel (see pm_lseek); null until the session exists.
  struct fuse_session* se = nullptr;
  bool single_thread = false;
  // Set once init has run; the kernel applies the INIT reply right after.
  std::atomic<bool> initialized{false};
  // The mount's power-fail simulation (-o powerfail_sim), as the control
  // attribute reports it.
  PowerFailOptions powerfail;
  // Set once the power is cut (power_cut.h): from then on the pool file keeps
  // only what was durable before, and the session's end is no clean unmount.
  std::atomic<bool> power_cut{false};
  // The mount's directory in /sys/fs/fuse/connections (the minor number of
  // its device), found at mount time under powerfail_sim; empty otherwise.
  std::string fuse_connection;
  // -o powerfail_cut_after: cut after answering this many syncs (0: never),
  // and how many have been answered.
  uint64_t cut_after_syncs = 0;
  std::atomic<uint64_t> syncs{0};
  // Direct access for client processes (dax_server.h), or why there is none
  // (-o dax=off, powerfail_sim, ...): what the kDaxXattr of a file says.
  DaxServer* dax = nullptr;
  std::string dax_off;
};

// The table to hand to fuse_session_new.
const fuse_lowlevel_ops& lowlevel_ops();

// The opcodes libfuse 3.14 does not dispatch, answered in the transport
// layer instead (ops_kernel.cc). Call before Transport::attach.
void add_transport_ops(Transport& t, OpsContext& c);

// 1 MiB: the largest request the kernel sends (max_pages 256). Fewer round
// trips is what sequential throughput is made of.
inline constexpr unsigned kMaxWrite = 1u << 20;

}  // namespace pmemfs::daemon
