// Metadata at scale, in-process (no mount): the DRAM a cached inode costs and
// what forgetting it gives back (issue 12, item 1 and 2), and the rates of
// name operations in a directory of a million entries against one of a
// thousand (item 7).
//
//   build/bench/bench_metadata [N [forget]]   (default 1000000)
//     Creates N empty files (1000 per directory), reports the create rate and
//     the DRAM held per cached file (anonymous resident set growth) against
//     the 256-byte target, then forgets every file as the kernel does under
//     memory pressure and reports what stays; then remounts and times a
//     lookup of each. With "forget" each new inode's kernel reference is
//     dropped at once instead: DRAM is then what directory indexes and the
//     allocator keep.
//   build/bench/bench_metadata dirs [N]      (default 1000000)
//     create, lookup, stat, readdir and unlink of N names in one directory,
//     and of N names in N/1000 directories of 1000 (the same inodes and names
//     held, only spread differently), each rate and the ratio against the 2x
//     target.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "fuse/heap.h"
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

const char* verdict(bool ok) { return ok ? "met" : "NOT MET"; }

struct Pool {
  std::string path;
  explicit Pool(uint64_t files) {
    path = "/dev/shm/pmemfs-metabench-" + std::to_string(getpid()) + ".pool";
    pmemfs::FormatOptions fo;
    fo.source = path;
    fo.size = (files * 4096 + (256u << 20)) / (1u << 21) * (1u << 21) * 2;
    fo.bytes_per_inode = 4096;
    if (!pmemfs::Filesystem::format(fo).ok()) {
      std::fprintf(stderr, "format %s failed\n", path.c_str());
      std::exit(1);
    }
  }
  ~Pool() { unlink(path.c_str()); }
  std::unique_ptr<pmemfs::Filesystem> mount() const {
    pmemfs::MountOptions mo;
    mo.source = path;
    return pmemfs::Filesystem::mount(mo).value();
  }
};

int per_inode(uint64_t n, bool forget) {
  Pool pool(n);
  std::vector<uint64_t> dirs, files;
  dirs.reserve(n / 1000 + 1);
  // Touched now, so that the list's own pages are not counted as the files'.
  if (!forget) files.assign(n, 0);
  auto fs = pool.mount();
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
    if (forget)
      fs->forget(r->ino, 1);
    else
      files[i] = r->ino;
  }
  const double t = seconds_since(t0);
  const long rss1 = rss_kib();
  const double per = static_cast<double>(rss1 - rss0) * 1024 / static_cast<double>(n);
  std::printf("created %llu files in %.1f s (%.0f/s); DRAM %.0f bytes per file (+%ld MiB anon), %s\n",
              static_cast<unsigned long long>(n), t, static_cast<double>(n) / t, per,
              (rss1 - rss0) / 1024, pmemfs::daemon::heap_name());
  if (!forget) {
    std::printf("  bytes per cached inode: %.0f (target <= 256: %s)\n", per, verdict(per <= 256));
    for (uint64_t ino : files) fs->forget(ino, 1);
    pmemfs::daemon::heap_trim();
    const long rss2 = rss_kib();
    const double left = static_cast<double>(rss2 - rss0) * 1024 / static_cast<double>(n);
    std::printf("  after forgetting them all: %.0f bytes per file stay (+%ld MiB anon: directory "
                "indexes, allocator); %.0f%% of the cached DRAM given back\n",
                left, (rss2 - rss0) / 1024,
                rss1 > rss0 ? 100.0 * static_cast<double>(rss1 - rss2) / static_cast<double>(rss1 - rss0) : 0.0);
  } else {
    std::printf("  bytes per forgotten file: %.0f\n", per);
  }
  fs.reset();
  {
    auto tm0 = std::chrono::steady_clock::now();
    auto fs2 = pool.mount();
    const double tm = seconds_since(tm0);
    const long r0 = rss_kib();
    tm0 = std::chrono::steady_clock::now();
    for (uint64_t i = 0; i < n; ++i)
      if (!fs2->lookup(dirs[i / 1000], "file" + std::to_string(i)).ok()) return 1;
    std::printf("remount %.3f s; looked up every file in %.1f s; DRAM after lookups +%ld MiB\n", tm,
                seconds_since(tm0), (rss_kib() - r0) / 1024);
  }
  return 0;
}

struct Rates {
  double create = 0, lookup = 0, stat = 0, readdir = 0, unlink = 0;
};

// Every operation on `per_dir` names in each of `ndirs` directories, all of
// them there at once, so that both sides hold the same number of inodes and
// names and differ only in how the names are spread: one phase after the
// other, lookups and stats in one pseudo-random order over all the names.
Rates dir_rates(pmemfs::Filesystem& fs, const std::string& tag, uint64_t ndirs, uint64_t per_dir) {
  pmemfs::Caller who{0, 0, 022};
  const uint64_t total = ndirs * per_dir;
  std::vector<uint64_t> dirs(ndirs), inos(total);
  auto name = [](uint64_t i) { return "entry-" + std::to_string(i); };
  // k -> (k * 1000003) % total visits every name once (1000003 is prime).
  auto shuffled = [total](uint64_t k) { return static_cast<uint64_t>((unsigned __int128)k * 1000003 % total); };
  for (uint64_t d = 0; d < ndirs; ++d) dirs[d] = fs.mkdir(1, tag + std::to_string(d), 0755, who)->ino;

  auto t0 = std::chrono::steady_clock::now();
  for (uint64_t j = 0; j < total; ++j) {
    auto a = fs.mknod(dirs[j / per_dir], name(j % per_dir), S_IFREG | 0644, 0, who);
    if (!a.ok()) std::exit(1);
    inos[j] = a->ino;
  }
  const double tc = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (uint64_t k = 0; k < total; ++k) {
    const uint64_t j = shuffled(k);
    auto a = fs.lookup(dirs[j / per_dir], name(j % per_dir));
    if (!a.ok()) std::exit(1);
    fs.forget(a->ino, 1);
  }
  const double tl = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (uint64_t k = 0; k < total; ++k)
    if (!fs.getattr(inos[shuffled(k)]).ok()) std::exit(1);
  const double ts = seconds_since(t0);
  // In buffers of 128 entries, as the kernel asks for them.
  uint64_t listed = 0;
  t0 = std::chrono::steady_clock::now();
  for (uint64_t d = 0; d < ndirs; ++d) {
    uint64_t off = 0;
    for (;;) {
      uint64_t got = 0;
      (void)fs.readdir(dirs[d], off, [&](const pmemfs::DirEntry& e) {
        if (got == 128) return false;
        ++got;
        off = e.offset;
        return true;
      });
      listed += got;
      if (got < 128) break;
    }
  }
  const double tr = seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  for (uint64_t j = 0; j < total; ++j)
    if (!fs.unlink(dirs[j / per_dir], name(j % per_dir)).ok()) std::exit(1);
  const double tu = seconds_since(t0);
  for (uint64_t j = 0; j < total; ++j) fs.forget(inos[j], 1);
  const double ops = static_cast<double>(total);
  return {ops / tc, ops / tl, ops / ts, static_cast<double>(listed) / tr, ops / tu};
}

int dirs_at_scale(uint64_t n) {
  Pool pool(n + 2000);
  auto fs = pool.mount();
  const uint64_t small = 1000;
  Rates s = dir_rates(*fs, "small", n / small, small);
  Rates b = dir_rates(*fs, "big", 1, n);
  std::printf("directory of %llu entries vs directories of %llu (ops/s; target: big >= small / 2)\n",
              static_cast<unsigned long long>(n), static_cast<unsigned long long>(small));
  auto line = [](const char* op, double sm, double bg) {
    std::printf("  %-8s %12.0f %12.0f  ratio %.2fx  %s\n", op, sm, bg, sm / bg, verdict(bg * 2 >= sm));
  };
  std::printf("  %-8s %12s %12s\n", "", "small", "big");
  line("create", s.create, b.create);
  line("lookup", s.lookup, b.lookup);
  line("stat", s.stat, b.stat);
  line("readdir", s.readdir, b.readdir);
  line("unlink", s.unlink, b.unlink);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "dirs")
    return dirs_at_scale(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1000000);
  const uint64_t n = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const bool forget = argc > 2 && std::string(argv[2]) == "forget";
  return per_inode(n, forget);
}
