// Whole pool, damaged journal lane: a lane's LaneHeader and records are
// overwritten, so mount replays (or refuses) them and fsck checks them.
// Flags: kExtra sets the header's byte count to the records given, kSealInner
// recomputes the records' checksum, kSeal reseals the header.
#include <algorithm>

#include "exercise.h"
#include "lane_seeds.h"
#include "sample_pool.h"
#include "target.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

namespace {
constexpr size_t kMaxPatch = 2 * L::kBlockSize;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 2 + kMaxPatch, [] {
    SamplePool& pool = SamplePool::instance();
    const L::Superblock& sb = pool.superblock();
    const uint64_t ino_off = pool.sites().inodes.at(1);  // a live inode, not the root
    const auto rec = pool.pristine<L::InodeRecord>(ino_off);
    const auto st = pool.pristine<L::StateRecord>(sb.state_off);
    const uint64_t used_blocks = pool.pristine<uint64_t>(sb.block_bitmap_off);
    const uint8_t all = Patch::kSeal | Patch::kSealInner | Patch::kExtra;
    std::vector<std::string> seeds;
    // What a create or a write commits: records, bitmap bits, state.
    std::string lane = LaneBuilder()
                           .write(ino_off, &rec, sizeof(rec))
                           .set_bits(sb.block_bitmap_off, used_blocks)
                           .clear_bits(sb.inode_bitmap_off + 8, 0)
                           .write(sb.state_off, &st, sizeof(st))
                           .lane(7);
    seeds.push_back(Patch::input(0, 0, lane.data(), lane.size()));
    seeds.push_back(Patch::input(3, all, lane.data(), lane.size()));
    // File data in the data area.
    const char bytes[100] = "replayed";
    lane = LaneBuilder().write(sb.data_off + 5 * L::kBlockSize, bytes, sizeof(bytes)).lane(1);
    seeds.push_back(Patch::input(1, all, lane.data(), lane.size()));
    return seeds;
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto patch = Patch::parse(data, size);
  if (!patch) return 0;
  SamplePool& pool = SamplePool::instance();
  pool.reset();
  const uint64_t off = patch->choose(pool.sites().lanes);
  const uint64_t capacity = pool.superblock().lane_size - sizeof(L::LaneHeader);
  std::string lane(std::max<size_t>(sizeof(L::LaneHeader), std::min(patch->len, kMaxPatch)), '\0');
  std::memcpy(lane.data(), pool.pristine_bytes(off), lane.size());
  patch->apply(lane.data(), lane.size());
  L::LaneHeader h;
  std::memcpy(&h, lane.data(), sizeof(h));
  if (patch->has(Patch::kExtra)) h.bytes = lane.size() - sizeof(h);
  if (patch->has(Patch::kSealInner) && h.bytes <= capacity) {
    // Records past the patch are whatever the lane held before.
    std::string body(pool.pristine_bytes(off + sizeof(h)), h.bytes);
    const size_t given = std::min<size_t>(body.size(), lane.size() - sizeof(h));
    std::memcpy(body.data(), lane.data() + sizeof(h), given);
    h.records_checksum = pmemfs::crc32c(body.data(), body.size());
  }
  if (patch->has(Patch::kSeal)) pmemfs::fsck::seal(h);
  std::memcpy(lane.data(), &h, sizeof(h));
  pool.write(off, lane.data(), lane.size());
  exercise(pool.path());
  return 0;
}
