// Tuning of the mount's backing device info (/sys/class/bdi/MAJ:MIN).
//
// The kernel holds a FUSE mount to 1% of the dirty-page budget with a strict
// per-device limit (so an unprivileged daemon cannot pin memory). That, not
// the daemon, is what keeps buffered and mmap writes far below tmpfs; and the
// default 128 KiB read-ahead cuts sequential reads into requests far below
// the 1 MiB the connection allows. A root daemon may lift both.
#pragma once

#include <string>

namespace pmemfs::daemon {

struct BdiTuning {
  int max_dirty_ratio = 0;  // percent of the dirty budget, 0 = leave the kernel's default
  int read_ahead_kb = 0;    // 0 = leave the kernel's default
};

// Finds the mount's device number in /proc/self/mountinfo (a stat of the
// mount point would be a request to this very daemon) and applies t. Problems
// are logged, never fatal: the mount works without tuning.
void tune_bdi(const std::string& mountpoint, const BdiTuning& t);

}  // namespace pmemfs::daemon
