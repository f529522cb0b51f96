// The public face of the pmemfs library: POSIX-shaped operations on inode
// numbers, errno results, thread safe. The FUSE daemon calls these one to one.
// Permission checks are the kernel's (default_permissions); the library checks
// only what the VFS cannot (names, types, emptiness, space).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "pmemfs/dax.h"
#include "pmemfs/json_text.h"
#include "pmemfs/persist_mode.h"
#include "pmemfs/powerfail.h"
#include "pmemfs/result.h"
#include "pmemfs/usage.h"

namespace pmemfs {

struct Attr {
  uint64_t ino = 0;
  uint64_t generation = 0;
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint32_t nlink = 0;
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte units allocated, as st_blocks
  uint64_t rdev = 0;
  struct timespec atime {}, mtime {}, ctime {}, btime {};
  // Has extended attributes (ACLs included): where security.capability can be.
  bool has_xattrs = false;
  void to_stat(struct stat* st) const;
};

// Who asks: new nodes belong to the caller (FUSE request context).
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  mode_t umask = 0;  // applied to the mode of new nodes, unless the parent has a default ACL
  // Holds CAP_SYS_ADMIN: listxattr shows it trusted.* names (the kernel
  // already keeps their values from everyone else).
  bool cap_sys_admin = false;
};

// setattr: fields applied where the bit is set.
struct SetAttr {
  enum : uint32_t {
    kMode = 1, kUid = 2, kGid = 4, kSize = 8,
    kAtime = 16, kMtime = 32, kAtimeNow = 64, kMtimeNow = 128, kCtime = 256,
  };
  uint32_t valid = 0;
  uint32_t mode = 0;
  uint32_t uid = 0, gid = 0;
  uint64_t size = 0;
  struct timespec atime {}, mtime {}, ctime {};
};

struct DirEntry {
  std::string name;
  uint64_t ino;
  uint32_t type;    // DT_*
  uint64_t offset;  // cookie: pass to readdir to continue after this entry
};

struct StatFs {
  uint64_t block_size, blocks, blocks_free;
  uint64_t inodes, inodes_free;
  uint32_t name_max;
};

struct ExtentInfo {
  uint64_t file_offset, length, pool_offset;
  bool huge;  // a 2 MiB extent aligned in file and pool
};

// Fault-path counters (see mapping.h), per mount.
struct Stats {
  uint64_t hole_faults = 0, pte_faults = 0, pmd_faults = 0;
  uint64_t upgrades = 0, retries = 0, hole_evictions = 0;
  uint64_t fsync_calls = 0, fsync_bytes_flushed = 0;
  uint64_t journal_commits = 0;
  uint64_t persists = 0;  // the pool's drains (persist barriers), commits' and data's
  // The data area in 4 KiB blocks: all of it, free, and how many 2 MiB
  // aligned regions are free whole (what a PMD extent can still take).
  uint64_t data_blocks = 0, free_blocks = 0, free_huge_regions = 0;
  // How persist points reach the media (Pool::persist_method): "pmem",
  // "cpu", "msync", "simulated" or "memory".
  const char* persistence = "";
  // {"hole_faults":0,...,"persistence":"cpu"}: the members above, in this
  // order (pmemfs.8, "JSON OUTPUT").
  Json to_json() const;
};

// When reads and directory listings update the access time: Linux's atime
// mount options. The time is kept in memory and written with the inode's
// next change, fsync(2), syncfs(2), when the kernel forgets the inode, or at
// unmount: never a journal commit per read (as ext4's lazytime).
enum class AtimeMode {
  kRelative,  // relatime: when atime is not after mtime or ctime, or a day old
  kStrict,    // strictatime: on every read
  kNever,     // noatime
};
struct AtimeOptions {
  AtimeMode mode = AtimeMode::kRelative;
  bool dirs = true;  // false: nodiratime (directories never)
};
// Whether a read at now (ns since the epoch) updates the access time of a
// node with attributes a under o.
bool atime_update_due(const AtimeOptions& o, const Attr& a, int64_t now);

struct MountOptions {
  std::string source;          // /dev/daxX.Y or a pool file
  bool read_only = false;      // mounted as set_read_only(true) leaves it
  AtimeOptions atime;
  int lock_wait_seconds = 0;   // wait this long for another process to release the pool
  PowerFailOptions powerfail;  // simulate power failure (powerfail.h); pool files only
  // How a pool file without DAX is persisted (pool.h); ignored for DAX.
  PersistMode persist = PersistMode::kCpu;
};

struct FormatOptions {
  std::string source;
  uint64_t size = 0;            // create the file with this size if it does not exist
  std::string label;
  uint64_t bytes_per_inode = 0; // 0 = default
  bool force = false;           // overwrite an existing pmemfs
  // Progress for mkfs (tools/mkfs): stage 1 allocates the pool file (bytes),
  // stage 2 writes the metadata (steps). Called as each advances.
  std::function<void(int stage, uint64_t done, uint64_t total)> progress;
};

struct FormatSummary {
  uint64_t pool_size, data_blocks, inode_count, journal_lanes, data_off;
  std::string granularity;
};

// copy_file_range / fallocate modes are Linux's (FALLOC_FL_*), lseek whence is
// SEEK_SET/CUR/END/DATA/HOLE.
class Filesystem {
 public:
  static Result<FormatSummary> format(const FormatOptions& opts);
  static Result<std::unique_ptr<Filesystem>> mount(const MountOptions& opts);
  virtual ~Filesystem() = default;

  // Marks the pool clean and releases it; also done by the destructor.
  virtual Status unmount() = 0;
  // Under MountOptions::powerfail: the power fails now. Nothing reaches the
  // durable image afterwards (unmount and the destructor change only the
  // working copy, which is then lost). Returns how many unpersisted cache
  // lines the eviction let survive. EINVAL without powerfail.
  virtual Result<uint64_t> power_cut() = 0;

  // Read-only and back, without unmounting (mount -o remount,ro / rw). To
  // read-only: makes everything durable and marks the pool clean, so that a
  // crash while read-only needs no recovery; from then on the library writes
  // nothing to the pool: reads update no access time, and unlinked files are
  // freed only after the switch back (or by the next mount). Back: marks the
  // pool in use again and frees what became unused meanwhile. Idempotent.
  // REQUIRES: no modifying call (write, mknod, setattr, ...) is in flight or
  // made while read-only; the kernel (MS_RDONLY) and the daemon's gate
  // (fuse/read_only.h) refuse those with EROFS before they get here.
  virtual Status set_read_only(bool read_only) = 0;
  virtual bool read_only() const = 0;
  // The access-time policy from now on (mount and remount options).
  virtual void set_atime(const AtimeOptions& o) = 0;
  virtual AtimeOptions atime() const = 0;
  // Whether the next read of ino (or listing, for a directory) would update
  // its access time: never while read-only. The daemon then lets that read
  // reach it instead of the kernel's page cache (fuse/ops_internal.h).
  bool atime_due(uint64_t ino);

  virtual Result<Attr> lookup(uint64_t parent, std::string_view name) = 0;
  // Kernel reference counting: lookup/create results count one reference;
  // forget drops n. Unlinked inodes are freed when unreferenced and closed.
  virtual void forget(uint64_t ino, uint64_t n) = 0;
  virtual Result<Attr> getattr(uint64_t ino) = 0;
  virtual Result<Attr> setattr(uint64_t ino, const SetAttr& attr) = 0;

  virtual Result<Attr> mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                             const Caller& who) = 0;
  virtual Result<Attr> mkdir(uint64_t parent, std::string_view name, mode_t mode,
                             const Caller& who) = 0;
  virtual Result<Attr> symlink(uint64_t parent, std::string_view name, std::string_view target,
                               const Caller& who) = 0;
  virtual Result<std::string> readlink(uint64_t ino) = 0;
  // open(parent, O_TMPFILE): a regular file in no directory (nlink 0), open
  // already: it counts one kernel reference and one open handle. It is on
  // the orphan list from the transaction that creates it, so no crash leaves
  // it behind, and it is freed at its last release unless link() gave it a
  // name -- which only a linkable one (not opened with O_EXCL) may get.
  virtual Result<Attr> tmpfile(uint64_t parent, mode_t mode, const Caller& who,
                               bool linkable) = 0;
  // An inode without a name (nlink 0) gets one only if it is a linkable
  // tmpfile; anything else unlinked is ENOENT, as on ext4.
  virtual Result<Attr> link(uint64_t ino, uint64_t new_parent, std::string_view new_name) = 0;
  virtual Status unlink(uint64_t parent, std::string_view name) = 0;
  virtual Status rmdir(uint64_t parent, std::string_view name) = 0;
  // flags: 0, RENAME_NOREPLACE or RENAME_EXCHANGE; RENAME_WHITEOUT (alone or
  // with RENAME_NOREPLACE) leaves a whiteout, a character device 0:0 owned by
  // who, at the source name in the same transaction (for overlayfs).
  virtual Status rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                        std::string_view new_name, unsigned flags, const Caller& who) = 0;
  Status rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned flags) {
    return rename(parent, name, new_parent, new_name, flags, Caller{});
  }

  // Open files keep unlinked inodes alive until release.
  virtual Status open(uint64_t ino) = 0;
  virtual void release(uint64_t ino) = 0;

  // Copies file bytes into buf; short at EOF.
  virtual Result<size_t> read(uint64_t ino, uint64_t off, size_t size, char* buf) = 0;
  // Zero-copy read: calls sink with pointers into the pool mapping (and the
  // shared zero page for holes) while the inode is locked against truncation.
  using ReadSink = std::function<int(const struct iovec* iov, int count)>;
  virtual Result<size_t> read_direct(uint64_t ino, uint64_t off, size_t size,
                                     const ReadSink& sink) = 0;
  virtual Result<size_t> write(uint64_t ino, uint64_t off, const char* buf, size_t size) = 0;
  virtual Status fsync(uint64_t ino, bool datasync) = 0;
  virtual Status syncfs() = 0;
  virtual Status fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len) = 0;
  virtual Result<uint64_t> lseek(uint64_t ino, uint64_t off, int whence) = 0;
  virtual Result<size_t> copy_file_range(uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
                                         uint64_t off_out, size_t len) = 0;

  // Directory listing from a cookie (0 = start; "." and ".." come first).
  // fill returns false when the caller's buffer is full.
  using DirFiller = std::function<bool(const DirEntry& e)>;
  virtual Status readdir(uint64_t ino, uint64_t offset, const DirFiller& fill) = 0;

  // flags: XATTR_CREATE or XATTR_REPLACE.
  virtual Status setxattr(uint64_t ino, std::string_view name, std::string_view value,
                          int flags) = 0;
  virtual Result<std::string> getxattr(uint64_t ino, std::string_view name) = 0;
  // The names who may see: trusted.* only with who.cap_sys_admin, as on ext4
  // and tmpfs.
  virtual Result<std::vector<std::string>> listxattr(uint64_t ino, const Caller& who) = 0;
  virtual Status removexattr(uint64_t ino, std::string_view name) = 0;

  virtual Result<StatFs> statfs() = 0;
  virtual Stats stats() const = 0;
  // The file's extents as the fault path maps them (2 MiB pieces and runs of
  // 4 KiB blocks, neighbours contiguous in file and pool merged), from the
  // one that holds or follows byte from_offset, at most max_entries. Each
  // entry is whole, so the next page starts at the last one's end.
  virtual Result<std::vector<ExtentInfo>> map(uint64_t ino, uint64_t from_offset,
                                              size_t max_entries) = 0;
  Result<std::vector<ExtentInfo>> map(uint64_t ino) { return map(ino, 0, SIZE_MAX); }
  // The data area as 2 MiB cells (usage.h): how many of each class, and the
  // cells [from, from + max) as letters. Both read every file's extents (a
  // cell full as one 2 MiB extent is told from one full of smaller pieces
  // only by them): the cost of a listing of every inode in use.
  virtual Result<UsageSummary> usage() = 0;

  // Direct access (dax.h): the entry covering file page `page` of regular
  // file ino, for a client process's read or write fault, through the fault
  // path (a write to a hole allocates: a PMD when the page's whole aligned
  // 2 MiB range is a hole inside EOF, else a PTE). ENXIO for a page at or
  // past EOF (the client raises SIGBUS there, as the kernel does).
  virtual Result<DaxEntry> dax_fault(uint64_t ino, uint64_t page, bool write) = 0;
  // Who takes client mappings back (dax.h); nullptr: no client exists. Set
  // before the first dax_fault, never changed while requests run.
  virtual void set_dax_revoker(DaxRevoker* r) = 0;
  virtual Result<std::string> usage_cells(uint64_t from, size_t max) = 0;

  // Whether the kernel may cache pages of a file above the library: the
  // daemon's business, kept with the inode because that is where per-file
  // state lives (and lives as long as the kernel's inode can). The daemon
  // notes a file before it serves anything that can leave pages of it in the
  // kernel's cache (a READ, a buffered WRITE), so that an O_DIRECT write,
  // which the kernel does not follow with a drop of the pages a concurrent
  // buffered read cached, knows whether it must ask for that drop:
  // take_kernel_cache_note clears the note and says whether there was one.
  // Both are sequentially consistent (a note and the reader's load of the
  // data must not pass each other). ENOENT etc.: no note, nothing to take.
  virtual void note_kernel_cache(uint64_t ino) = 0;
  virtual bool take_kernel_cache_note(uint64_t ino) = 0;
};

}  // namespace pmemfs
