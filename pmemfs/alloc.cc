#include "pmemfs/alloc.h"

#include <algorithm>
#include <bit>
#include <functional>
#include <optional>
#include <thread>

namespace pmemfs {

using layout::kBlocksPerHuge;

namespace {
constexpr uint32_t kMaxShards = 8;
// Freeing and NoWait scopes on this thread: such a thread never waits for frees.
thread_local int freeing_here = 0;
constexpr uint64_t kWordsPerGroup = kBlocksPerHuge / 64;

// Calls fn(word index, mask) for each bitmap word that bits [index, index+n) touch.
template <typename Fn>
void for_each_word(uint64_t index, uint64_t n, Fn&& fn) {
  for (uint64_t i = index; i < index + n;) {
    const uint64_t w = i / 64;
    const uint64_t upto = std::min<uint64_t>(index + n, (w + 1) * 64);
    uint64_t mask = 0;
    for (; i < upto; ++i) mask |= uint64_t{1} << (i % 64);
    fn(w, mask);
  }
}

}  // namespace

Allocator::Allocator(Pool& pool, const layout::Superblock& sb)
    : pool_(pool),
      data_start_block_(sb.data_off / layout::kBlockSize),
      data_blocks_(sb.data_blocks),
      bitmap_off_(sb.block_bitmap_off) {
  ngroups_ = static_cast<uint32_t>((data_blocks_ + kBlocksPerHuge - 1) / kBlocksPerHuge);
  bits_.assign(static_cast<size_t>(ngroups_) * kWordsPerGroup, ~uint64_t{0});
  const auto* persistent = pool_.at<uint64_t>(bitmap_off_);
  const uint64_t words = (data_blocks_ + 63) / 64;
  std::copy(persistent, persistent + words, bits_.begin());
  // Bits past the end of the data area are never free.
  if (data_blocks_ % 64) bits_[words - 1] |= ~uint64_t{0} << (data_blocks_ % 64);

  uint32_t nshards = std::clamp<uint32_t>(ngroups_, 1, kMaxShards);
  groups_per_shard_ = (ngroups_ + nshards - 1) / nshards;
  nshards = (ngroups_ + groups_per_shard_ - 1) / groups_per_shard_;
  uint64_t free_total = 0;
  for (uint32_t i = 0; i < nshards; ++i) {
    auto s = std::make_unique<Shard>();
    s->first_group = i * groups_per_shard_;
    s->end_group = std::min(ngroups_, s->first_group + groups_per_shard_);
    for (uint32_t g = s->first_group; g < s->end_group; ++g) {
      free_total += group_free_count_locked(g);
      reclassify_locked(*s, g);
    }
    shards_.push_back(std::move(s));
  }
  free_.store(free_total);
}

uint32_t Allocator::group_free_count_locked(uint32_t group) const {
  uint32_t used = 0;
  for (uint64_t w = 0; w < kWordsPerGroup; ++w)
    used += std::popcount(bits_[group * kWordsPerGroup + w]);
  return static_cast<uint32_t>(kBlocksPerHuge) - used;
}

void Allocator::reclassify_locked(Shard& s, uint32_t group) {
  uint32_t n = group_free_count_locked(group);
  s.full_free.erase(group);
  s.partial.erase(group);
  if (n == kBlocksPerHuge)
    s.full_free.insert(group);
  else if (n > 0)
    s.partial.insert(group);
}

uint32_t Allocator::home_shard() const {
  // Threads spread over shards by id, so two threads rarely share a lock.
  static thread_local uint32_t h =
      static_cast<uint32_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return h % static_cast<uint32_t>(shards_.size());
}

uint32_t Allocator::take_run_locked(uint64_t index, uint32_t want, uint64_t group_end) {
  uint32_t n = 0;
  while (n < want && index + n < group_end) {
    uint64_t i = index + n;
    uint64_t bit = uint64_t{1} << (i % 64);
    if (bits_[i / 64] & bit) break;
    bits_[i / 64] |= bit;
    ++n;
  }
  return n;
}

Run Allocator::reserve(Txn& txn, uint64_t index, uint32_t n) {
  free_.fetch_sub(n, std::memory_order_relaxed);
  for_each_word(index, n, [&](uint64_t w, uint64_t mask) { txn.set_bits(bitmap_off_ + w * 8, mask); });
  txn.on_abort([this, index, n] { release(index, n); });
  return Run{data_start_block_ + index, n};
}

void Allocator::release(uint64_t index, uint64_t n) {
  while (n > 0) {
    uint32_t group = static_cast<uint32_t>(index / kBlocksPerHuge);
    uint64_t in_group = std::min<uint64_t>(n, (group + 1) * kBlocksPerHuge - index);
    Shard& s = shard_of(group);
    {
      std::lock_guard<std::mutex> g(s.mu);
      for (uint64_t i = index; i < index + in_group; ++i) bits_[i / 64] &= ~(uint64_t{1} << (i % 64));
      reclassify_locked(s, group);
    }
    free_.fetch_add(in_group, std::memory_order_relaxed);
    index += in_group;
    n -= in_group;
  }
  // Under wait_mu_, so that a waiter between its check and its wait cannot
  // miss it.
  { std::lock_guard<std::mutex> g(wait_mu_); }
  freed_.notify_all();
}

Result<Run> Allocator::alloc_in_shard(Txn& txn, Shard& s, uint32_t want, uint64_t file_block) {
  std::lock_guard<std::mutex> g(s.mu);
  // Partial groups first, keeping whole groups for 2 MiB extents.
  for (auto it = s.partial.begin(); it != s.partial.end(); ++it) {
    uint32_t group = *it;
    uint64_t start = uint64_t{group} * kBlocksPerHuge, end = start + kBlocksPerHuge;
    for (uint64_t w = start / 64; w < end / 64; ++w) {
      if (bits_[w] == ~uint64_t{0}) continue;
      uint64_t i = w * 64 + std::countr_one(bits_[w]);
      uint32_t n = take_run_locked(i, want, end);
      reclassify_locked(s, group);
      return reserve(txn, i, n);
    }
  }
  if (!s.full_free.empty()) {
    uint32_t group = *s.full_free.begin();
    uint64_t start = uint64_t{group} * kBlocksPerHuge;
    uint64_t i = start + file_block % kBlocksPerHuge;
    uint32_t n = take_run_locked(i, want, start + kBlocksPerHuge);
    reclassify_locked(s, group);
    return reserve(txn, i, n);
  }
  return err(ENOSPC);
}

Result<Run> Allocator::alloc(Txn& txn, uint32_t want, uint64_t goal, uint64_t file_block) {
  for (;;) {
    const uint64_t before = free_blocks();
    auto r = alloc_once(txn, want, goal, file_block);
    if (r.ok() || r.error() != ENOSPC || !wait_for_frees(before)) return r;
  }
}

Result<Run> Allocator::alloc_exact(Txn& txn, uint32_t n) {
  for (;;) {
    const uint64_t before = free_blocks();
    auto r = alloc_exact_once(txn, n);
    if (r.ok() || r.error() != ENOSPC || !wait_for_frees(before)) return r;
  }
}

Result<Run> Allocator::alloc_once(Txn& txn, uint32_t want, uint64_t goal, uint64_t file_block) {
  want = std::clamp<uint32_t>(want, 1, kBlocksPerHuge);
  if (goal >= data_start_block_ && goal < data_start_block_ + data_blocks_) {
    uint64_t i = goal - data_start_block_;
    uint32_t group = static_cast<uint32_t>(i / kBlocksPerHuge);
    Shard& s = shard_of(group);
    std::lock_guard<std::mutex> g(s.mu);
    uint32_t n = take_run_locked(i, want, uint64_t{group + 1} * kBlocksPerHuge);
    if (n > 0) {
      reclassify_locked(s, group);
      return reserve(txn, i, n);
    }
  }
  const uint32_t home = home_shard();
  for (uint32_t k = 0; k < shards_.size(); ++k) {
    Shard& s = *shards_[(home + k) % shards_.size()];
    auto r = alloc_in_shard(txn, s, want, file_block);
    if (r.ok() || r.error() != ENOSPC) return r;
  }
  return err(ENOSPC);
}

Result<Run> Allocator::alloc_exact_once(Txn& txn, uint32_t n) {
  if (n == 0 || n > kBlocksPerHuge) return err(EINVAL);
  const uint32_t home = home_shard();
  for (uint32_t k = 0; k < shards_.size(); ++k) {
    Shard& s = *shards_[(home + k) % shards_.size()];
    std::lock_guard<std::mutex> g(s.mu);
    auto try_group = [&](uint32_t group) -> std::optional<uint64_t> {
      const uint64_t start = uint64_t{group} * kBlocksPerHuge, end = start + kBlocksPerHuge;
      uint64_t run = 0;
      for (uint64_t i = start; i < end; ++i) {
        run = (bits_[i / 64] >> (i % 64) & 1) ? 0 : run + 1;
        if (run == n) return i + 1 - n;
      }
      return std::nullopt;
    };
    for (auto* set : {&s.partial, &s.full_free}) {
      for (uint32_t group : *set) {
        if (auto i = try_group(group)) {
          take_run_locked(*i, n, *i + n);
          reclassify_locked(s, group);
          return reserve(txn, *i, n);
        }
      }
    }
  }
  return err(ENOSPC);
}

Result<Run> Allocator::alloc_huge(Txn& txn) {
  const uint32_t home = home_shard();
  for (uint32_t k = 0; k < shards_.size(); ++k) {
    Shard& s = *shards_[(home + k) % shards_.size()];
    std::lock_guard<std::mutex> g(s.mu);
    if (s.full_free.empty()) continue;
    uint32_t group = *s.full_free.begin();
    uint64_t start = uint64_t{group} * kBlocksPerHuge;
    take_run_locked(start, kBlocksPerHuge, start + kBlocksPerHuge);
    reclassify_locked(s, group);
    return reserve(txn, start, kBlocksPerHuge);
  }
  return err(ENOSPC);
}

void Allocator::free(Txn& txn, uint64_t pool_block, uint64_t nblocks) {
  const uint64_t index = pool_block - data_start_block_;
  for_each_word(index, nblocks,
                [&](uint64_t w, uint64_t mask) { txn.clear_bits(bitmap_off_ + w * 8, mask); });
  txn.on_commit([this, index, nblocks] { release(index, nblocks); });
}

Allocator::NoWait::NoWait() { ++freeing_here; }
Allocator::NoWait::~NoWait() { --freeing_here; }

Allocator::Freeing::Freeing(Allocator& a) : a_(a) {
  ++freeing_here;
  std::lock_guard<std::mutex> g(a_.wait_mu_);
  ++a_.freeing_;
}

Allocator::Freeing::~Freeing() {
  --freeing_here;
  {
    std::lock_guard<std::mutex> g(a_.wait_mu_);
    --a_.freeing_;
  }
  a_.freed_.notify_all();
}

void Allocator::announce(uint64_t key, Clock::time_point deadline) {
  std::lock_guard<std::mutex> g(wait_mu_);
  announced_[key] = deadline;
}

void Allocator::withdraw(uint64_t key) {
  {
    std::lock_guard<std::mutex> g(wait_mu_);
    if (announced_.erase(key) == 0) return;
  }
  freed_.notify_all();
}

bool Allocator::frees_due_locked(Clock::time_point now, Clock::time_point* until) {
  *until = now;
  for (auto it = announced_.begin(); it != announced_.end();) {
    if (it->second <= now) {
      it = announced_.erase(it);  // still open, it seems: really in use
      continue;
    }
    *until = std::max(*until, it->second);
    ++it;
  }
  return freeing_ > 0 || *until > now;
}

bool Allocator::wait_for_frees(uint64_t free_before) {
  if (freeing_here > 0) return false;
  std::unique_lock<std::mutex> g(wait_mu_);
  for (;;) {
    if (free_blocks() > free_before) return true;
    Clock::time_point until;
    if (!frees_due_locked(Clock::now(), &until)) return false;
    if (freeing_ > 0)
      freed_.wait(g);
    else
      freed_.wait_until(g, until);
  }
}

void Allocator::settle(Clock::duration max_wait) {
  const auto give_up = Clock::now() + max_wait;
  std::unique_lock<std::mutex> g(wait_mu_);
  for (;;) {
    const auto now = Clock::now();
    Clock::time_point until;
    if (now >= give_up || !frees_due_locked(now, &until)) return;
    freed_.wait_until(g, freeing_ > 0 ? give_up : std::min(until, give_up));
  }
}

uint64_t Allocator::free_huge_extents() const {
  uint64_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> g(s->mu);
    n += s->full_free.size();
  }
  return n;
}

bool Allocator::in_use(uint64_t pool_block) const {
  uint64_t i = pool_block - data_start_block_;
  Shard& s = const_cast<Allocator*>(this)->shard_of(static_cast<uint32_t>(i / kBlocksPerHuge));
  std::lock_guard<std::mutex> g(s.mu);
  return bits_[i / 64] & (uint64_t{1} << (i % 64));
}

}  // namespace pmemfs
