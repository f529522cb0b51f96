// fsck.pmemfs: checks and repairs a pmemfs pool; fsck(8) exit codes.
//
//   fsck.pmemfs [-n|-y|-a|-p] [-f] [-C FD] SOURCE
//
// -n   check only: open read-only, change nothing (the default).
// -y   repair what can be repaired; -a and -p (fsck(8)'s preen) mean the same.
// -f   accepted for fsck(8) ("force"); every run checks everything.
// -C   progress, as e2fsck: FD > 0 gets lines "PASS CURRENT MAX SOURCE";
//      0 draws a line on standard output when it is a terminal. Without -C,
//      a terminal on standard output gets the line too, once a check has
//      taken a second.
//
// Without -n or -y it behaves as -n and says how to repair.
#include <getopt.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "tools/fsck/checker.h"
#include "tools/fsck/progress.h"

#ifndef PMEMFS_VERSION
#define PMEMFS_VERSION "unknown"
#endif

namespace {

constexpr char kUsage[] = "usage: fsck.pmemfs [-n|-y|-a|-p] [-f] [-C FD] SOURCE\n";

int usage_error(const std::string& why) {
  std::cerr << "fsck.pmemfs: " << why << '\n' << kUsage;
  return pmemfs::fsck::kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  pmemfs::fsck::CheckOptions opts;
  bool no_changes = false, repair = false;  // -n, -y
  int progress_fd = -1;                      // -C
  static const option kLong[] = {{"help", no_argument, nullptr, 'h'},
                                 {"version", no_argument, nullptr, 'V'},
                                 {nullptr, 0, nullptr, 0}};
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "nyapfC:hV", kLong, nullptr)) != -1) {
    switch (c) {
      case 'n': no_changes = true; break;
      case 'y':
      case 'a':
      case 'p': repair = true; break;
      case 'f': break;  // fsck(8)'s "force": every run is a full check
      case 'C': {
        char* end = nullptr;
        errno = 0;
        const long fd = std::strtol(optarg, &end, 10);
        if (errno || end == optarg || *end || fd < 0 || fd > 1 << 20)
          return usage_error(std::string("-C: not a file descriptor: ") + optarg);
        progress_fd = static_cast<int>(fd);
        break;
      }
      case 'h':
        std::cout << kUsage
                  << "  -n  check only, change nothing (default)\n"
                     "  -y  repair (-a and -p are the same, for fsck(8))\n"
                     "  -f  accepted for fsck(8); every run is a full check\n"
                     "  -C FD  progress lines \"PASS CURRENT MAX SOURCE\" on FD (0: a\n"
                     "         line on the terminal)\n";
        return 0;
      case 'V': std::cout << "fsck.pmemfs " << PMEMFS_VERSION << '\n'; return 0;
      default:
        if (optopt == 'C') return usage_error("-C needs a file descriptor");
        return usage_error(std::string("unknown option ") +
                           (optopt ? std::string("-") + static_cast<char>(optopt) : argv[optind - 1]));
    }
  }
  if (no_changes && repair) return usage_error("-n and -y (or -a/-p) exclude each other");
  if (optind == argc) return usage_error("no SOURCE given");
  if (argc - optind > 1) return usage_error("one SOURCE only");
  opts.mode = repair ? pmemfs::fsck::CheckMode::kRepair : pmemfs::fsck::CheckMode::kNoChanges;
  const std::string source = argv[optind];
  std::unique_ptr<pmemfs::fsck::Progress> progress;
  if (progress_fd > 0) {
    // A progress reader that went away must not end the check halfway.
    signal(SIGPIPE, SIG_IGN);
    progress = std::make_unique<pmemfs::fsck::FdProgress>(progress_fd, source);
  } else if (isatty(STDOUT_FILENO)) {
    progress = std::make_unique<pmemfs::fsck::TerminalProgress>(stdout, source);
  }
  opts.progress = progress.get();
  // Without -n the summary already says "run fsck.pmemfs -y to repair".
  return pmemfs::fsck::check_pool(source, opts, std::cout).exit_code;
}
