// Shape (after libfuse's example/passthrough_hp.cc): a do_<op> helper returns
// an errno and fills its outputs; the pm_<op> callback runs it through
// guarded() and replies exactly once. Callbacks are noexcept: libfuse is C, and
// an exception unwinding through it would leave the request unanswered and
// the kernel waiting forever.
#include "fuse/ops.h"

#include <linux/fs.h>  // RENAME_NOREPLACE, RENAME_EXCHANGE
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>
#include <sys/uio.h>

#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "fuse/control.h"

namespace pmemfs::daemon {
namespace {

OpsContext& ctx(fuse_req_t req) { return *static_cast<OpsContext*>(fuse_req_userdata(req)); }
Filesystem& fs(fuse_req_t req) { return *ctx(req).fs; }

// Runs f (returning an errno, 0 for success) and turns any exception into an
// errno, so nothing unwinds into libfuse.
template <typename F>
int guarded(const char* op, F&& f) noexcept {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return ENOMEM;
  } catch (const std::exception& e) {
    spdlog::error("{}: unexpected exception: {}", op, e.what());
    return EIO;
  } catch (...) {
    spdlog::error("{}: unexpected exception", op);
    return EIO;
  }
}

void reply_status(fuse_req_t req, int err) { fuse_reply_err(req, err); }

void fill_entry(const OpsContext& c, const Attr& a, fuse_entry_param* e) {
  *e = fuse_entry_param{};
  e->ino = a.ino;
  // With FUSE_CAP_EXPORT_SUPPORT the (ino, generation) pair is the file
  // handle; a reused inode number must not open the old file's handle.
  e->generation = a.generation;
  a.to_stat(&e->attr);
  e->attr_timeout = c.timeout;
  e->entry_timeout = c.timeout;
}

// Replies with an entry that counts one kernel reference to the inode. If
// the reply cannot be delivered (the request was interrupted) the kernel never
// saw it, so the reference is given back.
void reply_entry(fuse_req_t req, int err, const fuse_entry_param& e) {
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  if (fuse_reply_entry(req, &e) == -ENOENT) fs(req).forget(e.ino, 1);
}

Caller caller_of(fuse_req_t req) {
  const fuse_ctx* fc = fuse_req_ctx(req);
  return Caller{fc->uid, fc->gid, fc->umask};
}

// Who owns a new node in parent. The kernel leaves BSD group semantics to the
// filesystem for FUSE: in a setgid directory new nodes take the directory's
// group, and new directories inherit the setgid bit (the VFS has already
// stripped S_ISGID from files the caller may not own it on).
int new_node_owner(fuse_req_t req, fuse_ino_t parent, mode_t& mode, Caller& who) {
  who = caller_of(req);
  auto p = fs(req).getattr(parent);
  if (!p) return p.error();
  if (p->mode & S_ISGID) {
    who.gid = p->gid;
    if (S_ISDIR(mode)) mode |= S_ISGID;
  }
  return 0;
}

// ---- init / destroy --------------------------------------------------------

void pm_init(void* userdata, fuse_conn_info* conn) noexcept {
  auto& c = *static_cast<OpsContext*>(userdata);
  conn->max_write = kMaxWrite;  // libfuse derives max_pages (256) from this
  if (c.max_read) conn->max_read = c.max_read;  // libfuse insists init matches -o max_read

  auto want = [&](unsigned cap) {
    if (conn->capable & cap) conn->want |= cap;
  };
  // name_to_handle_at/open_by_handle_at and NFS export: the kernel may then
  // LOOKUP "." and ".." of any inode number it still has a handle for.
  want(FUSE_CAP_EXPORT_SUPPORT);
  if (c.cache == CacheMode::kWriteback) want(FUSE_CAP_WRITEBACK_CACHE);
  if (c.cache != CacheMode::kNone) want(FUSE_CAP_CACHE_SYMLINKS);
  want(FUSE_CAP_READDIRPLUS);
  want(FUSE_CAP_READDIRPLUS_AUTO);
  want(FUSE_CAP_PARALLEL_DIROPS);
  want(FUSE_CAP_ASYNC_READ);
  want(FUSE_CAP_ASYNC_DIO);

  // Splicing buys nothing here and costs syscalls: replies to READ already go
  // out with one writev of iovecs pointing into the pool (one kernel copy,
  // none in the daemon), and the library's write() takes a buffer, so a
  // spliced WRITE payload would have to be copied out of the pipe anyway.
  // Splice-move could even hand pool pages to the page cache.
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
  // The daemon is the only writer: a changed mtime never means foreign data,
  // so invalidating the page cache on it would only throw cache away.
  conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
  // Let the kernel clear setuid/setgid on write/chown/truncate (it sends a
  // SETATTR with the new mode); the library knows nothing of privileges.
  conn->want &= ~FUSE_CAP_HANDLE_KILLPRIV;
  // O_TRUNC then arrives as an ordinary SETATTR(size=0) before OPEN.
  conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
  conn->time_gran = 1;

  c.initialized = true;
  spdlog::info("fuse connection: protocol {}.{}, max_write {}, writeback cache {}, export {}",
               conn->proto_major, conn->proto_minor, conn->max_write,
               (conn->want & FUSE_CAP_WRITEBACK_CACHE) ? "on" : "off",
               (conn->want & FUSE_CAP_EXPORT_SUPPORT) ? "on" : "off");
}

void pm_destroy(void*) noexcept { spdlog::debug("fuse connection closed"); }

// ---- names and attributes --------------------------------------------------

void pm_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("lookup", [&] {
    auto r = c.fs->lookup(parent, name);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  if (err == ENOENT) {
    // A negative entry the kernel may cache: only this daemon creates names,
    // and it does so through the kernel, which drops the negative dentry.
    e = fuse_entry_param{};
    e.entry_timeout = c.timeout;
    fuse_reply_entry(req, &e);
    return;
  }
  reply_entry(req, err, e);
}

void pm_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup) noexcept {
  guarded("forget", [&] {
    fs(req).forget(ino, nlookup);
    return 0;
  });
  fuse_reply_none(req);
}

void pm_forget_multi(fuse_req_t req, size_t count, fuse_forget_data* forgets) noexcept {
  guarded("forget_multi", [&] {
    for (size_t i = 0; i < count; ++i) fs(req).forget(forgets[i].ino, forgets[i].nlookup);
    return 0;
  });
  fuse_reply_none(req);
}

void reply_attr(fuse_req_t req, int err, const Attr& a) {
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  struct stat st {};
  a.to_stat(&st);
  fuse_reply_attr(req, &st, ctx(req).timeout);
}

void pm_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  Attr a;
  int err = guarded("getattr", [&] {
    auto r = fs(req).getattr(ino);
    if (!r) return r.error();
    a = *r;
    return 0;
  });
  reply_attr(req, err, a);
}

SetAttr to_setattr(const struct stat* st, int valid) {
  SetAttr s;
  if (valid & FUSE_SET_ATTR_MODE) { s.valid |= SetAttr::kMode; s.mode = st->st_mode; }
  if (valid & FUSE_SET_ATTR_UID) { s.valid |= SetAttr::kUid; s.uid = st->st_uid; }
  if (valid & FUSE_SET_ATTR_GID) { s.valid |= SetAttr::kGid; s.gid = st->st_gid; }
  if (valid & FUSE_SET_ATTR_SIZE) { s.valid |= SetAttr::kSize; s.size = st->st_size; }
  // utimensat(UTIME_NOW) arrives as ATIME|ATIME_NOW with no time: the
  // daemon's clock is the one to use. UTIME_OMIT arrives as neither bit.
  if (valid & FUSE_SET_ATTR_ATIME_NOW) s.valid |= SetAttr::kAtimeNow;
  else if (valid & FUSE_SET_ATTR_ATIME) { s.valid |= SetAttr::kAtime; s.atime = st->st_atim; }
  if (valid & FUSE_SET_ATTR_MTIME_NOW) s.valid |= SetAttr::kMtimeNow;
  else if (valid & FUSE_SET_ATTR_MTIME) { s.valid |= SetAttr::kMtime; s.mtime = st->st_mtim; }
  if (valid & FUSE_SET_ATTR_CTIME) { s.valid |= SetAttr::kCtime; s.ctime = st->st_ctim; }
  return s;
}

void pm_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int valid,
                fuse_file_info*) noexcept {
  Attr a;
  int err = guarded("setattr", [&] {
    auto r = fs(req).setattr(ino, to_setattr(attr, valid));
    if (!r) return r.error();
    a = *r;
    return 0;
  });
  reply_attr(req, err, a);
}

// ---- creating and removing names -----------------------------------------

void pm_mknod(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode,
              dev_t rdev) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("mknod", [&] {
    Caller who;
    if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    auto r = c.fs->mknod(parent, name, mode, rdev, who);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_mkdir(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t mode) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("mkdir", [&] {
    Caller who;
    mode |= S_IFDIR;
    if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    auto r = c.fs->mkdir(parent, name, mode, who);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_symlink(fuse_req_t req, const char* target, fuse_ino_t parent, const char* name) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("symlink", [&] {
    Caller who;
    mode_t mode = S_IFLNK | 0777;
    if (int e2 = new_node_owner(req, parent, mode, who)) return e2;
    auto r = c.fs->symlink(parent, name, target, who);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_readlink(fuse_req_t req, fuse_ino_t ino) noexcept {
  std::string target;
  int err = guarded("readlink", [&] {
    auto r = fs(req).readlink(ino);
    if (!r) return r.error();
    target = std::move(*r);
    return 0;
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_readlink(req, target.c_str());
}

void pm_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t new_parent, const char* new_name) noexcept {
  auto& c = ctx(req);
  fuse_entry_param e{};
  int err = guarded("link", [&] {
    auto r = c.fs->link(ino, new_parent, new_name);
    if (!r) return r.error();
    fill_entry(c, *r, &e);
    return 0;
  });
  reply_entry(req, err, e);
}

void pm_unlink(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  reply_status(req, guarded("unlink", [&] { return fs(req).unlink(parent, name).error(); }));
}

void pm_rmdir(fuse_req_t req, fuse_ino_t parent, const char* name) noexcept {
  reply_status(req, guarded("rmdir", [&] { return fs(req).rmdir(parent, name).error(); }));
}

void pm_rename(fuse_req_t req, fuse_ino_t parent, const char* name, fuse_ino_t new_parent,
               const char* new_name, unsigned int flags) noexcept {
  int err = guarded("rename", [&] {
    // RENAME_WHITEOUT is for overlayfs upper layers; not supported.
    if (flags & ~(RENAME_NOREPLACE | RENAME_EXCHANGE)) return EINVAL;
    return fs(req).rename(parent, name, new_parent, new_name, flags).error();
  });
  reply_status(req, err);
}

// ---- files ------------------------------------------------------------------

void set_open_flags(const OpsContext& c, fuse_file_info* fi) {
  if (c.cache == CacheMode::kNone) {
    fi->direct_io = 1;
  } else {
    // Only this daemon writes, so what the page cache holds from an earlier
    // open is still right.
    fi->keep_cache = 1;
  }
  // FLUSH (sent on every close) has nothing to do here: written data is
  // already in the pool and close() promises no durability. Saying so spares
  // a round trip per close (the kernel still writes back dirty pages first
  // when the writeback cache is on).
  fi->noflush = 1;
}

void pm_open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  auto& c = ctx(req);
  int err = guarded("open", [&] { return c.fs->open(ino).error(); });
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  set_open_flags(c, fi);
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
  set_open_flags(c, fi);
  if (fuse_reply_create(req, &e, fi) == -ENOENT) {
    c.fs->release(e.ino);
    c.fs->forget(e.ino, 1);
  }
}

void pm_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  bool replied = false;
  int err = guarded("read", [&] {
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

int do_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
             size_t& written) {
  auto r = fs(req).write(ino, off, buf, size);
  if (!r) return r.error();
  written = *r;
  return 0;
}

void pm_write(fuse_req_t req, fuse_ino_t ino, const char* buf, size_t size, off_t off,
              fuse_file_info*) noexcept {
  size_t n = 0;
  int err = guarded("write", [&] { return do_write(req, ino, buf, size, off, n); });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_write(req, n);
}

// libfuse prefers write_buf when it is set. Without splicing (see pm_init)
// the payload is one memory buffer and goes to the library as is; a buffer
// that is a pipe (someone enabled splice_read) is copied out first.
void pm_write_buf(fuse_req_t req, fuse_ino_t ino, fuse_bufvec* in, off_t off,
                  fuse_file_info*) noexcept {
  size_t n = 0;
  int err = guarded("write_buf", [&] {
    size_t size = fuse_buf_size(in);
    if (in->count == 1 && in->idx == 0 && in->off == 0 && !(in->buf[0].flags & FUSE_BUF_IS_FD))
      return do_write(req, ino, static_cast<const char*>(in->buf[0].mem), size, off, n);
    std::vector<char> tmp(size);
    fuse_bufvec out = FUSE_BUFVEC_INIT(size);
    out.buf[0].mem = tmp.data();
    ssize_t got = fuse_buf_copy(&out, in, fuse_buf_copy_flags(0));
    if (got < 0) return static_cast<int>(-got);
    return do_write(req, ino, tmp.data(), static_cast<size_t>(got), off, n);
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_write(req, n);
}

// Nothing to flush per file descriptor: data is in the pool already, and
// durability is fsync's job. (open sets noflush, so this rarely comes.)
void pm_flush(fuse_req_t req, fuse_ino_t, fuse_file_info*) noexcept { fuse_reply_err(req, 0); }

void pm_release(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) noexcept {
  guarded("release", [&] {
    fs(req).release(ino);
    return 0;
  });
  fuse_reply_err(req, 0);
}

void pm_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) noexcept {
  reply_status(req, guarded("fsync", [&] { return fs(req).fsync(ino, datasync != 0).error(); }));
}

void pm_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len,
                  fuse_file_info*) noexcept {
  int err = guarded("fallocate", [&] {
    if (off < 0 || len <= 0) return EINVAL;
    return fs(req).fallocate(ino, mode, off, len).error();
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
    return 0;
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_write(req, n);
}

// ---- directories ---------------------------------------------------------

void pm_opendir(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) noexcept {
  if (ctx(req).cache != CacheMode::kNone) {
    // The kernel drops a directory's cached listing itself whenever it
    // changes the directory, and no one else changes it.
    fi->cache_readdir = 1;
    fi->keep_cache = 1;
  }
  fuse_reply_open(req, fi);
}

bool is_dot_or_dotdot(const std::string& n) { return n == "." || n == ".."; }

int do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, std::vector<char>& buf,
               size_t& used) {
  buf.resize(size);
  used = 0;
  return fs(req)
      .readdir(ino, off,
               [&](const DirEntry& d) {
                 struct stat st {};
                 st.st_ino = d.ino;
                 st.st_mode = d.type << 12;
                 size_t n = fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(),
                                              &st, static_cast<off_t>(d.offset));
                 if (n > size - used) return false;
                 used += n;
                 return true;
               })
      .error();
}

void pm_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  std::vector<char> buf;
  size_t used = 0;
  int err = guarded("readdir", [&] { return do_readdir(req, ino, size, off, buf, used); });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_buf(req, buf.data(), used);
}

// readdirplus hands the kernel an entry (one reference) per name, so each name
// is looked up. The names are gathered first and looked up after the
// library's readdir returns: lookup inside its callback would re-enter the
// directory's lock.
int do_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   std::vector<char>& buf, size_t& used, std::vector<uint64_t>& referenced) {
  auto& c = ctx(req);
  std::vector<DirEntry> names;
  size_t need = 0;
  auto st = c.fs->readdir(ino, off, [&](const DirEntry& d) {
    size_t n = fuse_add_direntry_plus(req, nullptr, 0, d.name.c_str(), nullptr, 0);
    if (need + n > size) return false;
    need += n;
    names.push_back(d);
    return true;
  });
  if (!st) return st.error();

  buf.resize(size);
  used = 0;
  for (const DirEntry& d : names) {
    fuse_entry_param e{};
    if (is_dot_or_dotdot(d.name)) {
      // No reference for these: the kernel does not count them (ino 0).
      e.attr.st_ino = d.ino;
      e.attr.st_mode = d.type << 12;
    } else {
      auto r = c.fs->lookup(ino, d.name);
      if (!r) {
        if (r.error() == ENOENT) continue;  // removed since readdir: skip it
        if (used == 0) return r.error();
        break;  // return what we have; the kernel asks again from here
      }
      fill_entry(c, *r, &e);
      referenced.push_back(e.ino);
    }
    size_t n = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e,
                                      static_cast<off_t>(d.offset));
    if (n > size - used) {  // cannot happen (sizes were counted), but never leak a reference
      if (e.ino) {
        c.fs->forget(e.ino, 1);
        referenced.pop_back();
      }
      break;
    }
    used += n;
  }
  return 0;
}

void pm_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    fuse_file_info*) noexcept {
  std::vector<char> buf;
  size_t used = 0;
  std::vector<uint64_t> referenced;
  int err = guarded("readdirplus",
                    [&] { return do_readdirplus(req, ino, size, off, buf, used, referenced); });
  if (err) {
    for (uint64_t i : referenced) fs(req).forget(i, 1);
    fuse_reply_err(req, err);
    return;
  }
  if (fuse_reply_buf(req, buf.data(), used) == -ENOENT) {
    for (uint64_t i : referenced) fs(req).forget(i, 1);
  }
}

void pm_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) noexcept {
  fuse_reply_err(req, 0);
}

void pm_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) noexcept {
  reply_status(req,
               guarded("fsyncdir", [&] { return fs(req).fsync(ino, datasync != 0).error(); }));
}

// ---- file system -------------------------------------------------------------

void pm_statfs(fuse_req_t req, fuse_ino_t) noexcept {
  struct statvfs sv {};
  int err = guarded("statfs", [&] {
    auto r = fs(req).statfs();
    if (!r) return r.error();
    sv.f_bsize = r->block_size;
    sv.f_frsize = r->block_size;
    sv.f_blocks = r->blocks;
    sv.f_bfree = r->blocks_free;
    sv.f_bavail = r->blocks_free;  // no blocks reserved for root
    sv.f_files = r->inodes;
    sv.f_ffree = r->inodes_free;
    sv.f_favail = r->inodes_free;
    sv.f_namemax = r->name_max;
    return 0;
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_statfs(req, &sv);
}

// ---- extended attributes ---------------------------------------------------

// Answers a getxattr/listxattr value the way the syscalls define it: size 0
// asks for the length, a too small buffer is ERANGE.
void reply_xattr_value(fuse_req_t req, int err, const std::string& value, size_t size) {
  if (err) fuse_reply_err(req, err);
  else if (size == 0) fuse_reply_xattr(req, value.size());
  else if (value.size() > size) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, value.data(), value.size());
}

void pm_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) noexcept {
  int err = guarded("setxattr", [&] {
    if (is_control_xattr(name)) return EPERM;  // computed, not stored
    return fs(req).setxattr(ino, name, std::string_view(value, size), flags).error();
  });
  reply_status(req, err);
}

void pm_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) noexcept {
  std::string value;
  int err = guarded("getxattr", [&] {
    auto r = control_getxattr(fs(req), ino, name);
    if (!r) r = fs(req).getxattr(ino, name);
    if (!*r) return r->error();
    value = std::move(**r);
    return 0;
  });
  reply_xattr_value(req, err, value, size);
}

void pm_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept {
  std::string names;
  int err = guarded("listxattr", [&] {
    auto r = fs(req).listxattr(ino);
    if (!r) return r.error();
    for (const std::string& n : *r) {
      if (is_control_xattr(n)) continue;
      names += n;
      names += '\0';
    }
    return 0;
  });
  reply_xattr_value(req, err, names, size);
}

void pm_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) noexcept {
  int err = guarded("removexattr", [&] {
    if (is_control_xattr(name)) return EPERM;
    return fs(req).removexattr(ino, name).error();
  });
  reply_status(req, err);
}

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops o{};
  o.init = pm_init;
  o.destroy = pm_destroy;
  o.lookup = pm_lookup;
  o.forget = pm_forget;
  o.forget_multi = pm_forget_multi;
  o.getattr = pm_getattr;
  o.setattr = pm_setattr;
  o.readlink = pm_readlink;
  o.mknod = pm_mknod;
  o.mkdir = pm_mkdir;
  o.unlink = pm_unlink;
  o.rmdir = pm_rmdir;
  o.symlink = pm_symlink;
  o.rename = pm_rename;
  o.link = pm_link;
  o.open = pm_open;
  o.read = pm_read;
  o.write = pm_write;
  o.write_buf = pm_write_buf;
  o.flush = pm_flush;
  o.release = pm_release;
  o.fsync = pm_fsync;
  o.opendir = pm_opendir;
  o.readdir = pm_readdir;
  o.readdirplus = pm_readdirplus;
  o.releasedir = pm_releasedir;
  o.fsyncdir = pm_fsyncdir;
  o.statfs = pm_statfs;
  o.setxattr = pm_setxattr;
  o.getxattr = pm_getxattr;
  o.listxattr = pm_listxattr;
  o.removexattr = pm_removexattr;
  o.create = pm_create;
  o.fallocate = pm_fallocate;
  o.copy_file_range = pm_copy_file_range;
  o.lseek = pm_lseek;
  return o;
}

}  // namespace

const fuse_lowlevel_ops& lowlevel_ops() {
  static const fuse_lowlevel_ops ops = make_ops();
  return ops;
}

}  // namespace pmemfs::daemon
