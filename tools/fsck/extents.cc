// An inode's data extents: the inline ones and the chain of extent blocks.
// Each readable extent claims its blocks (blocks.cc checks ownership).
//
// What a regular file loses: an extent that cannot be read (bad checksum,
// outside the data area, a non-zero empty slot) is cleared, and a damaged
// extent block ends the chain at the link that led to it, so the extents in
// it and after it are lost. The file keeps every extent that can be read;
// its size is then cut back to the end of the last one
// (truncate_to_kept_extents), since nothing says what lay beyond; a lost
// range before that reads as a hole (zeros). The blocks nobody claims any
// more are freed by the block bitmap check. Directories and symlinks have no
// such repair: a lost extent there is a lost name or target.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <spdlog/fmt/fmt.h>

#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {
namespace {

bool is_regular(const InodeInfo& in) { return (in.rec.mode & S_IFMT) == S_IFREG; }

}  // namespace

void Checker::check_extent(InodeInfo& in, const L::Extent& e, uint64_t at, const std::string& where) {
  std::string bad;  // what follows "inode N: <where>"
  if (e.nblocks == 0) {
    if (all_zero(e)) return;
    bad = " is empty (0 blocks) but not zeroed";
  } else if (!checksum_ok(e)) {
    bad = ": bad checksum";
  } else if (!in_data(e.pool_block, e.nblocks)) {
    bad = fmt::format(" (file block {}, pool block {}, {} blocks) lies outside the data area "
                      "(pool blocks {}-{})",
                      e.file_block, e.pool_block, e.nblocks, data_first_,
                      data_first_ + sb_.data_blocks - 1);
  } else if (e.file_block + e.nblocks < e.file_block) {
    bad = fmt::format(": file block {} overflows", e.file_block);
  }
  if (bad.empty()) {
    claim(e.pool_block, e.nblocks, in.ino, ClaimKind::kData, at);
    in.extents.push_back(e);
    return;
  }
  const std::string line = fmt::format("inode {}: {}{}", in.ino, where, bad);
  if (is_regular(in)) {
    lose_extent(in, at, line);
  } else {
    rep_.unrepairable(line);
    // An empty slot that is not zeroed loses no blocks that anyone could name.
    if (e.nblocks != 0) {
      in.extents_complete = false;
      claims_incomplete_ = true;
    }
  }
}

void Checker::lose_extent(InodeInfo& in, uint64_t at, const std::string& line) {
  in.extents_lost = true;
  rep_.repairable(line + "; clearing it (the file keeps its other extents)",
                  clear_extent_repair(in.ino, at));
}

Report::Repair Checker::clear_extent_repair(uint64_t ino, uint64_t at) const {
  const uint64_t rec_off = inode_off(ino);
  if (at >= rec_off && at < rec_off + sizeof(L::InodeRecord)) {
    // Inline: the record's checksum covers it.
    return [rec_off, at](Image& img) {
      auto r = img.get<L::InodeRecord>(rec_off);
      std::memset(reinterpret_cast<char*>(&r) + (at - rec_off), 0, sizeof(L::Extent));
      seal(r);
      img.put(rec_off, r);
    };
  }
  // In an extent block: each extent has its own checksum, the block's covers
  // only its header.
  return [at](Image& img) { img.put(at, L::Extent{}); };
}

void Checker::check_extent_chain(InodeInfo& in) {
  std::unordered_set<uint64_t> seen;
  uint64_t link = 0;  // the extent block whose next led to p; 0: the record's extent_next
  for (uint64_t p = in.rec.extent_next; p != 0;) {
    if (!in_data(p, 1)) {
      cut_extent_chain(in, link,
                       fmt::format("extent block chain leads to block {}, outside the data area", p),
                       true);
      return;
    }
    if (!seen.insert(p).second) {
      // Every block of the chain was read already: ending it loses nothing.
      cut_extent_chain(in, link, fmt::format("extent block chain loops back to block {}", p), false);
      return;
    }
    const auto eb = img_.get<L::ExtentBlock>(p * L::kBlockSize);
    if (eb.magic != L::kExtentBlockMagic || !checksum_ok(eb)) {
      cut_extent_chain(in, link,
                       fmt::format("extent block {}: bad {}", p,
                                   eb.magic != L::kExtentBlockMagic ? "magic" : "checksum"),
                       true);
      return;
    }
    claim(p, 1, in.ino, ClaimKind::kExtentBlock);
    if (eb.owner != in.ino)
      rep_.unrepairable(fmt::format("inode {}: extent block {} says it belongs to inode {}", in.ino, p,
                                    eb.owner));
    for (uint32_t k = 0; k < L::kExtentsPerBlock; ++k)
      check_extent(in, eb.extents[k],
                   p * L::kBlockSize + offsetof(L::ExtentBlock, extents) + k * sizeof(L::Extent),
                   fmt::format("extent {} of extent block {}", k, p));
    link = p;
    p = eb.next;
  }
}

void Checker::cut_extent_chain(InodeInfo& in, uint64_t link, const std::string& why, bool loses) {
  const std::string line = fmt::format("inode {}: {}", in.ino, why);
  if (!is_regular(in)) {
    rep_.unrepairable(line);
    if (loses) {
      in.extents_complete = false;
      claims_incomplete_ = true;
    }
    return;
  }
  if (loses) in.extents_lost = true;
  const uint64_t rec_off = inode_off(in.ino);
  rep_.repairable(line + "; ending the extent chain before it", [rec_off, link](Image& img) {
    if (link == 0) {
      auto r = img.get<L::InodeRecord>(rec_off);
      r.extent_next = 0;
      seal(r);
      img.put(rec_off, r);
    } else {
      auto eb = img.get<L::ExtentBlock>(link * L::kBlockSize);
      eb.next = 0;
      seal(eb);
      img.put(link * L::kBlockSize, eb);
    }
  });
}

void Checker::truncate_to_kept_extents(InodeInfo& in) {
  uint64_t end = 0;
  for (const L::Extent& e : in.extents) end = std::max<uint64_t>(end, (e.file_block + e.nblocks) * L::kBlockSize);
  if (in.rec.size <= end) return;
  const uint64_t off = inode_off(in.ino);
  rep_.repairable(fmt::format("inode {}: size {} reaches past the extents it keeps; truncating it to {}",
                              in.ino, in.rec.size, end),
                  [off, end](Image& img) {
                    auto r = img.get<L::InodeRecord>(off);
                    r.size = end;
                    seal(r);
                    img.put(off, r);
                  });
  in.rec.size = end;
}

}  // namespace pmemfs::fsck
