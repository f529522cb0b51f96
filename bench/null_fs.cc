// null_fs: the ceiling a FUSE filesystem can reach on this machine, for
// bench/run-fio.sh to divide pmemfs's figures by. One flat directory of
// files that keep only their size: writes are discarded, reads return
// zeros, everything is answered at once. It runs on the daemon's own
// transport layer (fuse/transport.h) and negotiates what pmemfs does for the
// same cache mode (writeback cache, keep_cache or direct I/O, noflush, no
// GETXATTR per write, parallel direct writes, O_DIRECT opens as direct I/O),
// on the same transport (/dev/fuse or FUSE over io_uring), so that the
// difference is the work pmemfs does, not the protocol.
//
//   null_fs [-o cache=writeback|writethrough|none] [-o io_uring=on|off] MOUNTPOINT
//
// Foreground. io_uring=on needs the fuse module's enable_uring set to Y
// (pmemfs -o io_uring_enable_module sets it); off is the default.
#include <fcntl.h>
#include <fuse_lowlevel.h>

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fuse/kernel_abi.h"
#include "fuse/transport.h"
#include "fuse/uring_setup.h"
#include "fuse/uring_transport.h"

namespace {

namespace pd = pmemfs::daemon;
namespace k = pmemfs::daemon::kabi;

enum class Cache { kWriteback, kWritethrough, kNone };
Cache g_cache = Cache::kWritethrough;
constexpr double kTimeout = 86400.0;  // as pmemfs: the daemon is the only writer
constexpr size_t kMaxWrite = 1 << 20;

std::mutex g_mu;
std::map<std::string, fuse_ino_t> g_names;  // in the root
std::map<fuse_ino_t, off_t> g_sizes;        // every file
fuse_ino_t g_next = 2;

struct stat attr_of(fuse_ino_t ino) {  // REQUIRES: g_mu held
  struct stat st {};
  st.st_ino = ino;
  st.st_nlink = 1;
  st.st_blksize = 4096;
  if (ino == FUSE_ROOT_ID) {
    st.st_mode = S_IFDIR | 0777;
    st.st_nlink = 2;
  } else {
    st.st_mode = S_IFREG | 0666;
    st.st_size = g_sizes[ino];
    st.st_blocks = (st.st_size + 511) / 512;
  }
  return st;
}

fuse_entry_param entry_of(fuse_ino_t ino) {  // REQUIRES: g_mu held
  fuse_entry_param e{};
  e.ino = ino;
  e.attr = attr_of(ino);
  e.attr_timeout = e.entry_timeout = kTimeout;
  return e;
}

// As pmemfs's set_open_flags (fuse/ops_files.cc).
void set_open(fuse_file_info* fi) {
  if (g_cache == Cache::kNone) fi->direct_io = 1;
  else fi->keep_cache = 1;
  if (fi->flags & O_DIRECT) fi->direct_io = 1;
  fi->noflush = 1;
}

void nf_init(void*, fuse_conn_info* conn) {
  conn->max_write = kMaxWrite;
  if (g_cache == Cache::kWriteback && (conn->capable & FUSE_CAP_WRITEBACK_CACHE))
    conn->want |= FUSE_CAP_WRITEBACK_CACHE;
  conn->want |= conn->capable & (FUSE_CAP_ASYNC_READ | FUSE_CAP_ASYNC_DIO | FUSE_CAP_PARALLEL_DIROPS);
  conn->want &= ~(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                  FUSE_CAP_AUTO_INVAL_DATA);
}

void nf_lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  std::lock_guard<std::mutex> g(g_mu);
  auto it = g_names.find(name);
  if (parent != FUSE_ROOT_ID || it == g_names.end()) {
    fuse_entry_param e{};  // a negative entry the kernel may keep
    e.entry_timeout = kTimeout;
    fuse_reply_entry(req, &e);
    return;
  }
  const fuse_entry_param e = entry_of(it->second);
  fuse_reply_entry(req, &e);
}

void nf_getattr(fuse_req_t req, fuse_ino_t ino, fuse_file_info*) {
  std::lock_guard<std::mutex> g(g_mu);
  const struct stat st = attr_of(ino);
  fuse_reply_attr(req, &st, kTimeout);
}

void nf_setattr(fuse_req_t req, fuse_ino_t ino, struct stat* attr, int to_set, fuse_file_info*) {
  std::lock_guard<std::mutex> g(g_mu);
  if ((to_set & FUSE_SET_ATTR_SIZE) && ino != FUSE_ROOT_ID) g_sizes[ino] = attr->st_size;
  const struct stat st = attr_of(ino);
  fuse_reply_attr(req, &st, kTimeout);
}

void nf_create(fuse_req_t req, fuse_ino_t parent, const char* name, mode_t, fuse_file_info* fi) {
  if (parent != FUSE_ROOT_ID) {
    fuse_reply_err(req, ENOENT);
    return;
  }
  std::lock_guard<std::mutex> g(g_mu);
  auto [it, added] = g_names.emplace(name, g_next);
  if (added) g_sizes[g_next++] = 0;
  set_open(fi);
  const fuse_entry_param e = entry_of(it->second);
  fuse_reply_create(req, &e, fi);
}

void nf_unlink(fuse_req_t req, fuse_ino_t, const char* name) {
  std::lock_guard<std::mutex> g(g_mu);
  g_names.erase(name);  // the inode's size stays until forgotten: never, it is 16 bytes
  fuse_reply_err(req, 0);
}

void nf_open(fuse_req_t req, fuse_ino_t, fuse_file_info* fi) {
  set_open(fi);
  fuse_reply_open(req, fi);
}

void nf_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) {
  static const std::vector<char> zeros(kMaxWrite);
  off_t end;
  {
    std::lock_guard<std::mutex> g(g_mu);
    end = g_sizes[ino];
  }
  const size_t n = off >= end ? 0 : std::min<size_t>({size, static_cast<size_t>(end - off), zeros.size()});
  fuse_reply_buf(req, zeros.data(), n);
}

void nf_write(fuse_req_t req, fuse_ino_t ino, const char*, size_t size, off_t off, fuse_file_info*) {
  {
    std::lock_guard<std::mutex> g(g_mu);
    off_t& s = g_sizes[ino];
    s = std::max<off_t>(s, off + static_cast<off_t>(size));
  }
  fuse_reply_write(req, size);
}

void nf_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t len, fuse_file_info*) {
  if (mode == 0) {
    std::lock_guard<std::mutex> g(g_mu);
    off_t& s = g_sizes[ino];
    s = std::max<off_t>(s, off + len);
  }
  fuse_reply_err(req, 0);
}

void nf_ok(fuse_req_t req, fuse_ino_t, int, fuse_file_info*) { fuse_reply_err(req, 0); }
void nf_release(fuse_req_t req, fuse_ino_t, fuse_file_info*) { fuse_reply_err(req, 0); }

void nf_statfs(fuse_req_t req, fuse_ino_t) {
  struct statvfs sv {};
  sv.f_bsize = sv.f_frsize = 4096;
  sv.f_blocks = sv.f_bfree = sv.f_bavail = uint64_t{1} << 30;  // 4 TiB
  sv.f_files = sv.f_ffree = sv.f_favail = uint64_t{1} << 30;
  sv.f_namemax = 255;
  fuse_reply_statfs(req, &sv);
}

}  // namespace

constexpr const char* kUsage =
    "usage: null_fs [-o cache=writeback|writethrough|none] [-o io_uring=on|off] MOUNTPOINT\n";

int main(int argc, char** argv) {
  std::vector<char*> args{argv[0]};
  const char* mountpoint = nullptr;
  bool uring = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-o" && i + 1 < argc) {
      const std::string o = argv[++i];
      if (o == "cache=writeback") g_cache = Cache::kWriteback;
      else if (o == "cache=writethrough") g_cache = Cache::kWritethrough;
      else if (o == "cache=none") g_cache = Cache::kNone;
      else if (o == "io_uring=on") uring = true;
      else if (o == "io_uring=off") uring = false;
      else { std::fprintf(stderr, "null_fs: unknown option %s\n", o.c_str()); return 2; }
    } else if (!mountpoint && a[0] != '-') {
      mountpoint = argv[i];
    } else {
      std::fprintf(stderr, "%s", kUsage);
      return 2;
    }
  }
  if (!mountpoint) {
    std::fprintf(stderr, "%s", kUsage);
    return 2;
  }
  static const char* extra[] = {"-o", "allow_other,default_permissions,fsname=null_fs,subtype=null"};
  for (const char* e : extra) args.push_back(const_cast<char*>(e));
  fuse_args fa = FUSE_ARGS_INIT(static_cast<int>(args.size()), args.data());
  fuse_lowlevel_ops ops{};
  ops.init = nf_init;
  ops.lookup = nf_lookup;
  ops.getattr = nf_getattr;
  ops.setattr = nf_setattr;
  ops.create = nf_create;
  ops.unlink = nf_unlink;
  ops.open = nf_open;
  ops.read = nf_read;
  ops.write = nf_write;
  ops.fallocate = nf_fallocate;
  ops.fsync = nf_ok;
  ops.release = nf_release;
  ops.statfs = nf_statfs;
  // The layer pmemfs runs on, with the same requests below libfuse
  // (fuse/ops_kernel.cc add_transport_ops): nothing to kill on a write here
  // (no setuid files), so the kernel's GETXATTR per write is spared as it is
  // for pmemfs.
  pd::Transport transport;
  pd::TransportHost host;
  host.transport = &transport;
  transport.request_init_flags(k::FUSE_HANDLE_KILLPRIV_V2);
  transport.add_open_flags(k::FOPEN_PARALLEL_DIRECT_WRITES);
  if (g_cache != Cache::kNone) transport.request_init_flags(k::FUSE_DIRECT_IO_ALLOW_MMAP);
  fuse_session* se = fuse_session_new(&fa, &ops, sizeof ops, &host);
  if (!se) return 1;
  std::unique_ptr<pd::UringTransport> rings;
  if (uring) {  // as the daemon's Session::set_up_transport, io_uring=on
    pd::UringTransport::Config c;
    c.queues = pd::uring_queue_count();
    c.capacity = std::max<size_t>(8192, kMaxWrite);
    c.required = true;
    rings = std::make_unique<pd::UringTransport>(transport, c);
    if (std::string why = rings->prepare(se); !why.empty()) {
      std::fprintf(stderr, "null_fs: io_uring=on, but %s\n", why.c_str());
      return 1;
    }
    transport.set_source(rings.get());
    transport.request_init_flags(k::FUSE_OVER_IO_URING);
  }
  if (fuse_set_signal_handlers(se) != 0 || fuse_session_mount(se, mountpoint) != 0) {
    std::fprintf(stderr, "null_fs: cannot mount on %s\n", mountpoint);
    return 1;
  }
  if (int e = transport.attach(se); e != 0) {
    std::fprintf(stderr, "null_fs: cannot set up the transport: %s\n", strerror(-e));
    return 1;
  }
  fuse_loop_config* cfg = fuse_loop_cfg_create();
  fuse_loop_cfg_set_max_threads(cfg, 16);
  const int rc = fuse_session_loop_mt(se, cfg);
  fuse_loop_cfg_destroy(cfg);
  if (rings) rings->stop();
  fuse_session_unmount(se);
  fuse_remove_signal_handlers(se);
  fuse_session_destroy(se);
  return rc == 0 ? 0 : 1;
}
