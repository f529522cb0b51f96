// The persist-mode choice of a mount, apart from pool.h so that the public
// API (filesystem.h) can name it.
#pragma once

namespace pmemfs {

// How a pool of page granularity -- a file on a filesystem without DAX, a
// disk's or tmpfs's page cache under the mapping -- makes a persist point
// durable. Device DAX and DAX files are persisted by flushing cache lines
// whatever this says: there the CPU's flush is what reaches the media.
enum class PersistMode {
  // Cache-line flush and fence into the shared mapping (libpmem): the
  // timing of pmem. Durable against a crash of the daemon (the stores are
  // in the host's page cache); against a crash of the host only once the
  // page cache is written back: at unmount, at a switch to read-only, or
  // whenever the kernel writes it back on its own.
  kCpu,
  // msync(2) of the range at every persist point: durable against a crash
  // of the host, at the cost of the disk's timing.
  kMsync,
};
const char* to_string(PersistMode m);

}  // namespace pmemfs
