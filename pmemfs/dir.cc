#include "pmemfs/dir.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>

#include <spdlog/spdlog.h>

#include "pmemfs/alloc.h"
#include "pmemfs/crc32c.h"
#include "pmemfs/inode.h"
#include "pmemfs/journal.h"
#include "pmemfs/pool.h"

namespace pmemfs {

using layout::DirentSlot;
using layout::kBlockSize;
using layout::kSlotsPerBlock;

DirentSlot make_slot(std::string_view name, uint64_t ino, uint8_t type) {
  DirentSlot s{};
  if (ino == 0) return s;
  s.ino = ino;
  s.type = type;
  s.name_len = static_cast<uint8_t>(name.size());
  std::memcpy(s.name, name.data(), name.size());
  s.checksum = crc32c(&s, sizeof(s));
  return s;
}

bool slot_valid(const DirentSlot& s) {
  DirentSlot copy = s;
  copy.checksum = 0;
  return s.name_len > 0 && crc32c(&copy, sizeof(copy)) == s.checksum;
}

Directory::Directory(Pool& pool, Allocator& alloc, Inode& dir)
    : pool_(pool), alloc_(alloc), dir_(dir) {}

uint64_t Directory::slot_offset(uint32_t slot) const {
  auto m = dir_.extents.find(slot / kSlotsPerBlock);
  // Directory blocks are always allocated from block 0 up to size (load()
  // checks it), so every slot below nslots_ is mapped.
  uint64_t pb = m->pool_block + (slot / kSlotsPerBlock - m->file_block);
  return pb * kBlockSize + (slot % kSlotsPerBlock) * sizeof(DirentSlot);
}

uint32_t Directory::hash_of(std::string_view name) {
  return static_cast<uint32_t>(std::hash<std::string_view>{}(name));
}

void Directory::rehash(size_t n) {
  size_t cap = 16;
  while (cap * 7 < (n + 1) * 10) cap *= 2;
  std::vector<Cell> old = std::move(table_);
  table_.assign(cap, Cell{});
  tombs_ = 0;
  for (const Cell& c : old)
    if (c.slot1 != 0 && c.slot1 != kTomb) {
      size_t i = c.hash & (cap - 1);
      while (table_[i].slot1 != 0) i = (i + 1) & (cap - 1);
      table_[i] = c;
    }
}

void Directory::index_insert(uint32_t hash, uint32_t slot) {
  if (table_.empty() || (live_ + tombs_ + 1) * 10 > table_.size() * 7) rehash(live_ + 1);
  const size_t mask = table_.size() - 1;
  size_t i = hash & mask;
  while (table_[i].slot1 != 0 && table_[i].slot1 != kTomb) i = (i + 1) & mask;
  if (table_[i].slot1 == kTomb) --tombs_;
  table_[i] = {slot + 1, hash};
  ++live_;
}

size_t Directory::find_cell(std::string_view name) const {
  if (table_.empty()) return SIZE_MAX;
  const uint32_t h = hash_of(name);
  const size_t mask = table_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Cell& c = table_[i];
    if (c.slot1 == 0) return SIZE_MAX;
    if (c.slot1 == kTomb || c.hash != h) continue;
    const auto* s = pool_.at<DirentSlot>(slot_offset(c.slot1 - 1));
    if (s->name_len == name.size() && std::memcmp(s->name, name.data(), name.size()) == 0) return i;
  }
}

uint32_t Directory::take_free_slot() {
  std::pop_heap(free_slots_.begin(), free_slots_.end(), std::greater<>());
  uint32_t slot = free_slots_.back();
  free_slots_.pop_back();
  return slot;
}

Status Directory::load() {
  const uint64_t nblocks = dir_.rec.size / kBlockSize;
  for (uint64_t b = 0; b < nblocks; ++b) {
    auto m = dir_.extents.find(b);
    if (!m) {
      spdlog::error("directory {}: block {} is missing", dir_.ino, b);
      return err(EUCLEAN);
    }
  }
  nslots_ = static_cast<uint32_t>(nblocks * kSlotsPerBlock);
  std::vector<Cell> cells;
  for (uint32_t slot = 0; slot < nslots_; ++slot) {
    const auto* s = pool_.at<DirentSlot>(slot_offset(slot));
    if (s->ino == 0) {
      free_slots_.push_back(slot);  // ascending: already a min-heap
      continue;
    }
    if (!slot_valid(*s)) {
      spdlog::error("directory {}: entry slot {} is damaged (run fsck.pmemfs)", dir_.ino, slot);
      return err(EUCLEAN);
    }
    cells.push_back({slot + 1, hash_of(std::string_view(s->name, s->name_len))});
  }
  free_slots_.shrink_to_fit();
  if (!cells.empty()) {
    live_ = cells.size();
    table_ = std::move(cells);  // rehash() places them
    rehash(live_);
  }
  return {};
}

std::optional<DirSlotRef> Directory::lookup(std::string_view name) const {
  const size_t i = find_cell(name);
  if (i == SIZE_MAX) return std::nullopt;
  const uint32_t slot = table_[i].slot1 - 1;
  const auto* s = pool_.at<DirentSlot>(slot_offset(slot));
  return DirSlotRef{s->ino, s->type, slot};
}

void Directory::write_slot(Txn& txn, uint32_t slot, std::string_view name, uint64_t ino,
                           uint8_t type) {
  txn.write_record(slot_offset(slot), make_slot(name, ino, type));
}

Status Directory::add(Txn& txn, std::string_view name, uint64_t ino, uint8_t type) {
  if (free_slots_.empty()) {
    // Grow by one zeroed block, persisted before the Txn maps it.
    const uint64_t fb = dir_.rec.size / kBlockSize;
    uint64_t goal = 0;
    if (fb > 0) {
      auto last = dir_.extents.find(fb - 1);
      goal = last->pool_block + (fb - 1 - last->file_block) + 1;
    }
    auto run = alloc_.alloc(txn, 1, goal, fb);
    if (!run.ok()) return err(run.error());
    pool_.memset_persist(pool_.at<char>(run->pool_block * kBlockSize), 0, kBlockSize);
    PMEMFS_TRY(dir_.extents.insert(txn, dir_.extent_owner(pool_, alloc_), fb, run->pool_block, 1));
    dir_.rec.size += kBlockSize;
    // Pushed in ascending order onto an empty heap: still a heap.
    for (uint32_t s = nslots_; s < nslots_ + kSlotsPerBlock; ++s) free_slots_.push_back(s);
    nslots_ += kSlotsPerBlock;
    txn.on_abort([this, fb] {
      // The block is returned by the allocator's own abort hook.
      dir_.rec.size = fb * kBlockSize;
      nslots_ = static_cast<uint32_t>(fb * kSlotsPerBlock);
      std::erase_if(free_slots_, [this](uint32_t s) { return s >= nslots_; });
      std::make_heap(free_slots_.begin(), free_slots_.end(), std::greater<>());
    });
  }
  uint32_t slot = take_free_slot();
  write_slot(txn, slot, name, ino, type);
  index_insert(hash_of(name), slot);
  return {};
}

void Directory::replace(Txn& txn, std::string_view name, uint64_t ino, uint8_t type) {
  const size_t i = find_cell(name);
  // REQUIRES (as index_.at() did): the name exists.
  if (i == SIZE_MAX) std::abort();
  write_slot(txn, table_[i].slot1 - 1, name, ino, type);
}

void Directory::remove(Txn& txn, std::string_view name) {
  const size_t i = find_cell(name);
  if (i == SIZE_MAX) return;
  const uint32_t slot = table_[i].slot1 - 1;
  write_slot(txn, slot, {}, 0, 0);
  free_slots_.push_back(slot);
  std::push_heap(free_slots_.begin(), free_slots_.end(), std::greater<>());
  table_[i].slot1 = kTomb;
  --live_;
  ++tombs_;
  // A directory emptied of most of its names gives the table back.
  if (table_.size() > 64 && live_ * 10 < table_.size()) {
    if (live_ == 0) {
      table_ = {};
      tombs_ = 0;
    } else {
      rehash(live_);
    }
  }
}

void Directory::for_each(
    uint32_t from, const std::function<bool(uint32_t, const DirentSlot&)>& fn) const {
  for (uint32_t slot = from; slot < nslots_; ++slot) {
    const auto* s = pool_.at<DirentSlot>(slot_offset(slot));
    if (s->ino == 0) continue;
    if (!fn(slot, *s)) return;
  }
}

}  // namespace pmemfs
