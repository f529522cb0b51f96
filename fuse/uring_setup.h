// Whether a mount can run FUSE over io_uring, decided before mounting (the
// kernel decides whether to offer FUSE_OVER_IO_URING when it sends INIT, at
// mount time): the fuse module must have the enable_uring parameter (Linux
// >= 6.14 built with CONFIG_FUSE_IO_URING) set to Y, and this process must
// be able to create the rings the kernel needs. Only with
// -o io_uring_enable_module does the daemon set the parameter itself.
#pragma once

#include <string>

#include "fuse/options.h"

namespace pmemfs::daemon {

inline constexpr const char* kEnableUringParam = "/sys/module/fuse/parameters/enable_uring";

struct UringDecision {
  bool use = false;
  // Why not, or what was done to make it possible: one clause for the log
  // line that names the transport (or for the error of io_uring=on); empty
  // for io_uring=off.
  std::string why;
};

// param: the module parameter's path (tests use a file of their own).
UringDecision decide_uring(UringMode mode, bool may_enable_module, bool single_thread,
                           const std::string& param = kEnableUringParam);

// How many ring queues the kernel wants: one per possible CPU (it numbers
// queues by CPU, from /sys/devices/system/cpu/possible).
unsigned uring_queue_count();

// Whether a ring the way the transport sets it up (uring_transport.h) can be
// created here; "" or why not (kernel.io_uring_disabled, seccomp, an old
// kernel without SQE128/DEFER_TASKRUN).
std::string probe_ring();

}  // namespace pmemfs::daemon
