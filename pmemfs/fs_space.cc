// Space management: fallocate, SEEK_DATA/SEEK_HOLE, copy_file_range.
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "pmemfs/fs_impl.h"

namespace pmemfs {

using layout::kBlockSize;
using layout::kHugeSize;

std::vector<std::pair<uint64_t, uint64_t>> FsImpl::holes_in(const Inode& f, uint64_t off,
                                                             uint64_t end) const {
  std::vector<std::pair<uint64_t, uint64_t>> holes;
  uint64_t fb = off / kBlockSize;
  const uint64_t end_block = (end + kBlockSize - 1) / kBlockSize;
  while (fb < end_block) {
    if (auto m = f.extents.find(fb)) {
      fb = m->file_block + m->nblocks;
      continue;
    }
    const auto n = f.extents.next(fb);
    const uint64_t hole_end = n ? std::min(end_block, n->file_block) : end_block;
    holes.emplace_back(fb, hole_end);
    fb = hole_end;
  }
  return holes;
}

Status FsImpl::allocate_range_locked(Inode& f, uint64_t off, uint64_t len) {
  uint64_t page = off / kBlockSize;
  const uint64_t end = (off + len + kBlockSize - 1) / kBlockSize;
  // 2 MiB extents for the aligned ranges the request covers, runs of 4 KiB
  // blocks at its edges: what tmpfs would hold, no more.
  const WriteIntent intent{page, end, false};
  // What was asked for is kept: no speculative tail to trim at close.
  if (InodeExtra* x = f.extra_if()) x->stream_tail.store(UINT64_MAX, std::memory_order_relaxed);
  while (page < end) {
    if (auto m = f.extents.find(page)) {
      page = m->file_block + m->nblocks;
      continue;
    }
    auto e = write_fault_locked(*fc_, f, page, intent);
    if (!e.ok()) return err(e.error());
  }
  return {};
}

void FsImpl::trim_stream_tail(Inode& f) {
  InodeExtra* x = f.extra_if();
  if (!x || x->stream_tail.load(std::memory_order_relaxed) == UINT64_MAX) return;
  std::unique_lock<InodeLock> lk(f.lock);
  const uint64_t tail = x->stream_tail.load(std::memory_order_relaxed);
  // Opened again meanwhile: the writer may go on; the next close trims.
  if (tail == UINT64_MAX || f.nopen.load() != 0) return;
  x->stream_tail.store(UINT64_MAX, std::memory_order_relaxed);
  if (f.rec.mode == 0 || f.rec.data_freed || !(f.rec.flags & layout::kInodeBeyondEof)) return;
  const uint64_t size_blocks = (f.rec.size + kBlockSize - 1) / kBlockSize;
  const uint64_t first = std::max(tail, size_blocks), end = tail + layout::kBlocksPerHuge;
  if (first >= end) return;
  // Nothing left past EOF once this goes (no fallocate'd space beyond it):
  // the mark goes in the same transaction.
  const uint32_t flags = f.rec.flags;
  if (first == size_blocks && !f.extents.next(end)) f.rec.flags &= ~layout::kInodeBeyondEof;
  Status s = unmap_locked(f, first, end, journal_->begin());
  if (!s.ok()) {
    f.rec.flags = flags;
    spdlog::warn("inode {}: giving back the blocks past EOF failed: {}", f.ino, std::strerror(s.error()));
  }
}

Status FsImpl::fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len) {
  if (len == 0) return err(EINVAL);
  if (off + len < off || off + len > layout::kMaxFileSize) return err(EFBIG);
  const int known = FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE | FALLOC_FL_ZERO_RANGE;
  if (mode & ~known) return err(EOPNOTSUPP);
  if ((mode & FALLOC_FL_PUNCH_HOLE) && (!(mode & FALLOC_FL_KEEP_SIZE) || (mode & FALLOC_FL_ZERO_RANGE)))
    return err(EOPNOTSUPP);
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  if (f.is_dir()) return err(EISDIR);
  if (f.type() != S_IFREG) return err(ENODEV);
  std::unique_lock<InodeLock> lk(f.lock);
  f.fold_times();
  const bool keep = mode & FALLOC_FL_KEEP_SIZE;
  const uint64_t new_size = keep ? f.rec.size : std::max<uint64_t>(f.rec.size, off + len);
  const int64_t now = now_ns();

  if (mode & FALLOC_FL_PUNCH_HOLE) {
    // Partial blocks at the edges are zeroed in place, whole blocks freed.
    const uint64_t first = (off + kBlockSize - 1) / kBlockSize;
    const uint64_t last = (off + len) / kBlockSize;
    evict_locked(f, off / kBlockSize, (off + len - 1) / kBlockSize);
    if (first > last) {
      zero_mapped_locked(f, off, len);
    } else {
      zero_mapped_locked(f, off, first * kBlockSize - off);
      zero_mapped_locked(f, last * kBlockSize, off + len - last * kBlockSize);
    }
    f.rec.mtime_ns = f.rec.ctime_ns = now;
    return unmap_locked(f, first, std::max(first, last), journal_->begin());
  }
  if (mode & FALLOC_FL_ZERO_RANGE) {
    zero_mapped_locked(f, off, len);
  } else {
    // Each extent commits on its own, so a failure part way (ENOSPC) would
    // leave what was allocated so far in use: it is given back, and the
    // call fails with nothing changed. The holes are taken down to whole
    // 2 MiB ranges (generous: a 2 MiB extent is only allocated for a range
    // the call covers, fault.h).
    const auto holes = holes_in(f, off / kHugeSize * kHugeSize,
                                (off + len + kHugeSize - 1) / kHugeSize * kHugeSize);
    Status s = allocate_range_locked(f, off, len);
    if (!s.ok()) {
      for (const auto& [first, end] : holes) PMEMFS_TRY(unmap_locked(f, first, end, journal_->begin()));
      return s;
    }
  }
  Txn txn = journal_->begin();
  if (new_size != f.rec.size || (mode & FALLOC_FL_ZERO_RANGE)) f.rec.mtime_ns = now;
  f.rec.size = new_size;
  f.rec.ctime_ns = now;
  inodes_->write(txn, f);
  return txn.commit();
}

namespace {

// Whether a 4 KiB page holds nothing but zeros. Eight words at a time, so
// that a page of data is usually told apart by its first cache line.
bool zero_page_data(const char* p) {
  const auto* w = reinterpret_cast<const uint64_t*>(p);
  for (size_t i = 0; i < kBlockSize / 8; i += 8) {
    uint64_t any = 0;
    for (size_t j = 0; j < 8; ++j) any |= w[i + j];
    if (any) return false;
  }
  return true;
}

}  // namespace

// Data is what reads back as other than zeros, page by page: an allocated
// page that holds only zeros (fallocate'd and not written, the unwritten
// part of a sequential writer's 2 MiB extent, or written with zeros) is a
// hole, as unwritten extents are on ext4 and XFS. A hole always reads as
// zeros, so a copy that skips what is reported as one is still exact; and
// what the pool holds is the only record that also sees stores a DAX client
// made without the daemon. The cost is a read of the allocated pages
// between off and the answer (pmemfs.8, "SEEK_DATA and SEEK_HOLE").
Result<uint64_t> FsImpl::lseek(uint64_t ino, uint64_t off, int whence) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  std::shared_lock<InodeLock> lk(f.lock);
  const uint64_t size = f.rec.size;
  if (whence == SEEK_SET) return off;
  if (whence == SEEK_END) return size + off;
  if (whence != SEEK_DATA && whence != SEEK_HOLE) return err(EINVAL);
  if (off >= size) return err(ENXIO);
  const uint64_t end_block = (size + kBlockSize - 1) / kBlockSize;
  auto has_data = [&](const Mapped& m, uint64_t fb) {
    return !zero_page_data(pool_->at<char>((m.pool_block + (fb - m.file_block)) * kBlockSize));
  };
  uint64_t fb = off / kBlockSize;
  if (whence == SEEK_DATA) {
    for (;;) {
      auto m = f.extents.next(fb);
      if (!m || m->file_block >= end_block) return err(ENXIO);
      const uint64_t stop = std::min(end_block, m->file_block + m->nblocks);
      for (fb = std::max(fb, m->file_block); fb < stop; ++fb)
        if (has_data(*m, fb)) return std::max(off, fb * kBlockSize);
      if (fb >= end_block) return err(ENXIO);
    }
  }
  for (;;) {
    auto m = f.extents.find(fb);
    if (!m) return std::min(size, std::max(off, fb * kBlockSize));
    const uint64_t stop = std::min(end_block, m->file_block + m->nblocks);
    for (; fb < stop; ++fb)
      if (!has_data(*m, fb)) return std::min(size, std::max(off, fb * kBlockSize));
    if (fb >= end_block) return size;
  }
}

Result<size_t> FsImpl::copy_file_range(uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
                                       uint64_t off_out, size_t len) {
  constexpr size_t kChunk = 1 << 20;
  std::vector<char> buf(std::min(len, kChunk));
  size_t copied = 0;
  while (copied < len) {
    auto n = read(ino_in, off_in + copied, std::min(kChunk, len - copied), buf.data());
    if (!n.ok()) return copied ? Result<size_t>(copied) : err(n.error());
    if (*n == 0) break;
    auto w = write(ino_out, off_out + copied, buf.data(), *n);
    if (!w.ok()) return copied ? Result<size_t>(copied) : err(w.error());
    copied += *w;
  }
  return copied;
}

}  // namespace pmemfs
