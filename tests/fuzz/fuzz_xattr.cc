// Whole pool, damaged xattr run: an XattrHeader and the name and value after
// it are overwritten. Flags: kSealInner recomputes the name/value checksum
// (over name_len + value_len bytes, as far as they stay in the pool), kSeal
// then reseals the header.
#include <algorithm>

#include "exercise.h"
#include "sample_pool.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

namespace {
// A run is at most 17 blocks (a 64 KiB value and a name); the fuzzer gets
// the first of them, which holds the header, the name and a value's start.
constexpr size_t kMaxPatch = L::kBlockSize;
}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 2 + kMaxPatch, [] {
    SamplePool& pool = SamplePool::instance();
    std::vector<std::string> seeds;
    const auto& sites = pool.sites().xattr_runs;
    for (size_t i = 0; i < sites.size(); ++i) {
      const auto h = pool.pristine<L::XattrHeader>(sites[i]);
      const size_t used = std::min<size_t>(kMaxPatch, sizeof(h) + h.name_len + std::min(h.value_len, 64u));
      std::string run(used, '\0');
      std::memcpy(run.data(), &h, sizeof(h));
      for (size_t k = sizeof(h); k < used; ++k) run[k] = pool.pristine<char>(sites[i] + k);
      seeds.push_back(Patch::input(i, 0, run.data(), run.size()));
      seeds.push_back(Patch::input(i, Patch::kSeal | Patch::kSealInner, run.data(), run.size()));
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
  const uint64_t off = patch->choose(pool.sites().xattr_runs);
  const size_t len = std::min(patch->len, kMaxPatch);
  pool.write(off, patch->bytes, len);
  if (!patch->has(Patch::kSeal | Patch::kSealInner)) {
    exercise(pool.path());
    return 0;
  }
  // The header as written (the pristine one where the patch is shorter).
  auto h = pool.pristine<L::XattrHeader>(off);
  patch->apply(&h, sizeof(h));
  if (patch->has(Patch::kSealInner)) {
    // Longer than any valid name and value: refused before the checksum.
    const uint64_t data_len =
        std::min<uint64_t>({uint64_t{h.name_len} + h.value_len, L::kMaxNameLen + L::kMaxXattrValue,
                            pool.size() - off - sizeof(h)});
    std::string bytes(pool.pristine_bytes(off + sizeof(h)), data_len);
    if (len > sizeof(h))
      std::memcpy(bytes.data(), patch->bytes + sizeof(h), std::min<uint64_t>(len - sizeof(h), data_len));
    h.data_checksum = pmemfs::crc32c(bytes.data(), bytes.size());
  }
  if (patch->has(Patch::kSeal)) pmemfs::fsck::seal(h);
  pool.write(off, h);
  exercise(pool.path());
  return 0;
}
