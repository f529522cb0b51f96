// Data block ownership: every block claimed by exactly one owner, and the
// block bitmap marking exactly the claimed blocks.
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
    case ClaimKind::kOrphanBlock: return "orphan block";
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

void Checker::resolve_double_claims() {
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
  // Which claim is right cannot be told, and giving the blocks to the wrong
  // file would show one file's data in another: every regular file's extent
  // on a run claimed twice is cleared, and each file keeps its other
  // extents (see extents.cc). Extent blocks, xattr runs, directories and
  // symlinks have no such repair.
  std::vector<bool> cleared(claims_.size(), false);
  for (const auto& [start, n] : runs) {
    const uint64_t first = data_first_ + start;
    std::string owners;
    std::vector<size_t> on_run;
    bool clearable = true;
    for (size_t k = 0; k < claims_.size(); ++k) {
      const Claim& c = claims_[k];
      if (!(c.block < first + n && first < c.block + c.n)) continue;
      if (c.kind == ClaimKind::kOrphanBlock)
        owners += fmt::format("{}the orphan chain", owners.empty() ? "" : ", ");
      else
        owners += fmt::format("{}inode {} ({})", owners.empty() ? "" : ", ", c.ino, claim_kind_name(c.kind));
      on_run.push_back(k);
      clearable = clearable && c.kind == ClaimKind::kData && inodes_.at(c.ino).live() &&
                  (inodes_.at(c.ino).rec.mode & S_IFMT) == S_IFREG;
    }
    const std::string line = fmt::format("{}: claimed more than once: {}", blocks_str(first, n), owners);
    if (!clearable) {
      rep_.unrepairable(line);
      continue;
    }
    std::vector<Report::Repair> clears;
    for (size_t k : on_run) {
      if (cleared[k]) continue;  // on an earlier run too
      cleared[k] = true;
      clears.push_back(clear_extent_repair(claims_[k].ino, claims_[k].at));
    }
    rep_.repairable(line + "; clearing their extents (the files keep their other extents)",
                    [clears](Image& img) {
                      for (const auto& clear : clears) clear(img);
                    });
  }
  // What the files keep; the cleared extents' blocks are left unowned (every
  // claim on their twice-claimed blocks is cleared too), so the block bitmap
  // check frees them.
  std::vector<Claim> kept;
  for (size_t k = 0; k < claims_.size(); ++k) {
    const Claim& c = claims_[k];
    if (!cleared[k]) {
      kept.push_back(c);
      continue;
    }
    for (uint64_t i = c.block - data_first_, end = i + c.n; i < end; ++i) owned_->reset(i);
    InodeInfo& in = inodes_.at(c.ino);
    in.extents_lost = true;
    auto it = std::find_if(in.extents.begin(), in.extents.end(), [&c](const L::Extent& e) {
      return e.pool_block == c.block && e.nblocks == c.n;
    });
    if (it != in.extents.end()) in.extents.erase(it);
  }
  claims_ = std::move(kept);
  claims_sorted_ = false;
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
    advance(at);
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
