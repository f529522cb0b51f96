// Pass 5: data block ownership. Every block claimed by exactly one owner, and
// the block bitmap marking exactly the claimed blocks.
#include <algorithm>
#include <bit>

#include <spdlog/fmt/fmt.h>

#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {

uint64_t BlockBits::count() const {
  uint64_t n = 0;
  for (uint64_t w : words_) n += std::popcount(w);
  return n;
}

const char* claim_kind_name(ClaimKind k) {
  switch (k) {
    case ClaimKind::kData: return "data";
    case ClaimKind::kExtentBlock: return "extent block";
    case ClaimKind::kXattr: return "xattr";
  }
  return "?";
}

const Claim* Checker::owner_of(uint64_t block) {
  if (!claims_sorted_) {
    std::sort(claims_.begin(), claims_.end(),
              [](const Claim& a, const Claim& b) { return a.block < b.block; });
    claims_sorted_ = true;
  }
  auto it = std::upper_bound(claims_.begin(), claims_.end(), block,
                             [](uint64_t b, const Claim& c) { return b < c.block; });
  if (it == claims_.begin()) return nullptr;
  --it;
  return block < it->block + it->n ? &*it : nullptr;
}

void Checker::report_double_claims() {
  if (twice_.empty()) return;
  std::sort(twice_.begin(), twice_.end());
  // Merge overlapping and adjacent runs (a block claimed three times is
  // recorded twice).
  std::vector<std::pair<uint64_t, uint64_t>> runs;
  for (const auto& [start, n] : twice_) {
    if (!runs.empty() && start <= runs.back().first + runs.back().second)
      runs.back().second = std::max(runs.back().second, start + n - runs.back().first);
    else
      runs.emplace_back(start, n);
  }
  for (const auto& [start, n] : runs) {
    const uint64_t first = data_first_ + start;
    std::string owners;
    for (const Claim& c : claims_) {
      if (c.block < first + n && first < c.block + c.n)
        owners += fmt::format("{}inode {} ({})", owners.empty() ? "" : ", ", c.ino,
                              claim_kind_name(c.kind));
    }
    rep_.unrepairable(fmt::format("{}: claimed more than once: {}", blocks_str(first, n), owners));
  }
}

void Checker::check_block_bitmap() {
  const uint64_t nbits = sb_.data_blocks;
  const uint64_t bm = sb_.block_bitmap_off;
  // A run of blocks whose bitmap bit disagrees the same way.
  uint64_t run_start = 0, run_len = 0;
  uint64_t unclaimed = 0;  // blocks in use nobody readable claims
  bool run_marked = false;
  auto flush = [&] {
    if (run_len == 0) return;
    const uint64_t first = data_first_ + run_start, n = run_len, idx = run_start;
    if (run_marked && claims_incomplete_) {
      unclaimed += n;
    } else if (run_marked) {
      rep_.repairable(fmt::format("{}: marked in use but owned by no inode (leaked); freeing", blocks_str(first, n)),
                      [bm, idx, n](Image& img) {
                        for (uint64_t i = idx; i < idx + n; ++i) image_set_bit(img, bm, i, false);
                      });
    } else {
      const Claim* c = owner_of(first);
      const std::string who =
          c ? fmt::format("inode {} ({})", c->ino, claim_kind_name(c->kind)) : std::string("an inode");
      rep_.repairable(fmt::format("{}: used by {} but free in the block bitmap; marking", blocks_str(first, n), who),
                      [bm, idx, n](Image& img) {
                        for (uint64_t i = idx; i < idx + n; ++i) image_set_bit(img, bm, i, true);
                      });
    }
    run_len = 0;
  };

  std::vector<uint8_t> chunk(L::kBlockSize);
  const uint64_t bytes = div_round_up(nbits, 8);
  for (uint64_t at = 0; at < bytes; at += chunk.size()) {
    const uint64_t nb = std::min<uint64_t>(chunk.size(), bytes - at);
    img_.read(bm + at, chunk.data(), nb);
    for (uint64_t b = 0; b < nb; ++b) {
      const uint64_t base = (at + b) * 8;
      // The owned bits of this byte.
      const auto own = static_cast<uint8_t>(owned_->word(base / 64) >> (base % 64));
      uint8_t diff = chunk[b] ^ own;
      if (base + 8 > nbits) diff &= static_cast<uint8_t>((1u << (nbits - base)) - 1);
      if (diff == 0) {
        flush();
        continue;
      }
      for (int k = 0; k < 8 && base + k < nbits; ++k) {
        const uint64_t i = base + k;
        if (!((diff >> k) & 1)) {
          flush();
          continue;
        }
        const bool marked = (chunk[b] >> k) & 1;
        if (run_len > 0 && (marked != run_marked || run_start + run_len != i)) flush();
        if (run_len == 0) {
          run_start = i;
          run_marked = marked;
        }
        ++run_len;
        // One owner per reported run, so that each line names its inode.
        if (!marked && run_len > 1) {
          const Claim* c = owner_of(data_first_ + run_start);
          if (c && data_first_ + i >= c->block + c->n) {
            --run_len;
            flush();
            run_start = i;
            run_marked = marked;
            run_len = 1;
          }
        }
      }
    }
  }
  flush();
  if (unclaimed > 0)
    rep_.note(fmt::format("{} blocks are marked in use but no readable inode claims them; the damaged "
                          "inodes above may own them, so they are left in use",
                          unclaimed));
}

}  // namespace pmemfs::fsck
