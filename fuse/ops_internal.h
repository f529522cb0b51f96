// Shared by the ops_*.cc files: reaching the context from a request,
// running a handler without letting exceptions escape, and the replies that
// carry kernel references. Each ops_<group>.cc fills in its own callbacks.
#pragma once

#include <spdlog/spdlog.h>

#include <fcntl.h>

#include <exception>
#include <new>

#include "fuse/ops.h"
#include "pmemfs/bus_guard.h"

namespace pmemfs::daemon {

inline OpsContext& ctx(fuse_req_t req) {
  return *static_cast<OpsContext*>(fuse_req_userdata(req));
}
inline Filesystem& fs(fuse_req_t req) { return *ctx(req).fs; }

// Runs f (returning an errno, 0 for success) and turns any exception into an
// errno, so nothing unwinds into libfuse: it is C, and an exception through
// it would leave the request unanswered and the kernel waiting forever.
// If the pool's backing store failed under f (a SIGBUS survived, see
// pmemfs/bus_guard.h), what f read or wrote there was zeros: EIO.
template <typename F>
int guarded(const char* op, F&& f) noexcept {
  const uint64_t bus_errors = bus_guard::thread_failures();
  int e;
  try {
    e = f();
  } catch (const std::bad_alloc&) {
    e = ENOMEM;
  } catch (const std::exception& ex) {
    spdlog::error("{}: unexpected exception: {}", op, ex.what());
    e = EIO;
  } catch (...) {
    spdlog::error("{}: unexpected exception", op);
    e = EIO;
  }
  return bus_guard::thread_failures() != bus_errors ? EIO : e;
}

inline void reply_status(fuse_req_t req, int err) { fuse_reply_err(req, err); }

// An entry for attribute a with the context's timeouts and a's generation.
void fill_entry(const OpsContext& c, const Attr& a, fuse_entry_param* e);

// Replies with an entry that counts one kernel reference to the inode (or
// with err). If the reply cannot be delivered (the request was interrupted)
// the kernel never saw it, so the reference is given back.
void reply_entry(fuse_req_t req, int err, const fuse_entry_param& e);

// Replies with a's attributes, or with err.
void reply_attr(fuse_req_t req, int err, const Attr& a);

// An open that may read: whether the kernel may keep what it cached of ino.
// Not when the next read updates the access time (relatime after a change,
// strictatime always): a read served from the page cache never reaches the
// daemon, and the kernel updates no access time of a FUSE inode itself.
inline bool keep_cache_for_atime(fuse_req_t req, fuse_ino_t ino, int open_flags) {
  return (open_flags & O_ACCMODE) == O_WRONLY || !fs(req).atime_due(ino);
}

// Who owns a new node in parent, and its final mode (setgid directories).
int new_node_owner(fuse_req_t req, fuse_ino_t parent, mode_t& mode, Caller& who);

// The open flags of a file handle (direct_io for cache=none, else keep_cache
// as given; noflush); ops_files.cc.
void set_open_flags(const OpsContext& c, fuse_file_info* fi, bool keep_cache = true);

// Each group sets its callbacks in the table.
void add_name_ops(fuse_lowlevel_ops& o);   // ops_names.cc
void add_file_ops(fuse_lowlevel_ops& o);   // ops_files.cc
void add_dir_ops(fuse_lowlevel_ops& o);    // ops_dirs.cc
void add_xattr_ops(fuse_lowlevel_ops& o);  // ops_xattr.cc

}  // namespace pmemfs::daemon
