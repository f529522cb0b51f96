// What the pool's own work costs per 4 KiB operation, in-process (no FUSE):
// the part of a fio row's latency that is pmemfs's rather than the round
// trips'. With a null FUSE filesystem's rate R over the same transport, a row
// can reach at most 1 / (1 + own_us * R / 1e6) of it (issue 11's "every 4 KiB
// row at 0.9x null" is that bound for an op costing about 10% of a round trip).
//
//   build/bench/bench_op_cost [seconds per op]   (default 1)
//     Pool: a 512 MiB file in /dev/shm persisted by cache-line flush and
//     fence, as run-fio.sh mounts it. Prints, per operation, microseconds per
//     op and the journal commits and persist barriers each one takes.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "pmemfs/filesystem.h"

namespace {

constexpr uint64_t kFileBytes = 256ull << 20;
constexpr size_t kIo = 4096;

struct Measured {
  double us_per_op;
  double commits_per_op, persists_per_op;
};

// Runs op for about `seconds`, in batches so the clock is read rarely.
Measured measure(pmemfs::Filesystem& fs, double seconds, const std::function<void(uint64_t)>& op) {
  const auto s0 = fs.stats();
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t n = 0;
  double elapsed = 0;
  do {
    for (int i = 0; i < 256; ++i) op(n++);
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  } while (elapsed < seconds);
  const auto s1 = fs.stats();
  const double ops = static_cast<double>(n);
  return {elapsed * 1e6 / ops, static_cast<double>(s1.journal_commits - s0.journal_commits) / ops,
          static_cast<double>(s1.persists - s0.persists) / ops};
}

void fail(const char* what, int err) {
  std::fprintf(stderr, "bench_op_cost: %s failed: errno %d\n", what, err);
  std::exit(1);
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  const std::string path = "/dev/shm/pmemfs-opcost-" + std::to_string(getpid()) + ".pool";
  pmemfs::FormatOptions fo;
  fo.source = path;
  fo.size = 512ull << 20;
  if (!pmemfs::Filesystem::format(fo).ok()) fail("format", 0);
  int status = 0;
  {
    pmemfs::MountOptions mo;
    mo.source = path;
    auto mounted = pmemfs::Filesystem::mount(mo);
    if (!mounted.ok()) fail("mount", mounted.error());
    pmemfs::Filesystem& fs = **mounted;
    const pmemfs::Caller root{0, 0, 022};
    auto file = fs.mknod(1, "f", S_IFREG | 0644, 0, root);
    if (!file.ok()) fail("create", file.error());
    const uint64_t ino = file->ino;
    // Laid out first, as fio does: the rows overwrite allocated blocks.
    std::vector<char> buf(1 << 20, 'x');
    for (uint64_t off = 0; off < kFileBytes; off += buf.size())
      if (auto w = fs.write(ino, off, buf.data(), buf.size()); !w.ok()) fail("layout", w.error());

    std::mt19937_64 rng(42);
    auto random_block = [&] { return rng() % (kFileBytes / kIo) * kIo; };
    std::printf("%-22s %10s %14s %14s\n", "operation", "us/op", "commits/op", "persists/op");
    auto row = [&](const char* name, const std::function<void(uint64_t)>& op) {
      const Measured m = measure(fs, seconds, op);
      std::printf("%-22s %10.2f %14.2f %14.2f\n", name, m.us_per_op, m.commits_per_op, m.persists_per_op);
    };
    row("randwrite 4k", [&](uint64_t) {
      if (auto w = fs.write(ino, random_block(), buf.data(), kIo); !w.ok()) fail("write", w.error());
    });
    row("randread 4k", [&](uint64_t) {
      if (auto r = fs.read(ino, random_block(), kIo, buf.data()); !r.ok()) fail("read", r.error());
    });
    row("write 4k + fsync", [&](uint64_t) {
      if (auto w = fs.write(ino, random_block(), buf.data(), kIo); !w.ok()) fail("write", w.error());
      if (auto s = fs.fsync(ino, false); !s.ok()) fail("fsync", s.error());
    });
    row("write 4k + fdatasync", [&](uint64_t) {
      if (auto w = fs.write(ino, random_block(), buf.data(), kIo); !w.ok()) fail("write", w.error());
      if (auto s = fs.fsync(ino, true); !s.ok()) fail("fdatasync", s.error());
    });
    row("stat", [&](uint64_t) {
      if (auto a = fs.getattr(ino); !a.ok()) fail("getattr", a.error());
    });
    row("create + unlink", [&](uint64_t i) {
      const std::string name = "c" + std::to_string(i);
      auto c = fs.mknod(1, name, S_IFREG | 0644, 0, root);
      if (!c.ok()) fail("create", c.error());
      if (auto u = fs.unlink(1, name); !u.ok()) fail("unlink", u.error());
      fs.forget(c->ino, 1);  // the kernel's FORGET, on which the inode is freed
    });
    if (auto u = fs.unmount(); !u.ok()) status = 1;
  }
  unlink(path.c_str());
  return status;
}
