#include "pmemfs/orphan.h"

#include <algorithm>

#include "pmemfs/journal.h"
#include "pmemfs/pool.h"

namespace pmemfs {

OrphanTable::OrphanTable(Pool& pool, const layout::Superblock& sb)
    : pool_(pool), off_(sb.orphan_off) {
  const auto* p = pool_.at<uint64_t>(off_);
  slots_.assign(p, p + sb.orphan_slots);
}

Status OrphanTable::add(Txn& txn, uint64_t ino) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = std::find(slots_.begin(), slots_.end(), 0);
  if (it == slots_.end()) return err(ENOSPC);
  *it = ino;
  const uint64_t i = static_cast<uint64_t>(it - slots_.begin());
  txn.write_record(off_ + i * 8, ino);
  txn.on_abort([this, i] {
    std::lock_guard<std::mutex> g2(mu_);
    slots_[i] = 0;
  });
  return {};
}

void OrphanTable::remove(Txn& txn, uint64_t ino) {
  std::lock_guard<std::mutex> g(mu_);
  auto it = std::find(slots_.begin(), slots_.end(), ino);
  if (it == slots_.end()) return;
  const uint64_t i = static_cast<uint64_t>(it - slots_.begin());
  txn.write_record(off_ + i * 8, uint64_t{0});
  // The slot is reusable only once the removal is durable.
  txn.on_commit([this, i] {
    std::lock_guard<std::mutex> g2(mu_);
    slots_[i] = 0;
  });
}

std::vector<uint64_t> OrphanTable::list() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<uint64_t> out;
  for (uint64_t ino : slots_)
    if (ino != 0) out.push_back(ino);
  return out;
}

}  // namespace pmemfs
