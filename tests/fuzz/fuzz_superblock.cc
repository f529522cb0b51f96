// Whole pool, damaged superblock: pick 0 overwrites the primary Superblock,
// 1 its copy, 2 both (so the bytes are all the mount can use), 3 the
// StateRecord after them. Flags: kSeal reseals what was overwritten.
#include "exercise.h"
#include "sample_pool.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

namespace {
constexpr uint8_t kPrimary = 0, kCopy = 1, kBoth = 2, kState = 3, kPicks = 4;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 2 + sizeof(L::Superblock), [] {
    SamplePool& pool = SamplePool::instance();
    const auto sb = pool.pristine<L::Superblock>(0);
    const auto st = pool.pristine<L::StateRecord>(sb.state_off);
    std::vector<std::string> seeds;
    for (uint8_t pick : {kPrimary, kCopy, kBoth}) {
      seeds.push_back(Patch::input(pick, 0, &sb, sizeof(sb)));
      seeds.push_back(Patch::input(pick, Patch::kSeal, &sb, sizeof(sb)));
    }
    seeds.push_back(Patch::input(kState, Patch::kSeal, &st, sizeof(st)));
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto patch = Patch::parse(data, size);
  if (!patch) return 0;
  SamplePool& pool = SamplePool::instance();
  pool.reset();
  const uint8_t pick = patch->pick % kPicks;
  if (pick == kState) {
    const uint64_t off = pool.superblock().state_off;
    auto st = pool.pristine<L::StateRecord>(off);
    patch->apply(&st, sizeof(st));
    if (patch->has(Patch::kSeal)) pmemfs::fsck::seal(st);
    pool.write(off, st);
  } else {
    auto sb = pool.pristine<L::Superblock>(0);
    patch->apply(&sb, sizeof(sb));
    if (patch->has(Patch::kSeal)) pmemfs::fsck::seal(sb);
    if (pick != kCopy) pool.write(0, sb);
    if (pick != kPrimary) pool.write(L::kBlockSize, sb);
  }
  exercise(pool.path());
  return 0;
}
