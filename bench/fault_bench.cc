// In-process benchmarks of the fault path (pmemfs/fault.h): read faults on
// cached PTE, PMD and HOLE entries, and write faults that allocate 4 KiB and
// 2 MiB, with 1 and 2 threads on one inode and on two inodes. A read fault
// here is what the daemon does per page of a read: take the inode lock
// shared, resolve the entry, copy the 4 KiB.
//
//   build/bench/bench_fault [--benchmark_filter=...]
#include <unistd.h>

#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include <benchmark/benchmark.h>

#include "pmemfs/fs_impl.h"

namespace pmemfs {
namespace {

constexpr uint64_t kMiB = 1 << 20, kPage = 4096;
constexpr uint64_t kReadSpan = 64 * kMiB;  // bytes of each read-fault file

struct Env {
  std::string path;
  std::unique_ptr<Filesystem> fs;
  FsImpl* impl = nullptr;
  // [kind][inode]: kind 0 = PTE, 1 = PMD, 2 = HOLE.
  std::array<std::array<std::shared_ptr<Inode>, 2>, 3> files;
  int next_name = 0;

  Env() {
    path = "/dev/shm/pmemfs-bench-" + std::to_string(getpid()) + ".pool";
    FormatOptions fo;
    fo.source = path;
    fo.size = 3072 * kMiB;
    if (!Filesystem::format(fo).ok()) std::abort();
    MountOptions mo;
    mo.source = path;
    auto m = Filesystem::mount(mo);
    if (!m.ok()) std::abort();
    fs = std::move(*m);
    impl = static_cast<FsImpl*>(fs.get());
    std::vector<char> buf(kMiB, 'p');
    for (int i = 0; i < 2; ++i) {
      // PTE: 4 KiB writes scattered so no extent covers an aligned 2 MiB.
      uint64_t pte = create();
      for (uint64_t off = 0; off < kReadSpan; off += 2 * kPage) (void)fs->write(pte, off, buf.data(), kPage);
      // PMD: one big sequential file.
      uint64_t pmd = create();
      for (uint64_t off = 0; off < kReadSpan + 2 * kMiB; off += kMiB) (void)fs->write(pmd, off, buf.data(), kMiB);
      // HOLE: sparse.
      uint64_t hole = create(kReadSpan);
      files[0][i] = *impl->inode_for_tests(pte);
      files[1][i] = *impl->inode_for_tests(pmd);
      files[2][i] = *impl->inode_for_tests(hole);
    }
  }
  ~Env() {
    files = {};
    fs.reset();
    unlink(path.c_str());
  }
  uint64_t create(uint64_t size = 0) {
    auto a = fs->mknod(1, "f" + std::to_string(next_name++), S_IFREG | 0644, 0, Caller{});
    if (!a.ok()) std::abort();
    if (size) {
      SetAttr s;
      s.valid = SetAttr::kSize;
      s.size = size;
      (void)fs->setattr(a->ino, s);
    }
    return a->ino;
  }
};

Env& env() {
  static Env e;
  return e;
}

// state.range(0): entry kind; range(1): 1 = each thread its own inode.
void BM_ReadFault(benchmark::State& state) {
  Env& e = env();
  const int kind = static_cast<int>(state.range(0));
  const bool own_inode = state.range(1) != 0;
  Inode& inode = *e.files[kind][own_inode ? state.thread_index() % 2 : 0];
  FaultContext& fc = e.impl->fault_context();
  alignas(64) char buf[kPage];
  // PMD: skip the first 2 MiB (4 KiB blocks); PTE: the written pages.
  const uint64_t first = kind == 1 ? 512 : 0, stride = kind == 0 ? 2 : 1;
  const uint64_t npages = kReadSpan / kPage / stride;
  uint64_t i = static_cast<uint64_t>(state.thread_index()) * 7919;
  for (auto _ : state) {
    const uint64_t page = first + (i++ % npages) * stride;
    std::shared_lock<InodeLock> lk(inode.lock);
    Entry* entry = read_fault(fc, inode, page);
    std::memcpy(buf, entry_address(e.impl->pool(), *entry, page), kPage);
    benchmark::DoNotOptimize(buf);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kPage));
}

// state.range(0): 0 = 4 KiB allocations, 1 = 2 MiB; range(1): own inode.
void BM_WriteFaultAlloc(benchmark::State& state) {
  Env& e = env();
  const bool huge = state.range(0) != 0;
  static std::mutex setup_mu;
  static std::array<std::shared_ptr<Inode>, 2> targets;
  if (state.thread_index() == 0) {
    std::lock_guard<std::mutex> g(setup_mu);
    for (auto& t : targets) {
      // Huge: a file reaching far, so every 2 MiB range is in reach.
      uint64_t ino = e.create(huge ? uint64_t{1} << 40 : 0);
      t = *e.impl->inode_for_tests(ino);
    }
  }
  // Other threads wait for the setup through the benchmark's own barrier.
  for (auto _ : state) {
    state.PauseTiming();
    Inode& inode = *targets[state.range(1) ? state.thread_index() % 2 : 0];
    // Interleave threads on one inode: thread t takes every other range/page.
    static thread_local uint64_t n = 0;
    const uint64_t step = huge ? 512 : 2;
    const uint64_t page = (n++ * 2 + static_cast<uint64_t>(state.thread_index())) * step;
    state.ResumeTiming();
    std::unique_lock<InodeLock> lk(inode.lock);
    // Huge: a request covering the whole 2 MiB range (fault.h, WriteIntent).
    const WriteIntent intent{page, page + (huge ? 512 : 1), false};
    auto entry = write_fault_locked(e.impl->fault_context(), inode, page, intent);
    if (!entry.ok()) {
      state.SkipWithError("pool full");
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (huge ? 2 * kMiB : kPage)));
}

BENCHMARK(BM_ReadFault)
    ->ArgNames({"kind(0=PTE,1=PMD,2=HOLE)", "own_inode"})
    ->ArgsProduct({{0, 1, 2}, {0, 1}})
    ->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_WriteFaultAlloc)
    ->ArgNames({"huge", "own_inode"})
    ->Args({0, 0})->Args({0, 1})->Iterations(20000)->Threads(1)->Threads(2)->UseRealTime();
BENCHMARK(BM_WriteFaultAlloc)
    ->ArgNames({"huge", "own_inode"})
    ->Args({1, 0})->Args({1, 1})->Iterations(200)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace pmemfs

BENCHMARK_MAIN();
