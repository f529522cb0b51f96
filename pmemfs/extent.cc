#include "pmemfs/extent.h"

#include <cstring>
#include <unordered_set>

#include <spdlog/spdlog.h>

#include "pmemfs/alloc.h"
#include "pmemfs/crc32c.h"
#include "pmemfs/journal.h"
#include "pmemfs/pool.h"

namespace pmemfs {

using layout::Extent;
using layout::ExtentBlock;
using layout::kBlockSize;
using layout::kExtentsPerBlock;
using layout::kInlineExtents;

namespace {
constexpr size_t kChainHeaderBytes = offsetof(ExtentBlock, extents);
// Bytes one extent change may add to a Txn (slot + bitmap words + inode).
constexpr size_t kRemoveReserve = 8192;
// One bit record in a Txn: its header and the u64 mask.
constexpr size_t kBitRecordBytes = sizeof(layout::JournalRecord) + sizeof(uint64_t);
// Bytes freeing one ExtentBlock may add: its bitmap word (16-byte record
// header + 8) and a relinked header (16 + 32).
constexpr size_t kDropBlockReserve = 128;

// The header of one of ino's ExtentBlocks, followed by next (0: the last).
ExtentBlock chain_header(uint64_t ino, uint64_t next) {
  ExtentBlock h{};
  h.magic = layout::kExtentBlockMagic;
  h.owner = ino;
  h.next = next;
  h.checksum = crc32c(&h, offsetof(ExtentBlock, checksum));
  return h;
}
}  // namespace

Extent make_extent(uint64_t fb, uint64_t pb, uint64_t n) {
  Extent e{};
  if (n == 0) return e;
  e.file_block = fb;
  e.pool_block = pb;
  e.nblocks = static_cast<uint32_t>(n);
  e.checksum = crc32c(&e, offsetof(Extent, checksum));
  return e;
}

ExtentMap::ExtentMap(Pool& pool, Allocator& alloc, uint64_t ino, layout::InodeRecord& rec)
    : pool_(pool), alloc_(alloc), ino_(ino), rec_(rec) {}

uint64_t ExtentMap::slot_offset(uint32_t slot) const {
  uint32_t k = (slot - kInlineExtents) / kExtentsPerBlock;
  uint32_t j = (slot - kInlineExtents) % kExtentsPerBlock;
  return chain_[k] * kBlockSize + kChainHeaderBytes + j * sizeof(Extent);
}

Status ExtentMap::load() {
  std::lock_guard<std::mutex> g(mu_);
  auto take = [&](const Extent& e, uint32_t slot) -> Status {
    if (e.nblocks == 0) {
      free_slots_.insert(slot);
      return {};
    }
    if (e.checksum != crc32c(&e, offsetof(Extent, checksum))) {
      spdlog::error("inode {}: extent slot {} has a bad checksum", ino_, slot);
      return err(EUCLEAN);
    }
    // Reads map these blocks and truncates free them to the allocator.
    if (!alloc_.in_data_area(e.pool_block, e.nblocks) || e.file_block + e.nblocks < e.file_block) {
      spdlog::error("inode {}: extent slot {} (file block {}, pool block {}, {} blocks) lies outside "
                    "the data area or wraps around", ino_, slot, e.file_block, e.pool_block, e.nblocks);
      return err(EUCLEAN);
    }
    if (!extents_.emplace(e.file_block, Slotted{e.pool_block, e.nblocks, slot}).second) {
      spdlog::error("inode {}: two extents start at file block {}", ino_, e.file_block);
      return err(EUCLEAN);
    }
    if (slot >= kInlineExtents) ++chain_used_[(slot - kInlineExtents) / kExtentsPerBlock];
    return {};
  };
  for (uint32_t s = 0; s < kInlineExtents; ++s) PMEMFS_TRY(take(rec_.extents[s], s));
  std::unordered_set<uint64_t> seen;
  for (uint64_t b = rec_.extent_next; b != 0;) {
    if (!alloc_.in_data_area(b, 1) || !seen.insert(b).second) {
      spdlog::error("inode {}: extent block chain leads to block {}, {}", ino_, b,
                    seen.count(b) ? "where it was already" : "outside the data area");
      return err(EUCLEAN);
    }
    const auto* blk = pool_.at<ExtentBlock>(b * kBlockSize);
    if (blk->magic != layout::kExtentBlockMagic ||
        blk->checksum != crc32c(blk, offsetof(ExtentBlock, checksum))) {
      spdlog::error("inode {}: extent block {} is damaged", ino_, b);
      return err(EUCLEAN);
    }
    uint32_t base = kInlineExtents + static_cast<uint32_t>(chain_.size()) * kExtentsPerBlock;
    chain_.push_back(b);
    chain_used_.push_back(0);
    for (uint32_t j = 0; j < kExtentsPerBlock; ++j) PMEMFS_TRY(take(blk->extents[j], base + j));
    // Pools written before empty blocks were freed may hold some.
    if (chain_used_.back() == 0) chain_has_empty_ = true;
    b = blk->next;
  }
  // find() and next() take the extents to be disjoint in the file.
  for (auto it = extents_.begin(); it != extents_.end() && std::next(it) != extents_.end(); ++it) {
    if (it->first + it->second.nblocks > std::next(it)->first) {
      spdlog::error("inode {}: extents overlap at file block {}", ino_, std::next(it)->first);
      return err(EUCLEAN);
    }
  }
  return {};
}

std::optional<Mapped> ExtentMap::find(uint64_t fb) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = extents_.upper_bound(fb);
  if (it == extents_.begin()) return std::nullopt;
  --it;
  if (fb >= it->first + it->second.nblocks) return std::nullopt;
  return Mapped{it->first, it->second.pool_block, it->second.nblocks};
}

std::optional<Mapped> ExtentMap::next(uint64_t fb) const {
  std::lock_guard<std::mutex> g(mu_);
  auto it = extents_.upper_bound(fb);
  if (it != extents_.begin()) {
    auto prev = std::prev(it);
    if (fb < prev->first + prev->second.nblocks)
      return Mapped{prev->first, prev->second.pool_block, prev->second.nblocks};
  }
  if (it == extents_.end()) return std::nullopt;
  return Mapped{it->first, it->second.pool_block, it->second.nblocks};
}

Status ExtentMap::write_slot(Txn& txn, uint32_t slot, uint64_t fb, uint64_t pb, uint64_t n) {
  Extent e = make_extent(fb, pb, n);
  if (slot < kInlineExtents) {
    rec_.extents[slot] = e;  // the caller journals the whole InodeRecord
  } else {
    txn.write_record(slot_offset(slot), e);
  }
  return {};
}

Result<uint32_t> ExtentMap::take_slot(Txn& txn) {
  if (free_slots_.empty()) {
    // Spill: a new, zeroed ExtentBlock, persisted before the Txn links it.
    auto run = alloc_.alloc(txn, 1, chain_.empty() ? 0 : chain_.back() + 1, 0);
    if (!run.ok()) return err(run.error());
    uint64_t b = run->pool_block;
    ExtentBlock blk = chain_header(ino_, 0);
    pool_.memcpy_persist(pool_.at<char>(b * kBlockSize), &blk, sizeof(blk));
    if (chain_.empty()) {
      rec_.extent_next = b;
    } else {
      // Built afresh, not read: this Txn may have rewritten it already.
      ExtentBlock head = chain_header(ino_, b);
      txn.write(chain_.back() * kBlockSize, &head, kChainHeaderBytes);
    }
    uint32_t base = kInlineExtents + static_cast<uint32_t>(chain_.size()) * kExtentsPerBlock;
    chain_.push_back(b);
    chain_used_.push_back(0);
    for (uint32_t j = 0; j < kExtentsPerBlock; ++j) free_slots_.insert(base + j);
  }
  uint32_t slot = *free_slots_.begin();
  free_slots_.erase(free_slots_.begin());
  if (slot >= kInlineExtents) ++chain_used_[(slot - kInlineExtents) / kExtentsPerBlock];
  return slot;
}

void ExtentMap::release_slot(uint32_t slot) {
  free_slots_.insert(slot);
  if (slot < kInlineExtents) return;
  if (--chain_used_[(slot - kInlineExtents) / kExtentsPerBlock] == 0) chain_has_empty_ = true;
}

bool ExtentMap::free_empty_blocks(Txn& txn) {
  if (!chain_has_empty_) return true;
  // Which blocks go, as many as the Txn has room for (the caller's inode
  // record included, as in remove()).
  std::vector<bool> drop(chain_.size(), false);
  bool all = true;
  size_t dropped = 0;
  for (size_t k = 0; k < chain_.size(); ++k) {
    if (chain_used_[k] != 0) continue;
    if (txn.room() < kRemoveReserve + (dropped + 1) * kDropBlockReserve) {
      all = false;
      break;
    }
    drop[k] = true;
    ++dropped;
  }
  if (dropped == 0) return all;

  // Relink the chain around them, in this Txn: each survivor whose successor
  // changes gets a new header, the inode (journaled whole by the caller) a
  // new head. The dropped blocks need no write: nothing reaches them then.
  std::vector<uint64_t> kept;
  std::vector<uint32_t> kept_used, new_index(chain_.size(), 0);
  for (size_t k = 0; k < chain_.size(); ++k) {
    if (drop[k]) continue;
    new_index[k] = static_cast<uint32_t>(kept.size());
    kept.push_back(chain_[k]);
    kept_used.push_back(chain_used_[k]);
  }
  rec_.extent_next = kept.empty() ? 0 : kept[0];
  for (size_t k = 0; k < chain_.size(); ++k) {
    if (drop[k]) continue;
    const uint64_t old_next = k + 1 < chain_.size() ? chain_[k + 1] : 0;
    const uint64_t next = new_index[k] + 1 < kept.size() ? kept[new_index[k] + 1] : 0;
    if (next == old_next) continue;
    ExtentBlock head = chain_header(ino_, next);
    txn.write(chain_[k] * kBlockSize, &head, kChainHeaderBytes);
  }
  for (size_t k = 0; k < chain_.size(); ++k)
    if (drop[k]) alloc_.free(txn, chain_[k], 1);

  // Slots are numbered by position in the chain: renumber those behind a
  // dropped block.
  auto renumber = [&](uint32_t slot) {
    if (slot < kInlineExtents) return slot;
    const uint32_t k = (slot - kInlineExtents) / kExtentsPerBlock;
    return kInlineExtents + new_index[k] * kExtentsPerBlock + (slot - kInlineExtents) % kExtentsPerBlock;
  };
  for (auto& [fb, e] : extents_) e.slot = renumber(e.slot);
  std::set<uint32_t> free_slots;
  for (uint32_t s : free_slots_) {
    if (s >= kInlineExtents && drop[(s - kInlineExtents) / kExtentsPerBlock]) continue;
    free_slots.insert(free_slots.end(), renumber(s));
  }
  free_slots_ = std::move(free_slots);
  chain_ = std::move(kept);
  chain_used_ = std::move(kept_used);
  chain_has_empty_ = !all;
  return all;
}

Status ExtentMap::insert(Txn& txn, uint64_t fb, uint64_t pb, uint64_t n) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = extents_.lower_bound(fb);
  if (it != extents_.begin()) {
    auto prev = std::prev(it);
    Slotted& p = prev->second;
    if (prev->first + p.nblocks == fb && p.pool_block + p.nblocks == pb &&
        p.nblocks + n <= UINT32_MAX) {
      p.nblocks += n;
      return write_slot(txn, p.slot, prev->first, p.pool_block, p.nblocks);
    }
  }
  auto slot = take_slot(txn);
  if (!slot.ok()) return err(slot.error());
  extents_[fb] = {pb, n, *slot};
  return write_slot(txn, *slot, fb, pb, n);
}

Result<bool> ExtentMap::remove(Txn& txn, uint64_t fb, uint64_t end) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = extents_.upper_bound(fb);
  if (it != extents_.begin()) --it;
  while (it != extents_.end() && it->first < end) {
    if (txn.room() < kRemoveReserve) return false;
    const uint64_t efb = it->first;
    Slotted e = it->second;
    const uint64_t eend = efb + e.nblocks;
    if (eend <= fb) {
      ++it;
      continue;
    }
    const uint64_t cut_from = std::max(fb, efb);
    uint64_t cut_to = std::min(end, eend);
    // Freeing n blocks journals about n/64 bitmap words: a huge extent is
    // cut in as many Txns as that takes, its rest kept as a shorter extent.
    const uint64_t words_room = (txn.room() - kRemoveReserve) / kBitRecordBytes;
    const bool partial = (cut_to - cut_from) / 64 + 2 > words_room;
    if (partial) {
      if (words_room < 3) return false;
      cut_to = cut_from + (words_room - 2) * 64;
    }
    alloc_.free(txn, e.pool_block + (cut_from - efb), cut_to - cut_from);
    it = extents_.erase(it);
    // What is left: a head [efb, cut_from) in the old slot, and a tail
    // [cut_to, eend) in a new slot.
    if (cut_from > efb) {
      extents_[efb] = {e.pool_block, cut_from - efb, e.slot};
      PMEMFS_TRY(write_slot(txn, e.slot, efb, e.pool_block, cut_from - efb));
    } else {
      release_slot(e.slot);
      PMEMFS_TRY(write_slot(txn, e.slot, 0, 0, 0));
    }
    if (cut_to < eend) {
      auto slot = take_slot(txn);
      if (!slot.ok()) return err(slot.error());
      uint64_t tpb = e.pool_block + (cut_to - efb);
      extents_[cut_to] = {tpb, eend - cut_to, *slot};
      PMEMFS_TRY(write_slot(txn, *slot, cut_to, tpb, eend - cut_to));
      it = extents_.upper_bound(cut_to);
    }
    if (partial) return false;  // the rest of this extent in the next Txn
  }
  return free_empty_blocks(txn);
}

void ExtentMap::free_chain(Txn& txn) {
  std::lock_guard<std::mutex> g(mu_);
  for (uint64_t b : chain_) alloc_.free(txn, b, 1);
  chain_.clear();
  chain_used_.clear();
  chain_has_empty_ = false;
  free_slots_.clear();
  for (uint32_t s = 0; s < kInlineExtents; ++s) free_slots_.insert(s);
  rec_.extent_next = 0;
}

std::vector<Mapped> ExtentMap::all() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<Mapped> out;
  out.reserve(extents_.size());
  for (const auto& [fb, e] : extents_) out.push_back({fb, e.pool_block, e.nblocks});
  return out;
}

uint64_t ExtentMap::allocated_blocks() const {
  std::lock_guard<std::mutex> g(mu_);
  uint64_t n = chain_.size();
  for (const auto& [fb, e] : extents_) n += e.nblocks;
  return n;
}

uint64_t ExtentMap::end_block() const {
  std::lock_guard<std::mutex> g(mu_);
  if (extents_.empty()) return 0;
  auto last = std::prev(extents_.end());
  return last->first + last->second.nblocks;
}

}  // namespace pmemfs
