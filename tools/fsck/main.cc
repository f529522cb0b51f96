// fsck.pmemfs: checks and repairs a pmemfs pool; fsck(8) exit codes.
//
//   fsck.pmemfs [-n|-y|-a|-p] [-f] SOURCE
//
// -n   check only: open read-only, change nothing (the default).
// -y   repair what can be repaired; -a and -p (fsck(8)'s preen) mean the same.
// -f   accepted for fsck(8) ("force"); every run checks everything.
//
// Without -n or -y it behaves as -n and says how to repair.
#include <getopt.h>
#include <unistd.h>

#include <cstring>
#include <iostream>
#include <string>

#include "tools/fsck/checker.h"

#ifndef PMEMFS_VERSION
#define PMEMFS_VERSION "unknown"
#endif

namespace {

constexpr char kUsage[] = "usage: fsck.pmemfs [-n|-y|-a|-p] [-f] SOURCE\n";

int usage_error(const std::string& why) {
  std::cerr << "fsck.pmemfs: " << why << '\n' << kUsage;
  return pmemfs::fsck::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  pmemfs::fsck::CheckOptions opts;
  bool no_changes = false, repair = false;  // -n, -y
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, 'V'},
                                 {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "nyapfhV", kLong, nullptr)) != -1) {
    switch (c) {
      case 'n': no_changes = true; break;
      case 'y':
      case 'a':
      case 'p': repair = true; break;
      case 'f': break;  // fsck(8)'s "force": every run is a full check
      case 'h':
        std::cout << kUsage
                  << "  -n  check only, change nothing (default)\n"
                     "  -y  repair (-a and -p are the same, for fsck(8))\n"
                     "  -f  accepted for fsck(8); every run is a full check\n";
        return 0;
      case 'V': std::cout << "fsck.pmemfs " << PMEMFS_VERSION << '\n'; return 0;
      default:
        return usage_error(std::string("unknown option ") +
                           (optopt ? std::string("-") + static_cast<char>(optopt) : argv[optind - 1]));
    }
  }
  if (no_changes && repair) return usage_error("-n and -y (or -a/-p) exclude each other");
  if (optind == argc) return usage_error("no SOURCE given");
  if (argc - optind > 1) return usage_error("one SOURCE only");
  opts.mode = repair ? pmemfs::fsck::CheckMode::kRepair : pmemfs::fsck::CheckMode::kNoChanges;
  // Without -n the summary already says "run fsck.pmemfs -y to repair".
  return pmemfs::fsck::check_pool(argv[optind], opts, std::cout).exit_code;
}
