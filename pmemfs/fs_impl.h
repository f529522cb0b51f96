// FsImpl: the Filesystem behind filesystem.h. Internal: the daemon and the
// tools use filesystem.h; unit tests include this for the fault-path seams.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "pmemfs/alloc.h"
#include "pmemfs/dir.h"
#include "pmemfs/fault.h"
#include "pmemfs/filesystem.h"
#include "pmemfs/inode.h"
#include "pmemfs/journal.h"
#include "pmemfs/layout.h"
#include "pmemfs/orphan.h"
#include "pmemfs/pool.h"

namespace pmemfs {

class FsImpl final : public Filesystem {
 public:
  // Mounts a pool opened already: what Filesystem::mount does after opening
  // the source, and how the crash-point tests recover a Pool::durable_view().
  static Result<std::unique_ptr<FsImpl>> mount_pool(std::unique_ptr<Pool> pool);
  FsImpl(std::unique_ptr<Pool> pool, const layout::Superblock& sb);
  ~FsImpl() override;
  // Replays the journal, builds the allocator, finishes orphans.
  Status start(bool was_clean);

  Status unmount() override;
  Result<uint64_t> power_cut() override;
  Status set_read_only(bool read_only) override;
  bool read_only() const override { return read_only_.load(); }
  void set_atime(const AtimeOptions& o) override;
  AtimeOptions atime() const override;
  Result<Attr> lookup(uint64_t parent, std::string_view name) override;
  void forget(uint64_t ino, uint64_t n) override;
  Result<Attr> getattr(uint64_t ino) override;
  Result<Attr> setattr(uint64_t ino, const SetAttr& attr) override;
  Result<Attr> mknod(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                     const Caller& who) override;
  Result<Attr> mkdir(uint64_t parent, std::string_view name, mode_t mode,
                     const Caller& who) override;
  Result<Attr> symlink(uint64_t parent, std::string_view name, std::string_view target,
                       const Caller& who) override;
  Result<std::string> readlink(uint64_t ino) override;
  Result<Attr> tmpfile(uint64_t parent, mode_t mode, const Caller& who, bool linkable) override;
  Result<Attr> link(uint64_t ino, uint64_t new_parent, std::string_view new_name) override;
  Status unlink(uint64_t parent, std::string_view name) override;
  Status rmdir(uint64_t parent, std::string_view name) override;
  using Filesystem::rename;
  Status rename(uint64_t parent, std::string_view name, uint64_t new_parent,
                std::string_view new_name, unsigned flags, const Caller& who) override;
  Status open(uint64_t ino) override;
  void release(uint64_t ino) override;
  Result<size_t> read(uint64_t ino, uint64_t off, size_t size, char* buf) override;
  Result<size_t> read_direct(uint64_t ino, uint64_t off, size_t size,
                             const ReadSink& sink) override;
  Result<size_t> write(uint64_t ino, uint64_t off, const char* buf, size_t size) override;
  Status fsync(uint64_t ino, bool datasync) override;
  Status syncfs() override;
  Status fallocate(uint64_t ino, int mode, uint64_t off, uint64_t len) override;
  Result<uint64_t> lseek(uint64_t ino, uint64_t off, int whence) override;
  Result<size_t> copy_file_range(uint64_t ino_in, uint64_t off_in, uint64_t ino_out,
                                 uint64_t off_out, size_t len) override;
  Status readdir(uint64_t ino, uint64_t offset, const DirFiller& fill) override;
  Status setxattr(uint64_t ino, std::string_view name, std::string_view value,
                  int flags) override;
  Result<std::string> getxattr(uint64_t ino, std::string_view name) override;
  Result<std::vector<std::string>> listxattr(uint64_t ino, const Caller& who) override;
  Status removexattr(uint64_t ino, std::string_view name) override;
  Result<StatFs> statfs() override;
  Stats stats() const override;
  using Filesystem::map;
  Result<std::vector<ExtentInfo>> map(uint64_t ino, uint64_t from_offset,
                                      size_t max_entries) override;
  Result<UsageSummary> usage() override;
  Result<DaxEntry> dax_fault(uint64_t ino, uint64_t page, bool write) override;
  void set_dax_revoker(DaxRevoker* r) override { fc_->revoker = r; }
  void note_kernel_cache(uint64_t ino) override;
  bool take_kernel_cache_note(uint64_t ino) override;
  Result<std::string> usage_cells(uint64_t from, size_t max) override;

  FaultTestHooks& test_hooks() { return hooks_; }
  // Seams for the in-process fault-path benchmarks.
  Result<std::shared_ptr<Inode>> inode_for_tests(uint64_t ino) { return get(ino); }
  FaultContext& fault_context() { return *fc_; }
  Allocator& allocator() { return *alloc_; }
  Journal& journal_for_tests() { return *journal_; }
  OrphanTable& orphans_for_tests() { return *orphans_; }
  Pool& pool() { return *pool_; }
  InodeTable& inodes_for_tests() { return *inodes_; }

 private:
  using InodeRef = std::shared_ptr<Inode>;
  Result<InodeRef> get(uint64_t ino) { return inodes_->get(ino); }
  // Client mappings of pages [first, last] of f taken back (dax.h), if any
  // client was ever handed one. REQUIRES: f.lock exclusive.
  void revoke_locked(Inode& f, uint64_t first, uint64_t last);
  // Every client mapping of every file (fs_dax.cc), before a switch to
  // read-only. REQUIRES no inode lock held.
  void revoke_all_direct_mappings();
  // The cells (data-area 2 MiB groups) that are one 2 MiB extent of a file,
  // sorted: from every regular file's map.
  std::vector<uint64_t> huge_cells();
  // The directory index, built on first use. REQUIRES: dir.lock held.
  Result<Directory*> dir_of(Inode& dir);
  // REQUIRES: inode.lock held.
  Attr attr_of(Inode& inode);
  Result<Attr> make_node(uint64_t parent, std::string_view name, mode_t mode, dev_t rdev,
                         const Caller& who, std::string_view symlink_target);
  // Takes a tmpfile that gets its first name off the orphan list, in txn.
  // REQUIRES: inode.lock exclusive.
  void unlist_tmpfile_locked(Txn& txn, Inode& inode);
  // Frees what of an unlinked inode nothing can reach any more: its data
  // once no handle is open, the inode once the kernel forgot it too
  // (fs_lifetime.cc). unlinked_now: called by the unlink itself.
  // REQUIRES: no lock held.
  void reclaim_if_unused(const InodeRef& inode, bool unlinked_now = false);
  // Frees every block and the inode itself, in as many Txns as it takes.
  // REQUIRES: inode.lock exclusive.
  Status destroy_locked(Inode& inode);
  // Frees the data blocks of an unlinked regular file, keeping its record.
  // REQUIRES: inode.lock exclusive, nlink 0, no handle open.
  Status free_data_locked(Inode& inode);
  // REQUIRES: inode.lock exclusive.
  Status truncate_locked(Inode& inode, uint64_t size);
  // Unmaps [first_block, end_block), in as many Txns as it takes; the first
  // Txn also carries `first` (e.g. the size change). REQUIRES: lock exclusive.
  Status unmap_locked(Inode& inode, uint64_t first_block, uint64_t end_block, Txn first);
  // Zeroes [off, off+len) of allocated blocks in place, durably.
  // REQUIRES: inode.lock exclusive.
  void zero_mapped_locked(Inode& inode, uint64_t off, uint64_t len);
  // Writes durably through the fault path; done counts the bytes written,
  // also when it fails part way. REQUIRES: inode.lock (exclusive unless the
  // range is inside the file).
  Status write_locked(Inode& inode, uint64_t off, const char* buf, size_t size, bool exclusive,
                      size_t& done);
  // Drops the mapping entries overlapping [first, last] (file pages) and
  // flushes whatever of theirs was dirty. REQUIRES: inode.lock exclusive.
  void evict_locked(Inode& inode, uint64_t first, uint64_t last);
  // Flushes the dirty marks of stores made through mapping entries (none
  // from write(), which persists its own). REQUIRES: inode.lock held.
  Status flush_data(Inode& inode);
  // Flushes and drains ranges, counted as fsync_bytes_flushed.
  void flush_dirty(const std::vector<DirtyRange>& ranges);
  // The inode's xattrs, read on first use. REQUIRES: inode.lock held.
  Result<std::vector<XattrEntry>*> xattrs_of(Inode& inode);
  // Frees every xattr run into txn. REQUIRES: inode.lock exclusive.
  void free_xattrs_locked(Txn& txn, Inode& inode);
  // Queue setting (flags: XATTR_CREATE / XATTR_REPLACE) or removing one
  // xattr into txn, and change the DRAM chain at once (rec.xattr_head, which
  // the caller writes, and the list); a failed call changes nothing. Several
  // may share a Txn. REQUIRES: inode.lock exclusive until txn is done.
  Status stage_setxattr_locked(Txn& txn, Inode& inode, std::string_view name,
                               std::string_view value, int flags);
  Status stage_removexattr_locked(Txn& txn, Inode& inode, std::string_view name);
  // If txn is dropped, puts the DRAM chain of an inode that had xattr_head
  // `head` before the stage_* calls back as it is on media.
  void restore_xattrs_on_abort(Txn& txn, const InodeRef& inode, uint64_t head);
  // POSIX ACLs (fs_acl.cc, rules in acl.h). setxattr of an ACL name: checks
  // it, keeps the mode in step (an access ACL the mode says all of is not
  // stored). REQUIRES: inode.lock exclusive.
  Status set_acl_locked(Txn& txn, Inode& inode, std::string_view name, std::string_view value,
                        int flags);
  // A new node's mode and ACLs from dir's default ACL, or the umask without
  // one (posix_acl_create). REQUIRES: both locks exclusive, child new.
  Status inherit_acls_locked(Txn& txn, Inode& dir, Inode& child, mode_t umask);
  // chmod: the access ACL's mask (or group::) follows the new mode.
  // REQUIRES: inode.lock exclusive; rec.mode is the new mode.
  Status chmod_acl_locked(Txn& txn, const InodeRef& inode);
  Status finish_orphans();
  // Writes the state record's clean flag (1: nothing to recover).
  Status mark_clean(bool clean);
  // fsync's work, also while read-only: f's dirty data and lazily kept
  // times made durable (times only unless datasync). REQUIRES: no lock held.
  Status persist(Inode& f, bool datasync);
  // syncfs's work: persist() of every loaded inode.
  Status persist_all();
  // After a read or a listing of f: its access time per the atime options,
  // in memory (pending_atime). REQUIRES: f.lock held, shared is enough.
  void touch_atime(Inode& f);
  // A version 1 pool becomes version 2 once its orphans are finished.
  Status upgrade_format();
  Status allocate_range_locked(Inode& inode, uint64_t off, uint64_t len);
  // The last handle closed: frees what of a sequential writer's last 2 MiB
  // extent lies past EOF (fault.h, WriteIntent), as XFS trims its
  // speculative preallocation on release. Takes inode.lock exclusive.
  void trim_stream_tail(Inode& inode);
  // The holes of [off, end) (bytes) as [first, end) file block ranges.
  // REQUIRES: inode.lock held.
  std::vector<std::pair<uint64_t, uint64_t>> holes_in(const Inode& inode, uint64_t off,
                                                      uint64_t end) const;

  std::unique_ptr<Pool> pool_;
  layout::Superblock sb_;
  std::unique_ptr<Journal> journal_;
  std::unique_ptr<Allocator> alloc_;
  std::unique_ptr<InodeTable> inodes_;
  std::unique_ptr<OrphanTable> orphans_;
  FaultCounters counters_;
  FaultTestHooks hooks_;
  std::unique_ptr<FaultContext> fc_;
  std::mutex disabled_upgrade_mu_;  // serialises writers in the test-only mode
  // Serialises renames that move between directories (the VFS's
  // s_vfs_rename_mutex), so directory lock order can follow ancestry.
  std::mutex rename_mu_;
  std::mutex unmount_mu_;  // also serialises set_read_only
  bool mounted_ = false;
  // set_read_only(true) was the last switch: nothing may be written.
  std::atomic<bool> read_only_{false};
  std::atomic<uint32_t> atime_{0x100};  // AtimeOptions, packed (atime.cc); relatime
};

}  // namespace pmemfs
