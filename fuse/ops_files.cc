// Open files: open/create/release, the data path (read replies straight
// from the pool mapping), durability, space and seeking.
#include "fuse/ops_internal.h"

#include "fuse/dax_server.h"
#include "fuse/kernel_abi.h"
#include "fuse/kill_privs.h"
#include "fuse/power_cut.h"
#include "fuse/request_note.h"

#include <sys/uio.h>

#include <cstring>
#include <vector>

namespace pmemfs::daemon {

void set_open_flags(const OpsContext& c, fuse_file_info* fi, bool keep_cache) {
  if (c.cache == CacheMode::kNone) {
    fi->direct_io = 1;
  } else {
    fi->keep_cache = keep_cache;
    // An O_DIRECT open bypasses the page cache either way; as a
    // FOPEN_DIRECT_IO file its writes that stay inside the file also run in
    // parallel (FOPEN_PARALLEL_DIRECT_WRITES; the kernel serialises the
    // O_DIRECT writes of a cached file on the inode lock). Shared mappings of
    // it still work through the page cache (FUSE_DIRECT_IO_ALLOW_MMAP), and
    // the kernel writes back and drops cached pages of the range before each
    // such write, as for any O_DIRECT write.
    if (fi->flags & O_DIRECT) fi->direct_io = 1;
  }
  // FLUSH (sent on every close) has nothing to do here: written data is
  // already in the pool and close() promises no durability. Saying so spares
  // a round trip per close (the kernel still writes back dirty pages first
  // when the writeback cache is on).
  fi->noflush = 1;
}

namespace {

// Only this daemon writes, so what the page cache holds from an earlier open
// is still right; but a read must reach the daemon to update atime.
void set_open_flags(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  OpsContext& c = ctx(req);
  set_open_flags(c, fi, keep_cache_for_atime(req, ino, fi->flags));
  // Client processes store into it behind the kernel's back (DIRECT ACCESS in
  // pmemfs.8): read(2) and write(2) go to the pool, never to cached pages.
  if (c.dax && c.dax->mapped(ino)) {
    fi->direct_io = 1;
    fi->keep_cache = 0;
  }
}

void pm_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  auto& c = ctx(req);
  int err = guarded("open", [&] { return c.fs->open(ino).error(); });
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  set_open_flags(req, ino, fi);
  if (fuse_reply_open(req, fi) == -ENOENT) c.fs->release(ino);
}

void pm_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
               fuse_file_info* fi) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("create", [&] {
    Caller who;
    mode = S_IFREG | (mode & 07777);
    if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    auto r = c.fs->mknod(parent, name, mode, 0, who);
    if (!r && r.error() == EEXIST && !(fi->flags & O_EXCL)) {
      // Another request created the name since the kernel's lookup; open(2)
      // without O_EXCL opens what is there.
      r = c.fs->lookup(parent, name);
      if (r && S_ISDIR(r->mode)) {
        c.fs->forget(r->ino, 1);
        return EISDIR;
      }
    }
    if (!r) return r.error();
    if (auto o = c.fs->open(r->ino); !o) {
      c.fs->forget(r->ino, 1);
      return o.error();
    }
    fill_entry(c, *r, &e);
    return 0;
  });
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  set_open_flags(req, e.ino, fi);
  if (fuse_reply_create(req, &e, fi) == -ENOENT) {
    c.fs->release(e.ino);
    c.fs->forget(e.ino, 1);
  }
}

// An O_DIRECT write bypasses the page cache, and the kernel drops the cached
// pages of the range only before it sends the WRITE (and, for an
// asynchronous write, never after): a buffered read served while the write
// was in flight caches the old bytes for good. So once the data is in the
// pool, before the reply, the kernel is told to drop what it caches of the
// file, but only if it may cache any: every READ and buffered WRITE notes
// the file first (note_kernel_cache_before_serving), and the first direct
// write after a note takes it. Of the whole file, not only this range: a
// page read under a note that another direct write took (for its own range)
// may be stale for this one. Without a note since the last drop, no page of
// the file can hold old bytes, and the write costs no notification (a
// tenth of a 4 KiB direct write's time on this path). Not single-threaded:
// the invalidation may wait for a locked page whose READ only another loop
// thread could serve.
void note_kernel_cache_before_serving(OpsContext& c, fuse_ino_t ino) {
  if (c.cache != CacheMode::kNone) c.fs->note_kernel_cache(ino);
}

void drop_cached_pages_after_direct_write(OpsContext& c, fuse_ino_t ino, const fuse_file_info* fi,
                                          size_t n) {
  if (c.cache == CacheMode::kNone || !(fi->flags & O_DIRECT) || n == 0 || c.single_thread || !c.se)
    return;
  if (!c.fs->take_kernel_cache_note(ino)) return;
  int rc = fuse_lowlevel_notify_inval_inode(c.se, ino, 0, 0);
  if (rc < 0 && rc != -ENOENT)  // ENOENT: the kernel holds nothing of the inode
    spdlog::debug("write: invalidating inode {} after a direct write: {}", ino, strerror(-rc));
}

void pm_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  bool replied = false;
  const uint64_t bus_errors = bus_guard::thread_failures();
  int err = guarded("read", [&] {
    // Any READ: an O_DIRECT file's READs may still be page-cache fills (a
    // MAP_PRIVATE mapping of it). Before the data is read (see
    // drop_cached_pages_after_direct_write).
    note_kernel_cache_before_serving(ctx(req), ino);
    // The iovecs point into the pool mapping (and the shared zero page for
    // holes) and stay valid only while the sink runs, so the reply is sent
    // from inside it. fuse_reply_iov writes them with one writev: the kernel
    // copies straight from pmem. (fuse_reply_data on a bufvec of several
    // buffers would first copy them into a bounce buffer in libfuse 3.14
    // unless splicing, see fuse_send_data_iov_fallback.)
    auto r = fs(req).read_direct(ino, off, size, [&](const struct iovec* iov, int count) -> int {
      if (replied) {
        spdlog::error("read: read_direct called its sink twice for inode {}", ino);
        return EIO;
      }
      // The pool failed under read_direct (bus_guard.h): the iovecs may
      // point at zeros standing in for lost pages.
      if (bus_guard::thread_failures() != bus_errors) return EIO;
      replied = true;
      // count is 0 at EOF (the library calls the sink exactly once).
      int rc = count > 0 ? fuse_reply_iov(req, iov, count) : fuse_reply_buf(req, nullptr, 0);
      return rc < 0 && rc != -ENOENT ? -rc : 0;  // -ENOENT: request interrupted, fine
    });
    if (!r) return r.error();
    if (!replied) {  // nothing to read (at or past EOF)
      replied = true;
      fuse_reply_buf(req, nullptr, 0);
    }
    return 0;
  });
  if (!replied) fuse_reply_err(req, err ? err : EIO);
}

// Whether the kernel asks to kill setuid/setgid with this WRITE: the writer
// lacks CAP_FSETID. libfuse 3.14 does not pass the flag on; the transport
// noted it (request_note.h). Without a note, uid 0 stands for CAP_FSETID.
bool write_kills_suidgid(fuse_req_t req, fuse_ino_t ino) {
  if (const RequestNote* n = current_request(kabi::FUSE_WRITE, ino)) return n->kill_suidgid;
  return fuse_req_ctx(req)->uid != 0;
}

int do_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             const fuse_file_info* fi, size_t& written) {
  // Before the data, as the kernel's file_remove_privs. Pages of the
  // writeback cache come without their writer; the kernel did this when
  // write(2) dirtied them.
  if (!fi->writepage)
    if (int e = kill_privs_before_write(req, ino, write_kills_suidgid(req, ino))) return e;
  // Pages of the writeback cache, and the pages a buffered write leaves
  // cached in writethrough mode.
  if (fi->writepage || !(fi->flags & O_DIRECT)) note_kernel_cache_before_serving(ctx(req), ino);
  auto r = fs(req).write(ino, off, buf, size);
  if (!r) return r.error();
  written = *r;
  drop_cached_pages_after_direct_write(ctx(req), ino, fi, written);
  return 0;
}

void pm_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info* fi) noexcept {
  size_t n = 0;
  int err = guarded("write", [&] { return do_write(req, ino, buf, size, off, fi, n); });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_write(req, n);
}

// libfuse prefers write_buf when it is set. Without splicing (see pm_init)
// the payload is one memory buffer and goes to the library as is; a buffer
// that is a pipe (someone enabled splice_read) is copied out first.
void pm_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off,
                  fuse_file_info* fi) noexcept {
  size_t n = 0;
  int err = guarded("write_buf", [&] {
    size_t size = fuse_buf_size(in);
    if (in->count == 1 && in->idx == 0 && in->off == 0 && !(in->buf[0].flags & FUSE_BUF_IS_FD))
      return do_write(req, ino, static_cast<const char*>(in->buf[0].mem), size, off, fi, n);
    std::vector<char> tmp(size);
    fuse_bufvec out = FUSE_BUFVEC_INIT(size);
    out.buf[0].mem = tmp.data();
    ssize_t got = fuse_buf_copy(&out, in, fuse_buf_copy_flags(0));
    if (got < 0) return static_cast<int>(-got);
    return do_write(req, ino, tmp.data(), static_cast<size_t>(got), off, fi, n);
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_write(req, n);
}

void pm_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  guarded("release", [&] {
    fs(req).release(ino);
    return 0;
  });
  fuse_reply_err(req, 0);
}

void pm_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) noexcept {
  const int err = guarded("fsync", [&] { return fs(req).fsync(ino, datasync != 0).error(); });
  OpsContext& c = ctx(req);
  reply_status(req, err);
  if (!err) sync_answered(c);
}

void pm_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                  fuse_file_info*) noexcept {
  int err = guarded("fallocate", [&] {
    if (off < 0 || len <= 0) return EINVAL;
    if (int e = fs(req).fallocate(ino, mode, off, len).error()) return e;
    // The kernel leaves this to the filesystem for fallocate: as a write,
    // an unprivileged caller's change drops setuid/setgid.
    return drop_suid_sgid_after_data_change(req, ino);
  });
  reply_status(req, err);
}

// With the writeback cache the kernel may hold dirty pages of the file that
// the daemon has never seen, and it does not write them back before sending
// LSEEK. Answering from the pool alone would call freshly written data a hole
// (or ENXIO past the daemon's EOF), and cp/tar/rsync skip holes: silent data
// loss. So the kernel is first told to write the file's pages back: inode
// invalidation launders dirty pages synchronously, as WRITE requests that
// other loop threads serve. Single-threaded, nobody could serve them; there
// the kernel is sent back to its own llseek (all data, hole at EOF), which
// is always safe.
int sync_kernel_cache_for_lseek(OpsContext& c, fuse_ino_t ino) {
  if (c.cache != CacheMode::kWriteback) return 0;
  if (c.single_thread || !c.se) return ENOSYS;
  int rc = fuse_lowlevel_notify_inval_inode(c.se, ino, 0, 0);
  if (rc < 0 && rc != -ENOENT) {  // ENOENT: the kernel has no such inode cached
    spdlog::debug("lseek: invalidating inode {} failed: {}", ino, strerror(-rc));
    return ENOSYS;
  }
  return 0;
}

void pm_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence, fuse_file_info*) noexcept {
  uint64_t pos = 0;
  int err = guarded("lseek", [&] {
    if (off < 0) return ENXIO;
    if (int e = sync_kernel_cache_for_lseek(ctx(req), ino)) return e;
    auto r = fs(req).lseek(ino, off, whence);
    if (!r) return r.error();
    pos = *r;
    return 0;
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_lseek(req, static_cast<off_t>(pos));
}

void pm_copy_file_range(fuse_req_t req, fuse_ino_t ino_in, off_t off_in, fuse_file_info*,
                        fuse_ino_t ino_out, off_t off_out, fuse_file_info*, size_t len,
                        int flags) noexcept {
  size_t n = 0;
  int err = guarded("copy_file_range", [&] {
    if (flags != 0) return EINVAL;
    auto r = fs(req).copy_file_range(ino_in, off_in, ino_out, off_out, len);
    if (!r) return r.error();
    n = *r;
    // No kill flag comes with it, and the kernel's own file_modified() leaves
    // the killing to the daemon under HANDLE_KILLPRIV_V2.
    return n > 0 ? drop_suid_sgid_after_data_change(req, ino_out) : 0;
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_write(req, n);
}

}  // namespace

void add_file_ops(fuse_lowlevel_ops& o) {
  o.open = pm_open;
  o.read = pm_read;
  o.write = pm_write;
  o.write_buf = pm_write_buf;
  // No flush: there is nothing to flush per file descriptor (written data is
  // in the pool, durability is fsync's job, and pmemfs keeps no POSIX locks
  // the kernel would release through it). open sets noflush, which the
  // kernel ignores with the writeback cache; there libfuse's ENOSYS to the
  // first FLUSH makes it stop sending them (fc->no_flush). It still writes
  // the dirty pages back and reports their errors at close.
  o.release = pm_release;
  o.fsync = pm_fsync;
  o.create = pm_create;
  o.fallocate = pm_fallocate;
  o.copy_file_range = pm_copy_file_range;
  o.lseek = pm_lseek;
}

}  // namespace pmemfs::daemon
