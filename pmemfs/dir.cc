#include "pmemfs/dir.h"

#include <cstring>

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
  for (uint32_t slot = 0; slot < nslots_; ++slot) {
    const auto* s = pool_.at<DirentSlot>(slot_offset(slot));
    if (s->ino == 0) {
      free_slots_.insert(slot);
      continue;
    }
    if (!slot_valid(*s)) {
      spdlog::error("directory {}: entry slot {} is damaged (run fsck.pmemfs)", dir_.ino, slot);
      return err(EUCLEAN);
    }
    index_.emplace(std::string(s->name, s->name_len), DirSlotRef{s->ino, s->type, slot});
  }
  return {};
}

std::optional<DirSlotRef> Directory::lookup(std::string_view name) const {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) return std::nullopt;
  return it->second;
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
    PMEMFS_TRY(dir_.extents.insert(txn, fb, run->pool_block, 1));
    dir_.rec.size += kBlockSize;
    for (uint32_t s = nslots_; s < nslots_ + kSlotsPerBlock; ++s) free_slots_.insert(s);
    nslots_ += kSlotsPerBlock;
    txn.on_abort([this, fb] {
      // The block is returned by the allocator's own abort hook.
      dir_.rec.size = fb * kBlockSize;
      nslots_ = static_cast<uint32_t>(fb * kSlotsPerBlock);
      free_slots_.erase(free_slots_.lower_bound(nslots_), free_slots_.end());
    });
  }
  uint32_t slot = *free_slots_.begin();
  free_slots_.erase(free_slots_.begin());
  write_slot(txn, slot, name, ino, type);
  index_.emplace(std::string(name), DirSlotRef{ino, type, slot});
  return {};
}

void Directory::replace(Txn& txn, std::string_view name, uint64_t ino, uint8_t type) {
  auto& ref = index_.at(std::string(name));
  ref.ino = ino;
  ref.type = type;
  write_slot(txn, ref.slot, name, ino, type);
}

void Directory::remove(Txn& txn, std::string_view name) {
  auto it = index_.find(std::string(name));
  if (it == index_.end()) return;
  write_slot(txn, it->second.slot, {}, 0, 0);
  free_slots_.insert(it->second.slot);
  index_.erase(it);
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
