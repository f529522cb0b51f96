// Crash-point enumeration (issue 5): runs one filesystem operation on a pool
// under the power-fail simulator and, at every persist point (each drain that
// made something durable), recovers what a power cut right then would leave
// behind — once exactly as durable, and in eviction mode again with random
// subsets of the lines stored but not yet persisted — then checks that
//   - the recovered pool mounts (journal replay, orphans),
//   - fsck finds it clean after recovery and unmount,
//   - the tree is exactly as before the operation or exactly as after it;
//     for data operations the written file's bytes may each be old, new or
//     zero (never anything else) and its length old or new.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "pmemfs/filesystem.h"
#include "pmemfs/result.h"

namespace pmemfs::crash {

struct CrashCase {
  std::string name;
  // Builds the starting tree on a normal mount (durable by the unmount).
  std::function<void(Filesystem&)> setup;
  // The operation under test; must succeed.
  std::function<Status(Filesystem&)> op;
  // For data operations: the path whose bytes follow the byte-wise rule.
  std::string data_path = {};
  // Optional: runs on the mount the operation runs on, just before it, with
  // its persist points not enumerated (state in DRAM and on media that only
  // a live mount has, e.g. files unlinked while open). Must succeed.
  std::function<Status(Filesystem&)> prepare = {};
};

struct HarnessOptions {
  uint64_t pool_size = 64ull << 20;
  // Recoveries per persist point with random unpersisted lines surviving.
  int eviction_subsets = 8;
  uint64_t seed = 1;
};

struct CaseReport {
  uint64_t persist_points = 0;
  uint64_t crash_states = 0;
  std::vector<std::string> violations;  // each names the state and what was wrong
  std::string error;                    // the harness itself failed (setup, op)
};

CaseReport run_crash_case(const CrashCase& c, const HarnessOptions& o);

}  // namespace pmemfs::crash
