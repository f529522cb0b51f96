// Pass 1: the superblock. The primary (block 0) and its copy (block 1) must
// be identical and valid; either one that is valid lets the check go on, and
// a repair rewrites the other from it.
#include <cstring>

#include <spdlog/fmt/fmt.h>

#include "pmemfs/pool.h"
#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {
namespace {

bool magic_ok(const L::Superblock& s) {
  return std::memcmp(s.magic, L::kMagic, sizeof(L::kMagic)) == 0;
}

// Region [off, off+len) is block aligned, starts at or after prev_end and
// lies inside a pool of pool bytes. Sets *end.
bool region_ok(uint64_t off, uint64_t len, uint64_t prev_end, uint64_t pool, uint64_t* end) {
  if (off % L::kBlockSize != 0 || off < prev_end || len > pool || off > pool - len) return false;
  *end = off + len;
  return true;
}

// Why s cannot be used on a source of source_size bytes; "" if it can.
std::string superblock_problem(const L::Superblock& s, uint64_t source_size) {
  if (!magic_ok(s)) return "no pmemfs magic";
  if (!checksum_ok(s)) return "bad checksum";
  // Version 1 differs only in the orphan table's last u64 (layout.h).
  if (s.version < 1 || s.version > L::kFormatVersion) return fmt::format("unknown format version {}", s.version);
  if (s.block_size != L::kBlockSize) return fmt::format("block size {} is not {}", s.block_size, L::kBlockSize);
  const uint64_t pool = s.pool_size;
  if (pool < L::kMinPoolSize || pool % L::kBlockSize != 0)
    return fmt::format("invalid pool size {}", pool);
  if (pool > source_size)
    return fmt::format("pool size {} is larger than the source ({} bytes)", pool, source_size);
  uint64_t end = 0;
  if (!region_ok(s.state_off, sizeof(L::StateRecord), 2 * L::kBlockSize, pool, &end))
    return fmt::format("invalid state record offset {}", s.state_off);
  if (s.orphan_slots > pool / sizeof(uint64_t) ||
      !region_ok(s.orphan_off, s.orphan_slots * sizeof(uint64_t), end, pool, &end))
    return fmt::format("invalid orphan table ({} slots at {})", s.orphan_slots, s.orphan_off);
  if (L::has_orphan_chain(s) && s.orphan_slots < 2)
    return fmt::format("orphan table of {} slots has no room for its link", s.orphan_slots);
  if (s.journal_lanes == 0 || s.lane_size < L::kBlockSize || s.lane_size % L::kBlockSize != 0 ||
      s.lane_size > pool || s.journal_lanes > pool / s.lane_size ||
      !region_ok(s.journal_off, s.journal_lanes * s.lane_size, end, pool, &end))
    return fmt::format("invalid journal geometry ({} lanes of {} bytes at {})", s.journal_lanes,
                       s.lane_size, s.journal_off);
  if (s.inode_count == 0 || s.inode_count > pool / sizeof(L::InodeRecord) ||
      !region_ok(s.inode_bitmap_off, div_round_up(s.inode_count, 8), end, pool, &end))
    return fmt::format("invalid inode bitmap ({} inodes at {})", s.inode_count, s.inode_bitmap_off);
  if (!region_ok(s.inode_table_off, s.inode_count * sizeof(L::InodeRecord), end, pool, &end))
    return fmt::format("invalid inode table offset {}", s.inode_table_off);
  if (s.data_blocks == 0 || s.data_blocks > pool / L::kBlockSize ||
      !region_ok(s.block_bitmap_off, div_round_up(s.data_blocks, 8), end, pool, &end))
    return fmt::format("invalid block bitmap ({} blocks at {})", s.data_blocks, s.block_bitmap_off);
  if (s.data_off % L::kHugeSize != 0 ||
      !region_ok(s.data_off, s.data_blocks * L::kBlockSize, end, pool, &end))
    return fmt::format("invalid data area ({} blocks at {})", s.data_blocks, s.data_off);
  return "";
}

}  // namespace

int Checker::check_superblocks() {
  const auto primary = img_.get<L::Superblock>(0);
  const auto copy = img_.get<L::Superblock>(L::kBlockSize);
  if (!magic_ok(primary) && !magic_ok(copy)) {
    out_ << source_ << ": not a pmemfs pool (no pmemfs superblock at block 0 or 1)\n";
    return kExitOperational;
  }
  for (const L::Superblock* s : {&primary, &copy}) {
    if (magic_ok(*s) && checksum_ok(*s) && s->version > L::kFormatVersion) {
      out_ << source_ << ": format version " << s->version
           << " is newer than this fsck.pmemfs supports (" << L::kFormatVersion << ")\n";
      return kExitOperational;
    }
  }
  const std::string why_primary = superblock_problem(primary, img_.size());
  const std::string why_copy = superblock_problem(copy, img_.size());
  if (why_primary.empty()) {
    sb_ = primary;
    auto rewrite_copy = [primary](Image& img) { img.put(L::kBlockSize, primary); };
    if (!why_copy.empty())
      rep_.repairable("superblock copy (block 1): " + why_copy +
                          "; rewriting it from the primary",
                      rewrite_copy);
    else if (std::memcmp(&primary, &copy, sizeof(primary)) != 0)
      rep_.repairable("superblock copy (block 1) differs from the primary; rewriting it",
                      rewrite_copy);
  } else if (why_copy.empty()) {
    sb_ = copy;
    rep_.repairable("primary superblock (block 0): " + why_primary +
                        "; checking with the good copy at block 1; restoring the primary from it",
                    [copy](Image& img) { img.put(0, copy); });
  } else {
    rep_.unrepairable("primary superblock (block 0): " + why_primary);
    rep_.unrepairable("superblock copy (block 1): " + why_copy);
    out_ << source_ << ": no usable superblock; cannot check further\n";
    // Cut short, not corrupt: say how to get the rest back.
    for (const L::Superblock* s : {&primary, &copy}) {
      if (magic_ok(*s) && checksum_ok(*s) && s->pool_size > img_.size()) {
        out_ << truncated_pool_message(source_, s->pool_size, img_.size()) << '\n';
        break;
      }
    }
    return kExitUncorrected;
  }
  data_first_ = sb_.data_off / L::kBlockSize;
  return 0;
}

}  // namespace pmemfs::fsck
