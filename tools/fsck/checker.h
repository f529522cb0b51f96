// fsck.pmemfs as a library: checks (and with kRepair, repairs) a pmemfs pool
// against every invariant of the on-media format (pmemfs/layout.h). The CLI
// in main.cc and the tests call it alike.
//
// Contract of a run (check_image: the same, on a caller's mapping, never
// opened, locked or written):
//  - The pool is opened read-only for kNoChanges and locked with
//    flock(LOCK_EX|LOCK_NB), the lock the mounted daemon holds: a mounted pool
//    is refused ("SOURCE is in use (mounted?)", kExitOperational).
//  - Checking never writes. Journal replay and repairs are staged in a
//    private copy-on-write overlay of the pool, so a committed journal is
//    checked "as if replayed" even with kNoChanges (and reported as needing
//    replay, exit 4).
//  - kRepair writes only when every problem found can be repaired, and only
//    after a second check of the staged image finds it clean; the overlay is
//    then written back in order (replayed records durable before the lanes
//    are freed). With any problem it cannot repair yet, it writes nothing and
//    returns kExitUncorrected.
//  - Time and memory grow with what is stored: live inodes are found through
//    the inode bitmap and the tree; the only per-pool cost is one bit per
//    data block and a scan of the two bitmaps.
//
// Repairs: the primary superblock from its copy (and the copy from the
// primary); journal replay; damaged (torn) lanes freed; the state record
// resealed when its fields are plausible; inode bitmap bits; block bitmap
// bits (leaked and unmarked blocks); link counts; directory parents; dirent
// types; entries naming free or nonexistent inodes removed; non-zero free
// slots zeroed; orphan table slots naming free inodes cleared; orphan flags;
// unlinked inodes that missed the orphan table freed; unreachable inodes
// moved to /lost+found as "#<ino>" (created, or grown, as needed), a
// directory with what it holds; inode records with a bad checksum resealed
// when every field is plausible, else cleared (as are records with no valid
// file type; their names are removed, their blocks freed); dirent slots with
// a bad checksum cleared; a regular file's unreadable extents cleared and
// its extent chain ended before a damaged extent block, the file then cut
// back to the end of the extents it keeps; extents of regular files on
// blocks claimed twice cleared (all of them: which claim is right is not
// known).
// Not yet (reported; -y then writes nothing): a damaged root inode; lost or
// damaged extents of directories and symlinks, and overlapping extents;
// blocks claimed twice with a directory, symlink, extent block or xattr run
// among the claimants; damaged xattr runs; extent blocks naming another
// owner; invalid or duplicate names; a directory named twice; unreachable
// directories in a loop; a /lost+found that is not a directory or has no
// room; a resealed record whose type its entries contradict; size rules
// (blocks beyond the size, directory size, symlink length); unknown flags;
// committed lanes holding nonsense; a state record with implausible fields.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

namespace pmemfs::fsck {

// fsck(8) exit code bits.
inline constexpr int kExitClean = 0;
inline constexpr int kExitCorrected = 1;
inline constexpr int kExitUncorrected = 4;
inline constexpr int kExitOperational = 8;
inline constexpr int kExitUsage = 16;

enum class CheckMode {
  kNoChanges,  // -n: open read-only, report only
  kRepair,     // -y (and -a/-p): repair what can be repaired
};

class Progress;  // progress.h

struct CheckOptions {
  CheckMode mode = CheckMode::kNoChanges;
  // Told of each pass and how far it got (fsck -C); none when null.
  Progress* progress = nullptr;
};

struct CheckResult {
  int exit_code = kExitClean;  // kExit* bits
  uint64_t problems = 0;       // problems found (a committed journal counts as one)
  uint64_t unrepairable = 0;   // of those, the ones no repair exists for yet
  bool repaired = false;       // the pool was written
};

// Checks SOURCE (a pool file or a device DAX). Writes one line per problem,
// and a summary, to out.
CheckResult check_pool(const std::string& source, const CheckOptions& opts, std::ostream& out);

inline CheckResult check_pool(const std::string& source, CheckMode mode, std::ostream& out) {
  return check_pool(source, CheckOptions{mode}, out);
}

// Checks the pool image of size bytes at base exactly as check_pool with
// kNoChanges checks a pool file (same checks, lines and exit codes; lines
// name it "in-memory image"), for a pool the caller already has mapped, e.g.
// one it has just recovered. It opens nothing, takes no lock and never writes
// to base: journal replay is staged in a private overlay. REQUIRES: the
// bytes stay valid and unchanged during the call (the caller's own writers
// are stopped); they need no alignment.
CheckResult check_image(const char* base, uint64_t size, std::ostream& out);

}  // namespace pmemfs::fsck
