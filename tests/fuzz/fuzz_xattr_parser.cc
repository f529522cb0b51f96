// The xattr chain parser alone: load_xattrs() over a small DRAM pool whose
// blocks 1.. hold the input (and are its data area), from any head block.
// Every run it accepts must lie inside the data area with its name and value.
// Input: byte 0 flags (kSealInner: each header's name/value checksum, kSeal:
// the header's own, along the chain from head), bytes 1-8 the head block,
// then the blocks from block 1 on.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <unordered_set>

#include "guarded_pool.h"
#include "pmemfs/alloc.h"
#include "pmemfs/xattr.h"
#include "target.h"
#include "tools/fsck/records.h"

namespace L = pmemfs::layout;
using namespace pmemfs::fuzz;

namespace {

constexpr uint64_t kBlocks = 32;
constexpr uint64_t kPoolSize = kBlocks * L::kBlockSize;

// One run: header, name, value, padded to whole blocks.
std::string run(uint64_t next, const std::string& name, const std::string& value) {
  L::XattrHeader h{};
  h.magic = L::kXattrMagic;
  h.nblocks = static_cast<uint32_t>(L::round_up(sizeof(h) + name.size() + value.size(), L::kBlockSize) /
                                    L::kBlockSize);
  h.next = next;
  h.name_len = static_cast<uint32_t>(name.size());
  h.value_len = static_cast<uint32_t>(value.size());
  const std::string data = name + value;
  h.data_checksum = pmemfs::crc32c(data.data(), data.size());
  pmemfs::fsck::seal(h);
  std::string s(reinterpret_cast<const char*>(&h), sizeof(h));
  s += data;
  s.resize(h.nblocks * L::kBlockSize, '\0');
  return s;
}

std::string input(uint8_t flags, uint64_t head, const std::string& blocks) {
  std::string s(1, static_cast<char>(flags));
  s.append(reinterpret_cast<const char*>(&head), sizeof(head));
  return s + blocks;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  init_target(argc, argv, 9 + 3 * L::kBlockSize, [] {
    const std::string chain = run(2, "user.small", "blue") + run(0, "user.big", std::string(5000, 'v'));
    return std::vector<std::string>{input(0, 1, chain), input(Patch::kSeal | Patch::kSealInner, 1, chain),
                                    input(Patch::kSeal | Patch::kSealInner, 2, chain)};
  });
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 9) return 0;
  static GuardedPool guarded(kPoolSize);
  guarded.clear();
  pmemfs::Pool& pool = guarded.pool();
  const uint8_t flags = data[0];
  uint64_t head;
  std::memcpy(&head, data + 1, sizeof(head));
  std::memcpy(pool.base() + L::kBlockSize, data + 9, std::min<size_t>(size - 9, kPoolSize - L::kBlockSize));
  std::unordered_set<uint64_t> sealed;
  for (uint64_t b = head; (flags & (Patch::kSeal | Patch::kSealInner)) && b != 0 && b < kBlocks &&
                          sealed.insert(b).second;) {
    auto* h = pool.at<L::XattrHeader>(b * L::kBlockSize);
    if (flags & Patch::kSealInner)
      h->data_checksum = pmemfs::crc32c(h + 1, std::min<uint64_t>(uint64_t{h->name_len} + h->value_len,
                                                                  kPoolSize - b * L::kBlockSize - sizeof(*h)));
    if (flags & Patch::kSeal) pmemfs::fsck::seal(*h);
    b = h->next;
  }

  // Block 0 (zero) is the block bitmap: the data area is all free.
  L::Superblock sb{};
  sb.data_off = L::kBlockSize;
  sb.data_blocks = kBlocks - 1;
  const pmemfs::Allocator alloc(pool, sb);
  auto loaded = pmemfs::load_xattrs(pool, alloc, head, 7);
  if (!loaded.ok()) return 0;
  for (const pmemfs::XattrEntry& x : *loaded) {
    const uint64_t bytes = sizeof(L::XattrHeader) + x.name.size() + x.value.size();
    if (x.block == 0 || x.block >= kBlocks || x.nblocks == 0 || x.nblocks > kBlocks - x.block ||
        bytes > uint64_t{x.nblocks} * L::kBlockSize || x.name.empty()) {
      std::fprintf(stderr, "fuzz: load_xattrs() accepted a run outside the data area (block %llu, %u blocks)\n",
                   static_cast<unsigned long long>(x.block), x.nblocks);
      std::abort();
    }
  }
  return 0;
}
