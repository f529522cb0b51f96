// Power-failure simulation (DESIGN.md, "Guarantees"): the pool's stores land
// in a working copy, and only what is persisted reaches the durable image —
// whole 64-byte cache lines, as a CPU's flush writes them back.
//
//   flush(range)  remembers the range's cache lines for the calling thread
//                 (a flush without a fence guarantees nothing yet);
//   drain()       copies this thread's remembered lines from the working copy
//                 into the durable image: the fence that makes them durable;
//   cut()         power fails: nothing reaches the durable image any more.
//                 With an eviction probability P, each line that was stored
//                 but never persisted survives with probability P, as lines
//                 a real cache evicted early would.
//
// Pool owns one of these when opened with powerfail_sim; the mount-level
// powercut and the in-process crash-point enumeration both stand on it.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pmemfs {

struct PowerFailOptions {
  bool enabled = false;
  double evict_probability = 0;  // in [0, 1]
  uint64_t seed = 0;             // for eviction; 0 = from the clock
};

inline constexpr uint64_t kCacheLine = 64;

class PowerFailSim {
 public:
  // working_is_private_file: working is a MAP_PRIVATE mapping of the file
  // that durable maps shared, so pages never stored to are the file's own
  // and unpersisted_lines() need only look at the copied-on-write ones.
  PowerFailSim(char* working, char* durable, uint64_t size, const PowerFailOptions& o,
               bool working_is_private_file = false);
  PowerFailSim(const PowerFailSim&) = delete;
  PowerFailSim& operator=(const PowerFailSim&) = delete;

  void flush(const void* addr, uint64_t len);
  void drain();
  // Power fails now. Returns how many unpersisted lines the eviction let
  // survive. Every later flush and drain is ignored.
  uint64_t cut();
  bool is_cut() const { return cut_.load(std::memory_order_acquire); }

  // Offsets of the lines whose working bytes differ from the durable image:
  // stored, but not (yet) persisted.
  std::vector<uint64_t> unpersisted_lines() const;
  // The crash points of the enumeration harness, called outside the
  // simulator's lock around every drain that has lines to make durable:
  // before (those lines are still in flight: any subset of them may land)
  // and after (they are durable).
  enum class DrainPhase { kBefore, kAfter };
  void set_drain_observer(std::function<void(DrainPhase)> obs) { observer_ = std::move(obs); }
  uint64_t drains() const { return drains_.load(std::memory_order_relaxed); }

  const char* durable() const { return durable_; }
  uint64_t size() const { return size_; }

 private:
  char* const working_;
  char* const durable_;
  const uint64_t size_;
  const PowerFailOptions opts_;
  const bool working_is_private_file_;
  std::atomic<bool> cut_{false};
  std::atomic<uint64_t> drains_{0};
  std::mutex mu_;  // guards pending_ and every copy into durable_
  // Line-aligned [begin, end) ranges flushed by each thread since its last drain.
  std::unordered_map<std::thread::id, std::vector<std::pair<uint64_t, uint64_t>>> pending_;
  std::function<void(DrainPhase)> observer_;
};

}  // namespace pmemfs
