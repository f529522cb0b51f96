// What the fuzz targets share: the input format of the whole-pool targets,
// and the seed corpus each target writes for itself from the sample pool.
//
// Input of a whole-pool target: byte 0 picks the record (modulo how many
// there are), byte 1 holds Patch flags, and the rest overwrites the record
// from its first byte. The flags let the fuzzer past the checksums: without
// them nearly every input would stop at the first checksum compare.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace pmemfs::fuzz {

struct Patch {
  static constexpr uint8_t kSeal = 1;       // recompute the record's own checksum
  static constexpr uint8_t kSealInner = 2;  // and those of what it contains
  static constexpr uint8_t kExtra = 4;      // one more target-specific change

  uint8_t pick = 0;
  uint8_t flags = 0;
  const uint8_t* bytes = nullptr;
  size_t len = 0;

  static std::optional<Patch> parse(const uint8_t* data, size_t size);
  // An input that picks record `pick` and writes rec over it unchanged.
  static std::string input(uint8_t pick, uint8_t flags, const void* rec, size_t len);
  // Overwrites the first bytes of rec (at most rec_len) with the patch.
  void apply(void* rec, size_t rec_len) const;
  bool has(uint8_t flag) const { return (flags & flag) != 0; }
  template <typename T>
  const T& choose(const std::vector<T>& v) const {
    return v[pick % v.size()];
  }
};

// From LLVMFuzzerInitialize, which libFuzzer calls before it parses its
// flags. Quiets the library's log; makes -max_len=max_len the default (the
// size of the largest input the target reads, which libFuzzer would
// otherwise guess from the seeds); and given --seeds=DIR (libFuzzer ignores
// arguments starting with "--") writes the target's seeds to DIR as seed-N
// before fuzzing starts: pass DIR as the first corpus directory too.
void init_target(int* argc, char*** argv, size_t max_len,
                 const std::function<std::vector<std::string>()>& seeds);

}  // namespace pmemfs::fuzz
