#include "pmemfs/mapping.h"

#include <sys/mman.h>

#include <algorithm>

#include "pmemfs/layout.h"

namespace pmemfs {

using layout::kBlocksPerHuge;
using layout::kBlockSize;

const char* zero_page() {
  // PROT_READ: a write through a HOLE entry would fault instead of corrupting
  // every hole in the filesystem.
  static const char* page = static_cast<const char*>(
      mmap(nullptr, kBlockSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  return page;
}

namespace {

// Source of epochs: unique across Mappings, so a cache slot of a destroyed
// Mapping can never validate against a new one at the same address.
std::atomic<uint64_t> g_epoch{1};

struct CachedLookup {
  const Mapping* mapping = nullptr;
  uint64_t epoch = 0;
  uint64_t first_page = 0, npages = 0;
  Entry* entry = nullptr;
};
constexpr size_t kCacheSlots = 16;
thread_local std::array<CachedLookup, kCacheSlots> t_cache;

size_t slot_of(const Mapping* m, uint64_t page) {
  return (reinterpret_cast<uintptr_t>(m) / 64 + page / kBlocksPerHuge) % kCacheSlots;
}

}  // namespace

Mapping::Mapping() : epoch_(g_epoch.fetch_add(1)) {}
Mapping::~Mapping() = default;

void Mapping::changed() { epoch_.store(g_epoch.fetch_add(1), std::memory_order_release); }

Entry* Mapping::find_locked(uint64_t page) const {
  if (auto it = pages_.find(page); it != pages_.end()) return it->second.get();
  if (auto it = pmds_.find(page - page % kBlocksPerHuge); it != pmds_.end())
    return it->second.get();
  return nullptr;
}

Entry* Mapping::find(uint64_t page) const {
  CachedLookup& c = t_cache[slot_of(this, page)];
  const uint64_t epoch = epoch_.load(std::memory_order_acquire);
  if (c.mapping == this && c.epoch == epoch && page - c.first_page < c.npages) return c.entry;
  std::shared_lock<std::shared_mutex> g(mu_);
  Entry* e = find_locked(page);
  if (e) {
    // A PMD answers for its whole range only while no 4 KiB entry shadows
    // part of it; otherwise remember just this page.
    bool whole = false;
    if (e->kind == EntryKind::kPmd) {
      auto it = pages_.lower_bound(e->first_page);
      whole = it == pages_.end() || it->first >= e->first_page + kBlocksPerHuge;
    }
    uint64_t first = page, n = 1;
    if (whole) {
      first = e->first_page;
      n = kBlocksPerHuge;
    } else if (e->kind == EntryKind::kHole) {
      // A run of HOLE pages answers as one: sequential reads of a sparse file
      // then skip the lock as PMD reads do. Callers take a HOLE as covering
      // just the page they asked for (see Entry), so any entry of the run will do.
      const uint64_t range_end = page - page % kBlocksPerHuge + kBlocksPerHuge;
      for (auto it = std::next(pages_.find(page)); it != pages_.end() && it->first == first + n &&
                                        it->second->kind == EntryKind::kHole && first + n < range_end;
           ++it)
        ++n;
    }
    c = {this, epoch_.load(std::memory_order_relaxed), first, n, e};
  }
  return e;
}

Entry* Mapping::insert(EntryKind kind, uint64_t first_page, uint64_t pool_block) {
  std::lock_guard<std::shared_mutex> g(mu_);
  auto& map = kind == EntryKind::kPmd ? pmds_ : pages_;
  auto [it, inserted] = map.try_emplace(first_page);
  if (!inserted && kind != EntryKind::kHole && it->second->kind == EntryKind::kHole) {
    // Real blocks always replace a HOLE: nothing may ever write through the
    // zero page. With the upgrade path the write fault evicted it already;
    // only the test mode without it gets here, and a reader may still hold
    // the HOLE: retire it rather than free it.
    retired_.push_back(std::move(it->second));
    inserted = true;
  }
  if (inserted) {
    it->second = std::make_unique<Entry>();
    it->second->kind = kind;
    it->second->first_page = first_page;
    it->second->pool_block = pool_block;
    it->second->owner_marks = &any_dirty_;
    changed();
  }
  return it->second.get();
}

bool Mapping::has_hole(uint64_t first, uint64_t last) const {
  std::shared_lock<std::shared_mutex> g(mu_);
  for (auto it = pages_.lower_bound(first); it != pages_.end() && it->first <= last; ++it)
    if (it->second->kind == EntryKind::kHole) return true;
  return false;
}

uint64_t Mapping::evict_holes(uint64_t first, uint64_t last, bool defer_free) {
  std::lock_guard<std::shared_mutex> g(mu_);
  uint64_t n = 0;
  for (auto it = pages_.lower_bound(first); it != pages_.end() && it->first <= last;) {
    if (it->second->kind == EntryKind::kHole) {
      if (defer_free) retired_.push_back(std::move(it->second));
      it = pages_.erase(it);
      ++n;
      changed();
    } else {
      ++it;
    }
  }
  return n;
}

namespace {

// Takes and clears the dirty marks of e, one 4 KiB range per page; all of it
// when a client maps it writable. Returns whether e stays dirty.
bool take_entry_dirty(Entry& e, std::vector<DirtyRange>& out) {
  if (e.kind == EntryKind::kHole) return false;
  if (e.client_writable.load(std::memory_order_relaxed)) {
    for (uint32_t w = 0; w < (e.npages() + 63) / 64; ++w) e.dirty[w].store(0, std::memory_order_relaxed);
    out.push_back({e.pool_block * kBlockSize, uint64_t{e.npages()} * kBlockSize});
    return true;
  }
  for (uint32_t w = 0; w < (e.npages() + 63) / 64; ++w) {
    uint64_t bits = e.dirty[w].exchange(0, std::memory_order_relaxed);
    while (bits) {
      uint32_t b = static_cast<uint32_t>(__builtin_ctzll(bits));
      bits &= bits - 1;
      out.push_back({(e.pool_block + w * 64 + b) * kBlockSize, kBlockSize});
    }
  }
  return false;
}

// Each pool byte once: sort, then merge touching and overlapping ranges.
std::vector<DirtyRange> merge_ranges(std::vector<DirtyRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const DirtyRange& a, const DirtyRange& b) { return a.pool_off < b.pool_off; });
  std::vector<DirtyRange> merged;
  for (const auto& r : ranges) {
    if (!merged.empty() && r.pool_off <= merged.back().pool_off + merged.back().len) {
      uint64_t end = std::max(merged.back().pool_off + merged.back().len, r.pool_off + r.len);
      merged.back().len = end - merged.back().pool_off;
    } else {
      merged.push_back(r);
    }
  }
  return merged;
}

}  // namespace

std::vector<DirtyRange> Mapping::evict(uint64_t first, uint64_t last) {
  std::vector<DirtyRange> dirty;
  std::lock_guard<std::shared_mutex> g(mu_);
  retired_.clear();
  // Entries outside the range keep their marks, so the flag stays up.
  const bool marked = any_dirty_.load(std::memory_order_acquire);
  auto drop = [&](std::map<uint64_t, std::unique_ptr<Entry>>& map, uint64_t from) {
    auto begin = map.lower_bound(from), end = map.upper_bound(last);
    if (marked)
      for (auto it = begin; it != end; ++it) take_entry_dirty(*it->second, dirty);
    map.erase(begin, end);
  };
  drop(pages_, first);
  drop(pmds_, first - first % kBlocksPerHuge);
  changed();
  return merge_ranges(std::move(dirty));
}

std::vector<DirtyRange> Mapping::take_dirty() {
  std::vector<DirtyRange> ranges;
  // Taken before the scan: a mark made meanwhile raises it again, for the
  // next call, if this scan missed it.
  if (!any_dirty_.exchange(false, std::memory_order_acq_rel)) return ranges;
  {
    std::lock_guard<std::shared_mutex> g(mu_);
    bool still = false;
    for (auto& [k, e] : pages_) still |= take_entry_dirty(*e, ranges);
    for (auto& [k, e] : pmds_) still |= take_entry_dirty(*e, ranges);
    // Entries a client writes stay dirty: the next fsync must see them too.
    if (still) any_dirty_.store(true, std::memory_order_release);
  }
  return merge_ranges(std::move(ranges));
}

size_t Mapping::size() const {
  std::lock_guard<std::shared_mutex> g(mu_);
  return pages_.size() + pmds_.size();
}

}  // namespace pmemfs
