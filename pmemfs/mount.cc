// Mount and unmount: journal replay, allocator, orphans, the clean flag.
#include <cstring>

#include <spdlog/spdlog.h>

#include "pmemfs/crc32c.h"
#include "pmemfs/fs_impl.h"
#include "pmemfs/superblock.h"

namespace pmemfs {

using layout::StateRecord;

Result<std::unique_ptr<Filesystem>> Filesystem::mount(const MountOptions& o) {
  PoolOpenOptions po;
  po.lock_wait_seconds = o.lock_wait_seconds;
  po.powerfail = o.powerfail;
  po.persist = o.persist;
  auto pool = Pool::open(o.source, po);
  if (!pool.ok()) return err(pool.error());
  auto fs = FsImpl::mount_pool(std::move(*pool));
  if (!fs.ok()) return err(fs.error());
  (*fs)->set_atime(o.atime);
  // Read-only from the start is the switch made right away: the pool stays
  // writable underneath, so that a remount can make it read-write again.
  if (o.read_only) PMEMFS_TRY((*fs)->set_read_only(true));
  return std::unique_ptr<Filesystem>(std::move(*fs));
}

Result<std::unique_ptr<FsImpl>> FsImpl::mount_pool(std::unique_ptr<Pool> pool) {
  auto sb = read_superblock(*pool);
  if (!sb.ok()) return err(sb.error());
  const auto* st = pool->at<StateRecord>(sb->state_off);
  bool was_clean = st->clean == 1 && st->checksum == crc32c(st, offsetof(StateRecord, checksum));
  auto fs = std::make_unique<FsImpl>(std::move(pool), *sb);
  PMEMFS_TRY(fs->start(was_clean));
  return fs;
}

FsImpl::FsImpl(std::unique_ptr<Pool> pool, const layout::Superblock& sb)
    : pool_(std::move(pool)), sb_(sb) {}

FsImpl::~FsImpl() {
  if (mounted_) (void)unmount();
}

Status FsImpl::start(bool was_clean) {
  journal_ = std::make_unique<Journal>(*pool_, sb_.journal_off, sb_.journal_lanes, sb_.lane_size);
  auto replayed = journal_->replay();
  if (!replayed.ok()) return err(replayed.error());
  if (!was_clean)
    spdlog::info("{}: was not unmounted cleanly; replayed {} journal transactions", pool_->path(),
                 *replayed);
  alloc_ = std::make_unique<Allocator>(*pool_, sb_);
  inodes_ = std::make_unique<InodeTable>(*pool_, *alloc_, sb_);
  orphans_ = std::make_unique<OrphanTable>(*pool_, *alloc_, *journal_, sb_);
  PMEMFS_TRY(orphans_->load());
  fc_ = std::make_unique<FaultContext>(
      FaultContext{*pool_, *journal_, *alloc_, *inodes_, counters_, hooks_});

  StateRecord st;
  std::memcpy(&st, pool_->at<StateRecord>(sb_.state_off), sizeof(st));
  st.clean = 0;
  st.mount_count += 1;
  st.last_mount_ns = now_ns();
  seal(st);
  inodes_->set_generation_base(st.mount_count);
  Txn txn = journal_->begin();
  txn.write_record(sb_.state_off, st);
  PMEMFS_TRY(txn.commit());

  auto root = get(layout::kRootIno);
  if (!root.ok() || !(*root)->is_dir()) {
    spdlog::error("{}: the root directory is damaged (run fsck.pmemfs)", pool_->path());
    return err(EUCLEAN);
  }
  PMEMFS_TRY(finish_orphans());
  PMEMFS_TRY(orphans_->shrink());
  PMEMFS_TRY(upgrade_format());
  mounted_ = true;
  return {};
}

Status FsImpl::upgrade_format() {
  if (layout::has_orphan_chain(sb_)) return {};
  // Version 1 -> 2 changes only the meaning of the orphan table's last u64:
  // an ino there, a chain link (0: none) from version 2 on. With every
  // orphan finished it is 0, which both versions read alike, so the
  // superblocks can be rewritten in any order a crash may cut: the copy,
  // then the primary, as mkfs does.
  if (orphans_->size() != 0 || *pool_->at<uint64_t>(layout::orphan_link_off(sb_)) != 0) {
    spdlog::warn("{}: format version {} kept: {} orphans are still listed", pool_->path(),
                 sb_.version, orphans_->size());
    return {};
  }
  layout::Superblock up = sb_;
  up.version = layout::kFormatVersionOrphanChain;
  seal(up);
  pool_->memcpy_persist(pool_->at<char>(layout::kBlockSize), &up, sizeof(up));
  pool_->memcpy_persist(pool_->base(), &up, sizeof(up));
  spdlog::info("{}: upgraded from format version {} to {} (orphan list without a fixed size)",
               pool_->path(), sb_.version, up.version);
  sb_ = up;
  orphans_ = std::make_unique<OrphanTable>(*pool_, *alloc_, *journal_, sb_);
  return orphans_->load();
}

Status FsImpl::finish_orphans() {
  for (uint64_t ino : orphans_->list()) {
    auto inode = get(ino);
    if (!inode.ok()) {
      // A stale slot (the inode is already free): just clear it.
      Txn txn = journal_->begin();
      orphans_->remove(txn, ino);
      PMEMFS_TRY(txn.commit());
      continue;
    }
    std::unique_lock<InodeLock> lk((*inode)->lock);
    if ((*inode)->rec.nlink == 0) {
      PMEMFS_TRY(destroy_locked(**inode));
    } else {
      PMEMFS_TRY(truncate_locked(**inode, (*inode)->rec.size));
    }
  }
  return {};
}

Status FsImpl::unmount() {
  std::lock_guard<std::mutex> g(unmount_mu_);
  if (!mounted_) return {};
  if (pool_->failed()) {
    // Part of the pool reads as zeros now (bus_guard.h): marking it clean
    // would tell the next mount and fsck that all is well.
    mounted_ = false;
    spdlog::error("{}: not marked clean: its backing store failed while mounted; run fsck.pmemfs "
                  "{} before the next mount",
                  pool_->path(), pool_->path());
    return err(EIO);
  }
  if (read_only_.load()) {
    // Clean since the switch, and nothing may be written: orphans stay for
    // the next mount to free.
    mounted_ = false;
    return {};
  }
  PMEMFS_TRY(syncfs());
  // Nothing references anything any more: unlinked files die now.
  for (uint64_t ino : orphans_->list()) {
    auto inode = get(ino);
    if (!inode.ok()) continue;
    std::unique_lock<InodeLock> lk((*inode)->lock);
    if ((*inode)->rec.nlink == 0) PMEMFS_TRY(destroy_locked(**inode));
  }
  PMEMFS_TRY(orphans_->shrink());
  PMEMFS_TRY(mark_clean(true));
  mounted_ = false;
  return {};
}

Status FsImpl::mark_clean(bool clean) {
  StateRecord st;
  std::memcpy(&st, pool_->at<StateRecord>(sb_.state_off), sizeof(st));
  st.clean = clean ? 1 : 0;
  seal(st);
  Txn txn = journal_->begin();
  txn.write_record(sb_.state_off, st);
  return txn.commit();
}

Status FsImpl::set_read_only(bool ro) {
  std::lock_guard<std::mutex> g(unmount_mu_);
  if (!mounted_) return err(EINVAL);
  if (ro == read_only_.load()) return {};
  if (pool_->failed()) {
    spdlog::error("{}: cannot switch to read-{}: its backing store failed", pool_->path(),
                  ro ? "only" : "write");
    return err(EIO);
  }
  if (ro) {
    // First stop new access times (touch_atime checks the flag), then
    // persist what is pending, then say so on the media: a crash from here
    // on finds a clean pool. Unlinked files still open keep their orphan
    // slot, which the next mount (or the switch back) frees.
    read_only_.store(true);
    // Then no client store may follow: their mappings go before the persist.
    revoke_all_direct_mappings();
    Status s = persist_all();
    if (s.ok()) s = mark_clean(true);
    // persist=cpu: a read-only pool is one a host crash cannot hurt either.
    if (s.ok()) s = pool_->write_back();
    if (!s.ok()) {
      read_only_.store(false);
      spdlog::error("{}: cannot switch to read-only: {}", pool_->path(), std::strerror(s.error()));
      return s;
    }
    spdlog::info("{}: read-only; the pool is clean", pool_->path());
    return {};
  }
  PMEMFS_TRY(mark_clean(false));
  read_only_.store(false);
  // What the kernel let go of while nothing could be freed.
  for (uint64_t ino : orphans_->list()) {
    auto inode = get(ino);
    if (inode.ok()) reclaim_if_unused(*inode);
  }
  spdlog::info("{}: read-write", pool_->path());
  return {};
}

Result<uint64_t> FsImpl::power_cut() {
  PowerFailSim* sim = pool_->powerfail();
  if (!sim) {
    spdlog::error("{}: power_cut needs a mount with powerfail_sim", pool_->path());
    return err(EINVAL);
  }
  const uint64_t survived = sim->cut();
  spdlog::warn("{}: power cut; {} unpersisted cache lines survived", pool_->path(), survived);
  return survived;
}

}  // namespace pmemfs
