// Space: what pmemfs allocates for sparse, mixed and sequential workloads
// against what tmpfs would hold for the same operations, and the share of
// sequentially written files in 2 MiB extents (issue 12 item 4). In
// process, through the library, no mount.
//
//   build/bench/bench_space [OPS [SEED]]   (default 10000 ops, seed 1)
//   build/bench/bench_space aging [POOL_GIB [SEED [SVG_PREFIX]]]
//                                  (default 6 GiB, seed 1, /tmp/pmemfs-aging)
//
// aging (issue 12 item 5): churns files of a Geriatrix-like size mix
// (mostly small, some large; written sequentially or scattered; deleted at
// random) through several times the pool's size until it is 75% full, then
// writes new 1 GiB files sequentially and reports their share in 2 MiB
// extents (target >= 90%), the free 2 MiB regions left and the rate. It
// draws the pool as 2 MiB cells (pmemfs/usage.h, as `pmemfs-ctl usage
// --svg`) once aged, before the new files (SVG_PREFIX-before.svg), and
// after them (SVG_PREFIX-after.svg), and prints each drawing's summary.
//
// The tmpfs figure is counted, not measured: a model applies each operation
// at 4 KiB page granularity as shmem does (a write or fallocate holds every
// page it touches, truncate frees the pages past the new size, a punch the
// whole pages inside it). pmemfs's figure is the data blocks its files map
// (and, beside it, the pool's used blocks, metadata included), read after
// every file was closed, as a user's du would see them.
//
// Two mixes over 4 directories of files, each operation opening the file and
// closing it again, as fsstress does: fsstress's own (random writes of 1 B to
// 128 KiB within size + 1 MiB, truncates, punches, fallocates, half with
// KEEP_SIZE, creates and unlinks, at its default frequencies), and one with
// sequential writers added (appends; files written from 0 to a random size,
// half after ftruncate to it).
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "pmemfs/alloc.h"
#include "pmemfs/filesystem.h"
#include "pmemfs/fs_impl.h"
#include "pmemfs/usage.h"

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

enum Op { kCreate, kUnlink, kWrite, kAppend, kSeqFile, kSeqFileTruncated, kTruncate, kPunch, kFallocate, kNOps };

struct Weights {
  const char* name;
  int w[kNOps];
  uint64_t falloc_max;  // bytes
};

// fsstress's default frequencies of the operations that change space (write,
// dwrite and mwrite counted as one; creat 4, unlink 1, truncate 2, fallocate
// and punch 1 each, fallocate up to 1 MiB, as fsstress draws them).
constexpr Weights kFsstress{"fsstress-like (its default frequencies)", {4, 1, 10, 0, 0, 0, 2, 1, 1}, kMiB};
// The same with sequential writers mixed in: appends, and files written
// from 0 to a random size, half of them after ftruncate to it.
constexpr Weights kWithStreams{"mixed, with sequential writers", {6, 2, 37, 10, 5, 5, 10, 12, 13}, 4 * kMiB};

class Mixed {
 public:
  Mixed(Filesystem& fs, const Weights& w, uint64_t seed)
      : fs_(fs), weights_(w), rng_(seed), buf_(8 * kMiB, 'w') {}

  void run(uint64_t ops) {
    static int runs = 0;
    for (int d = 0; d < 4; ++d)
      dirs_.push_back(fs_.mkdir(1, "p" + std::to_string(runs) + "." + std::to_string(d), 0755, kWho)->ino);
    ++runs;
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
  void remove_all() {
    for (const auto& f : files_) {
      (void)fs_.unlink(f.dir, f.name);
      fs_.forget(f.ino, 1);
    }
    files_.clear();
  }
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

  Op pick() {
    int total = 0;
    for (int w : weights_.w) total += w;
    int r = static_cast<int>(rand(static_cast<uint64_t>(total)));
    for (int op = 0; op < kNOps; ++op)
      if ((r -= weights_.w[op]) < 0) return static_cast<Op>(op);
    return kWrite;
  }

  void step() {
    const Op op = files_.size() < 64 ? kCreate : pick();
    if (op == kCreate) {
      create();
      return;
    }
    const size_t idx = rand(files_.size());
    File& f = files_[idx];
    const uint64_t reach = std::min(f.m.size + kMiB, kMaxFile);
    if (op == kUnlink) {
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
    switch (op) {
      case kWrite:  // fsstress's write/dwrite/mwrite: 1 B to 128 KiB within size + 1 MiB
        check(write(f, rand(reach), rand(128 * 1024) + 1));
        break;
      case kAppend:
        check(sequential(f, f.m.size, f.m.size + rand(4 * kMiB) + 1, chunks[rand(4)]));
        break;
      case kSeqFile:  // written again from 0 to a random size, 4 KiB to 17 MiB
      case kSeqFileTruncated: {  // the same after ftruncate to that size
        const uint64_t size = uint64_t{1} << (12 + rand(13)) | rand(kMiB);
        check(truncate(f, 0) && (op == kSeqFile || truncate(f, size)));
        check(sequential(f, 0, size, chunks[rand(4)]));
        break;
      }
      case kTruncate:  // down or up
        check(truncate(f, rand(reach)));
        break;
      case kPunch: {
        const uint64_t off = rand(reach), len = rand(kMiB) + 1;
        if (fs_.fallocate(f.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, len).ok())
          f.m.punch(off, len);
        else
          ++failures_;
        break;
      }
      case kFallocate: {  // half of them KEEP_SIZE
        const uint64_t off = rand(reach), len = rand(weights_.falloc_max) + 1;
        const int mode = rand(2) ? FALLOC_FL_KEEP_SIZE : 0;
        if (fs_.fallocate(f.ino, mode, off, len).ok()) {
          f.m.hold(off, len);
          if (!mode) f.m.size = std::max(f.m.size, off + len);
        } else {
          ++failures_;
        }
        break;
      }
      default:
        break;
    }
    fs_.release(f.ino);
  }

  Filesystem& fs_;
  const Weights weights_;
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

// Writes the pool's cells as SVG to path and prints their summary.
void draw(Filesystem& fs, const std::string& path, const char* when) {
  auto summary = fs.usage();
  auto cells = summary.ok() ? fs.usage_cells(0, summary->cells) : pmemfs::Result<std::string>(pmemfs::err(EIO));
  if (!cells.ok()) {
    std::printf("  usage %s: failed\n", when);
    return;
  }
  const pmemfs::UsageSummary s = pmemfs::summarize_cells(*cells, summary->free_blocks);
  const std::string svg = pmemfs::usage_svg(s, *cells, std::string("aging benchmark, ") + when);
  if (FILE* f = std::fopen(path.c_str(), "w")) {
    std::fwrite(svg.data(), 1, svg.size(), f);
    std::fclose(f);
  }
  std::printf("  usage %s (%s):\n", when, path.c_str());
  std::string text = s.to_text();
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1)
    std::printf("    %s\n", text.substr(at, nl - at).c_str());
}

int aging(uint64_t pool_gib, uint64_t seed, const std::string& svg_prefix) {
  const std::string path = "/dev/shm/pmemfs-agingbench-" + std::to_string(getpid()) + ".pool";
  auto fs = fresh(path, pool_gib << 30);
  if (!fs) return 1;
  auto& alloc = static_cast<pmemfs::FsImpl&>(*fs).allocator();
  const uint64_t total = alloc.total_blocks();
  auto used_share = [&] { return 1.0 - static_cast<double>(alloc.free_blocks()) / static_cast<double>(total); };
  std::mt19937_64 rng(seed);
  auto rand = [&](uint64_t n) { return n ? rng() % n : 0; };
  struct Aged {
    uint64_t ino;
    std::string name;
  };
  std::vector<Aged> files;
  std::string buf(kMiB, 'a');
  uint64_t next = 0, written = 0;
  auto make = [&] {
    // Geriatrix-like: 60% 4-64 KiB, 30% 64 KiB-4 MiB, 10% 4-128 MiB.
    const uint64_t k = rand(10);
    const uint64_t size = k < 6 ? 4096 + rand(60 * 1024) : k < 9 ? 65536 + rand(4 * kMiB) : 4 * kMiB + rand(124 * kMiB);
    Aged f{0, "a" + std::to_string(next++)};
    auto a = fs->mknod(1, f.name, S_IFREG | 0644, 0, kWho);
    if (!a.ok()) return false;
    f.ino = a->ino;
    (void)fs->open(f.ino);
    bool ok = true;
    if (rand(4) == 0) {  // scattered: a sparse file, 4-64 KiB writes
      pmemfs::SetAttr sa;
      sa.valid = pmemfs::SetAttr::kSize;
      sa.size = size;
      (void)fs->setattr(f.ino, sa);
      for (uint64_t n = 0; n < size / 4 && ok; n += 16384)
        ok = fs->write(f.ino, rand(size / 4096) * 4096, buf.data(), 4096 + rand(15) * 4096).ok();
    } else {
      const uint64_t chunk = uint64_t{4096} << rand(9);  // 4 KiB to 1 MiB
      for (uint64_t off = 0; off < size && ok; off += chunk)
        ok = fs->write(f.ino, off, buf.data(), std::min(chunk, size - off)).ok();
      if (ok && rand(5) == 0) {  // grown, then cut
        pmemfs::SetAttr sa;
        sa.valid = pmemfs::SetAttr::kSize;
        sa.size = rand(size);
        (void)fs->setattr(f.ino, sa);
      }
    }
    fs->release(f.ino);
    written += size;
    files.push_back(f);
    return ok;
  };
  auto remove_one = [&] {
    const size_t i = rand(files.size());
    (void)fs->unlink(1, files[i].name);
    fs->forget(files[i].ino, 1);
    files[i] = files.back();
    files.pop_back();
  };
  const auto t0 = std::chrono::steady_clock::now();
  const uint64_t pool_bytes = total * kPage;
  // Churn: fill to 75%, delete down to 50%, again, until 3 pools' worth
  // has been written; end at 75%.
  while (written < 3 * pool_bytes) {
    while (used_share() < 0.75)
      if (!make()) break;
    while (used_share() > 0.50 && !files.empty()) remove_one();
  }
  while (used_share() < 0.75)
    if (!make()) break;
  while (used_share() > 0.76 && !files.empty()) remove_one();
  const double age_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t free_blocks = alloc.free_blocks(), free_huge = alloc.free_huge_extents();
  std::printf("aging: %llu GiB pool, %.1f GiB written in %.0f s, %zu files left, %.1f%% full\n",
              static_cast<unsigned long long>(pool_gib), static_cast<double>(written) / (1 << 30), age_secs,
              files.size(), 100.0 * used_share());
  std::printf("  free: %.1f MiB, of it in whole free 2 MiB regions: %llu (%.1f%%)\n",
              static_cast<double>(free_blocks * kPage) / kMiB, static_cast<unsigned long long>(free_huge),
              100.0 * ratio(free_huge * 512, free_blocks));
  draw(*fs, svg_prefix + "-before.svg", "aged, before the new files");
  int rc = 0;
  for (int i = 0; i < 8; ++i) {
    if (alloc.free_blocks() * kPage < (1ull << 30) + 64 * kMiB) break;
    const std::string name = "new" + std::to_string(i);
    auto a = fs->mknod(1, name, S_IFREG | 0644, 0, kWho);
    (void)fs->open(a->ino);
    const auto t1 = std::chrono::steady_clock::now();
    for (uint64_t off = 0; off < (1ull << 30); off += kMiB) (void)fs->write(a->ino, off, buf.data(), kMiB);
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    fs->release(a->ino);
    const Space s = space_of(*fs, a->ino);
    std::printf("  new 1 GiB file %d: %.2f%% in 2 MiB extents (target >= 90%%), %.0f MB/s, pool %.1f%% full\n", i,
                100.0 * ratio(s.huge, s.mapped), (1 << 30) / 1e6 / secs, 100.0 * used_share());
    if (ratio(s.huge, s.mapped) < 0.90) rc = 2;
  }
  std::printf("  free 2 MiB regions left: %llu\n", static_cast<unsigned long long>(alloc.free_huge_extents()));
  draw(*fs, svg_prefix + "-after.svg", "after the new files");
  fs.reset();
  unlink(path.c_str());
  return rc;
}

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "aging")
    return aging(argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 6,
                 argc > 3 ? std::strtoull(argv[3], nullptr, 10) : 1,
                 argc > 4 ? argv[4] : "/tmp/pmemfs-aging");
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

    for (const Weights* w : {&kFsstress, &kWithStreams}) {
      const uint64_t used0 = used_blocks(*fs);
      Mixed mix(*fs, *w, seed);
      const auto t0 = std::chrono::steady_clock::now();
      mix.run(ops);
      const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const Space ms = mix.space();
      const uint64_t used = (used_blocks(*fs) - used0) * kPage;
      std::printf("%s: %llu ops, %zu files left, %llu failed ops, %.1f s\n", w->name,
                  static_cast<unsigned long long>(ops), mix.files(),
                  static_cast<unsigned long long>(mix.failures()), secs);
      std::printf("  held by tmpfs %8.1f MiB  data allocated %8.1f MiB  ratio %.3f (target <= 1.25)\n",
                  static_cast<double>(mix.model_bytes()) / kMiB, static_cast<double>(ms.mapped) / kMiB,
                  ratio(ms.mapped, mix.model_bytes()));
      std::printf("  pool blocks used, metadata included %8.1f MiB  ratio %.3f\n",
                  static_cast<double>(used) / kMiB, ratio(used, mix.model_bytes()));
      std::printf("  share of allocated bytes in 2 MiB extents %.1f%%\n", 100.0 * ratio(ms.huge, ms.mapped));
      if (ratio(ms.mapped, mix.model_bytes()) > 1.25) rc = 2;
      mix.remove_all();
    }
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

    // SEEK_DATA/SEEK_HOLE read the allocated pages they pass (fs_space.cc):
    // the worst cases, a fallocate'd GiB not yet written and a written one.
    auto a = fs->mknod(1, "seek", S_IFREG | 0644, 0, kWho);
    (void)fs->fallocate(a->ino, 0, 0, kSize);
    auto time_seek = [&](int whence, const char* what) {
      const auto t0 = std::chrono::steady_clock::now();
      auto r = fs->lseek(a->ino, 0, whence);
      const double ms = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1e3;
      std::printf("  %-50s %8.1f ms (answer %lld)\n", what, ms,
                  r.ok() ? static_cast<long long>(*r) : -static_cast<long long>(r.error()));
    };
    time_seek(SEEK_DATA, "SEEK_DATA from 0, 1 GiB fallocate'd, unwritten");
    std::string buf(kMiB, 'x');
    for (uint64_t off = 0; off < kSize; off += kMiB) (void)fs->write(a->ino, off, buf.data(), kMiB);
    time_seek(SEEK_HOLE, "SEEK_HOLE from 0, 1 GiB written");
    time_seek(SEEK_DATA, "SEEK_DATA from 0, 1 GiB written");
  }
  unlink(path.c_str());
  return rc;
}
