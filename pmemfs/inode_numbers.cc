#include "pmemfs/inode_numbers.h"

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "pmemfs/pool.h"

namespace pmemfs {

InodeNumbers::InodeNumbers(const Pool& pool, uint64_t bitmap_off, uint64_t count) : count_(count) {
  const uint64_t words = (count + 63) / 64;
  const auto* bits = pool.at<uint64_t>(bitmap_off);
  uint64_t next = 0;  // bit index up to which the runs are built
  auto free_upto = [&](uint64_t bit) {  // bits [next, bit) are all zero
    bit = std::min(bit, count);
    if (bit > next) add_free(next + 1, bit + 1);
    next = std::max(next, bit);
  };
  for (auto [off, len] : pool.data_ranges(bitmap_off, words * 8)) {
    const uint64_t w0 = (off - bitmap_off) / 8, w1 = std::min(words, (off - bitmap_off + len + 7) / 8);
    free_upto(w0 * 64);
    for (uint64_t w = std::max(w0, next / 64); w < w1; ++w) {
      const uint64_t v = bits[w];
      if (v == ~uint64_t{0}) continue;
      if (v == 0 && (w + 1) * 64 <= count) {
        add_free(w * 64 + 1, w * 64 + 65);
        continue;
      }
      for (uint64_t b = 0; b < 64 && w * 64 + b < count; ++b)
        if (!(v >> b & 1)) add_free(w * 64 + b + 1, w * 64 + b + 2);
    }
    next = std::max(next, std::min(count, w1 * 64));
  }
  free_upto(count);
}

void InodeNumbers::add_free(uint64_t first, uint64_t end) {
  if (first >= end) return;
  free_ += end - first;
  auto next = free_runs_.lower_bound(first);
  if (next != free_runs_.end() && next->first == end) {
    end = next->second;
    next = free_runs_.erase(next);
  }
  if (next != free_runs_.begin()) {
    auto prev = std::prev(next);
    if (prev->second == first) {
      prev->second = end;
      return;
    }
  }
  free_runs_.emplace_hint(next, first, end);
}

Result<uint64_t> InodeNumbers::take(uint64_t hint) {
  if (free_runs_.empty()) return err(ENOSPC);
  uint64_t ino;
  auto it = free_runs_.upper_bound(hint);
  if (it != free_runs_.begin() && std::prev(it)->second > hint) {
    --it;
    ino = hint;  // inside a run
  } else if (it != free_runs_.end()) {
    ino = it->first;
  } else {
    it = free_runs_.begin();
    ino = it->first;
  }
  const uint64_t first = it->first, end = it->second;
  free_runs_.erase(it);
  if (first < ino) free_runs_.emplace(first, ino);
  if (ino + 1 < end) free_runs_.emplace(ino + 1, end);
  --free_;
  return ino;
}

void InodeNumbers::give_back(uint64_t ino) {
  if (ino == 0 || ino > count_ || !in_use(ino)) return;
  add_free(ino, ino + 1);
}

std::vector<uint64_t> InodeNumbers::used() const {
  std::vector<uint64_t> out;
  uint64_t at = 1;
  auto upto = [&](uint64_t end) {
    for (; at < end; ++at) out.push_back(at);
  };
  for (const auto& [first, end] : free_runs_) {
    upto(first);
    at = end;
  }
  upto(count_ + 1);
  return out;
}

bool InodeNumbers::in_use(uint64_t ino) const {
  auto it = free_runs_.upper_bound(ino);
  if (it == free_runs_.begin()) return true;
  return std::prev(it)->second <= ino;
}

}  // namespace pmemfs
