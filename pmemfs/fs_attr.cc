// Attributes: getattr, setattr (incl. truncate), statfs, stats, map.
#include "pmemfs/fs_impl.h"
#include "pmemfs/json_text.h"

#include <nlohmann/json.hpp>

namespace pmemfs {

using layout::kBlockSize;
using layout::kBlocksPerHuge;

namespace {

struct timespec to_ts(int64_t ns) {
  struct timespec ts;
  ts.tv_sec = ns / 1000000000;
  ts.tv_nsec = ns % 1000000000;
  if (ts.tv_nsec < 0) {
    ts.tv_nsec += 1000000000;
    ts.tv_sec -= 1;
  }
  return ts;
}

int64_t to_ns(const struct timespec& ts) { return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec; }

}  // namespace

void Attr::to_stat(struct stat* st) const {
  *st = {};
  st->st_ino = ino;
  st->st_mode = mode;
  st->st_nlink = nlink;
  st->st_uid = uid;
  st->st_gid = gid;
  st->st_rdev = rdev;
  st->st_size = static_cast<off_t>(size);
  st->st_blksize = kBlockSize;
  st->st_blocks = static_cast<blkcnt_t>(blocks);
  st->st_atim = atime;
  st->st_mtim = mtime;
  st->st_ctim = ctime;
}

Json Stats::to_json() const {
  return Json{{"hole_faults", hole_faults},
              {"pte_faults", pte_faults},
              {"pmd_faults", pmd_faults},
              {"upgrades", upgrades},
              {"retries", retries},
              {"hole_evictions", hole_evictions},
              {"fsync_calls", fsync_calls},
              {"fsync_bytes_flushed", fsync_bytes_flushed},
              {"journal_commits", journal_commits},
              {"persists", persists},
              {"data_blocks", data_blocks},
              {"free_blocks", free_blocks},
              {"free_huge_regions", free_huge_regions},
              {"persistence", persistence}};
}

Attr FsImpl::attr_of(Inode& inode) {
  const auto& r = inode.rec;
  Attr a;
  a.ino = inode.ino;
  a.generation = r.generation;
  a.mode = r.mode;
  a.uid = r.uid;
  a.gid = r.gid;
  a.nlink = r.nlink;
  a.size = r.size;
  a.blocks = inode.extents.allocated_blocks() * (kBlockSize / 512);
  a.rdev = r.rdev;
  const int64_t pending = inode.pending_mtime();
  const int64_t pending_a = inode.pending_atime();
  a.atime = to_ts(pending_a != 0 ? pending_a : r.atime_ns);
  // 0 means no pending write, not the epoch: times before 1970 are valid.
  a.mtime = to_ts(pending != 0 ? std::max(r.mtime_ns, pending) : r.mtime_ns);
  a.ctime = to_ts(pending != 0 ? std::max(r.ctime_ns, pending) : r.ctime_ns);
  a.btime = to_ts(r.btime_ns);
  a.has_xattrs = r.xattr_head != 0;
  return a;
}

Result<Attr> FsImpl::getattr(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  std::shared_lock<InodeLock> lk((*inode)->lock);
  return attr_of(**inode);
}

Result<Attr> FsImpl::setattr(uint64_t ino, const SetAttr& a) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  std::unique_lock<InodeLock> lk(f.lock);
  f.fold_times();
  auto& r = f.rec;
  const int64_t now = now_ns();
  if (a.valid & SetAttr::kSize) {
    if (f.is_dir()) return err(EISDIR);
    if (f.type() != S_IFREG) return err(EINVAL);
    if (a.size > layout::kMaxFileSize) return err(EFBIG);
    if (a.size != r.size) r.mtime_ns = now;
    PMEMFS_TRY(truncate_locked(f, a.size));
  }
  if (a.valid & SetAttr::kMode) r.mode = (r.mode & S_IFMT) | (a.mode & 07777);
  if (a.valid & SetAttr::kUid) r.uid = a.uid;
  if (a.valid & SetAttr::kGid) r.gid = a.gid;
  if (a.valid & SetAttr::kAtimeNow) r.atime_ns = now;
  else if (a.valid & SetAttr::kAtime) r.atime_ns = to_ns(a.atime);
  if (a.valid & SetAttr::kMtimeNow) r.mtime_ns = now;
  else if (a.valid & SetAttr::kMtime) r.mtime_ns = to_ns(a.mtime);
  r.ctime_ns = (a.valid & SetAttr::kCtime) ? to_ns(a.ctime) : now;
  Txn txn = journal_->begin();
  if (a.valid & SetAttr::kMode) PMEMFS_TRY(chmod_acl_locked(txn, *inode));
  inodes_->write(txn, f);
  PMEMFS_TRY(txn.commit());
  return attr_of(f);
}

Result<StatFs> FsImpl::statfs() {
  // What unlink has just freed, or is freeing, counts as free (alloc.h).
  alloc_->settle(std::chrono::milliseconds(100));
  StatFs s{};
  s.block_size = kBlockSize;
  s.blocks = alloc_->total_blocks();
  s.blocks_free = alloc_->free_blocks();
  s.inodes = inodes_->count();
  s.inodes_free = inodes_->free_count();
  s.name_max = layout::kMaxNameLen;
  return s;
}

Stats FsImpl::stats() const {
  Stats s;
  s.hole_faults = counters_.hole_faults.load();
  s.pte_faults = counters_.pte_faults.load();
  s.pmd_faults = counters_.pmd_faults.load();
  s.upgrades = counters_.upgrades.load();
  s.retries = counters_.retries.load();
  s.hole_evictions = counters_.hole_evictions.load();
  s.fsync_calls = counters_.fsync_calls.load();
  s.fsync_bytes_flushed = counters_.fsync_bytes_flushed.load();
  s.journal_commits = journal_->commits();
  s.persists = pool_->drains();
  s.persistence = pool_->persist_method();
  s.data_blocks = alloc_->total_blocks();
  s.free_blocks = alloc_->free_blocks();
  s.free_huge_regions = alloc_->free_huge_extents();
  return s;
}

Result<std::vector<ExtentInfo>> FsImpl::map(uint64_t ino, uint64_t from_offset,
                                             size_t max_entries) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  std::shared_lock<InodeLock> lk((*inode)->lock);
  // One entry more than asked for is built and dropped: only then is the
  // last one asked for known to be whole (nothing merges into it).
  const size_t limit = max_entries == SIZE_MAX ? SIZE_MAX : max_entries + 1;
  std::vector<ExtentInfo> out;
  auto emit = [&](uint64_t fb, uint64_t pb, uint64_t n, bool huge) {
    if (!out.empty() && out.back().huge == huge &&
        out.back().file_offset + out.back().length == fb * kBlockSize &&
        out.back().pool_offset + out.back().length == pb * kBlockSize) {
      out.back().length += n * kBlockSize;
      return;
    }
    out.push_back({fb * kBlockSize, n * kBlockSize, pb * kBlockSize, huge});
  };
  for (uint64_t at = from_offset / kBlockSize; out.size() < limit;) {
    const std::optional<Mapped> m = (*inode)->extents.next(at);
    if (!m) break;
    // Split each extent into the 2 MiB pieces aligned in file and pool and
    // the 4 KiB blocks around them, as the fault path maps them. A page that
    // begins inside an extent begins at an entry's end, where a piece ends.
    const uint64_t skip = at > m->file_block ? at - m->file_block : 0;
    uint64_t fb = m->file_block + skip, pb = m->pool_block + skip, left = m->nblocks - skip;
    at = m->file_block + m->nblocks;
    while (left > 0 && out.size() < limit) {
      if (fb % kBlocksPerHuge == 0 && pb % kBlocksPerHuge == 0 && left >= kBlocksPerHuge) {
        emit(fb, pb, kBlocksPerHuge, true);
        fb += kBlocksPerHuge, pb += kBlocksPerHuge, left -= kBlocksPerHuge;
      } else {
        uint64_t n = std::min<uint64_t>(left, kBlocksPerHuge - fb % kBlocksPerHuge);
        emit(fb, pb, n, false);
        fb += n, pb += n, left -= n;
      }
    }
  }
  if (out.size() > max_entries) out.resize(max_entries);
  return out;
}

}  // namespace pmemfs
