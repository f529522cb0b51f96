// Shape (after libfuse's example/passthrough_hp.cc): a do_<op> helper returns
// an errno and fills its outputs; the pm_<op> callback runs it through
// guarded() and replies exactly once. Callbacks are noexcept. This file holds
// the helpers shared by the ops_*.cc groups, connection setup, and the table.
#include "fuse/ops.h"

#include "fuse/ops_internal.h"
#include "fuse/pool_failure.h"
#include "fuse/read_only.h"

namespace pmemfs::daemon {

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

namespace {
Caller caller_of(fuse_req_t req) {
  const fuse_ctx* fc = fuse_req_ctx(req);
  return Caller{fc->uid, fc->gid, fc->umask};
}
}  // namespace

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

void reply_attr(fuse_req_t req, int err, const Attr& a) {
  if (err) {
    fuse_reply_err(req, err);
    return;
  }
  struct stat st {};
  a.to_stat(&st);
  fuse_reply_attr(req, &st, ctx(req).timeout);
}

namespace {

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
  // POSIX ACLs: the kernel caches and enforces them (default_permissions is
  // on anyway) and hands them over as system.posix_acl_* xattrs; the library
  // keeps them in step with the mode and inherits default ACLs. Only the
  // parent's default ACL says whether the umask applies, so the kernel must
  // not apply it (DONT_MASK: without it, it does, even with POSIX_ACL); it
  // comes in the request instead (fuse_ctx::umask) and the library applies it.
  want(FUSE_CAP_POSIX_ACL);
  want(FUSE_CAP_DONT_MASK);

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
  spdlog::info("fuse connection: protocol {}.{}, max_write {}, writeback cache {}, export {}, "
               "posix acl {}",
               conn->proto_major, conn->proto_minor, conn->max_write,
               (conn->want & FUSE_CAP_WRITEBACK_CACHE) ? "on" : "off",
               (conn->want & FUSE_CAP_EXPORT_SUPPORT) ? "on" : "off",
               (conn->want & FUSE_CAP_POSIX_ACL) ? "on" : "off");
}

void pm_destroy(void*) noexcept { spdlog::debug("fuse connection closed"); }

fuse_lowlevel_ops make_ops() {
  fuse_lowlevel_ops o{};
  o.init = pm_init;
  o.destroy = pm_destroy;
  add_name_ops(o);
  add_file_ops(o);
  add_dir_ops(o);
  add_xattr_ops(o);
  gate_on_read_only(o);
  gate_on_pool_failure(o);  // last: wraps what the groups set
  return o;
}

}  // namespace

const fuse_lowlevel_ops& lowlevel_ops() {
  static const fuse_lowlevel_ops ops = make_ops();
  return ops;
}

}  // namespace pmemfs::daemon
