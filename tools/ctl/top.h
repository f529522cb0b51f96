// pmemfs-ctl top: a live view of a mount, refreshed once a second, as
// iotop is of block devices: request rates and latencies by opcode, fault
// rates by kind, journal commits, fsyncs and the bytes they flushed, and free
// space with the share of it that is whole 2 MiB regions (what new PMD
// extents can still take).
//
// Each refresh reads the daemon's stats (user.pmemfs.stats) and statvfs of
// the mount; rates are the differences between two reads over the time
// between them. Latencies are the daemon's percentiles since the mount.
#pragma once

#include <string>

namespace pmemfs::ctl {

struct TopOptions {
  bool once = false;      // one interval, then exit
  bool json = false;      // with once: the interval as one JSON object
  double interval = 1.0;  // seconds between reads
};

// The exit status: 0, 1 when the mount cannot be read, 2 for bad usage.
int top(const std::string& mountpoint, const TopOptions& opts);

}  // namespace pmemfs::ctl
