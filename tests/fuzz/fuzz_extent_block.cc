// Whole pool, damaged extent block: an ExtentBlock (spilled extents of a
// file) is overwritten. Flags: kSeal reseals its header, kSealInner each of
// its non-empty extents.
#include "exercise.h"
#include "sample_pool.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 2 + sizeof(L::ExtentBlock), [] {
    SamplePool& pool = SamplePool::instance();
    std::vector<std::string> seeds;
    const auto& sites = pool.sites().extent_blocks;
    for (size_t i = 0; i < sites.size(); ++i) {
      const auto blk = pool.pristine<L::ExtentBlock>(sites[i]);
      // The header and the extents in use; the fuzzer grows it as it likes.
      const size_t used = offsetof(L::ExtentBlock, extents) + 4 * sizeof(L::Extent);
      seeds.push_back(Patch::input(i, 0, &blk, used));
      seeds.push_back(Patch::input(i, Patch::kSeal | Patch::kSealInner, &blk, used));
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
  const uint64_t off = patch->choose(pool.sites().extent_blocks);
  auto blk = pool.pristine<L::ExtentBlock>(off);
  patch->apply(&blk, sizeof(blk));
  if (patch->has(Patch::kSealInner))
    for (L::Extent& e : blk.extents)
      if (e.nblocks != 0) pmemfs::fsck::seal(e);
  if (patch->has(Patch::kSeal)) pmemfs::fsck::seal(blk);
  pool.write(off, blk);
  exercise(pool.path());
  return 0;
}
