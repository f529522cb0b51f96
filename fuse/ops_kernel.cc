// Operations libfuse 3.14 does not dispatch, answered in the transport layer
// (transport.h) straight in the kernel's ABI (kernel_abi.h): the same shape
// as the ops_*.cc callbacks -- a do_<op> returns an errno and fills the
// reply, the handler replies exactly once -- with kabi structs where libfuse
// would have converted from fuse_entry_param and fuse_file_info.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>

#include "fuse/kernel_abi.h"
#include "fuse/ops_internal.h"
#include "fuse/transport.h"

namespace pmemfs::daemon {
namespace {

namespace k = kabi;

void split_timeout(double t, uint64_t& sec, uint32_t& nsec) {
  sec = static_cast<uint64_t>(t);
  nsec = static_cast<uint32_t>((t - static_cast<double>(sec)) * 1e9);
}

k::fuse_attr to_fuse_attr(const Attr& a) {
  struct stat st {};
  a.to_stat(&st);
  k::fuse_attr f{};
  f.ino = st.st_ino;
  f.size = static_cast<uint64_t>(st.st_size);
  f.blocks = static_cast<uint64_t>(st.st_blocks);
  f.atime = static_cast<uint64_t>(st.st_atim.tv_sec);
  f.mtime = static_cast<uint64_t>(st.st_mtim.tv_sec);
  f.ctime = static_cast<uint64_t>(st.st_ctim.tv_sec);
  f.atimensec = static_cast<uint32_t>(st.st_atim.tv_nsec);
  f.mtimensec = static_cast<uint32_t>(st.st_mtim.tv_nsec);
  f.ctimensec = static_cast<uint32_t>(st.st_ctim.tv_nsec);
  f.mode = st.st_mode;
  f.nlink = static_cast<uint32_t>(st.st_nlink);
  f.uid = st.st_uid;
  f.gid = st.st_gid;
  f.rdev = static_cast<uint32_t>(st.st_rdev);
  f.blksize = static_cast<uint32_t>(st.st_blksize);
  return f;
}

k::fuse_entry_out to_entry_out(const OpsContext& c, const Attr& a) {
  k::fuse_entry_out e{};
  e.nodeid = a.ino;
  e.generation = a.generation;
  split_timeout(c.timeout, e.entry_valid, e.entry_valid_nsec);
  split_timeout(c.timeout, e.attr_valid, e.attr_valid_nsec);
  e.attr = to_fuse_attr(a);
  return e;
}

// The FOPEN_* flags every pmemfs file handle carries, as libfuse would have
// made them from fuse_file_info, plus the transport's own.
uint32_t fopen_flags(const OpsContext& c, const Transport& t, uint32_t open_flags) {
  fuse_file_info fi{};
  fi.flags = static_cast<int>(open_flags);
  set_open_flags(c, &fi);
  uint32_t f = t.open_flags();
  if (fi.direct_io) f |= k::FOPEN_DIRECT_IO;
  if (fi.keep_cache) f |= k::FOPEN_KEEP_CACHE;
  if (fi.noflush) f |= k::FOPEN_NOFLUSH;
  return f;
}

// ---- FUSE_TMPFILE: open(dir, O_TMPFILE) ----------------------------------
// Request: fuse_create_in (and a name the kernel makes up, ignored); reply:
// fuse_entry_out + fuse_open_out, as for CREATE. The kernel has checked
// write permission on the directory (default_permissions); O_EXCL in the
// flags means the file may never be linked.

int do_tmpfile(OpsContext& c, const Transport::Request& r, Attr& a, uint32_t& open_flags) {
  k::fuse_create_in in;
  if (r.arg_len < sizeof in) return EINVAL;
  std::memcpy(&in, r.arg, sizeof in);
  open_flags = in.flags;
  const Caller who{r.in.uid, r.in.gid, in.umask};
  const mode_t mode = S_IFREG | (in.mode & 07777);
  auto t = c.fs->tmpfile(r.in.nodeid, mode, who, /*linkable=*/!(in.flags & O_EXCL));
  if (!t) return t.error();
  a = *t;
  return 0;
}

void pm_tmpfile(OpsContext& c, Transport& t, const Transport::Request& r) noexcept {
  Attr a;
  uint32_t open_flags = 0;
  // After a failure of the pool's backing store, as every creation
  // (pool_failure.h).
  const int err = bus_guard::failures() != 0
                      ? EIO
                      : guarded("tmpfile", [&] { return do_tmpfile(c, r, a, open_flags); });
  if (err) {
    t.reply_error(r, err);
    return;
  }
  const k::fuse_entry_out entry = to_entry_out(c, a);
  const k::fuse_open_out open{0, fopen_flags(c, t, open_flags), 0};
  const struct iovec payload[2] = {{const_cast<k::fuse_entry_out*>(&entry), sizeof entry},
                                   {const_cast<k::fuse_open_out*>(&open), sizeof open}};
  if (t.reply(r, 0, payload, 2) == -ENOENT) {
    // Interrupted: the kernel never got the file, so it sends no RELEASE or
    // FORGET for it; give back what tmpfile() counted.
    c.fs->release(a.ino);
    c.fs->forget(a.ino, 1);
  }
}

// ---- FUSE_STATX: statx(2) asking for the birth time ----------------------
// The kernel sends it (instead of GETATTR) when a caller's statx mask wants
// more than the basic stats -- STATX_BTIME, the only other one FUSE carries
// -- and the kernel holds no birth time for the inode yet; it then keeps the
// birth time with the attributes. Request: fuse_statx_in; reply:
// fuse_statx_out, the basic stats as GETATTR answers them plus btime.

k::fuse_sx_time to_sx_time(const struct timespec& t) {
  k::fuse_sx_time x{};
  x.tv_sec = t.tv_sec;
  x.tv_nsec = static_cast<uint32_t>(t.tv_nsec);
  return x;
}

k::fuse_statx to_fuse_statx(const Attr& a) {
  struct stat st {};
  a.to_stat(&st);
  k::fuse_statx x{};
  x.mask = STATX_BASIC_STATS | STATX_BTIME;
  x.blksize = static_cast<uint32_t>(st.st_blksize);
  x.nlink = static_cast<uint32_t>(st.st_nlink);
  x.uid = st.st_uid;
  x.gid = st.st_gid;
  x.mode = static_cast<uint16_t>(st.st_mode);
  x.ino = st.st_ino;
  x.size = static_cast<uint64_t>(st.st_size);
  x.blocks = static_cast<uint64_t>(st.st_blocks);
  x.atime = to_sx_time(st.st_atim);
  x.mtime = to_sx_time(st.st_mtim);
  x.ctime = to_sx_time(st.st_ctim);
  x.btime = to_sx_time(a.btime);
  x.rdev_major = major(st.st_rdev);
  x.rdev_minor = minor(st.st_rdev);
  return x;  // dev_*: the kernel fills in its own
}

void pm_statx(OpsContext& c, Transport& t, const Transport::Request& r) noexcept {
  k::fuse_statx_out out{};
  const int err = guarded("statx", [&] {
    if (r.arg_len < sizeof(k::fuse_statx_in)) return EINVAL;
    auto a = c.fs->getattr(r.in.nodeid);
    if (!a) return a.error();
    out.stat = to_fuse_statx(*a);
    split_timeout(c.timeout, out.attr_valid, out.attr_valid_nsec);
    return 0;
  });
  if (err) {
    t.reply_error(r, err);
    return;
  }
  const struct iovec payload = {&out, sizeof out};
  t.reply(r, 0, &payload, 1);
}

}  // namespace

void add_transport_ops(Transport& t, OpsContext& c) {
  // The daemon drops setuid/setgid/capabilities itself (kill_privs.h); the
  // kernel then stops asking for security.capability before every write.
  t.request_init_flags(k::FUSE_HANDLE_KILLPRIV_V2);
  // Direct writes that do not extend the file run in parallel in the
  // kernel (shared i_rwsem); the daemon's write path takes the inode lock
  // shared for them too. Only FOPEN_DIRECT_IO files take this path.
  t.add_open_flags(k::FOPEN_PARALLEL_DIRECT_WRITES);
  // O_DIRECT opens are FOPEN_DIRECT_IO files in the cached modes
  // (set_open_flags); their shared mappings go through the page cache as
  // any file's. Not with cache=none, which has no shared mappings at all.
  if (c.cache != CacheMode::kNone) t.request_init_flags(k::FUSE_DIRECT_IO_ALLOW_MMAP);
  t.add_handler(k::FUSE_TMPFILE,
                [&c, &t](const Transport::Request& r) { pm_tmpfile(c, t, r); });
  t.add_handler(k::FUSE_STATX, [&c, &t](const Transport::Request& r) { pm_statx(c, t, r); });
}

}  // namespace pmemfs::daemon
