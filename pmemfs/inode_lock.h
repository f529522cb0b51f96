// InodeLock: the inode's reader/writer lock (i_rwsem + i_mmap_sem in the
// kernel), a std::shared_mutex per stripe.
//
// Why stripes: a read fault on a cached entry costs ~100 ns, and one
// std::shared_mutex makes every reader write the same cache line twice (the
// reader count, in lock and unlock). Two threads faulting one inode then
// spend their time passing that line between cores. Here each thread takes
// the shared side of its own stripe only — readers on different stripes touch
// no common line — while a writer (allocating write fault, truncate, any
// metadata change) takes every stripe exclusive, in order, so it excludes all
// readers exactly as one shared_mutex would. Meets the SharedMutex
// requirements: std::shared_lock / std::unique_lock work unchanged.
//
// A thread keeps its stripe for life (assigned round robin at its first
// lock), so unlock_shared() finds the stripe lock_shared() took.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <shared_mutex>

namespace pmemfs {

class InodeLock {
 public:
  // Enough for the daemon's worker threads on small machines; more stripes
  // cost 64 bytes of DRAM each per cached inode.
  static constexpr size_t kStripes = 4;

  void lock_shared() { stripes_[my_stripe()].m.lock_shared(); }
  bool try_lock_shared() { return stripes_[my_stripe()].m.try_lock_shared(); }
  void unlock_shared() { stripes_[my_stripe()].m.unlock_shared(); }

  void lock() {
    for (auto& s : stripes_) s.m.lock();
  }
  bool try_lock() {
    for (size_t i = 0; i < kStripes; ++i) {
      if (!stripes_[i].m.try_lock()) {
        while (i-- > 0) stripes_[i].m.unlock();
        return false;
      }
    }
    return true;
  }
  void unlock() {
    for (size_t i = kStripes; i-- > 0;) stripes_[i].m.unlock();
  }

 private:
  struct alignas(64) Stripe {
    std::shared_mutex m;
  };
  static size_t my_stripe() {
    static std::atomic<size_t> next{0};
    thread_local const size_t stripe = next.fetch_add(1, std::memory_order_relaxed) % kStripes;
    return stripe;
  }
  std::array<Stripe, kStripes> stripes_;
};

}  // namespace pmemfs
