// Filesystem::format: lays out a fresh pmemfs (mkfs.pmemfs).
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include <spdlog/spdlog.h>

#include "pmemfs/bus_guard.h"
#include "pmemfs/crc32c.h"
#include "pmemfs/filesystem.h"
#include "pmemfs/inode.h"
#include "pmemfs/layout.h"
#include "pmemfs/pool.h"
#include "pmemfs/superblock.h"

namespace pmemfs {

using namespace layout;

namespace {

constexpr uint64_t kOrphanBlocks = 4;

Result<Superblock> plan(uint64_t pool_size, const FormatOptions& o) {
  Superblock sb{};
  std::memcpy(sb.magic, kMagic, sizeof(kMagic));
  sb.version = kFormatVersion;
  sb.block_size = kBlockSize;
  sb.pool_size = pool_size;
  std::random_device rd;
  for (auto& b : sb.uuid) b = static_cast<uint8_t>(rd());
  std::strncpy(sb.label, o.label.c_str(), sizeof(sb.label) - 1);
  sb.state_off = 2 * kBlockSize;
  sb.orphan_off = 3 * kBlockSize;
  sb.orphan_slots = kOrphanBlocks * kBlockSize / sizeof(uint64_t);
  sb.journal_off = sb.orphan_off + kOrphanBlocks * kBlockSize;
  sb.journal_lanes = kDefaultLanes;
  sb.lane_size = kDefaultLaneSize;
  const uint64_t bpi = o.bytes_per_inode ? o.bytes_per_inode : kDefaultBytesPerInode;
  sb.inode_count = std::max<uint64_t>(64, pool_size / bpi);
  sb.inode_bitmap_off = sb.journal_off + uint64_t{sb.journal_lanes} * sb.lane_size;
  sb.inode_table_off = sb.inode_bitmap_off + round_up((sb.inode_count + 7) / 8, kBlockSize);
  sb.block_bitmap_off = sb.inode_table_off + round_up(sb.inode_count * sizeof(InodeRecord), kBlockSize);
  const uint64_t bitmap_bytes = round_up((pool_size / kBlockSize + 7) / 8, kBlockSize);
  sb.data_off = round_up(sb.block_bitmap_off + bitmap_bytes, kHugeSize);
  if (sb.data_off + 64 * kBlockSize > pool_size) {
    spdlog::error("{}: pool of {} bytes leaves no room for data; make it larger or use a larger -i",
                  o.source, pool_size);
    return err(ENOSPC);
  }
  sb.data_blocks = (pool_size - sb.data_off) / kBlockSize;
  sb.mkfs_time_ns = now_ns();
  seal(sb);
  return sb;
}

void set_bit(Pool& pool, uint64_t bitmap_off, uint64_t index) {
  auto* w = pool.at<uint64_t>(bitmap_off + index / 64 * 8);
  *w |= uint64_t{1} << (index % 64);
  pool.persist(w, sizeof(*w));
}

}  // namespace

Result<FormatSummary> Filesystem::format(const FormatOptions& o) {
  PoolOpenOptions po;
  po.create_size = o.size;
  if (o.progress) po.allocate_progress = [&](uint64_t done, uint64_t total) { o.progress(1, done, total); };
  if (o.size > 0 && o.size < kMinPoolSize) {
    spdlog::error("{}: size {} is below the minimum of {} MiB", o.source, o.size, kMinPoolSize >> 20);
    return err(EINVAL);
  }
  auto opened = Pool::open(o.source, po);
  if (!opened.ok()) return err(opened.error());
  Pool& pool = **opened;
  // A pool file this call created is removed again when it fails: no
  // half-made pool is left behind.
  const auto failed = [&](int e) {
    if (pool.created()) ::unlink(o.source.c_str());
    return err(e);
  };
  const auto* old = pool.at<Superblock>(0);
  if (!o.force && std::memcmp(old->magic, kMagic, sizeof(kMagic)) == 0) {
    std::string label(old->label, strnlen(old->label, sizeof(old->label)));
    spdlog::error("{}: contains a pmemfs filesystem{}; use -f to overwrite it", o.source,
                  label.empty() ? "" : " (label " + label + ")");
    return err(EEXIST);
  }
  auto planned = plan(pool.size(), o);
  if (!planned.ok()) return failed(planned.error());
  Superblock sb = *planned;

  // Stage 2 of the progress: clearing what an old format left, then the new
  // records.
  constexpr uint64_t kSteps = 4;
  const auto step = [&](uint64_t done) {
    if (o.progress) o.progress(2, done, kSteps);
  };
  step(0);
  // Invalidate the old superblocks first: a crash mid-format must not leave a
  // pool that looks formatted.
  pool.memset_persist(pool.base(), 0, 2 * kBlockSize);
  // Bitmaps, state, orphan table and journal must read as zero/free. The
  // inode table need not: records whose bitmap bit is clear are ignored.
  if (!pool.created()) {
    pool.memset_persist(pool.at<char>(sb.state_off), 0, sb.journal_off - sb.state_off, true);
    for (uint32_t lane = 0; lane < sb.journal_lanes; ++lane)
      pool.memset_persist(pool.at<char>(sb.journal_off + lane * sb.lane_size), 0,
                          sizeof(LaneHeader), true);
    step(1);
    pool.memset_persist(pool.at<char>(sb.inode_bitmap_off), 0,
                        sb.inode_table_off - sb.inode_bitmap_off, true);
    step(2);
    pool.memset_persist(pool.at<char>(sb.block_bitmap_off), 0,
                        sb.data_off - sb.block_bitmap_off, true);
    pool.drain();
  }
  step(3);
  for (uint32_t lane = 0; lane < sb.journal_lanes; ++lane) {
    LaneHeader h{};
    h.checksum = crc32c(&h, offsetof(LaneHeader, checksum));
    pool.memcpy_persist(pool.at<char>(sb.journal_off + lane * sb.lane_size), &h, sizeof(h), true);
  }

  InodeRecord root{};
  root.mode = S_IFDIR | 0755;
  root.uid = geteuid();
  root.gid = getegid();
  root.nlink = 2;
  root.parent = kRootIno;
  root.generation = 1;
  root.atime_ns = root.mtime_ns = root.ctime_ns = root.btime_ns = sb.mkfs_time_ns;
  seal(root);
  pool.memcpy_persist(pool.at<char>(sb.inode_table_off), &root, sizeof(root));
  set_bit(pool, sb.inode_bitmap_off, 0);

  StateRecord st{};
  st.clean = 1;
  seal(st);
  pool.memcpy_persist(pool.at<char>(sb.state_off), &st, sizeof(st));
  // The copy, then the primary: the primary's magic is the commit point.
  pool.memcpy_persist(pool.at<char>(kBlockSize), &sb, sizeof(sb));
  pool.memcpy_persist(pool.base(), &sb, sizeof(sb));
  step(kSteps);
  if (pool.failed()) {
    // The stores above went to zero pages instead (bus_guard.h).
    bus_guard::log_first_failure(pool.created() ? "nothing was created"
                                                : "the pool is not formatted");
    return failed(EIO);
  }

  return FormatSummary{sb.pool_size, sb.data_blocks, sb.inode_count, sb.journal_lanes,
                       sb.data_off, to_string(pool.granularity())};
}

}  // namespace pmemfs
