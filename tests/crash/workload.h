// Bounded workloads for crash testing (issue "Crash testing at scale"): short
// sequences of operations, each optionally followed by a sync call, over a
// small tree of two directories and three files, as the daemon receives them.
// CrashMonkey/ACE found nearly every crash-consistency bug of Linux
// filesystems within three operations after an fsync-family call; this
// enumerates every workload of one and two steps and samples three.
//
// The starting tree (starting_tree()):
//   /d0/a   16 KiB of 'a' in 4 KiB blocks, xattr user.x
//   /d0/b   2 MiB + 16 KiB of 'b': one 2 MiB extent and 4 KiB blocks
//   /d1/c   5,000 bytes of 'c'
//   /d1/e/  an empty directory
//   /d1/s   a symlink to ../d0/a
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "pmemfs/filesystem.h"
#include "pmemfs/result.h"

namespace pmemfs::crash {

// What follows an operation, as the daemon sees it. sync(2) and syncfs(2)
// reach a /dev/fuse daemon only as the write-backs the kernel does first,
// which the data operations here already are: at this level a `sync` step
// sends nothing, and the promise that makes it durable is that every write
// is durable when answered.
enum class Sync { kNone, kFsync, kFdatasync, kFsyncDir, kMsync, kSync };
const char* to_string(Sync s);

// How an operation changes file data, which decides what a crash may show.
enum class DataEffect {
  kNone,       // names and attributes only
  kPersisted,  // write(), truncate, fallocate...: durable when it returns
  kMapped,     // stores through a mapping: durable only after msync/fsync
};

struct Op {
  std::string name;
  std::string target;  // the path the op works on (its file, or the new name)
  DataEffect effect = DataEffect::kNone;
  std::function<Status(Filesystem&)> apply;
};

struct Step {
  const Op* op;
  Sync sync;
};
using Workload = std::vector<Step>;
std::string describe(const Workload& w);

// Every operation of the generator, each valid on the starting tree.
const std::vector<Op>& all_ops();
// The sync calls that make sense after op (a data op's file fsync, a name's
// directory fsync, msync after mapped stores), always with kNone and kSync.
std::vector<Sync> syncs_for(const Op& op);
// Every single step.
std::vector<Step> all_steps();

void starting_tree(Filesystem& fs);
// The inode at path, or 0.
uint64_t path_ino(Filesystem& fs, const std::string& path);
std::string parent_of(const std::string& path);

// Every workload of one step, every one of two (each step's sync chosen by
// rng among those that make sense, so that all pairs of operations are
// covered), and `three` sampled three-step workloads. deep: every pair and
// every triple of steps instead, with every sync of every step (days).
std::vector<Workload> generate(std::mt19937_64& rng, size_t three, bool deep);

}  // namespace pmemfs::crash
