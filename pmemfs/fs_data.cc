// File data: read, write, fsync, through the fault path (fault.h).
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "pmemfs/data_copy.h"
#include "pmemfs/fs_impl.h"

namespace pmemfs {

using layout::kBlockSize;

namespace {

// Walks [off, off+len) of a file one entry at a time: calls fn(entry, page,
// offset in page, bytes) for the run of the range inside each entry.
template <typename Fault, typename Fn>
Status walk(uint64_t off, uint64_t len, Fault&& fault, Fn&& fn) {
  while (len > 0) {
    const uint64_t page = off / kBlockSize, in_page = off % kBlockSize;
    auto e = fault(page);
    if (!e.ok()) return err(e.error());
    Entry* entry = *e;
    if (entry == nullptr) return err(EAGAIN);  // a hole: the caller upgrades
    const uint64_t entry_end = entry->kind == EntryKind::kHole
                                   ? (page + 1) * kBlockSize
                                   : (entry->first_page + entry->npages()) * kBlockSize;
    const uint64_t n = std::min(len, entry_end - off);
    fn(*entry, page, in_page, n);
    off += n;
    len -= n;
  }
  return {};
}

}  // namespace

Result<size_t> FsImpl::read_direct(uint64_t ino, uint64_t off, size_t size, const ReadSink& sink) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  std::shared_lock<InodeLock> lk(f.lock);
  if (f.is_dir()) return err(EISDIR);
  if (off >= f.rec.size) {
    touch_atime(f);  // a read at the end is a read (the kernel's file_accessed)
    return sink(nullptr, 0) == 0 ? Result<size_t>(size_t{0}) : err(EIO);
  }
  const uint64_t len = std::min<uint64_t>(size, f.rec.size - off);
  std::vector<iovec> iov;
  Status s = walk(off, len, [&](uint64_t page) -> Result<Entry*> { return read_fault(*fc_, f, page); },
                  [&](Entry& e, uint64_t page, uint64_t in_page, uint64_t n) {
                    if (e.kind == EntryKind::kHole) {
                      // One zero page per hole page.
                      iov.push_back({const_cast<char*>(zero_page()) + in_page, n});
                      return;
                    }
                    char* p = entry_address(*pool_, e, page) + in_page;
                    if (!iov.empty() && static_cast<char*>(iov.back().iov_base) + iov.back().iov_len == p)
                      iov.back().iov_len += n;
                    else
                      iov.push_back({p, n});
                  });
  if (!s.ok()) return err(s.error());
  // Before the sink replies: a stat that follows the reply must see it.
  touch_atime(f);
  int rc = sink(iov.data(), static_cast<int>(iov.size()));
  if (rc != 0) return err(rc);
  return static_cast<size_t>(len);
}

Result<size_t> FsImpl::read(uint64_t ino, uint64_t off, size_t size, char* buf) {
  size_t copied = 0;
  auto r = read_direct(ino, off, size, [&](const iovec* iov, int n) {
    for (int i = 0; i < n; ++i) {
      copy_data(buf + copied, iov[i].iov_base, iov[i].iov_len);
      copied += iov[i].iov_len;
    }
    return 0;
  });
  return r;
}

Status FsImpl::write_locked(Inode& f, uint64_t off, const char* buf, size_t size, bool exclusive,
                            size_t& done) {
  // Sequential: it appends at EOF or continues where the file's last write
  // ended (fault.h, WriteIntent: where a hole gets a 2 MiB extent).
  const WriteIntent intent{off / kBlockSize, (off + size + kBlockSize - 1) / kBlockSize,
                           off == f.rec.size || off == f.extra().write_end.load(std::memory_order_relaxed)};
  done = 0;
  auto fault = [&](uint64_t page) -> Result<Entry*> {
    if (Entry* e = write_fault_mapped(*fc_, f, page)) return e;
    if (!exclusive && !hooks_.disable_upgrade) return static_cast<Entry*>(nullptr);
    if (hooks_.disable_upgrade && !exclusive) {
      std::lock_guard<std::mutex> g(disabled_upgrade_mu_);
      return write_fault_locked(*fc_, f, page, intent);
    }
    return write_fault_locked(*fc_, f, page, intent);
  };
  // Durable when the WRITE is answered, as DAX write(2) is: the kernel never
  // forwards sync(2)/syncfs(2) to a /dev/fuse server, it only writes its
  // dirty pages back and waits for the replies, so this is what makes them
  // durable. Hence no dirty marks here: fsync has nothing of this to flush.
  Status s = walk(off, size, fault, [&](Entry& e, uint64_t page, uint64_t in_page, uint64_t n) {
    char* dst = entry_address(*pool_, e, page) + in_page;
    copy_data(dst, buf + done, n);
    pool_->flush(dst, n);
    done += n;
  });
  pool_->drain();
  if (done > 0) f.extra().write_end.store(off + done, std::memory_order_relaxed);
  return s;
}

Result<size_t> FsImpl::write(uint64_t ino, uint64_t off, const char* buf, size_t size) {
  if (size == 0) return size_t{0};
  if (off + size < off || off + size > layout::kMaxFileSize) return err(EFBIG);
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  if (f.type() != S_IFREG) return err(f.is_dir() ? EISDIR : EINVAL);
  size_t done = 0;
  {
    std::shared_lock<InodeLock> lk(f.lock);
    if (off + size <= f.rec.size) {
      // Shared first: overwrites and reads of mapped blocks run in parallel.
      // (Each walk step re-faults, so a partial run here is redone below.)
      Status s = write_locked(f, off, buf, size, false, done);
      if (s.ok()) {
        f.extra().pending_mtime.store(now_ns());
        return size;
      }
      if (s.error() != EAGAIN) return err(s.error());
      counters_.upgrades.fetch_add(1, std::memory_order_relaxed);
    }
  }
  // A hole or growth: drop the lock, take it exclusive; write_fault_locked
  // resolves again, since the world may have changed in between.
  std::unique_lock<InodeLock> lk(f.lock);
  Status s = write_locked(f, off, buf, size, true, done);
  // Out of space part way: what was written stays, as a short write, the
  // way ext4 answers; only a write that wrote nothing fails.
  if (!s.ok() && done == 0) return err(s.error());
  f.fold_times();
  const int64_t now = now_ns();
  f.rec.mtime_ns = f.rec.ctime_ns = now;
  if (off + done > f.rec.size) {
    f.rec.size = off + done;
    if (f.extents.end_block() <= (f.rec.size + kBlockSize - 1) / kBlockSize)
      f.rec.flags &= ~layout::kInodeBeyondEof;
    Txn txn = journal_->begin();
    inodes_->write(txn, f);
    PMEMFS_TRY(txn.commit());
  } else {
    f.extra().pending_mtime.store(now);
  }
  // Writing clears setuid/setgid like the kernel's file_remove_privs; the
  // kernel does it for us under default_permissions via setattr.
  return done;
}

void FsImpl::flush_dirty(const std::vector<DirtyRange>& ranges) {
  if (ranges.empty()) return;  // writes drained their own stores already
  uint64_t bytes = 0;
  for (const auto& r : ranges) {
    pool_->flush(pool_->base() + r.pool_off, r.len);
    bytes += r.len;
  }
  pool_->drain();
  counters_.fsync_bytes_flushed.fetch_add(bytes, std::memory_order_relaxed);
}

Status FsImpl::flush_data(Inode& f) {
  if (InodeExtra* x = f.extra_if()) flush_dirty(x->mapping.take_dirty());
  return {};
}

Status FsImpl::fsync(uint64_t ino, bool datasync) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  counters_.fsync_calls.fetch_add(1, std::memory_order_relaxed);
  // Read-only: everything was made durable by the switch.
  if (read_only_.load()) return {};
  return persist(**inode, datasync);
}

Status FsImpl::persist(Inode& f, bool datasync) {
  {
    std::shared_lock<InodeLock> lk(f.lock);
    PMEMFS_TRY(flush_data(f));
    // Metadata is durable at every commit; only lazily kept times remain.
    // (A directory's is its access time.)
    if (datasync || !f.times_pending()) return {};
  }
  std::unique_lock<InodeLock> lk(f.lock);
  if (f.rec.mode == 0 || !f.times_pending()) return {};
  f.fold_times();
  Txn txn = journal_->begin();
  inodes_->write(txn, f);
  return txn.commit();
}

Status FsImpl::syncfs() {
  if (read_only_.load()) return {};
  return persist_all();
}

Status FsImpl::persist_all() {
  for (const auto& inode : inodes_->loaded()) PMEMFS_TRY(persist(*inode, false));
  return {};
}

void FsImpl::zero_mapped_locked(Inode& f, uint64_t off, uint64_t len) {
  while (len > 0) {
    const uint64_t fb = off / kBlockSize, in_block = off % kBlockSize;
    const uint64_t n = std::min(len, kBlockSize - in_block);
    if (auto m = f.extents.find(fb)) {
      char* p = pool_->at<char>((m->pool_block + fb - m->file_block) * kBlockSize + in_block);
      pool_->memset_persist(p, 0, n, true);
    }
    off += n;
    len -= n;
  }
  pool_->drain();
}

void FsImpl::evict_locked(Inode& f, uint64_t first, uint64_t last) {
  // Client mappings first (dax.h): nobody may reach the pages once they change.
  revoke_locked(f, first, last);
  // Flushed whole, also pages about to be freed: cheaper than telling them
  // apart, and evicting must never drop the dirty state of pages it keeps.
  if (InodeExtra* x = f.extra_if()) flush_dirty(x->mapping.evict(first, last));
}

Status FsImpl::unmap_locked(Inode& f, uint64_t first_block, uint64_t end_block, Txn txn) {
  if (first_block < end_block) evict_locked(f, first_block, end_block - 1);
  bool listed = f.rec.flags & layout::kInodeOrphan;
  for (;;) {
    auto done = f.extents.remove(txn, f.extent_owner(*pool_, *alloc_), first_block, end_block);
    if (!done.ok()) return err(done.error());
    if (!*done && !listed && orphans_->add(txn, f.ino).ok()) {
      // Too big for one transaction: listed so that a crash half way is
      // finished at the next mount rather than leaving blocks past EOF.
      f.rec.flags |= layout::kInodeOrphan;
      listed = true;
    }
    if (*done) {
      if (end_block == UINT64_MAX) f.rec.flags &= ~layout::kInodeBeyondEof;
      if (listed && f.rec.nlink > 0) {
        orphans_->remove(txn, f.ino);
        f.rec.flags &= ~layout::kInodeOrphan;
      }
    }
    inodes_->write(txn, f);
    PMEMFS_TRY(txn.commit());
    if (*done) return {};
    txn = journal_->begin();
  }
}

Status FsImpl::truncate_locked(Inode& f, uint64_t size) {
  const uint64_t old = f.rec.size;
  f.fold_times();
  f.rec.size = size;
  const uint64_t first = (size + kBlockSize - 1) / kBlockSize;
  PMEMFS_TRY(unmap_locked(f, first, UINT64_MAX, journal_->begin()));
  if (size < old && size % kBlockSize) {
    // Bytes past EOF in the last block must read as zero if the file grows
    // again: blocks past EOF are always zero.
    evict_locked(f, size / kBlockSize, size / kBlockSize);
    zero_mapped_locked(f, size, kBlockSize - size % kBlockSize);
  }
  return {};
}

void FsImpl::note_kernel_cache(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return;
  // On every READ: the inode lock only where the extra part must be made.
  InodeExtra* x = (*inode)->extra_if();
  if (!x) {
    std::shared_lock<InodeLock> lk((*inode)->lock);
    x = &(*inode)->extra();
  }
  // A store every time, never "load, and store if clear": a reader that saw
  // the note still set could have it taken by one direct write, read old
  // bytes, and leave them cached for another direct write that finds no note.
  x->kernel_cache_note.store(true, std::memory_order_seq_cst);
}

bool FsImpl::take_kernel_cache_note(uint64_t ino) {
  auto inode = get(ino);
  if (!inode.ok()) return false;
  InodeExtra* x = (*inode)->extra_if();
  return x && x->kernel_cache_note.exchange(false, std::memory_order_seq_cst);
}

}  // namespace pmemfs
