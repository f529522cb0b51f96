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

std::string superblock_problem(const Superblock& sb, uint64_t pool_size) {
  if (std::memcmp(sb.magic, layout::kMagic, sizeof(sb.magic)) != 0) return "no pmemfs magic";
  if (sb.checksum != crc32c(&sb, offsetof(Superblock, checksum))) return "bad checksum";
  if (sb.version > layout::kFormatVersion)
    return "format version " + std::to_string(sb.version) + " is newer than this pmemfs (" +
           std::to_string(layout::kFormatVersion) + ")";
  if (sb.version < 1) return "unknown format version";
  if (sb.block_size != layout::kBlockSize) return "unsupported block size";
  if (sb.pool_size > pool_size) return "the pool is smaller than the filesystem on it";
  if (sb.data_off % layout::kHugeSize != 0 ||
      sb.data_off + sb.data_blocks * layout::kBlockSize > sb.pool_size)
    return "data area outside the pool";
  if (sb.journal_lanes == 0 || sb.lane_size < 4096 || sb.inode_count == 0)
    return "bad geometry";
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
  spdlog::error("{}: not a pmemfs pool ({}); format it with mkfs.pmemfs", pool.path(), p);
  return err(EINVAL);
}

}  // namespace pmemfs
