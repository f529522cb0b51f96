// Creates N empty files (1000 per directory) through the library in-process
// and reports the create rate and the DRAM the mounted filesystem holds per
// file (resident set growth), then remounts and times a lookup of each.
//
//   build/bench/bench_metadata [N [forget]]   (default 1000000)
// With "forget" each new inode's kernel reference is dropped at once, as the
// kernel does under memory pressure: DRAM is then what a directory index and
// the allocator keep; without it every inode stays cached (the worst case).
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "pmemfs/filesystem.h"

namespace {

long rss_kib() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    // Anonymous memory only: the pool's own pages (a tmpfs file here) are
    // resident too but are the pool, not the daemon's DRAM.
    if (line.rfind("RssAnon:", 0) == 0) return std::strtol(line.c_str() + 8, nullptr, 10);
  return 0;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const bool forget = argc > 2 && std::string(argv[2]) == "forget";
  const std::string path = "/dev/shm/pmemfs-metabench-" + std::to_string(getpid()) + ".pool";
  pmemfs::FormatOptions fo;
  fo.source = path;
  fo.size = (n * 4096 + (256u << 20)) / (1u << 21) * (1u << 21) * 2;
  fo.bytes_per_inode = 4096;
  if (!pmemfs::Filesystem::format(fo).ok()) return 1;
  pmemfs::MountOptions mo;
  mo.source = path;
  std::vector<uint64_t> dirs;
  {
    auto fs = pmemfs::Filesystem::mount(mo).value();
    const long rss0 = rss_kib();
    auto t0 = std::chrono::steady_clock::now();
    pmemfs::Caller who{0, 0, 022};
    for (uint64_t i = 0; i < n; ++i) {
      if (i % 1000 == 0) dirs.push_back(fs->mkdir(1, "d" + std::to_string(i / 1000), 0755, who)->ino);
      auto r = fs->mknod(dirs.back(), "file" + std::to_string(i), S_IFREG | 0644, 0, who);
      if (!r.ok()) {
        std::fprintf(stderr, "create %llu failed: %d\n", static_cast<unsigned long long>(i), r.error());
        return 1;
      }
      if (forget) fs->forget(r->ino, 1);
    }
    const double t = seconds_since(t0);
    const long rss1 = rss_kib();
    std::printf("created %llu files in %.1f s (%.0f/s); DRAM %.0f bytes per file (+%ld MiB anon)\n",
                static_cast<unsigned long long>(n), t, static_cast<double>(n) / t,
                static_cast<double>(rss1 - rss0) * 1024 / static_cast<double>(n), (rss1 - rss0) / 1024);
  }
  {
    auto t0 = std::chrono::steady_clock::now();
    auto fs = pmemfs::Filesystem::mount(mo).value();
    const double tm = seconds_since(t0);
    const long rss0 = rss_kib();
    t0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; ++i)
      if (!fs->lookup(dirs[i / 1000], "file" + std::to_string(i)).ok()) return 1;
    std::printf("remount %.3f s; looked up every file in %.1f s; DRAM after lookups +%ld MiB\n", tm,
                seconds_since(t0), (rss_kib() - rss0) / 1024);
  }
  unlink(path.c_str());
  return 0;
}
