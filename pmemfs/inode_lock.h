// InodeLock: the inode's reader/writer lock (i_rwsem + i_mmap_sem in the
// kernel) in one 32-bit word, so that a million cached inodes cost 4 MB of
// locks and not the 256 MB of four cache-line-aligned std::shared_mutex
// stripes each (issue 12: DRAM per cached inode <= 256 bytes).
//
// Semantics are those of glibc's default std::shared_mutex, which it
// replaces: any number of shared holders or one exclusive holder; readers
// are preferred (a reader gets in while others read, even with a writer
// waiting), so a thread may take a lock shared that it already holds shared,
// as before. Meets the SharedMutex requirements: std::shared_lock and
// std::unique_lock work unchanged. The fault path's upgrade-and-retry
// (fault.h) drops the shared side and takes the exclusive one; nothing here
// upgrades in place.
//
// The word: bit 31 an exclusive holder, bit 30 somebody sleeps in the futex,
// bits 0..29 the shared holders. Acquire on every way in, release on every
// way out, so TSan sees the ordering in the atomics themselves.
#pragma once

#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace pmemfs {

class InodeLock {
 public:
  void lock_shared() {
    uint32_t s = word_.load(std::memory_order_relaxed);
    for (;;) {
      if (!(s & kWriter)) {
        if (word_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                        std::memory_order_relaxed))
          return;
        continue;
      }
      s = sleep(s);
    }
  }
  bool try_lock_shared() {
    uint32_t s = word_.load(std::memory_order_relaxed);
    while (!(s & kWriter))
      if (word_.compare_exchange_weak(s, s + 1, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return true;
    return false;
  }
  void unlock_shared() {
    const uint32_t s = word_.fetch_sub(1, std::memory_order_release) - 1;
    // The last reader leaving with sleepers: clear the mark and wake them
    // (a reader or writer that got in meanwhile changed the word: its own
    // unlock wakes them then).
    if (s == kWaiters) {
      uint32_t expect = kWaiters;
      if (word_.compare_exchange_strong(expect, 0, std::memory_order_relaxed)) wake();
    }
  }

  void lock() {
    uint32_t s = word_.load(std::memory_order_relaxed);
    for (;;) {
      if ((s & ~kWaiters) == 0) {
        if (word_.compare_exchange_weak(s, s | kWriter, std::memory_order_acquire,
                                        std::memory_order_relaxed))
          return;
        continue;
      }
      s = sleep(s);
    }
  }
  bool try_lock() {
    uint32_t s = word_.load(std::memory_order_relaxed);
    while ((s & ~kWaiters) == 0)
      if (word_.compare_exchange_weak(s, s | kWriter, std::memory_order_acquire,
                                      std::memory_order_relaxed))
        return true;
    return false;
  }
  void unlock() {
    if (word_.exchange(0, std::memory_order_release) & kWaiters) wake();
  }

 private:
  static constexpr uint32_t kWriter = 1u << 31;
  static constexpr uint32_t kWaiters = 1u << 30;

  // Marks the word as having sleepers and sleeps while it still reads s
  // (with the mark); returns the word as it is afterwards.
  uint32_t sleep(uint32_t s) {
    if (!(s & kWaiters)) {
      if (!word_.compare_exchange_weak(s, s | kWaiters, std::memory_order_relaxed))
        return s;
      s |= kWaiters;
    }
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAIT_PRIVATE, s, nullptr,
            nullptr, 0);
    return word_.load(std::memory_order_relaxed);
  }
  void wake() {
    syscall(SYS_futex, reinterpret_cast<uint32_t*>(&word_), FUTEX_WAKE_PRIVATE, INT32_MAX,
            nullptr, nullptr, 0);
  }

  std::atomic<uint32_t> word_{0};
  static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));
};

}  // namespace pmemfs
