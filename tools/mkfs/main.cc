// mkfs.pmemfs [-s SIZE] [-L LABEL] [-i BYTES_PER_INODE] [-f] [-C FD] SOURCE
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "pmemfs/filesystem.h"
#include "pmemfs/layout.h"
#include "tools/fsck/progress.h"
#include "signatures.h"
#include "size.h"

namespace {

constexpr const char* kUsage =
    "usage: mkfs.pmemfs [-s SIZE] [-L LABEL] [-i BYTES_PER_INODE] [-f] [-C FD] SOURCE\n"
    "  -s SIZE   create SOURCE as a pool file of SIZE (e.g. 4G) if it does not exist\n"
    "  -L LABEL  filesystem label (up to 63 bytes)\n"
    "  -i BYTES  bytes of pool per inode (default 16384)\n"
    "  -f        overwrite what SOURCE holds (a pmemfs, another filesystem, a partition table)\n"
    "  -C FD     progress as e2fsck's -C: lines \"STAGE DONE TOTAL SOURCE\" on FD\n"
    "            (without it, a progress line on a terminal once mkfs takes a second)\n";

int usage_error(const std::string& what) {
  std::fprintf(stderr, "mkfs.pmemfs: %s\n%s", what.c_str(), kUsage);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  auto logger = spdlog::stderr_logger_st("mkfs.pmemfs");
  logger->set_pattern("mkfs.pmemfs: %v");
  spdlog::set_default_logger(logger);

  pmemfs::FormatOptions o;
  int c;
  int progress_fd = -1;
  while ((c = getopt(argc, argv, "s:L:i:fC:h")) != -1) {
    switch (c) {
      case 's': {
        auto s = pmemfs::tools::parse_size(optarg);
        if (!s) return usage_error(std::string("invalid size '") + optarg + "' (e.g. 4G, 512M)");
        if (*s < pmemfs::layout::kMinPoolSize)
          return usage_error(std::string("size '") + optarg + "' is too small: a pool needs at least " +
                             std::to_string(pmemfs::layout::kMinPoolSize >> 20) + " MiB");
        o.size = *s;
        break;
      }
      case 'L':
        if (std::strlen(optarg) > 63) return usage_error("label longer than 63 bytes");
        o.label = optarg;
        break;
      case 'i': {
        auto s = pmemfs::tools::parse_size(optarg);
        if (!s || *s < 1024) return usage_error(std::string("invalid bytes per inode '") + optarg + "' (at least 1024)");
        o.bytes_per_inode = *s;
        break;
      }
      case 'f': o.force = true; break;
      case 'C': {
        char* end = nullptr;
        const long fd = std::strtol(optarg, &end, 10);
        if (!*optarg || *end || fd < 0 || fd > 1 << 20)
          return usage_error(std::string("invalid -C file descriptor '") + optarg + "'");
        progress_fd = static_cast<int>(fd);
        break;
      }
      case 'h': std::fputs(kUsage, stdout); return 0;
      default: return usage_error("unknown option");
    }
  }
  if (optind != argc - 1) return usage_error(optind == argc ? "missing SOURCE" : "too many arguments");
  o.source = argv[optind];

  // Like mkfs.ext4: what the source holds is not overwritten unless asked.
  std::string probe_error;
  const std::string found = pmemfs::tools::existing_signature(o.source, &probe_error);
  if (!probe_error.empty()) {
    std::fprintf(stderr, "mkfs.pmemfs: %s\n", probe_error.c_str());
    return 1;
  }
  if (!found.empty()) {
    if (!o.force) {
      std::fprintf(stderr, "mkfs.pmemfs: %s contains %s; use -f to overwrite it\n", o.source.c_str(),
                   found.c_str());
      return 1;
    }
    if (std::string e = pmemfs::tools::wipe_signatures(o.source); !e.empty()) {
      std::fprintf(stderr, "mkfs.pmemfs: %s\n", e.c_str());
      return 1;
    }
  }

  // fsck.pmemfs's progress (tools/fsck/progress.h): two stages, allocating
  // the pool file (in MiB) and writing the metadata.
  std::unique_ptr<pmemfs::fsck::Progress> progress;
  if (progress_fd > 0)
    progress = std::make_unique<pmemfs::fsck::FdProgress>(progress_fd, o.source);
  else if (progress_fd == 0 || isatty(STDOUT_FILENO))  // -C 0, as e2fsck: the terminal line
    progress = std::make_unique<pmemfs::fsck::TerminalProgress>(stdout, o.source);
  int stage_shown = 0;
  if (progress) {
    o.progress = [&](int stage, uint64_t done, uint64_t total) {
      static const char* const kNames[] = {"", "allocating the pool file", "writing the metadata"};
      const uint64_t unit = stage == 1 ? 1 << 20 : 1;
      if (stage != stage_shown) {
        if (stage_shown) progress->end_pass();
        progress->start_pass(stage, 2, kNames[stage], total / unit);
        stage_shown = stage;
      }
      progress->advance(done / unit);
    };
  }
  auto t0 = std::chrono::steady_clock::now();
  auto r = pmemfs::Filesystem::format(o);
  if (progress) progress->finish();
  if (!r.ok()) return 1;  // the library printed what is wrong
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("pmemfs format version %u on %s\n", pmemfs::layout::kFormatVersion, o.source.c_str());
  std::printf("  pool size        %llu bytes (%s store granularity)\n",
              static_cast<unsigned long long>(r->pool_size), r->granularity.c_str());
  std::printf("  data             %llu blocks of 4 KiB from offset %llu (2 MiB aligned)\n",
              static_cast<unsigned long long>(r->data_blocks),
              static_cast<unsigned long long>(r->data_off));
  std::printf("  inodes           %llu\n", static_cast<unsigned long long>(r->inode_count));
  std::printf("  journal lanes    %llu\n", static_cast<unsigned long long>(r->journal_lanes));
  std::printf("  formatted in     %.1f ms\n", ms);
  return 0;
}
