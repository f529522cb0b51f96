#include "pmemfs/extent.h"

#include <bit>
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

uint64_t ExtentMap::slot_offset(uint32_t slot) const {
  uint32_t k = (slot - kInlineExtents) / kExtentsPerBlock;
  uint32_t j = (slot - kInlineExtents) % kExtentsPerBlock;
  return spill_->chain[k] * kBlockSize + kChainHeaderBytes + j * sizeof(Extent);
}

void ExtentMap::spill() {
  if (spill_) return;
  spill_ = std::make_unique<Spill>();
  if (one_n_ != 0) {
    spill_->extents.emplace(one_fb_, Slotted{one_pb_, one_n_, one_slot_});
    spill_->inline_rec[one_slot_] = make_extent(one_fb_, one_pb_, one_n_);
  }
  one_n_ = 0;
}

void ExtentMap::unspill() {
  if (!spill_ || !spill_->chain.empty() || spill_->extents.size() > 1) return;
  one_n_ = 0;
  if (!spill_->extents.empty()) {
    const auto& [fb, e] = *spill_->extents.begin();
    one_fb_ = fb;
    one_pb_ = e.pool_block;
    one_n_ = static_cast<uint32_t>(e.nblocks);
    one_slot_ = static_cast<uint8_t>(e.slot);
  }
  spill_.reset();
}

void ExtentMap::inline_records(Extent (&out)[kInlineExtents]) const {
  std::lock_guard<SpinLock> g(mu_);
  if (spill_) {
    std::memcpy(out, spill_->inline_rec, sizeof(out));
    return;
  }
  for (auto& e : out) e = Extent{};
  if (one_n_ != 0) out[one_slot_] = make_extent(one_fb_, one_pb_, one_n_);
}

Status ExtentMap::load(const ExtentOwner& o, const Extent (&inline_extents)[kInlineExtents]) {
  std::lock_guard<SpinLock> g(mu_);
  spill_.reset();
  one_n_ = 0;
  inline_free_ = (1u << kInlineExtents) - 1;
  // Read into a Spill, then fold it back inline when it holds one extent.
  spill();
  Spill& sp = *spill_;
  auto take = [&](const Extent& e, uint32_t slot) -> Status {
    if (e.nblocks == 0) {
      if (slot >= kInlineExtents) sp.free_chain_slots.insert(slot);
      return {};
    }
    if (e.checksum != crc32c(&e, offsetof(Extent, checksum))) {
      spdlog::error("inode {}: extent slot {} has a bad checksum", o.ino, slot);
      return err(EUCLEAN);
    }
    // Reads map these blocks and truncates free them to the allocator.
    if (!o.alloc.in_data_area(e.pool_block, e.nblocks) || e.file_block + e.nblocks < e.file_block) {
      spdlog::error("inode {}: extent slot {} (file block {}, pool block {}, {} blocks) lies outside "
                    "the data area or wraps around", o.ino, slot, e.file_block, e.pool_block, e.nblocks);
      return err(EUCLEAN);
    }
    if (!sp.extents.emplace(e.file_block, Slotted{e.pool_block, e.nblocks, slot}).second) {
      spdlog::error("inode {}: two extents start at file block {}", o.ino, e.file_block);
      return err(EUCLEAN);
    }
    if (slot >= kInlineExtents) {
      ++sp.chain_used[(slot - kInlineExtents) / kExtentsPerBlock];
    } else {
      inline_free_ &= static_cast<uint8_t>(~(1u << slot));
      sp.inline_rec[slot] = e;
    }
    return {};
  };
  for (uint32_t s = 0; s < kInlineExtents; ++s) PMEMFS_TRY(take(inline_extents[s], s));
  std::unordered_set<uint64_t> seen;
  for (uint64_t b = o.chain_head; b != 0;) {
    if (!o.alloc.in_data_area(b, 1) || !seen.insert(b).second) {
      spdlog::error("inode {}: extent block chain leads to block {}, {}", o.ino, b,
                    seen.count(b) ? "where it was already" : "outside the data area");
      return err(EUCLEAN);
    }
    const auto* blk = o.pool.at<ExtentBlock>(b * kBlockSize);
    if (blk->magic != layout::kExtentBlockMagic ||
        blk->checksum != crc32c(blk, offsetof(ExtentBlock, checksum))) {
      spdlog::error("inode {}: extent block {} is damaged", o.ino, b);
      return err(EUCLEAN);
    }
    uint32_t base = kInlineExtents + static_cast<uint32_t>(sp.chain.size()) * kExtentsPerBlock;
    sp.chain.push_back(b);
    sp.chain_used.push_back(0);
    for (uint32_t j = 0; j < kExtentsPerBlock; ++j) PMEMFS_TRY(take(blk->extents[j], base + j));
    // Pools written before empty blocks were freed may hold some.
    if (sp.chain_used.back() == 0) sp.chain_has_empty = true;
    b = blk->next;
  }
  // find() and next() take the extents to be disjoint in the file.
  for (auto it = sp.extents.begin(); it != sp.extents.end() && std::next(it) != sp.extents.end(); ++it) {
    if (it->first + it->second.nblocks > std::next(it)->first) {
      spdlog::error("inode {}: extents overlap at file block {}", o.ino, std::next(it)->first);
      return err(EUCLEAN);
    }
  }
  unspill();
  return {};
}

std::optional<Mapped> ExtentMap::find(uint64_t fb) const {
  std::lock_guard<SpinLock> g(mu_);
  if (!spill_) {
    if (one_n_ != 0 && fb >= one_fb_ && fb < one_fb_ + one_n_) return Mapped{one_fb_, one_pb_, one_n_};
    return std::nullopt;
  }
  const auto& extents = spill_->extents;
  auto it = extents.upper_bound(fb);
  if (it == extents.begin()) return std::nullopt;
  --it;
  if (fb >= it->first + it->second.nblocks) return std::nullopt;
  return Mapped{it->first, it->second.pool_block, it->second.nblocks};
}

std::optional<Mapped> ExtentMap::next(uint64_t fb) const {
  std::lock_guard<SpinLock> g(mu_);
  if (!spill_) {
    if (one_n_ != 0 && fb < one_fb_ + one_n_) return Mapped{one_fb_, one_pb_, one_n_};
    return std::nullopt;
  }
  const auto& extents = spill_->extents;
  auto it = extents.upper_bound(fb);
  if (it != extents.begin()) {
    auto prev = std::prev(it);
    if (fb < prev->first + prev->second.nblocks)
      return Mapped{prev->first, prev->second.pool_block, prev->second.nblocks};
  }
  if (it == extents.end()) return std::nullopt;
  return Mapped{it->first, it->second.pool_block, it->second.nblocks};
}

Status ExtentMap::write_slot(Txn& txn, uint32_t slot, uint64_t fb, uint64_t pb, uint64_t n) {
  Extent e = make_extent(fb, pb, n);
  if (slot < kInlineExtents) {
    // The caller journals the whole InodeRecord (InodeTable::write takes the
    // inline slots from inline_records()).
    if (spill_) spill_->inline_rec[slot] = e;
  } else {
    txn.write_record(slot_offset(slot), e);
  }
  return {};
}

Result<uint32_t> ExtentMap::take_slot(Txn& txn, const ExtentOwner& o) {
  if (inline_free_ != 0) {
    const uint32_t slot = static_cast<uint32_t>(std::countr_zero(inline_free_));
    inline_free_ &= static_cast<uint8_t>(~(1u << slot));
    return slot;
  }
  // Every inline slot is taken: more than one extent, so spill_ is there.
  Spill& sp = *spill_;
  if (sp.free_chain_slots.empty()) {
    // Spill: a new, zeroed ExtentBlock, persisted before the Txn links it.
    auto run = o.alloc.alloc(txn, 1, sp.chain.empty() ? 0 : sp.chain.back() + 1, 0);
    if (!run.ok()) return err(run.error());
    uint64_t b = run->pool_block;
    ExtentBlock blk = chain_header(o.ino, 0);
    o.pool.memcpy_persist(o.pool.at<char>(b * kBlockSize), &blk, sizeof(blk));
    if (sp.chain.empty()) {
      o.chain_head = b;
    } else {
      // Built afresh, not read: this Txn may have rewritten it already.
      ExtentBlock head = chain_header(o.ino, b);
      txn.write(sp.chain.back() * kBlockSize, &head, kChainHeaderBytes);
    }
    uint32_t base = kInlineExtents + static_cast<uint32_t>(sp.chain.size()) * kExtentsPerBlock;
    sp.chain.push_back(b);
    sp.chain_used.push_back(0);
    for (uint32_t j = 0; j < kExtentsPerBlock; ++j) sp.free_chain_slots.insert(base + j);
  }
  uint32_t slot = *sp.free_chain_slots.begin();
  sp.free_chain_slots.erase(sp.free_chain_slots.begin());
  ++sp.chain_used[(slot - kInlineExtents) / kExtentsPerBlock];
  return slot;
}

void ExtentMap::release_slot(uint32_t slot) {
  if (slot < kInlineExtents) {
    inline_free_ |= static_cast<uint8_t>(1u << slot);
    return;
  }
  Spill& sp = *spill_;
  sp.free_chain_slots.insert(slot);
  if (--sp.chain_used[(slot - kInlineExtents) / kExtentsPerBlock] == 0) sp.chain_has_empty = true;
}

bool ExtentMap::free_empty_blocks(Txn& txn, const ExtentOwner& o) {
  Spill& sp = *spill_;
  if (!sp.chain_has_empty) return true;
  // Which blocks go, as many as the Txn has room for (the caller's inode
  // record included, as in remove()).
  std::vector<bool> drop(sp.chain.size(), false);
  bool all = true;
  size_t dropped = 0;
  for (size_t k = 0; k < sp.chain.size(); ++k) {
    if (sp.chain_used[k] != 0) continue;
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
  std::vector<uint32_t> kept_used, new_index(sp.chain.size(), 0);
  for (size_t k = 0; k < sp.chain.size(); ++k) {
    if (drop[k]) continue;
    new_index[k] = static_cast<uint32_t>(kept.size());
    kept.push_back(sp.chain[k]);
    kept_used.push_back(sp.chain_used[k]);
  }
  o.chain_head = kept.empty() ? 0 : kept[0];
  for (size_t k = 0; k < sp.chain.size(); ++k) {
    if (drop[k]) continue;
    const uint64_t old_next = k + 1 < sp.chain.size() ? sp.chain[k + 1] : 0;
    const uint64_t next = new_index[k] + 1 < kept.size() ? kept[new_index[k] + 1] : 0;
    if (next == old_next) continue;
    ExtentBlock head = chain_header(o.ino, next);
    txn.write(sp.chain[k] * kBlockSize, &head, kChainHeaderBytes);
  }
  for (size_t k = 0; k < sp.chain.size(); ++k)
    if (drop[k]) o.alloc.free(txn, sp.chain[k], 1);

  // Slots are numbered by position in the chain: renumber those behind a
  // dropped block.
  auto renumber = [&](uint32_t slot) {
    if (slot < kInlineExtents) return slot;
    const uint32_t k = (slot - kInlineExtents) / kExtentsPerBlock;
    return kInlineExtents + new_index[k] * kExtentsPerBlock + (slot - kInlineExtents) % kExtentsPerBlock;
  };
  for (auto& [fb, e] : sp.extents) e.slot = renumber(e.slot);
  std::set<uint32_t> free_slots;
  for (uint32_t s : sp.free_chain_slots) {
    if (drop[(s - kInlineExtents) / kExtentsPerBlock]) continue;
    free_slots.insert(free_slots.end(), renumber(s));
  }
  sp.free_chain_slots = std::move(free_slots);
  sp.chain = std::move(kept);
  sp.chain_used = std::move(kept_used);
  sp.chain_has_empty = !all;
  return all;
}

Status ExtentMap::insert(Txn& txn, const ExtentOwner& o, uint64_t fb, uint64_t pb, uint64_t n) {
  std::lock_guard<SpinLock> g(mu_);
  if (!spill_) {
    if (one_n_ == 0) {
      // The first extent: inline, no heap.
      auto slot = take_slot(txn, o);
      if (!slot.ok()) return err(slot.error());
      one_fb_ = fb;
      one_pb_ = pb;
      one_n_ = static_cast<uint32_t>(n);
      one_slot_ = static_cast<uint8_t>(*slot);
      return write_slot(txn, *slot, fb, pb, n);
    }
    if (one_fb_ + one_n_ == fb && one_pb_ + one_n_ == pb && one_n_ + n <= UINT32_MAX) {
      one_n_ += static_cast<uint32_t>(n);
      return write_slot(txn, one_slot_, one_fb_, one_pb_, one_n_);
    }
    spill();
  }
  auto& extents = spill_->extents;
  auto it = extents.lower_bound(fb);
  if (it != extents.begin()) {
    auto prev = std::prev(it);
    Slotted& p = prev->second;
    if (prev->first + p.nblocks == fb && p.pool_block + p.nblocks == pb &&
        p.nblocks + n <= UINT32_MAX) {
      p.nblocks += n;
      return write_slot(txn, p.slot, prev->first, p.pool_block, p.nblocks);
    }
  }
  auto slot = take_slot(txn, o);
  if (!slot.ok()) return err(slot.error());
  extents[fb] = {pb, n, *slot};
  return write_slot(txn, *slot, fb, pb, n);
}

Result<bool> ExtentMap::remove(Txn& txn, const ExtentOwner& o, uint64_t fb, uint64_t end) {
  std::lock_guard<SpinLock> g(mu_);
  if (!spill_ && (one_n_ == 0 || one_fb_ >= end || one_fb_ + one_n_ <= fb)) return true;
  // The general path works on the Spill; a map left with one extent and no
  // chain goes back inline at the end.
  spill();
  struct Unspill {
    ExtentMap& m;
    ~Unspill() { m.unspill(); }
  } unspill_at_end{*this};
  auto& extents = spill_->extents;
  auto it = extents.upper_bound(fb);
  if (it != extents.begin()) --it;
  while (it != extents.end() && it->first < end) {
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
    o.alloc.free(txn, e.pool_block + (cut_from - efb), cut_to - cut_from);
    it = extents.erase(it);
    // What is left: a head [efb, cut_from) in the old slot, and a tail
    // [cut_to, eend) in a new slot.
    if (cut_from > efb) {
      extents[efb] = {e.pool_block, cut_from - efb, e.slot};
      PMEMFS_TRY(write_slot(txn, e.slot, efb, e.pool_block, cut_from - efb));
    } else {
      release_slot(e.slot);
      PMEMFS_TRY(write_slot(txn, e.slot, 0, 0, 0));
    }
    if (cut_to < eend) {
      auto slot = take_slot(txn, o);
      if (!slot.ok()) return err(slot.error());
      uint64_t tpb = e.pool_block + (cut_to - efb);
      extents[cut_to] = {tpb, eend - cut_to, *slot};
      PMEMFS_TRY(write_slot(txn, *slot, cut_to, tpb, eend - cut_to));
      it = extents.upper_bound(cut_to);
    }
    if (partial) return false;  // the rest of this extent in the next Txn
  }
  return free_empty_blocks(txn, o);
}

void ExtentMap::free_chain(Txn& txn, const ExtentOwner& o) {
  std::lock_guard<SpinLock> g(mu_);
  if (spill_) {
    for (uint64_t b : spill_->chain) o.alloc.free(txn, b, 1);
    spill_->chain.clear();
    spill_->chain_used.clear();
    spill_->chain_has_empty = false;
    spill_->free_chain_slots.clear();
    unspill();
  }
  o.chain_head = 0;
}

std::vector<Mapped> ExtentMap::all() const {
  std::lock_guard<SpinLock> g(mu_);
  std::vector<Mapped> out;
  if (!spill_) {
    if (one_n_ != 0) out.push_back({one_fb_, one_pb_, one_n_});
    return out;
  }
  out.reserve(spill_->extents.size());
  for (const auto& [fb, e] : spill_->extents) out.push_back({fb, e.pool_block, e.nblocks});
  return out;
}

uint64_t ExtentMap::allocated_blocks() const {
  std::lock_guard<SpinLock> g(mu_);
  if (!spill_) return one_n_;
  uint64_t n = spill_->chain.size();
  for (const auto& [fb, e] : spill_->extents) n += e.nblocks;
  return n;
}

uint64_t ExtentMap::end_block() const {
  std::lock_guard<SpinLock> g(mu_);
  if (!spill_) return one_n_ == 0 ? 0 : one_fb_ + one_n_;
  if (spill_->extents.empty()) return 0;
  auto last = std::prev(spill_->extents.end());
  return last->first + last->second.nblocks;
}

}  // namespace pmemfs
