// Journal replay alone: two lanes in a small DRAM pool, overwritten by the
// input, replayed. Replay may refuse; it must not write outside the pool,
// into the superblocks or into the journal itself (only the lane headers,
// which it frees), and every lane is free afterwards.
// Input: byte 0 flags (kSealInner: the records' checksums, kSeal: the
// headers'), then bytes over both lanes from the first header on.
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "guarded_pool.h"
#include "lane_seeds.h"
#include "pmemfs/journal.h"
#include "target.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

namespace {

constexpr uint64_t kJournalOff = 4 * L::kBlockSize;
constexpr uint32_t kLanes = 2;
constexpr uint64_t kLaneSize = 4 * L::kBlockSize;
constexpr uint64_t kJournalEnd = kJournalOff + kLanes * kLaneSize;
constexpr uint64_t kPoolSize = kJournalEnd + 4 * L::kBlockSize;

std::string input(uint8_t flags, const std::string& lane0, const std::string& lane1) {
  std::string s(1, static_cast<char>(flags));
  s += lane0;
  s.resize(1 + kLaneSize, '\0');
  return s + lane1;
}

[[noreturn]] void broken(const char* what) {
  std::fprintf(stderr, "fuzz: journal replay %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 1 + kLanes * kLaneSize, [] {
    const char bytes[24] = "replayed record";
    const std::string a = LaneBuilder()
                              .write(kJournalEnd, bytes, sizeof(bytes))
                              .set_bits(kJournalEnd + 64, 0xf0)
                              .clear_bits(kJournalEnd + 64, 0x30)
                              .lane(2);
    const std::string b = LaneBuilder().write(3 * L::kBlockSize, bytes, 5).lane(1);
    return std::vector<std::string>{input(0, a, b), input(Patch::kSeal | Patch::kSealInner, a, b),
                                    input(0, a, "")};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static GuardedPool guarded(kPoolSize);
  guarded.clear();
  pmemfs::Pool& pool = guarded.pool();
  const uint8_t flags = data[0];
  std::memcpy(pool.base() + kJournalOff, data + 1, std::min<size_t>(size - 1, kJournalEnd - kJournalOff));
  for (uint32_t lane = 0; lane < kLanes; ++lane) {
    auto* h = pool.at<L::LaneHeader>(kJournalOff + lane * kLaneSize);
    if ((flags & Patch::kSealInner) && h->bytes <= kLaneSize - sizeof(L::LaneHeader))
      h->records_checksum = pmemfs::crc32c(h + 1, h->bytes);
    if (flags & Patch::kSeal) pmemfs::fsck::seal(*h);
  }
  const std::string before(pool.base(), kPoolSize);

  pmemfs::Journal journal(pool, kJournalOff, kLanes, kLaneSize);
  auto replayed = journal.replay();
  if (!replayed.ok()) return 0;

  if (!std::all_of(pool.base(), pool.base() + 2 * L::kBlockSize, [](char c) { return c == 0; }))
    broken("wrote into the superblocks");
  for (uint32_t lane = 0; lane < kLanes; ++lane) {
    const uint64_t off = kJournalOff + lane * kLaneSize;
    if (pool.at<L::LaneHeader>(off)->state != L::kLaneFree) broken("left a lane committed");
    const uint64_t body = off + sizeof(L::LaneHeader), len = kLaneSize - sizeof(L::LaneHeader);
    if (std::memcmp(pool.base() + body, before.data() + body, len) != 0)
      broken("wrote into the journal's own records");
  }
  return 0;
}
