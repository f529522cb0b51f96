// The FUSE kernel ABI, as far as the transport layer (fuse/transport.h) needs
// it: the parts libfuse 3.14 hides or never knew. The one source of truth is
// the kernel's include/uapi/linux/fuse.h; every name below is spelled as it
// is there, so that a grep of the kernel finds it. Values are those of
// protocol 7.45 (Linux 6.18). libfuse 3.14 bundles 7.38 (and does not install
// it), which lacks FUSE_STATX, FUSE_DIRECT_IO_ALLOW_MMAP and later flags.
//
// Inside namespace kabi, so that it can sit beside libfuse's headers (which
// define FUSE_ROOT_ID and the FUSE_IOCTL_* flags as macros: those are left
// out here). Never include <linux/fuse.h> in the same file: its macros would
// clash with these names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace pmemfs::daemon::kabi {

inline constexpr uint32_t FUSE_KERNEL_VERSION = 7;
// The minor version whose layout and flags this header follows.
inline constexpr uint32_t FUSE_KERNEL_MINOR_VERSION = 45;

// ---- opcodes (enum fuse_opcode) --------------------------------------------

enum fuse_opcode : uint32_t {
  FUSE_LOOKUP = 1,
  FUSE_FORGET = 2,  // no reply
  FUSE_GETATTR = 3,
  FUSE_SETATTR = 4,
  FUSE_READLINK = 5,
  FUSE_SYMLINK = 6,
  FUSE_MKNOD = 8,
  FUSE_MKDIR = 9,
  FUSE_UNLINK = 10,
  FUSE_RMDIR = 11,
  FUSE_RENAME = 12,
  FUSE_LINK = 13,
  FUSE_OPEN = 14,
  FUSE_READ = 15,
  FUSE_WRITE = 16,
  FUSE_STATFS = 17,
  FUSE_RELEASE = 18,
  FUSE_FSYNC = 20,
  FUSE_SETXATTR = 21,
  FUSE_GETXATTR = 22,
  FUSE_LISTXATTR = 23,
  FUSE_REMOVEXATTR = 24,
  FUSE_FLUSH = 25,
  FUSE_INIT = 26,
  FUSE_OPENDIR = 27,
  FUSE_READDIR = 28,
  FUSE_RELEASEDIR = 29,
  FUSE_FSYNCDIR = 30,
  FUSE_GETLK = 31,
  FUSE_SETLK = 32,
  FUSE_SETLKW = 33,
  FUSE_ACCESS = 34,
  FUSE_CREATE = 35,
  FUSE_INTERRUPT = 36,
  FUSE_BMAP = 37,
  FUSE_DESTROY = 38,
  FUSE_IOCTL = 39,
  FUSE_POLL = 40,
  FUSE_NOTIFY_REPLY = 41,
  FUSE_BATCH_FORGET = 42,
  FUSE_FALLOCATE = 43,
  FUSE_READDIRPLUS = 44,
  FUSE_RENAME2 = 45,
  FUSE_LSEEK = 46,
  FUSE_COPY_FILE_RANGE = 47,
  FUSE_SETUPMAPPING = 48,
  FUSE_REMOVEMAPPING = 49,
  FUSE_SYNCFS = 50,
  FUSE_TMPFILE = 51,  // 7.37, sent by Linux >= 6.7; libfuse 3.14 answers ENOSYS
  FUSE_STATX = 52,    // 7.39, Linux >= 6.6; not in libfuse 3.14
  FUSE_COPY_FILE_RANGE_64 = 53,
};

// One past the highest opcode above: the size of per-opcode tables.
inline constexpr uint32_t kOpcodeLimit = 54;

// The lower-case name of an opcode ("lookup", "copy_file_range_64"), or ""
// for a number the protocol does not define.
constexpr std::string_view opcode_name(uint32_t op) {
  switch (op) {
    case FUSE_LOOKUP: return "lookup";
    case FUSE_FORGET: return "forget";
    case FUSE_GETATTR: return "getattr";
    case FUSE_SETATTR: return "setattr";
    case FUSE_READLINK: return "readlink";
    case FUSE_SYMLINK: return "symlink";
    case FUSE_MKNOD: return "mknod";
    case FUSE_MKDIR: return "mkdir";
    case FUSE_UNLINK: return "unlink";
    case FUSE_RMDIR: return "rmdir";
    case FUSE_RENAME: return "rename";
    case FUSE_LINK: return "link";
    case FUSE_OPEN: return "open";
    case FUSE_READ: return "read";
    case FUSE_WRITE: return "write";
    case FUSE_STATFS: return "statfs";
    case FUSE_RELEASE: return "release";
    case FUSE_FSYNC: return "fsync";
    case FUSE_SETXATTR: return "setxattr";
    case FUSE_GETXATTR: return "getxattr";
    case FUSE_LISTXATTR: return "listxattr";
    case FUSE_REMOVEXATTR: return "removexattr";
    case FUSE_FLUSH: return "flush";
    case FUSE_INIT: return "init";
    case FUSE_OPENDIR: return "opendir";
    case FUSE_READDIR: return "readdir";
    case FUSE_RELEASEDIR: return "releasedir";
    case FUSE_FSYNCDIR: return "fsyncdir";
    case FUSE_GETLK: return "getlk";
    case FUSE_SETLK: return "setlk";
    case FUSE_SETLKW: return "setlkw";
    case FUSE_ACCESS: return "access";
    case FUSE_CREATE: return "create";
    case FUSE_INTERRUPT: return "interrupt";
    case FUSE_BMAP: return "bmap";
    case FUSE_DESTROY: return "destroy";
    case FUSE_IOCTL: return "ioctl";
    case FUSE_POLL: return "poll";
    case FUSE_NOTIFY_REPLY: return "notify_reply";
    case FUSE_BATCH_FORGET: return "batch_forget";
    case FUSE_FALLOCATE: return "fallocate";
    case FUSE_READDIRPLUS: return "readdirplus";
    case FUSE_RENAME2: return "rename2";
    case FUSE_LSEEK: return "lseek";
    case FUSE_COPY_FILE_RANGE: return "copy_file_range";
    case FUSE_SETUPMAPPING: return "setupmapping";
    case FUSE_REMOVEMAPPING: return "removemapping";
    case FUSE_SYNCFS: return "syncfs";
    case FUSE_TMPFILE: return "tmpfile";
    case FUSE_STATX: return "statx";
    case FUSE_COPY_FILE_RANGE_64: return "copy_file_range_64";
    default: return "";
  }
}

// ---- notifications (enum fuse_notify_code) ---------------------------------
// A server's message to the kernel that answers no request: unique 0, the
// code in fuse_out_header.error.

enum fuse_notify_code : uint32_t {
  FUSE_NOTIFY_POLL = 1,
  FUSE_NOTIFY_INVAL_INODE = 2,
  FUSE_NOTIFY_INVAL_ENTRY = 3,
  FUSE_NOTIFY_STORE = 4,
  FUSE_NOTIFY_RETRIEVE = 5,
  FUSE_NOTIFY_DELETE = 6,
  FUSE_NOTIFY_RESEND = 7,
  FUSE_NOTIFY_INC_EPOCH = 8,
};

// One past the highest code above.
inline constexpr uint32_t kNotifyCodeLimit = 9;

// The lower-case name of a notification ("inval_inode"), or "" for a code
// the protocol does not define.
constexpr std::string_view notify_code_name(uint32_t code) {
  switch (code) {
    case FUSE_NOTIFY_POLL: return "poll";
    case FUSE_NOTIFY_INVAL_INODE: return "inval_inode";
    case FUSE_NOTIFY_INVAL_ENTRY: return "inval_entry";
    case FUSE_NOTIFY_STORE: return "store";
    case FUSE_NOTIFY_RETRIEVE: return "retrieve";
    case FUSE_NOTIFY_DELETE: return "delete";
    case FUSE_NOTIFY_RESEND: return "resend";
    case FUSE_NOTIFY_INC_EPOCH: return "inc_epoch";
    default: return "";
  }
}

// ---- INIT flags (fuse_init_in/out.flags, and flags2 << 32) -----------------
// 64 bits as the kernel composes them: bits 32-63 travel in flags2, which
// only counts when FUSE_INIT_EXT is set in flags.

inline constexpr uint64_t FUSE_ASYNC_READ = 1ull << 0;
inline constexpr uint64_t FUSE_POSIX_LOCKS = 1ull << 1;
inline constexpr uint64_t FUSE_FILE_OPS = 1ull << 2;
inline constexpr uint64_t FUSE_ATOMIC_O_TRUNC = 1ull << 3;
inline constexpr uint64_t FUSE_EXPORT_SUPPORT = 1ull << 4;
inline constexpr uint64_t FUSE_BIG_WRITES = 1ull << 5;
inline constexpr uint64_t FUSE_DONT_MASK = 1ull << 6;
inline constexpr uint64_t FUSE_SPLICE_WRITE = 1ull << 7;
inline constexpr uint64_t FUSE_SPLICE_MOVE = 1ull << 8;
inline constexpr uint64_t FUSE_SPLICE_READ = 1ull << 9;
inline constexpr uint64_t FUSE_FLOCK_LOCKS = 1ull << 10;
inline constexpr uint64_t FUSE_HAS_IOCTL_DIR = 1ull << 11;
inline constexpr uint64_t FUSE_AUTO_INVAL_DATA = 1ull << 12;
inline constexpr uint64_t FUSE_DO_READDIRPLUS = 1ull << 13;
inline constexpr uint64_t FUSE_READDIRPLUS_AUTO = 1ull << 14;
inline constexpr uint64_t FUSE_ASYNC_DIO = 1ull << 15;
inline constexpr uint64_t FUSE_WRITEBACK_CACHE = 1ull << 16;
inline constexpr uint64_t FUSE_NO_OPEN_SUPPORT = 1ull << 17;
inline constexpr uint64_t FUSE_PARALLEL_DIROPS = 1ull << 18;
inline constexpr uint64_t FUSE_HANDLE_KILLPRIV = 1ull << 19;
inline constexpr uint64_t FUSE_POSIX_ACL = 1ull << 20;
inline constexpr uint64_t FUSE_ABORT_ERROR = 1ull << 21;
inline constexpr uint64_t FUSE_MAX_PAGES = 1ull << 22;
inline constexpr uint64_t FUSE_CACHE_SYMLINKS = 1ull << 23;
inline constexpr uint64_t FUSE_NO_OPENDIR_SUPPORT = 1ull << 24;
inline constexpr uint64_t FUSE_EXPLICIT_INVAL_DATA = 1ull << 25;
inline constexpr uint64_t FUSE_MAP_ALIGNMENT = 1ull << 26;
inline constexpr uint64_t FUSE_SUBMOUNTS = 1ull << 27;
inline constexpr uint64_t FUSE_HANDLE_KILLPRIV_V2 = 1ull << 28;
inline constexpr uint64_t FUSE_SETXATTR_EXT = 1ull << 29;
inline constexpr uint64_t FUSE_INIT_EXT = 1ull << 30;
inline constexpr uint64_t FUSE_INIT_RESERVED = 1ull << 31;
inline constexpr uint64_t FUSE_SECURITY_CTX = 1ull << 32;
inline constexpr uint64_t FUSE_HAS_INODE_DAX = 1ull << 33;
inline constexpr uint64_t FUSE_CREATE_SUPP_GROUP = 1ull << 34;
inline constexpr uint64_t FUSE_HAS_EXPIRE_ONLY = 1ull << 35;
inline constexpr uint64_t FUSE_DIRECT_IO_ALLOW_MMAP = 1ull << 36;
inline constexpr uint64_t FUSE_PASSTHROUGH = 1ull << 37;
inline constexpr uint64_t FUSE_NO_EXPORT_SUPPORT = 1ull << 38;
inline constexpr uint64_t FUSE_HAS_RESEND = 1ull << 39;
inline constexpr uint64_t FUSE_ALLOW_IDMAP = 1ull << 40;
inline constexpr uint64_t FUSE_OVER_IO_URING = 1ull << 41;
inline constexpr uint64_t FUSE_REQUEST_TIMEOUT = 1ull << 42;

// ---- open reply flags (fuse_open_out.open_flags) ---------------------------

inline constexpr uint32_t FOPEN_DIRECT_IO = 1u << 0;
inline constexpr uint32_t FOPEN_KEEP_CACHE = 1u << 1;
inline constexpr uint32_t FOPEN_NONSEEKABLE = 1u << 2;
inline constexpr uint32_t FOPEN_CACHE_DIR = 1u << 3;
inline constexpr uint32_t FOPEN_STREAM = 1u << 4;
inline constexpr uint32_t FOPEN_NOFLUSH = 1u << 5;
inline constexpr uint32_t FOPEN_PARALLEL_DIRECT_WRITES = 1u << 6;  // 7.38; not in libfuse 3.14
inline constexpr uint32_t FOPEN_PASSTHROUGH = 1u << 7;

// fuse_open_in/fuse_create_in.open_flags. The kernel sets it on an open
// with O_TRUNC by a caller without CAP_FSETID, with FUSE_HANDLE_KILLPRIV_V2
// and FUSE_ATOMIC_O_TRUNC (pmemfs refuses the latter: O_TRUNC comes as a
// SETATTR with FATTR_KILL_SUIDGID instead).
inline constexpr uint32_t FUSE_OPEN_KILL_SUIDGID = 1u << 0;

// fuse_write_in.write_flags
inline constexpr uint32_t FUSE_WRITE_CACHE = 1u << 0;      // a writeback-cache page
inline constexpr uint32_t FUSE_WRITE_LOCKOWNER = 1u << 1;  // lock_owner is valid
// Kill suid/sgid: the writer lacks CAP_FSETID. Set on every direct-I/O write
// of such a caller, and on writethrough writes with FUSE_HANDLE_KILLPRIV_V2.
inline constexpr uint32_t FUSE_WRITE_KILL_SUIDGID = 1u << 2;

// fuse_setattr_in.valid (FATTR_*), as far as the layer looks at them.
inline constexpr uint32_t FATTR_MODE = 1u << 0;
inline constexpr uint32_t FATTR_UID = 1u << 1;
inline constexpr uint32_t FATTR_GID = 1u << 2;
inline constexpr uint32_t FATTR_SIZE = 1u << 3;
// With FUSE_HANDLE_KILLPRIV_V2: on a truncate by a caller without
// CAP_FSETID, and on every chown of a non-directory. (libfuse 3.14 passes
// this bit on as FUSE_SET_ATTR_KILL_SUID, by coincidence of numbering.)
inline constexpr uint32_t FATTR_KILL_SUIDGID = 1u << 11;

// fuse_in_header.unique of a request the kernel resends (with FUSE_HAS_RESEND).
inline constexpr uint64_t FUSE_UNIQUE_RESEND = 1ull << 63;

// ---- headers ---------------------------------------------------------------

struct fuse_in_header {
  uint32_t len;     // of the whole request, this header included
  uint32_t opcode;  // fuse_opcode
  uint64_t unique;  // matches the reply to the request
  uint64_t nodeid;  // the inode the request is about (the parent for creation)
  uint32_t uid;
  uint32_t gid;
  uint32_t pid;
  uint16_t total_extlen;  // length of extensions in 8-byte units
  uint16_t padding;
};

struct fuse_out_header {
  uint32_t len;    // of the whole reply, this header included
  int32_t error;   // 0 or a negative errno
  uint64_t unique; // the request's; 0 for a notification
};

// ---- INIT ------------------------------------------------------------------

struct fuse_init_in {
  uint32_t major;
  uint32_t minor;
  uint32_t max_readahead;
  uint32_t flags;   // FUSE_* INIT flags, bits 0-31
  uint32_t flags2;  // bits 32-63, with FUSE_INIT_EXT
  uint32_t unused[11];
};

inline constexpr size_t FUSE_COMPAT_INIT_OUT_SIZE = 8;
inline constexpr size_t FUSE_COMPAT_22_INIT_OUT_SIZE = 24;

struct fuse_init_out {
  uint32_t major;
  uint32_t minor;
  uint32_t max_readahead;
  uint32_t flags;
  uint16_t max_background;
  uint16_t congestion_threshold;
  uint32_t max_write;
  uint32_t time_gran;
  uint16_t max_pages;
  uint16_t map_alignment;
  uint32_t flags2;
  uint32_t max_stack_depth;
  uint16_t request_timeout;
  uint16_t unused[11];
};

// ---- entries, attributes, opens --------------------------------------------

struct fuse_attr {
  uint64_t ino;
  uint64_t size;
  uint64_t blocks;
  uint64_t atime;
  uint64_t mtime;
  uint64_t ctime;
  uint32_t atimensec;
  uint32_t mtimensec;
  uint32_t ctimensec;
  uint32_t mode;
  uint32_t nlink;
  uint32_t uid;
  uint32_t gid;
  uint32_t rdev;
  uint32_t blksize;
  uint32_t flags;  // FUSE_ATTR_*
};

struct fuse_entry_out {
  uint64_t nodeid;      // inode ID
  uint64_t generation;  // nodeid:generation is unique for the fs's lifetime
  uint64_t entry_valid; // cache timeout for the name
  uint64_t attr_valid;  // cache timeout for the attributes
  uint32_t entry_valid_nsec;
  uint32_t attr_valid_nsec;
  fuse_attr attr;
};

// The request body of FUSE_CREATE and FUSE_TMPFILE (a name follows it).
struct fuse_create_in {
  uint32_t flags;       // open(2) flags
  uint32_t mode;        // already masked by the umask unless FUSE_DONT_MASK
  uint32_t umask;
  uint32_t open_flags;  // FUSE_OPEN_*
};

// The request body of FUSE_OPEN.
struct fuse_open_in {
  uint32_t flags;       // open(2) flags
  uint32_t open_flags;  // FUSE_OPEN_*
};

// The request body of FUSE_WRITE (the data follows it).
struct fuse_write_in {
  uint64_t fh;
  uint64_t offset;
  uint32_t size;
  uint32_t write_flags;  // FUSE_WRITE_*
  uint64_t lock_owner;
  uint32_t flags;        // open(2) flags of the file
  uint32_t padding;
};

// The request body of FUSE_SETATTR.
struct fuse_setattr_in {
  uint32_t valid;  // FATTR_*
  uint32_t padding;
  uint64_t fh;
  uint64_t size;
  uint64_t lock_owner;
  uint64_t atime;
  uint64_t mtime;
  uint64_t ctime;
  uint32_t atimensec;
  uint32_t mtimensec;
  uint32_t ctimensec;
  uint32_t mode;
  uint32_t unused4;
  uint32_t uid;
  uint32_t gid;
  uint32_t unused5;
};

struct fuse_open_out {
  uint64_t fh;
  uint32_t open_flags;  // FOPEN_*
  int32_t backing_id;   // with FOPEN_PASSTHROUGH
};

// ---- STATX (7.39): bit for bit the statx(2) ABI ----------------------------

struct fuse_sx_time {
  int64_t tv_sec;
  uint32_t tv_nsec;
  int32_t __reserved;
};

struct fuse_statx {
  uint32_t mask;
  uint32_t blksize;
  uint64_t attributes;
  uint32_t nlink;
  uint32_t uid;
  uint32_t gid;
  uint16_t mode;
  uint16_t __spare0[1];
  uint64_t ino;
  uint64_t size;
  uint64_t blocks;
  uint64_t attributes_mask;
  fuse_sx_time atime;
  fuse_sx_time btime;
  fuse_sx_time ctime;
  fuse_sx_time mtime;
  uint32_t rdev_major;
  uint32_t rdev_minor;
  uint32_t dev_major;
  uint32_t dev_minor;
  uint64_t __spare2[14];
};

struct fuse_statx_in {
  uint32_t getattr_flags;  // FUSE_GETATTR_FH
  uint32_t reserved;
  uint64_t fh;
  uint32_t sx_flags;  // AT_STATX_* sync flags
  uint32_t sx_mask;   // STATX_* wanted
};

struct fuse_statx_out {
  uint64_t attr_valid;  // cache timeout for the attributes
  uint32_t attr_valid_nsec;
  uint32_t flags;
  uint64_t spare[2];
  fuse_statx stat;
};

// ---- FUSE over io_uring (7.42, Linux >= 6.14) -----------------------------
// After INIT (with FUSE_OVER_IO_URING in the reply), the daemon hands the
// kernel ring entries: IORING_OP_URING_CMD on the /dev/fuse fd, in a ring set
// up with IORING_SETUP_SQE128, the command data (fuse_uring_cmd_req) in the
// SQE's 80-byte command area, sqe->addr pointing at two iovecs: a
// fuse_uring_req_header and a payload buffer of at least
// max(8192, max_write, max_pages * page size). There is one queue per
// possible CPU (qid = CPU number); a request goes to the queue of the CPU
// its task runs on, and the kernel switches from /dev/fuse to the ring only
// once every queue has an entry. FORGET and INTERRUPT still come over
// /dev/fuse, and notifications (unique 0) are still written there.

inline constexpr size_t FUSE_URING_IN_OUT_HEADER_SZ = 128;
inline constexpr size_t FUSE_URING_OP_IN_OUT_SZ = 128;

// The command in sqe->cmd_op.
enum fuse_uring_cmd : uint32_t {
  FUSE_IO_URING_CMD_INVALID = 0,
  // Hands an entry to the kernel; it completes when a request is in it.
  FUSE_IO_URING_CMD_REGISTER = 1,
  // Commits the reply in the entry to request commit_id and hands the entry
  // back for the next request, in one command.
  FUSE_IO_URING_CMD_COMMIT_AND_FETCH = 2,
};

// The trailer of fuse_uring_req_header, written by the kernel with a request
// and by the daemon with its reply.
struct fuse_uring_ent_in_out {
  uint64_t flags;
  uint64_t commit_id;   // the request's unique; echoed in fuse_uring_cmd_req
  uint32_t payload_sz;  // bytes used in the payload buffer, either way
  uint32_t padding;
  uint64_t reserved;
};

// iov[0] of a ring entry.
struct fuse_uring_req_header {
  // The request's fuse_in_header; the daemon writes its fuse_out_header here.
  char in_out[FUSE_URING_IN_OUT_HEADER_SZ];
  // The request's first argument (fuse_write_in, fuse_open_in, ...; nothing
  // for LOOKUP, whose name goes in the payload). Its size is what in.len
  // leaves after the header and the payload.
  char op_in[FUSE_URING_OP_IN_OUT_SZ];
  fuse_uring_ent_in_out ring_ent_in_out;
};

// In the command area of the SQE (sqe->cmd).
struct fuse_uring_cmd_req {
  uint64_t flags;
  uint64_t commit_id;  // COMMIT_AND_FETCH: the request answered
  uint16_t qid;        // the queue: the CPU the entry serves
  uint8_t padding[6];
};

static_assert(sizeof(fuse_uring_ent_in_out) == 32);
static_assert(sizeof(fuse_uring_req_header) == 288);
static_assert(offsetof(fuse_uring_req_header, ring_ent_in_out) == 256);
static_assert(sizeof(fuse_uring_cmd_req) == 24);

// The sizes the kernel checks replies against.
static_assert(sizeof(fuse_in_header) == 40);
static_assert(sizeof(fuse_out_header) == 16);
static_assert(sizeof(fuse_init_in) == 64);
static_assert(sizeof(fuse_init_out) == 64);
static_assert(offsetof(fuse_init_out, flags2) == 32);
static_assert(sizeof(fuse_attr) == 88);
static_assert(sizeof(fuse_entry_out) == 128);
static_assert(sizeof(fuse_create_in) == 16);
static_assert(sizeof(fuse_open_out) == 16);
static_assert(sizeof(fuse_open_in) == 8);
static_assert(sizeof(fuse_write_in) == 40);
static_assert(sizeof(fuse_setattr_in) == 88);
static_assert(sizeof(fuse_sx_time) == 16);
static_assert(sizeof(fuse_statx) == 256);
static_assert(sizeof(fuse_statx_in) == 24);
static_assert(sizeof(fuse_statx_out) == 288);

}  // namespace pmemfs::daemon::kabi
