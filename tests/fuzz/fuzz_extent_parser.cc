// The extent parser alone: ExtentMap::load() of an inode record's inline
// extents and its chain of extent blocks, in a small DRAM pool whose first
// data block holds the input's extent block. Whatever it accepts, reads map
// into the pool and truncates free to the allocator, so every accepted
// extent must lie inside the data area, and not wrap around in the file.
// Input: byte 0 flags (kSealInner: every non-empty extent's checksum, kSeal:
// the extent block header's), an InodeRecord, then the extent block.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "guarded_pool.h"
#include "pmemfs/alloc.h"
#include "pmemfs/extent.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

namespace {

constexpr uint64_t kBitmapBlock = 1;
constexpr uint64_t kDataStart = 8;  // pool block of data block 0
constexpr uint64_t kDataBlocks = 56;
constexpr uint64_t kPoolSize = (kDataStart + kDataBlocks) * L::kBlockSize;

L::Superblock superblock() {
  L::Superblock sb{};
  sb.block_bitmap_off = kBitmapBlock * L::kBlockSize;
  sb.data_off = kDataStart * L::kBlockSize;
  sb.data_blocks = kDataBlocks;
  return sb;
}

std::string input(uint8_t flags) {
  L::InodeRecord rec{};
  rec.mode = S_IFREG | 0644;
  for (uint32_t k = 0; k < 3; ++k) rec.extents[k] = pmemfs::make_extent(2 * k, kDataStart + 1 + k, 1);
  rec.extent_next = kDataStart;
  L::ExtentBlock blk{};
  blk.magic = L::kExtentBlockMagic;
  blk.owner = 7;
  for (uint32_t k = 0; k < 3; ++k) blk.extents[k] = pmemfs::make_extent(100 + 10 * k, kDataStart + 10 + 2 * k, 2);
  pmemfs::fsck::seal(blk);
  std::string s(1, static_cast<char>(flags));
  s.append(reinterpret_cast<const char*>(&rec), sizeof(rec));
  // The header and the extents in use; the fuzzer grows it as it likes.
  return s.append(reinterpret_cast<const char*>(&blk), offsetof(L::ExtentBlock, extents) + 4 * sizeof(L::Extent));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 1 + sizeof(L::InodeRecord) + sizeof(L::ExtentBlock), [] {
    return std::vector<std::string>{input(0), input(Patch::kSeal | Patch::kSealInner)};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 + sizeof(L::InodeRecord)) return 0;
  static GuardedPool guarded(kPoolSize);
  guarded.clear();
  pmemfs::Pool& pool = guarded.pool();
  const uint8_t flags = data[0];
  L::InodeRecord rec;
  std::memcpy(&rec, data + 1, sizeof(rec));
  auto* blk = pool.at<L::ExtentBlock>(kDataStart * L::kBlockSize);
  std::memcpy(blk, data + 1 + sizeof(rec), std::min(size - 1 - sizeof(rec), sizeof(*blk)));
  if (flags & Patch::kSealInner) {
    for (L::Extent& e : rec.extents)
      if (e.nblocks != 0) pmemfs::fsck::seal(e);
    for (L::Extent& e : blk->extents)
      if (e.nblocks != 0) pmemfs::fsck::seal(e);
  }
  if (flags & Patch::kSeal) pmemfs::fsck::seal(*blk);

  const L::Superblock sb = superblock();
  pmemfs::Allocator alloc(pool, sb);
  uint64_t chain_head = rec.extent_next;
  const pmemfs::ExtentOwner owner{pool, alloc, 7, chain_head};
  pmemfs::ExtentMap map;
  if (!map.load(owner, rec.extents).ok()) return 0;
  for (const pmemfs::Mapped& m : map.all()) {
    if (m.pool_block < kDataStart || m.nblocks > kDataBlocks || m.pool_block - kDataStart > kDataBlocks - m.nblocks ||
        m.file_block + m.nblocks < m.file_block) {
      std::fprintf(stderr,
                   "fuzz: ExtentMap::load() accepted an extent outside the data area or wrapping around "
                   "(file block %llu, pool block %llu, %llu blocks)\n",
                   static_cast<unsigned long long>(m.file_block), static_cast<unsigned long long>(m.pool_block),
                   static_cast<unsigned long long>(m.nblocks));
      std::abort();
    }
  }
  return 0;
}
