#include "pmemfs/powerfail.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "pmemfs/data_copy.h"

namespace pmemfs {

namespace {
constexpr uint64_t kPage = 4096;
}

PowerFailSim::PowerFailSim(char* working, char* durable, uint64_t size, const PowerFailOptions& o)
    : working_(working), durable_(durable), size_(size), opts_(o) {}

void PowerFailSim::flush(const void* addr, uint64_t len) {
  if (len == 0 || is_cut()) return;
  const uint64_t off = static_cast<uint64_t>(static_cast<const char*>(addr) - working_);
  const uint64_t begin = off & ~(kCacheLine - 1);
  const uint64_t end = std::min(size_, (off + len + kCacheLine - 1) & ~(kCacheLine - 1));
  std::lock_guard<std::mutex> g(mu_);
  auto& mine = pending_[std::this_thread::get_id()];
  // Adjacent flushes (a record, then its checksum) merge into one range.
  if (!mine.empty() && mine.back().second >= begin && mine.back().first <= end) {
    mine.back().first = std::min(mine.back().first, begin);
    mine.back().second = std::max(mine.back().second, end);
  } else {
    mine.emplace_back(begin, end);
  }
}

void PowerFailSim::drain() {
  if (observer_ && !is_cut()) {
    bool in_flight = false;
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = pending_.find(std::this_thread::get_id());
      in_flight = it != pending_.end() && !it->second.empty();
    }
    if (in_flight) observer_(DrainPhase::kBefore);
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    auto it = pending_.find(std::this_thread::get_id());
    if (it == pending_.end() || it->second.empty()) return;
    if (!is_cut()) {
      for (auto [begin, end] : it->second) copy_data(durable_ + begin, working_ + begin, end - begin);
    }
    pending_.erase(it);
  }
  if (is_cut()) return;
  drains_.fetch_add(1, std::memory_order_relaxed);
  if (observer_) observer_(DrainPhase::kAfter);
}

std::vector<uint64_t> PowerFailSim::unpersisted_lines() const {
  std::vector<uint64_t> lines;
  for (uint64_t page = 0; page < size_; page += kPage) {
    const uint64_t n = std::min(kPage, size_ - page);
    if (std::memcmp(working_ + page, durable_ + page, n) == 0) continue;
    for (uint64_t line = page; line < page + n; line += kCacheLine)
      if (std::memcmp(working_ + line, durable_ + line, kCacheLine) != 0) lines.push_back(line);
  }
  return lines;
}

uint64_t PowerFailSim::cut() {
  std::lock_guard<std::mutex> g(mu_);
  if (cut_.exchange(true, std::memory_order_acq_rel)) return 0;
  pending_.clear();
  if (opts_.evict_probability <= 0) return 0;
  const uint64_t seed = opts_.seed != 0
                            ? opts_.seed
                            : static_cast<uint64_t>(
                                  std::chrono::steady_clock::now().time_since_epoch().count());
  std::mt19937_64 rng(seed);
  std::bernoulli_distribution survives(std::min(1.0, opts_.evict_probability));
  uint64_t survived = 0;
  for (uint64_t line : unpersisted_lines()) {
    if (!survives(rng)) continue;
    copy_data(durable_ + line, working_ + line, kCacheLine);
    ++survived;
  }
  return survived;
}

}  // namespace pmemfs
