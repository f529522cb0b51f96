#include "pmemfs/powerfail.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <random>

#include "pmemfs/data_copy.h"

namespace pmemfs {

namespace {
constexpr uint64_t kPage = 4096;
}

PowerFailSim::PowerFailSim(char* working, char* durable, uint64_t size, const PowerFailOptions& o,
                           bool working_is_private_file)
    : working_(working), durable_(durable), size_(size), opts_(o),
      working_is_private_file_(working_is_private_file) {}

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

namespace {

// Which pages of a private file mapping were copied on write: the only ones
// that can differ from the file. From /proc/self/pagemap (bit 63 present,
// 62 swapped, 61 file page); the flags need no privilege. Empty when the
// kernel will not say, and the caller then compares every page.
std::vector<bool> copied_pages(const char* base, uint64_t size) {
  const uint64_t npages = (size + kPage - 1) / kPage;
  std::vector<bool> copied;
  int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return copied;
  std::vector<uint64_t> entries(4096);
  copied.reserve(npages);
  const uint64_t first = reinterpret_cast<uintptr_t>(base) / kPage;
  for (uint64_t done = 0; done < npages;) {
    const uint64_t n = std::min<uint64_t>(entries.size(), npages - done);
    const ssize_t got = pread(fd, entries.data(), n * 8, static_cast<off_t>((first + done) * 8));
    if (got != static_cast<ssize_t>(n * 8)) {
      copied.clear();
      break;
    }
    for (uint64_t i = 0; i < n; ++i) {
      const uint64_t e = entries[i];
      const bool present = e >> 63 & 1, swapped = e >> 62 & 1, file = e >> 61 & 1;
      copied.push_back(swapped || (present && !file));
    }
    done += n;
  }
  ::close(fd);
  return copied;
}

}  // namespace

std::vector<uint64_t> PowerFailSim::unpersisted_lines() const {
  std::vector<uint64_t> lines;
  std::vector<bool> copied;
  if (working_is_private_file_) copied = copied_pages(working_, size_);
  for (uint64_t page = 0; page < size_; page += kPage) {
    if (!copied.empty() && !copied[page / kPage]) continue;
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
