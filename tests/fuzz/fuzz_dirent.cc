// Whole pool, damaged directory entry: a DirentSlot (every live one, and a
// free one) is overwritten. Flags: kSeal reseals it.
#include "exercise.h"
#include "sample_pool.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 2 + sizeof(L::DirentSlot), [] {
    SamplePool& pool = SamplePool::instance();
    std::vector<std::string> seeds;
    const auto& sites = pool.sites().dirent_slots;
    for (size_t i = 0; i < sites.size(); ++i) {
      const auto slot = pool.pristine<L::DirentSlot>(sites[i]);
      // Up to the end of the name: the zero tail is implied.
      const size_t used = offsetof(L::DirentSlot, name) + slot.name_len;
      seeds.push_back(Patch::input(i, 0, &slot, used));
      seeds.push_back(Patch::input(i, Patch::kSeal, &slot, used));
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
  const uint64_t off = patch->choose(pool.sites().dirent_slots);
  auto slot = pool.pristine<L::DirentSlot>(off);
  patch->apply(&slot, sizeof(slot));
  if (patch->has(Patch::kSeal)) pmemfs::fsck::seal(slot);
  pool.write(off, slot);
  exercise(pool.path());
  return 0;
}
