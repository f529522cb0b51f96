#include "pmemfs/inode.h"

#include <sys/stat.h>
#include <time.h>

#include <algorithm>
#include <bit>
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
  InodeExtra* x = extra_if();
  if (!x) return;
  int64_t t = x->pending_mtime.exchange(0);
  if (t != 0) {
    rec.mtime_ns = std::max(rec.mtime_ns, t);
    rec.ctime_ns = std::max(rec.ctime_ns, t);
  }
  // A read's time replaces whatever was there, as the kernel's touch_atime
  // does (also an atime utimes(2) set in the future).
  if (int64_t a = x->pending_atime.exchange(0); a != 0) rec.atime_ns = a;
}

std::shared_ptr<Inode>* InodeCache::find(uint64_t ino) {
  if (cells_.empty()) return nullptr;
  const size_t mask = cells_.size() - 1;
  for (size_t i = home(ino);; i = (i + 1) & mask) {
    if (!cells_[i]) return nullptr;
    if (cells_[i]->ino == ino) return &cells_[i];
  }
}

void InodeCache::resize(size_t cap) {
  std::vector<std::shared_ptr<Inode>> old = std::move(cells_);
  cells_.clear();
  cells_.resize(cap);
  shift_ = 64 - static_cast<unsigned>(std::countr_zero(cap));
  for (auto& c : old) {
    if (!c) continue;
    size_t i = home(c->ino);
    while (cells_[i]) i = (i + 1) & (cap - 1);
    cells_[i] = std::move(c);
  }
}

void InodeCache::put(uint64_t ino, std::shared_ptr<Inode> inode) {
  if (auto* c = find(ino)) {
    *c = std::move(inode);
    return;
  }
  if ((size_ + 1) * 10 > cells_.size() * 7) resize(std::max<size_t>(64, cells_.size() * 2));
  const size_t mask = cells_.size() - 1;
  size_t i = home(ino);
  while (cells_[i]) i = (i + 1) & mask;
  cells_[i] = std::move(inode);
  ++size_;
}

void InodeCache::erase(uint64_t ino) {
  std::shared_ptr<Inode>* c = find(ino);
  if (!c) return;
  const size_t mask = cells_.size() - 1;
  size_t hole = static_cast<size_t>(c - cells_.data());
  // Dropped after the table is consistent again: its destructor may run
  // arbitrary code, none of which may see a half-shifted table.
  std::shared_ptr<Inode> gone = std::move(*c);
  --size_;
  // Backward shift: move up each following cell whose home is not in
  // (hole, i], so that every probe sequence stays unbroken.
  for (size_t i = (hole + 1) & mask; cells_[i]; i = (i + 1) & mask) {
    const size_t h = home(cells_[i]->ino);
    const bool stays = hole <= i ? (hole < h && h <= i) : (hole < h || h <= i);
    if (stays) continue;
    cells_[hole] = std::move(cells_[i]);
    hole = i;
  }
  // A cache emptied of most inodes (the kernel forgot them) gives the table back.
  if (cells_.size() > 64 && size_ * 10 < cells_.size()) resize(std::max<size_t>(64, cells_.size() / 4));
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
  if (auto* c = cache_.find(ino)) return *c;
  if (!numbers_.in_use(ino)) return err(ESTALE);
  InodeRecord r;
  std::memcpy(&r, pool_.at<InodeRecord>(record_off(ino)), sizeof(InodeRecord));
  if (r.checksum != crc32c(&r, offsetof(InodeRecord, checksum)) || r.mode == 0) {
    spdlog::error("inode {}: record is damaged (run fsck.pmemfs)", ino);
    return err(EUCLEAN);
  }
  auto inode = std::make_shared<Inode>(ino);
  InodeCore& c = inode->rec;
  c.mode = r.mode;
  c.uid = r.uid;
  c.gid = r.gid;
  c.nlink = r.nlink;
  c.flags = r.flags;
  c.size = r.size;
  c.generation = r.generation;
  c.rdev = r.rdev;
  c.atime_ns = r.atime_ns;
  c.mtime_ns = r.mtime_ns;
  c.ctime_ns = r.ctime_ns;
  c.btime_ns = r.btime_ns;
  c.parent = r.parent;
  c.xattr_head = r.xattr_head;
  c.extent_next = r.extent_next;
  PMEMFS_TRY(inode->extents.load(inode->extent_owner(pool_, alloc_), r.extents));
  cache_.put(ino, inode);
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
  auto inode = std::make_shared<Inode>(ino);
  inode->rec.generation = next_generation();
  cache_.put(ino, inode);
  return inode;
}

InodeRecord InodeTable::record_of(const Inode& inode) {
  const InodeCore& c = inode.rec;
  InodeRecord r{};
  r.mode = c.mode;
  r.uid = c.uid;
  r.gid = c.gid;
  r.nlink = c.nlink;
  r.size = c.size;
  r.generation = c.generation;
  r.rdev = c.rdev;
  r.atime_ns = c.atime_ns;
  r.mtime_ns = c.mtime_ns;
  r.ctime_ns = c.ctime_ns;
  r.btime_ns = c.btime_ns;
  r.parent = c.parent;
  r.xattr_head = c.xattr_head;
  r.extent_next = c.extent_next;
  r.flags = c.flags;
  inode.extents.inline_records(r.extents);
  seal(r);
  return r;
}

void InodeTable::write(Txn& txn, Inode& inode) {
  txn.write_record(record_off(inode.ino), record_of(inode));
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
  if (auto* c = cache_.find(ino);
      c && c->use_count() == 1 && (*c)->nlookup.load() == 0 && (*c)->nopen.load() == 0)
    cache_.erase(ino);
}

std::vector<std::shared_ptr<Inode>> InodeTable::loaded() const {
  std::lock_guard<std::mutex> g(mu_);
  std::vector<std::shared_ptr<Inode>> out;
  out.reserve(cache_.size());
  cache_.for_each([&](const std::shared_ptr<Inode>& inode) { out.push_back(inode); });
  return out;
}

}  // namespace pmemfs
