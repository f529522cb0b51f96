// Space: what pmemfs allocates for sparse, mixed and sequential workloads
// against what tmpfs would hold for the same operations, and the share of
// sequentially written files in 2 MiB extents (issue 12 item 4). In
// process, through the library, no mount.
//
//   build/bench/bench_space [OPS [SEED]]   (default 10000 ops, seed 1)
//
// The tmpfs figure is counted, not measured: a model applies each operation
// at 4 KiB page granularity as shmem does (a write or fallocate holds every
// page it touches, truncate frees the pages past the new size, a punch the
// whole pages inside it). pmemfs's figure is the data blocks its files map
// (and, beside it, the pool's used blocks, metadata included), read after
// every file was closed, as a user's du would see them.
//
// Mixed ("fsstress-like"): 4 writers' worth of files, each operation opening
// the file and closing it again, as fsstress does: random writes of 1 B to
// 128 KiB within size + 1 MiB, appends, files written sequentially to a
// random size (some after ftruncate to it), truncates, punches, fallocates
// (half with KEEP_SIZE), creates and unlinks.
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "pmemfs/filesystem.h"

namespace {

using pmemfs::Filesystem;
constexpr uint64_t kPage = 4096, kMiB = 1 << 20;
constexpr uint64_t kMaxFile = 256 * kMiB;
const pmemfs::Caller kWho{0, 0, 022};

// The pages tmpfs would hold for one file.
struct Model {
  uint64_t size = 0;
  std::vector<bool> held;  // by page
  void hold(uint64_t off, uint64_t len) {
    if (len == 0) return;
    const uint64_t last = (off + len - 1) / kPage;
    if (held.size() <= last) held.resize(last + 1);
    for (uint64_t p = off / kPage; p <= last; ++p) held[p] = true;
  }
  void truncate(uint64_t s) {
    size = s;
    const uint64_t keep = (s + kPage - 1) / kPage;
    if (held.size() > keep) held.resize(keep);
  }
  void punch(uint64_t off, uint64_t len) {
    for (uint64_t p = (off + kPage - 1) / kPage; (p + 1) * kPage <= off + len && p < held.size(); ++p)
      held[p] = false;
  }
  uint64_t bytes() const { return static_cast<uint64_t>(std::count(held.begin(), held.end(), true)) * kPage; }
};

struct File {
  uint64_t ino = 0, dir = 0;
  std::string name;
  Model m;
};

struct Space {
  uint64_t mapped = 0, huge = 0;
};

Space space_of(Filesystem& fs, uint64_t ino) {
  Space s;
  auto map = fs.map(ino);
  if (!map.ok()) return s;
  for (const auto& e : *map) {
    s.mapped += e.length;
    if (e.huge) s.huge += e.length;
  }
  return s;
}

uint64_t used_blocks(Filesystem& fs) {
  auto s = fs.statfs();
  return s->blocks - s->blocks_free;
}

class Mixed {
 public:
  Mixed(Filesystem& fs, uint64_t seed) : fs_(fs), rng_(seed), buf_(8 * kMiB, 'w') {}

  void run(uint64_t ops) {
    for (int d = 0; d < 4; ++d) dirs_.push_back(fs_.mkdir(1, "p" + std::to_string(d), 0755, kWho)->ino);
    for (uint64_t i = 0; i < ops; ++i) step();
  }
  uint64_t model_bytes() const {
    uint64_t n = 0;
    for (const auto& f : files_) n += f.m.bytes();
    return n;
  }
  Space space() const {
    Space s;
    for (const auto& f : files_) {
      Space one = space_of(fs_, f.ino);
      s.mapped += one.mapped;
      s.huge += one.huge;
    }
    return s;
  }
  uint64_t failures() const { return failures_; }
  size_t files() const { return files_.size(); }

 private:
  uint64_t rand(uint64_t n) { return n ? rng_() % n : 0; }
  void check(bool ok) { failures_ += !ok; }

  File* create() {
    File f;
    f.name = "f" + std::to_string(next_++);
    f.dir = dirs_[rand(dirs_.size())];
    auto a = fs_.mknod(f.dir, f.name, S_IFREG | 0644, 0, kWho);
    if (!a.ok()) {
      ++failures_;
      return nullptr;
    }
    f.ino = a->ino;
    files_.push_back(std::move(f));
    return &files_.back();
  }
  bool write(File& f, uint64_t off, uint64_t len) {
    len = std::min(len, kMaxFile - std::min(off, kMaxFile));
    if (len == 0) return true;
    for (uint64_t done = 0; done < len;) {
      const uint64_t n = std::min<uint64_t>(len - done, buf_.size());
      auto w = fs_.write(f.ino, off + done, buf_.data(), n);
      if (!w.ok()) return false;
      f.m.hold(off + done, *w);
      f.m.size = std::max(f.m.size, off + done + *w);
      done += *w;
    }
    return true;
  }
  bool sequential(File& f, uint64_t from, uint64_t to, uint64_t chunk) {
    for (uint64_t off = from; off < to; off += chunk)
      if (!write(f, off, std::min(chunk, to - off))) return false;
    return true;
  }
  bool truncate(File& f, uint64_t size) {
    pmemfs::SetAttr s;
    s.valid = pmemfs::SetAttr::kSize;
    s.size = size;
    if (!fs_.setattr(f.ino, s).ok()) return false;
    f.m.truncate(size);
    return true;
  }

  void step() {
    const uint64_t kind = rand(100);
    if (files_.size() < 64 || kind < 6) {
      create();
      return;
    }
    const size_t idx = rand(files_.size());
    File& f = files_[idx];
    const uint64_t reach = std::min(f.m.size + kMiB, kMaxFile);
    if (kind < 8) {  // unlink
      check(fs_.unlink(f.dir, f.name).ok());
      fs_.forget(f.ino, 1);
      files_.erase(files_.begin() + static_cast<long>(idx));
      return;
    }
    if (!fs_.open(f.ino).ok()) {
      ++failures_;
      return;
    }
    const uint64_t chunks[] = {4096, 65536, 128 * 1024, kMiB};
    if (kind < 45) {  // random write, as fsstress's write/dwrite/mwrite
      check(write(f, rand(reach), rand(128 * 1024) + 1));
    } else if (kind < 55) {  // append
      check(sequential(f, f.m.size, f.m.size + rand(4 * kMiB) + 1, chunks[rand(4)]));
    } else if (kind < 65) {  // a file written sequentially from 0 to a random size
      const uint64_t size = uint64_t{1} << (12 + rand(13)) | rand(kMiB);  // 4 KiB to 17 MiB
      if (kind < 60) check(truncate(f, 0) && truncate(f, size));  // after ftruncate to it
      else check(truncate(f, 0));
      check(sequential(f, 0, size, chunks[rand(4)]));
    } else if (kind < 75) {  // truncate, down or up
      check(truncate(f, rand(reach)));
    } else if (kind < 87) {  // punch
      const uint64_t off = rand(reach), len = rand(kMiB) + 1;
      if (fs_.fallocate(f.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len).ok())
        f.m.punch(off, len);
      else
        ++failures_;
    } else {  // fallocate, half of them KEEP_SIZE
      const uint64_t off = rand(reach), len = rand(4 * kMiB) + 1;
      const int mode = rand(2) ? FALLOC_FL_KEEP_SIZE : 0;
      if (fs_.fallocate(f.ino, mode, off, len).ok()) {
        f.m.hold(off, len);
        if (!mode) f.m.size = std::max(f.m.size, off + len);
      } else {
        ++failures_;
      }
    }
    fs_.release(f.ino);
  }

  Filesystem& fs_;
  std::mt19937_64 rng_;
  std::string buf_;
  std::vector<uint64_t> dirs_;
  std::vector<File> files_;
  uint64_t next_ = 0, failures_ = 0;
};

double ratio(uint64_t a, uint64_t b) { return b ? static_cast<double>(a) / static_cast<double>(b) : 0; }

std::unique_ptr<Filesystem> fresh(const std::string& path, uint64_t size) {
  pmemfs::FormatOptions fo;
  fo.source = path;
  fo.size = size;
  fo.force = true;
  if (!Filesystem::format(fo).ok()) return nullptr;
  pmemfs::MountOptions mo;
  mo.source = path;
  auto fs = Filesystem::mount(mo);
  return fs.ok() ? std::move(*fs) : nullptr;
}

// One file written sequentially in `chunk` writes, after `prepare`; returns
// its share of bytes in 2 MiB extents.
template <typename Prepare>
void sequential_case(Filesystem& fs, const char* label, uint64_t size, uint64_t chunk, Prepare&& prepare) {
  auto a = fs.mknod(1, label, S_IFREG | 0644, 0, kWho);
  const uint64_t ino = a->ino;
  (void)fs.open(ino);
  prepare(ino);
  std::string buf(chunk, 'q');
  const auto t0 = std::chrono::steady_clock::now();
  for (uint64_t off = 0; off < size; off += chunk)
    if (!fs.write(ino, off, buf.data(), std::min(chunk, size - off)).ok()) {
      std::printf("  %-34s write failed at %llu\n", label, static_cast<unsigned long long>(off));
      break;
    }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fs.release(ino);
  const Space s = space_of(fs, ino);
  std::printf("  %-34s %5llu MiB  in 2 MiB extents %6.2f%%  allocated/size %.4f  %6.0f MB/s\n", label,
              static_cast<unsigned long long>(size / kMiB), 100.0 * ratio(s.huge, size),
              ratio(s.mapped, size), static_cast<double>(size) / 1e6 / secs);
  (void)fs.unlink(1, label);
  fs.forget(ino, 1);
}

}  // namespace

int main(int argc, char** argv) {
  const uint64_t ops = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000;
  const uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  const std::string path = "/dev/shm/pmemfs-spacebench-" + std::to_string(getpid()) + ".pool";
  int rc = 0;

  {
    auto fs = fresh(path, 6ull << 30);
    if (!fs) return 1;
    // Scattered 4 KiB writes into a 1 GiB sparse file (a VM image, a database).
    auto a = fs->mknod(1, "sparse", S_IFREG | 0644, 0, kWho);
    pmemfs::SetAttr sa;
    sa.valid = pmemfs::SetAttr::kSize;
    sa.size = 1ull << 30;
    (void)fs->setattr(a->ino, sa);
    std::mt19937_64 rng(seed);
    Model m;
    std::string block(kPage, 's');
    (void)fs->open(a->ino);
    for (int i = 0; i < 4096; ++i) {
      const uint64_t off = rng() % (sa.size / kPage) * kPage;
      (void)fs->write(a->ino, off, block.data(), kPage);
      m.hold(off, kPage);
    }
    fs->release(a->ino);
    const Space s = space_of(*fs, a->ino);
    std::printf("scattered: 4096 random 4 KiB writes into a 1 GiB sparse file\n");
    std::printf("  held by tmpfs %8.1f MiB  allocated %8.1f MiB  ratio %.3f\n",
                static_cast<double>(m.bytes()) / kMiB, static_cast<double>(s.mapped) / kMiB,
                ratio(s.mapped, m.bytes()));
    (void)fs->unlink(1, "sparse");
    fs->forget(a->ino, 1);

    const uint64_t used0 = used_blocks(*fs);
    Mixed mix(*fs, seed);
    const auto t0 = std::chrono::steady_clock::now();
    mix.run(ops);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const Space ms = mix.space();
    const uint64_t used = (used_blocks(*fs) - used0) * kPage;
    std::printf("mixed (fsstress-like): %llu ops, %zu files left, %llu failed ops, %.1f s\n",
                static_cast<unsigned long long>(ops), mix.files(),
                static_cast<unsigned long long>(mix.failures()), secs);
    std::printf("  held by tmpfs %8.1f MiB  data allocated %8.1f MiB  ratio %.3f (target <= 1.25)\n",
                static_cast<double>(mix.model_bytes()) / kMiB, static_cast<double>(ms.mapped) / kMiB,
                ratio(ms.mapped, mix.model_bytes()));
    std::printf("  pool blocks used, metadata included %8.1f MiB  ratio %.3f\n",
                static_cast<double>(used) / kMiB, ratio(used, mix.model_bytes()));
    std::printf("  share of allocated bytes in 2 MiB extents %.1f%%\n", 100.0 * ratio(ms.huge, ms.mapped));
    if (ratio(ms.mapped, mix.model_bytes()) > 1.25) rc = 2;
  }
  {
    auto fs = fresh(path, 2ull << 30);
    if (!fs) return 1;
    constexpr uint64_t kSize = 1ull << 30;
    // Untimed: the pool's pages are touched once (a tmpfs file's first
    // touch costs more than any allocation policy).
    {
      auto w = fs->mknod(1, "warm", S_IFREG | 0644, 0, kWho);
      (void)fs->fallocate(w->ino, 0, 0, kSize + kSize / 2);
      (void)fs->unlink(1, "warm");
      fs->forget(w->ino, 1);
    }
    std::printf("sequential files (target >= 99%% in 2 MiB extents):\n");
    auto none = [](uint64_t) {};
    auto ftrunc = [&](uint64_t ino) {
      pmemfs::SetAttr sa;
      sa.valid = pmemfs::SetAttr::kSize;
      sa.size = kSize;
      (void)fs->setattr(ino, sa);
    };
    auto falloc = [&](uint64_t ino) { (void)fs->fallocate(ino, 0, 0, kSize); };
    sequential_case(*fs, "1 MiB appends", kSize, kMiB, none);
    sequential_case(*fs, "4 KiB appends (fio rw=write bs=4k)", kSize, kPage, none);
    sequential_case(*fs, "128 KiB appends (cp)", kSize, 128 * 1024, none);
    sequential_case(*fs, "ftruncate, then 4 KiB writes", kSize, kPage, ftrunc);
    sequential_case(*fs, "ftruncate, then 1 MiB writes", kSize, kMiB, ftrunc);
    sequential_case(*fs, "fallocate, then 4 KiB writes", kSize, kPage, falloc);
    sequential_case(*fs, "odd 100017 B appends", kSize, 100017, none);
  }
  unlink(path.c_str());
  return rc;
}
