// Crash states of whole workloads (workload.h), checked against an oracle
// built from the promises of pmemfs.8:
//   - metadata: every name, link count, mode, owner, size, symlink and xattr
//     change is durable when its call returns, so a crash during step k
//     shows the tree exactly as after step k-1 or as after step k;
//   - data written with write() (and truncate, fallocate, punch, zero range,
//     copy_file_range) is durable when the call returns; stores through a
//     mapping only once msync/fsync/fdatasync of the file returned;
//   - data not yet durable reads, byte by byte, as one of the contents the
//     file had since it last was, or zero: never foreign bytes, never garbage;
//   - every crash state mounts, unmounts and is clean to fsck.
// A crash is tried at every persist point of the run (before and after each
// fence, with random subsets of the unpersisted cache lines surviving) and
// once after the last step.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "workload.h"

namespace pmemfs::crash {

struct WorkloadOptions {
  // Recoveries per persist point with random unpersisted lines surviving.
  int eviction_subsets = 2;
  uint64_t seed = 1;
};

struct WorkloadReport {
  uint64_t persist_points = 0;
  uint64_t crash_states = 0;
  std::vector<std::string> violations;  // each names the step, the state and what was wrong
  std::string error;                    // the harness itself failed
};

class WorkloadRunner {
 public:
  // Formats a pool of pool_size with starting_tree() once; every run
  // starts from a copy of it.
  explicit WorkloadRunner(uint64_t pool_size = 32ull << 20);
  ~WorkloadRunner();
  WorkloadRunner(const WorkloadRunner&) = delete;
  WorkloadRunner& operator=(const WorkloadRunner&) = delete;

  const std::string& error() const { return error_; }
  WorkloadReport run(const Workload& w, const WorkloadOptions& o);

 private:
  std::string base_, dry_, sim_;
  std::string error_;
};

}  // namespace pmemfs::crash
