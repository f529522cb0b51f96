// The superblock parser alone: superblock_problem() on any 512 bytes and any
// source size. Whatever it accepts, mount goes on to use, so an accepted
// superblock must describe regions that lie inside the source, aligned as
// the records in them are read (the InodeTable and Allocator read whole
// bitmap words, the journal and state record through typed pointers).
// Input: byte 0 flags (kSeal), bytes 1-8 the source size, then the superblock.
#include <cstdio>
#include <cstdlib>

#include "pmemfs/superblock.h"
#include "sample_pool.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

namespace {

// [off, off + count * unit) inside size and off aligned to align.
bool inside(uint64_t off, uint64_t count, uint64_t unit, uint64_t align, uint64_t size) {
  uint64_t len;
  if (__builtin_mul_overflow(count, unit, &len)) return false;
  return off % align == 0 && off <= size && len <= size - off;
}

std::string input(uint8_t flags, uint64_t source_size, const L::Superblock& sb) {
  std::string s(1, static_cast<char>(flags));
  s.append(reinterpret_cast<const char*>(&source_size), sizeof(source_size));
  s.append(reinterpret_cast<const char*>(&sb), sizeof(sb));
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 9 + sizeof(L::Superblock), [] {
    const auto sb = SamplePool::instance().superblock();
    return std::vector<std::string>{input(0, sb.pool_size, sb), input(Patch::kSeal, sb.pool_size, sb),
                                    input(Patch::kSeal, sb.pool_size * 2, sb)};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 + sizeof(uint64_t)) return 0;
  const uint8_t flags = data[0];
  uint64_t source_size;
  std::memcpy(&source_size, data + 1, sizeof(source_size));
  L::Superblock sb{};
  std::memcpy(&sb, data + 9, std::min(size - 9, sizeof(sb)));
  if (flags & Patch::kSeal) pmemfs::fsck::seal(sb);
  if (!pmemfs::superblock_problem(sb, source_size).empty()) return 0;

  const uint64_t pool = sb.pool_size;
  const uint64_t words = 8;  // bitmaps are read a u64 word at a time
  const bool ok =
      pool <= source_size && inside(sb.state_off, 1, sizeof(L::StateRecord), 8, pool) &&
      inside(sb.orphan_off, sb.orphan_slots, sizeof(uint64_t), 8, pool) &&
      (!L::has_orphan_chain(sb) || sb.orphan_slots >= 2) &&  // the chain's link is in the table
      inside(sb.journal_off, sb.journal_lanes, sb.lane_size, 8, pool) && sb.lane_size % 8 == 0 &&
      sb.lane_size > sizeof(L::LaneHeader) &&
      inside(sb.inode_bitmap_off, (sb.inode_count + 63) / 64, words, 8, pool) &&
      inside(sb.inode_table_off, sb.inode_count, sizeof(L::InodeRecord), 8, pool) &&
      inside(sb.block_bitmap_off, (sb.data_blocks + 63) / 64, words, 8, pool) &&
      inside(sb.data_off, sb.data_blocks, L::kBlockSize, L::kBlockSize, pool);
  if (!ok) {
    std::fprintf(stderr, "fuzz: superblock_problem() accepted a superblock whose regions leave the pool\n");
    std::abort();
  }
  return 0;
}
