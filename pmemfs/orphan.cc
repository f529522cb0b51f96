#include "pmemfs/orphan.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "pmemfs/alloc.h"
#include "pmemfs/crc32c.h"
#include "pmemfs/journal.h"
#include "pmemfs/pool.h"

namespace pmemfs {

using layout::kBlockSize;
using layout::kOrphansPerBlock;
using layout::OrphanBlock;

namespace {

constexpr size_t kHeaderBytes = offsetof(OrphanBlock, inos);

struct Header {
  uint32_t magic;
  uint32_t checksum;
  uint64_t next;
};
static_assert(sizeof(Header) == kHeaderBytes);

uint32_t header_checksum(Header h) {
  h.checksum = 0;
  return crc32c(&h, sizeof(h));
}

Header make_header(uint64_t next) {
  Header h{layout::kOrphanBlockMagic, 0, next};
  h.checksum = header_checksum(h);
  return h;
}

// The min-heap of free slots.
void push_free(std::vector<uint64_t>& heap, uint64_t slot) {
  heap.push_back(slot);
  std::push_heap(heap.begin(), heap.end(), std::greater<>());
}

}  // namespace

OrphanTable::OrphanTable(Pool& pool, Allocator& alloc, Journal& journal,
                         const layout::Superblock& sb)
    : pool_(pool),
      alloc_(alloc),
      journal_(journal),
      off_(sb.orphan_off),
      table_inos_(layout::orphan_table_inos(sb)),
      chain_(layout::has_orphan_chain(sb)),
      link_off_(chain_ ? layout::orphan_link_off(sb) : 0) {}

uint64_t OrphanTable::slot_offset_locked(uint64_t slot) const {
  if (slot < table_inos_) return off_ + slot * sizeof(uint64_t);
  const uint64_t k = (slot - table_inos_) / kOrphansPerBlock, j = (slot - table_inos_) % kOrphansPerBlock;
  return blocks_[k] * kBlockSize + kHeaderBytes + j * sizeof(uint64_t);
}

void OrphanTable::write_link_locked(Txn& txn, size_t k, uint64_t pb) const {
  if (k == 0) {
    txn.write_record(link_off_, pb);
    return;
  }
  // Only growth and shrinking write headers, both under grow_mu_, so the
  // header in the pool is the one to change.
  txn.write_record(blocks_[k - 1] * kBlockSize, make_header(pb));
}

Status OrphanTable::load() {
  std::lock_guard<std::mutex> g(mu_);
  blocks_.clear();
  free_.clear();
  where_.clear();
  auto take = [&](uint64_t slot, uint64_t ino) {
    if (ino == 0)
      free_.push_back(slot);
    else
      where_.emplace(ino, slot);  // listed twice (damage): finished once, fsck clears the other
  };
  const auto* table = pool_.at<uint64_t>(off_);
  for (uint64_t i = 0; i < table_inos_; ++i) take(i, table[i]);
  if (chain_) {
    std::unordered_set<uint64_t> seen;
    for (uint64_t b = *pool_.at<uint64_t>(link_off_); b != 0;) {
      if (!alloc_.in_data_area(b, 1) || !seen.insert(b).second) {
        spdlog::error("orphan chain: leads to block {}, {} (run fsck.pmemfs)", b,
                      seen.count(b) ? "where it was already" : "outside the data area");
        return err(EUCLEAN);
      }
      const auto* blk = pool_.at<OrphanBlock>(b * kBlockSize);
      Header h;
      std::memcpy(&h, blk, sizeof(h));
      if (h.magic != layout::kOrphanBlockMagic || h.checksum != header_checksum(h)) {
        spdlog::error("orphan chain: block {} is damaged (run fsck.pmemfs)", b);
        return err(EUCLEAN);
      }
      const uint64_t base = table_inos_ + blocks_.size() * kOrphansPerBlock;
      blocks_.push_back(b);
      for (uint64_t j = 0; j < kOrphansPerBlock; ++j) take(base + j, blk->inos[j]);
      b = h.next;
    }
  }
  std::make_heap(free_.begin(), free_.end(), std::greater<>());
  return {};
}

Status OrphanTable::add(Txn& txn, uint64_t ino) {
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (where_.count(ino)) return {};
      if (!free_.empty()) {
        std::pop_heap(free_.begin(), free_.end(), std::greater<>());
        const uint64_t slot = free_.back();
        free_.pop_back();
        where_.emplace(ino, slot);
        txn.write_record(slot_offset_locked(slot), ino);
        txn.on_abort([this, ino, slot] {
          std::lock_guard<std::mutex> g2(mu_);
          where_.erase(ino);
          push_free(free_, slot);
        });
        return {};
      }
    }
    if (!chain_) return err(ENOSPC);
    PMEMFS_TRY(grow());
  }
}

Status OrphanTable::grow() {
  std::lock_guard<std::mutex> gg(grow_mu_);
  uint64_t goal;
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!free_.empty()) return {};  // another thread grew it meanwhile
    goal = blocks_.empty() ? 0 : blocks_.back() + 1;
  }
  Txn txn = journal_.begin();
  // No waiting for frees under grow_mu_: the thread freeing them may need it.
  Allocator::NoWait no_wait;
  auto run = alloc_.alloc(txn, 1, goal, 0);
  if (!run.ok()) return err(run.error());
  const uint64_t b = run->pool_block;
  // Zeroed and durable before the Txn that links it commits.
  OrphanBlock blk{};
  const Header h = make_header(0);
  std::memcpy(&blk, &h, sizeof(h));
  pool_.memcpy_persist(pool_.at<char>(b * kBlockSize), &blk, sizeof(blk));
  {
    std::lock_guard<std::mutex> g(mu_);
    write_link_locked(txn, blocks_.size(), b);
  }
  PMEMFS_TRY(txn.commit());
  std::lock_guard<std::mutex> g(mu_);
  const uint64_t base = table_inos_ + blocks_.size() * kOrphansPerBlock;
  blocks_.push_back(b);
  for (uint64_t j = 0; j < kOrphansPerBlock; ++j) push_free(free_, base + j);
  return {};
}

void OrphanTable::remove(Txn& txn, uint64_t ino) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = where_.find(ino);
  if (it == where_.end()) return;
  const uint64_t slot = it->second;
  txn.write_record(slot_offset_locked(slot), uint64_t{0});
  // The slot is reusable only once the removal is durable.
  txn.on_commit([this, ino, slot] {
    std::lock_guard<std::mutex> g2(mu_);
    auto at = where_.find(ino);
    if (at == where_.end() || at->second != slot) return;  // removed twice in one Txn
    where_.erase(at);
    push_free(free_, slot);
  });
}

std::vector<uint64_t> OrphanTable::list() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::pair<uint64_t, uint64_t>> by_slot;
  by_slot.reserve(where_.size());
  for (const auto& [ino, slot] : where_) by_slot.emplace_back(slot, ino);
  std::sort(by_slot.begin(), by_slot.end());  // in table order, as before
  std::vector<uint64_t> out;
  out.reserve(by_slot.size());
  for (const auto& [slot, ino] : by_slot) out.push_back(ino);
  return out;
}

size_t OrphanTable::size() const {
  std::lock_guard<std::mutex> g(mu_);
  return where_.size();
}

size_t OrphanTable::chain_blocks() const {
  std::lock_guard<std::mutex> g(mu_);
  return blocks_.size();
}

Status OrphanTable::shrink() {
  std::lock_guard<std::mutex> gg(grow_mu_);
  std::unique_lock<std::mutex> g(mu_);
  size_t keep = 0;  // chain blocks up to the last one holding an orphan
  for (const auto& [ino, slot] : where_)
    if (slot >= table_inos_) keep = std::max<size_t>(keep, (slot - table_inos_) / kOrphansPerBlock + 1);
  while (blocks_.size() > keep) {
    // From the end of the chain, as many blocks as one Txn holds.
    Txn txn = journal_.begin();
    size_t from = blocks_.size();
    while (from > keep && txn.room() > 256) alloc_.free(txn, blocks_[--from], 1);
    write_link_locked(txn, from, 0);
    g.unlock();
    PMEMFS_TRY(txn.commit());
    g.lock();
    blocks_.resize(from);
    const uint64_t end = table_inos_ + from * kOrphansPerBlock;
    free_.erase(std::remove_if(free_.begin(), free_.end(), [end](uint64_t s) { return s >= end; }),
                free_.end());
    std::make_heap(free_.begin(), free_.end(), std::greater<>());
  }
  return {};
}

}  // namespace pmemfs
