// What a power cut at this instant would leave behind, recovered and
// checked: shared by the single-operation enumeration (crash_harness.h) and
// the workload generator (workload_harness.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pmemfs/filesystem.h"
#include "pmemfs/pool.h"

namespace pmemfs::crash {

// Mounts the pool file at path, under the power-fail simulator if simulate.
Result<std::unique_ptr<Filesystem>> mount_path(const std::string& path, bool simulate);

// A pool file path in /dev/shm (memory, like pmem) or /tmp, unique per call.
std::string temp_pool_path(const std::string& tag);

struct RemoveOnExit {
  std::string path;
  ~RemoveOnExit();
};

// Recovers the live pool's durable image, with the cache lines in survivors
// (offsets of lines stored but never persisted) landed too, as a new mount:
// journal replay and orphans run on a private view, never on the live pool.
// inspect() says what is wrong with the recovered filesystem ("" for
// nothing); then it must unmount, and fsck must find the image clean.
// Returns what was wrong, "" when nothing was.
std::string recover_and_check(Pool& live, const std::vector<uint64_t>* survivors,
                              const std::function<std::string(Filesystem&)>& inspect);

}  // namespace pmemfs::crash
