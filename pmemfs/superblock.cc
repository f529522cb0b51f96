#include "pmemfs/superblock.h"

#include <cstring>

#include <spdlog/spdlog.h>

#include "pmemfs/crc32c.h"
#include "pmemfs/pool.h"

namespace pmemfs {

using layout::Superblock;

void seal(Superblock& sb) { sb.checksum = crc32c(&sb, offsetof(Superblock, checksum)); }
void seal(layout::StateRecord& st) {
  st.checksum = crc32c(&st, offsetof(layout::StateRecord, checksum));
}

namespace {

// The region of count records of unit bytes at off is block aligned, starts
// at or after prev_end and ends inside a pool of pool bytes; sets *end.
// Mount reads every region through pointers into the mapping, so a region
// that leaves the pool would be read (or written) past its end.
bool region_ok(uint64_t off, uint64_t count, uint64_t unit, uint64_t prev_end, uint64_t pool,
               uint64_t* end) {
  uint64_t len;
  if (__builtin_mul_overflow(count, unit, &len)) return false;
  if (off % layout::kBlockSize != 0 || off < prev_end || len > pool || off > pool - len) return false;
  *end = off + len;
  return true;
}

// Bitmaps are read a u64 word at a time.
uint64_t bitmap_words(uint64_t bits) { return bits / 64 + (bits % 64 != 0); }

}  // namespace

std::string superblock_problem(const Superblock& sb, uint64_t pool_size) {
  if (std::memcmp(sb.magic, layout::kMagic, sizeof(sb.magic)) != 0) return "no pmemfs magic";
  if (sb.checksum != crc32c(&sb, offsetof(Superblock, checksum))) return "bad checksum";
  if (sb.version > layout::kFormatVersion)
    return "format version " + std::to_string(sb.version) + " is newer than this pmemfs (" +
           std::to_string(layout::kFormatVersion) + ")";
  if (sb.version < 1) return "unknown format version";
  if (sb.block_size != layout::kBlockSize) return "unsupported block size";
  if (sb.pool_size > pool_size) return "the pool is smaller than the filesystem on it";
  // The regions in their order on the media (layout.h), as fsck.pmemfs checks them.
  const uint64_t pool = sb.pool_size;
  uint64_t end = 0;
  if (pool < layout::kMinPoolSize || pool % layout::kBlockSize != 0) return "invalid pool size";
  if (!region_ok(sb.state_off, 1, sizeof(layout::StateRecord), 2 * layout::kBlockSize, pool, &end))
    return "state record outside the pool";
  if (!region_ok(sb.orphan_off, sb.orphan_slots, sizeof(uint64_t), end, pool, &end))
    return "orphan table outside the pool";
  if (layout::has_orphan_chain(sb) && sb.orphan_slots < 2) return "orphan table without room for its link";
  if (sb.journal_lanes == 0 || sb.lane_size < layout::kBlockSize ||
      sb.lane_size % layout::kBlockSize != 0 ||
      !region_ok(sb.journal_off, sb.journal_lanes, sb.lane_size, end, pool, &end))
    return "bad journal geometry";
  if (sb.inode_count == 0 ||
      !region_ok(sb.inode_bitmap_off, bitmap_words(sb.inode_count), sizeof(uint64_t), end, pool, &end) ||
      !region_ok(sb.inode_table_off, sb.inode_count, sizeof(layout::InodeRecord), end, pool, &end))
    return "inode table outside the pool";
  if (sb.data_blocks == 0 ||
      !region_ok(sb.block_bitmap_off, bitmap_words(sb.data_blocks), sizeof(uint64_t), end, pool, &end) ||
      sb.data_off % layout::kHugeSize != 0 ||
      !region_ok(sb.data_off, sb.data_blocks, layout::kBlockSize, end, pool, &end))
    return "data area outside the pool";
  return {};
}

Result<Superblock> read_superblock(const Pool& pool) {
  Superblock primary, copy;
  std::memcpy(&primary, pool.at<Superblock>(0), sizeof(primary));
  std::memcpy(&copy, pool.at<Superblock>(layout::kBlockSize), sizeof(copy));
  std::string p = superblock_problem(primary, pool.size());
  if (p.empty()) return primary;
  std::string c = superblock_problem(copy, pool.size());
  if (c.empty()) {
    spdlog::warn("{}: primary superblock damaged ({}); using the copy (run fsck.pmemfs -y)",
                 pool.path(), p);
    return copy;
  }
  if (p.find("newer") != std::string::npos) {
    spdlog::error("{}: {}", pool.path(), p);
    return err(EPROTONOSUPPORT);
  }
  // A pool that is recognisably pmemfs is never told to be formatted again:
  // what it holds may still be recovered.
  const auto has_magic = [](const Superblock& s) {
    return std::memcmp(s.magic, layout::kMagic, sizeof(s.magic)) == 0;
  };
  for (const Superblock* s : {&primary, &copy}) {
    if (has_magic(*s) && s->checksum == crc32c(s, offsetof(Superblock, checksum)) &&
        s->pool_size > pool.size()) {
      spdlog::error("{}", truncated_pool_message(pool.path(), s->pool_size, pool.size()));
      return err(EUCLEAN);
    }
  }
  if (has_magic(primary) || has_magic(copy)) {
    spdlog::error("{}: both pmemfs superblocks are damaged (primary: {}; copy: {}); run "
                  "fsck.pmemfs {}, or restore the pool from a backup",
                  pool.path(), p, c, pool.path());
    return err(EUCLEAN);
  }
  spdlog::error("{}: not a pmemfs pool ({}); format it with mkfs.pmemfs", pool.path(), p);
  return err(EINVAL);
}

}  // namespace pmemfs
