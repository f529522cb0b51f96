// Whole pool, damaged inode record: any live inode's InodeRecord (or a never
// used one) is overwritten. Flags: kSeal reseals the record, kSealInner its
// inline extents, kExtra marks the inode in use in the inode bitmap.
#include "exercise.h"
#include "sample_pool.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 2 + sizeof(L::InodeRecord), [] {
    SamplePool& pool = SamplePool::instance();
    std::vector<std::string> seeds;
    const auto& sites = pool.sites().inodes;
    for (size_t i = 0; i < sites.size(); ++i) {
      const auto rec = pool.pristine<L::InodeRecord>(sites[i]);
      seeds.push_back(Patch::input(i, 0, &rec, sizeof(rec)));
      seeds.push_back(Patch::input(i, Patch::kSeal | Patch::kSealInner, &rec, sizeof(rec)));
    }
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto patch = Patch::parse(data, size);
  if (!patch) return 0;
  SamplePool& pool = SamplePool::instance();
  pool.reset();
  const uint64_t off = patch->choose(pool.sites().inodes);
  auto rec = pool.pristine<L::InodeRecord>(off);
  patch->apply(&rec, sizeof(rec));
  if (patch->has(Patch::kSealInner))
    for (L::Extent& e : rec.extents)
      if (e.nblocks != 0) pmemfs::fsck::seal(e);
  if (patch->has(Patch::kSeal)) pmemfs::fsck::seal(rec);
  pool.write(off, rec);
  if (patch->has(Patch::kExtra)) {
    const L::Superblock& sb = pool.superblock();
    const uint64_t index = (off - sb.inode_table_off) / sizeof(L::InodeRecord);
    auto byte = pool.pristine<uint8_t>(sb.inode_bitmap_off + index / 8);
    byte |= static_cast<uint8_t>(1u << (index % 8));
    pool.write(sb.inode_bitmap_off + index / 8, byte);
  }
  exercise(pool.path());
  return 0;
}
