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
  uint32_t nshards = std::clamp<uint32_t>(ngroups_, 1, kMaxShards);
  groups_per_shard_ = (ngroups_ + nshards - 1) / nshards;
  nshards = (ngroups_ + groups_per_shard_ - 1) / groups_per_shard_;
  for (uint32_t i = 0; i < nshards; ++i) {
    auto s = std::make_unique<Shard>();
    s->first_group = i * groups_per_shard_;
    s->end_group = std::min(ngroups_, s->first_group + groups_per_shard_);
    shards_.push_back(std::move(s));
  }
  load();
}

void Allocator::load() {
  const uint64_t words = (data_blocks_ + 63) / 64;
  const auto* persistent = pool_.at<uint64_t>(bitmap_off_);
  uint64_t free_total = 0;
  // Files group g from its persistent words (zeros where in_data is false:
  // a hole of the pool file, never read). Bits past the data area are used.
  auto file_group = [&](uint32_t g, bool in_data) {
    Group grp{};
    const uint64_t w0 = uint64_t{g} * kWordsPerGroup;
    for (uint64_t w = 0; w < kWordsPerGroup; ++w) {
      if (w0 + w >= words) {
        grp.bits[w] = ~uint64_t{0};
        continue;
      }
      grp.bits[w] = in_data ? persistent[w0 + w] : 0;
      if (w0 + w == words - 1 && data_blocks_ % 64) grp.bits[w] |= ~uint64_t{0} << (data_blocks_ % 64);
    }
    uint32_t used = 0;
    for (uint64_t b : grp.bits) used += static_cast<uint32_t>(std::popcount(b));
    grp.nfree = static_cast<uint32_t>(kBlocksPerHuge) - used;
    free_total += grp.nfree;
    Shard& s = shard_of(g);
    if (grp.nfree == kBlocksPerHuge)
      add_free_locked(s, g, g + 1);
    else if (grp.nfree > 0)
      s.partial.emplace(g, grp);
  };
  // Groups [first, end) read as zeros: wholly free, the last (a short one) aside.
  auto file_free = [&](uint32_t first, uint32_t end) {
    const bool short_last = end == ngroups_ && data_blocks_ % kBlocksPerHuge != 0;
    if (short_last && first < end) --end;
    while (first < end) {
      Shard& s = shard_of(first);
      const uint32_t upto = std::min(end, s.end_group);
      add_free_locked(s, first, upto);
      free_total += uint64_t{upto - first} * kBlocksPerHuge;
      first = upto;
    }
    if (short_last) file_group(ngroups_ - 1, false);
  };
  constexpr uint64_t kGroupBytes = kWordsPerGroup * 8;
  uint32_t next = 0;
  for (auto [off, len] : pool_.data_ranges(bitmap_off_, words * 8)) {
    const uint32_t first = static_cast<uint32_t>((off - bitmap_off_) / kGroupBytes);
    const uint32_t end = std::min<uint32_t>(
        ngroups_, static_cast<uint32_t>((off - bitmap_off_ + len + kGroupBytes - 1) / kGroupBytes));
    if (first > next) file_free(next, first);
    for (uint32_t g = std::max(first, next); g < end; ++g) file_group(g, true);
    next = std::max(next, end);
  }
  if (next < ngroups_) file_free(next, ngroups_);
  free_.store(free_total);
}

bool Allocator::wholly_free_locked(const Shard& s, uint32_t group) {
  auto it = s.free_runs.upper_bound(group);
  if (it == s.free_runs.begin()) return false;
  --it;
  return group < it->second;
}

void Allocator::add_free_locked(Shard& s, uint32_t first, uint32_t end) {
  if (first >= end) return;
  s.free_groups += end - first;
  auto next = s.free_runs.lower_bound(first);
  if (next != s.free_runs.end() && next->first == end) {
    end = next->second;
    next = s.free_runs.erase(next);
  }
  if (next != s.free_runs.begin()) {
    auto prev = std::prev(next);
    if (prev->second == first) {
      prev->second = end;
      return;
    }
  }
  s.free_runs.emplace_hint(next, first, end);
}

void Allocator::remove_free_locked(Shard& s, uint32_t group) {
  auto it = std::prev(s.free_runs.upper_bound(group));  // REQUIRES wholly_free_locked
  const uint32_t first = it->first, end = it->second;
  s.free_runs.erase(it);
  if (first < group) s.free_runs.emplace(first, group);
  if (group + 1 < end) s.free_runs.emplace(group + 1, end);
  --s.free_groups;
}

Allocator::Group& Allocator::open_locked(Shard& s, uint32_t group) {
  if (auto it = s.partial.find(group); it != s.partial.end()) return it->second;
  Group g{};
  if (wholly_free_locked(s, group)) {
    remove_free_locked(s, group);
    g.nfree = static_cast<uint32_t>(kBlocksPerHuge);
  } else {
    for (uint64_t& w : g.bits) w = ~uint64_t{0};
  }
  return s.partial.emplace(group, g).first->second;
}

void Allocator::settle_locked(Shard& s, uint32_t group) {
  auto it = s.partial.find(group);
  if (it == s.partial.end()) return;
  if (it->second.nfree == 0) {
    s.partial.erase(it);
  } else if (it->second.nfree == kBlocksPerHuge) {
    s.partial.erase(it);
    add_free_locked(s, group, group + 1);
  }
}

bool Allocator::used_locked(const Shard& s, uint64_t index) {
  const uint32_t group = static_cast<uint32_t>(index / kBlocksPerHuge);
  if (auto it = s.partial.find(group); it != s.partial.end()) {
    const uint64_t i = index % kBlocksPerHuge;
    return it->second.bits[i / 64] >> (i % 64) & 1;
  }
  return !wholly_free_locked(s, group);
}

uint32_t Allocator::home_shard() const {
  // Threads spread over shards by id, so two threads rarely share a lock.
  static thread_local uint32_t h =
      static_cast<uint32_t>(std::hash<std::thread::id>{}(std::this_thread::get_id()));
  return h % static_cast<uint32_t>(shards_.size());
}

uint32_t Allocator::take_run_locked(Shard& s, uint64_t index, uint32_t want, uint64_t group_end) {
  const uint32_t group = static_cast<uint32_t>(index / kBlocksPerHuge);
  if (!s.partial.count(group) && !wholly_free_locked(s, group)) return 0;  // full
  Group& g = open_locked(s, group);
  const uint64_t base = uint64_t{group} * kBlocksPerHuge;
  uint32_t n = 0;
  while (n < want && index + n < group_end) {
    const uint64_t i = index + n - base;
    const uint64_t bit = uint64_t{1} << (i % 64);
    if (g.bits[i / 64] & bit) break;
    g.bits[i / 64] |= bit;
    ++n;
  }
  g.nfree -= n;
  settle_locked(s, group);
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
    uint32_t cleared = 0;
    {
      std::lock_guard<std::mutex> g(s.mu);
      Group& grp = open_locked(s, group);
      for (uint64_t i = index % kBlocksPerHuge; i < index % kBlocksPerHuge + in_group; ++i) {
        const uint64_t bit = uint64_t{1} << (i % 64);
        if (grp.bits[i / 64] & bit) ++cleared;
        grp.bits[i / 64] &= ~bit;
      }
      grp.nfree += cleared;
      settle_locked(s, group);
    }
    free_.fetch_add(cleared, std::memory_order_relaxed);
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
  if (!s.partial.empty()) {
    const uint32_t group = s.partial.begin()->first;
    const Group& grp = s.partial.begin()->second;
    for (uint64_t w = 0; w < kWordsPerGroup; ++w) {
      if (grp.bits[w] == ~uint64_t{0}) continue;
      const uint64_t i = uint64_t{group} * kBlocksPerHuge + w * 64 + std::countr_one(grp.bits[w]);
      const uint32_t n = take_run_locked(s, i, want, uint64_t{group + 1} * kBlocksPerHuge);
      return reserve(txn, i, n);
    }
  }
  if (s.free_groups > 0) {
    const uint32_t group = s.free_runs.begin()->first;
    const uint64_t start = uint64_t{group} * kBlocksPerHuge;
    const uint64_t i = start + file_block % kBlocksPerHuge;
    const uint32_t n = take_run_locked(s, i, want, start + kBlocksPerHuge);
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
    if (uint32_t n = take_run_locked(s, i, want, uint64_t{group + 1} * kBlocksPerHuge); n > 0)
      return reserve(txn, i, n);
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
    for (const auto& [group, grp] : s.partial) {
      if (grp.nfree < n) continue;
      uint64_t run = 0;
      for (uint64_t i = 0; i < kBlocksPerHuge; ++i) {
        run = (grp.bits[i / 64] >> (i % 64) & 1) ? 0 : run + 1;
        if (run == n) {
          const uint64_t at = uint64_t{group} * kBlocksPerHuge + i + 1 - n;
          take_run_locked(s, at, n, at + n);
          return reserve(txn, at, n);
        }
      }
    }
    if (s.free_groups > 0) {
      const uint64_t at = uint64_t{s.free_runs.begin()->first} * kBlocksPerHuge;
      take_run_locked(s, at, n, at + n);
      return reserve(txn, at, n);
    }
  }
  return err(ENOSPC);
}

Result<Run> Allocator::alloc_huge(Txn& txn) {
  const uint32_t home = home_shard();
  for (uint32_t k = 0; k < shards_.size(); ++k) {
    Shard& s = *shards_[(home + k) % shards_.size()];
    std::lock_guard<std::mutex> g(s.mu);
    if (s.free_groups == 0) continue;
    const uint32_t group = s.free_runs.begin()->first;
    remove_free_locked(s, group);  // now full: in neither map
    return reserve(txn, uint64_t{group} * kBlocksPerHuge, kBlocksPerHuge);
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
    n += s->free_groups;
  }
  return n;
}

Allocator::CellCounts Allocator::cell_counts() const {
  CellCounts c;
  for (const auto& s : shards_) {
    std::lock_guard<std::mutex> g(s->mu);
    c.free += s->free_groups;
    c.partial += s->partial.size();
  }
  return c;
}

std::string Allocator::cells_of(uint64_t from, uint64_t n) const {
  std::string out;
  const uint64_t end = std::min<uint64_t>(ngroups_, from + n);
  for (uint64_t g = from; g < end;) {
    Shard& s = *shards_[g / groups_per_shard_];
    std::lock_guard<std::mutex> lk(s.mu);
    for (; g < end && g < s.end_group; ++g) {
      const uint32_t group = static_cast<uint32_t>(g);
      out += s.partial.count(group) ? 'p' : wholly_free_locked(s, group) ? '.' : 'f';
    }
  }
  return out;
}

bool Allocator::in_use(uint64_t pool_block) const {
  const uint64_t i = pool_block - data_start_block_;
  Shard& s = const_cast<Allocator*>(this)->shard_of(static_cast<uint32_t>(i / kBlocksPerHuge));
  std::lock_guard<std::mutex> g(s.mu);
  return used_locked(s, i);
}

}  // namespace pmemfs
