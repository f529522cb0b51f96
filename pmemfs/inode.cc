#include "pmemfs/inode.h"

#include <sys/stat.h>
#include <time.h>

#include <cstring>

#include <spdlog/spdlog.h>

#include "pmemfs/crc32c.h"
#include "pmemfs/dir.h"
#include "pmemfs/journal.h"
#include "pmemfs/pool.h"

namespace pmemfs {

using layout::InodeRecord;

void seal(InodeRecord& rec) { rec.checksum = crc32c(&rec, offsetof(InodeRecord, checksum)); }

int64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void Inode::fold_times() {
  int64_t t = pending_mtime.exchange(0);
  if (t != 0) {
    rec.mtime_ns = std::max(rec.mtime_ns, t);
    rec.ctime_ns = std::max(rec.ctime_ns, t);
  }
  // A read's time replaces whatever was there, as the kernel's touch_atime
  // does (also an atime utimes(2) set in the future).
  if (int64_t a = pending_atime.exchange(0); a != 0) rec.atime_ns = a;
}

InodeTable::InodeTable(Pool& pool, Allocator& alloc, const layout::Superblock& sb)
    : pool_(pool),
      alloc_(alloc),
      count_(sb.inode_count),
      table_off_(sb.inode_table_off),
      bitmap_off_(sb.inode_bitmap_off),
      numbers_(pool, sb.inode_bitmap_off, sb.inode_count) {
  free_ = numbers_.free_count();
}

std::vector<uint64_t> InodeTable::used_numbers() const {
  std::lock_guard<std::mutex> g(mu_);
  return numbers_.used();
}

size_t InodeTable::free_number_runs() const {
  std::lock_guard<std::mutex> g(mu_);
  return numbers_.runs();
}

Result<std::shared_ptr<Inode>> InodeTable::get(uint64_t ino) {
  std::lock_guard<std::mutex> g(mu_);
  if (ino == 0 || ino > count_) return err(ESTALE);
  if (auto it = cache_.find(ino); it != cache_.end()) return it->second;
  if (!numbers_.in_use(ino)) return err(ESTALE);
  auto inode = std::make_shared<Inode>(ino, pool_, alloc_);
  std::memcpy(&inode->rec, pool_.at<InodeRecord>(record_off(ino)), sizeof(InodeRecord));
  if (inode->rec.checksum != crc32c(&inode->rec, offsetof(InodeRecord, checksum)) ||
      inode->rec.mode == 0) {
    spdlog::error("inode {}: record is damaged (run fsck.pmemfs)", ino);
    return err(EUCLEAN);
  }
  PMEMFS_TRY(inode->extents.load());
  cache_.emplace(ino, inode);
  return inode;
}

Result<std::shared_ptr<Inode>> InodeTable::allocate(Txn& txn) {
  std::lock_guard<std::mutex> g(mu_);
  auto taken = numbers_.take(hint_);
  if (!taken.ok()) return err(ENOSPC);
  const uint64_t ino = *taken;
  const uint64_t w = (ino - 1) / 64, b = (ino - 1) % 64;
  hint_ = w * 64 + 1;  // the word's first: as the bitmap search did
  --free_;
  txn.set_bits(bitmap_off_ + w * 8, uint64_t{1} << b);
  txn.on_abort([this, ino] {
    std::lock_guard<std::mutex> g2(mu_);
    numbers_.give_back(ino);
    cache_.erase(ino);
    ++free_;
  });
  auto inode = std::make_shared<Inode>(ino, pool_, alloc_);
  inode->rec.generation = next_generation();
  (void)inode->extents.load();  // an empty record: frees the inline slots
  cache_[ino] = inode;
  return inode;
}

void InodeTable::write(Txn& txn, Inode& inode) {
  seal(inode.rec);
  txn.write_record(record_off(inode.ino), inode.rec);
}

void InodeTable::release(Txn& txn, Inode& inode) {
  const uint64_t ino = inode.ino;
  InodeRecord freed{};
  freed.generation = inode.rec.generation;
  seal(freed);
  txn.write_record(record_off(ino), freed);
  const uint64_t w = (ino - 1) / 64, mask = uint64_t{1} << ((ino - 1) % 64);
  txn.clear_bits(bitmap_off_ + w * 8, mask);
  txn.on_commit([this, ino] {
    std::lock_guard<std::mutex> g(mu_);
    numbers_.give_back(ino);
    cache_.erase(ino);
    ++free_;
  });
}

void InodeTable::evict(uint64_t ino) {
  std::lock_guard<std::mutex> g(mu_);
  // Only when nobody holds it, in DRAM or in the kernel: two DRAM copies of
  // one inode must never exist, and a lookup racing with the forget that got
  // us here may have taken a new kernel reference.
  if (auto it = cache_.find(ino); it != cache_.end() && it->second.use_count() == 1 &&
                                  it->second->nlookup.load() == 0 && it->second->nopen.load() == 0)
    cache_.erase(it);
}

std::vector<std::shared_ptr<Inode>> InodeTable::loaded() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::shared_ptr<Inode>> out;
  out.reserve(cache_.size());
  for (const auto& [ino, inode] : cache_) out.push_back(inode);
  return out;
}

}  // namespace pmemfs
