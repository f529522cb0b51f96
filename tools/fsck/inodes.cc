// Pass 3: the state record and the inodes. Live inodes are found through the
// inode bitmap (and, later, through directory entries and the orphan list);
// each one's extents (extents.cc) and xattr runs are checked and the data
// blocks they use are claimed for the ownership check of blocks.cc. Records
// that fail their checksum or type go to inode_damage.cc.
#include <algorithm>
#include <cstring>
#include <unordered_set>

#include <spdlog/fmt/fmt.h>

#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {

bool image_bit(const Image& img, uint64_t bitmap_off, uint64_t i) {
  return (img.get<uint8_t>(bitmap_off + i / 8) >> (i % 8)) & 1;
}

void image_set_bit(Image& img, uint64_t bitmap_off, uint64_t i, bool on) {
  auto byte = img.get<uint8_t>(bitmap_off + i / 8);
  const auto mask = static_cast<uint8_t>(1u << (i % 8));
  byte = on ? (byte | mask) : (byte & ~mask);
  img.put(bitmap_off + i / 8, byte);
}

bool Checker::inode_bit(uint64_t ino) const {
  return image_bit(img_, sb_.inode_bitmap_off, ino - 1);
}

std::string Checker::blocks_str(uint64_t block, uint64_t n) const {
  if (n == 1) return fmt::format("block {}", block);
  return fmt::format("blocks {}-{}", block, block + n - 1);
}

void Checker::check_state_record() {
  state_ = img_.get<L::StateRecord>(sb_.state_off);
  const bool plausible = state_.clean <= 1 && state_.reserved0 == 0 && state_.reserved1 == 0;
  if (!checksum_ok(state_)) {
    if (plausible) {
      const uint64_t off = sb_.state_off;
      rep_.repairable("state record: bad checksum, but its fields are plausible; resealing it",
                      [off](Image& img) {
                        auto st = img.get<L::StateRecord>(off);
                        seal(st);
                        img.put(off, st);
                      });
    } else {
      rep_.unrepairable(fmt::format("state record: bad checksum (clean flag {})", state_.clean));
    }
  } else if (!plausible) {
    rep_.unrepairable(fmt::format("state record: invalid clean flag {} or reserved fields not zero",
                                  state_.clean));
  }
  if (state_.clean == 0)
    rep_.note(source_ + ": not cleanly unmounted (the next mount finishes recovery: frees orphans)");
}

void Checker::scan_inode_bitmap() {
  // Word at a time: time grows with the bitmap's size/64 plus the live inodes.
  const uint64_t bytes = div_round_up(sb_.inode_count, 8);
  std::vector<uint8_t> chunk(L::kBlockSize);
  for (uint64_t at = 0; at < bytes; at += chunk.size()) {
    advance(at);
    const uint64_t n = std::min<uint64_t>(chunk.size(), bytes - at);
    img_.read(sb_.inode_bitmap_off + at, chunk.data(), n);
    for (uint64_t b = 0; b < n; ++b) {
      if (chunk[b] == 0) continue;
      for (int k = 0; k < 8; ++k) {
        const uint64_t idx = (at + b) * 8 + k;
        if (((chunk[b] >> k) & 1) && idx < sb_.inode_count) load(idx + 1);
      }
    }
  }
}

InodeInfo& Checker::load(uint64_t ino) {
  auto [it, fresh] = inodes_.try_emplace(ino);
  InodeInfo& in = it->second;
  if (!fresh) return in;
  in.ino = ino;
  in.rec = img_.get<L::InodeRecord>(inode_off(ino));
  in.bit = inode_bit(ino);
  // A record whose bitmap bit is clear is free whatever it holds (mkfs does
  // not zero the table), unless it is a valid record in use: then a directory
  // entry or the orphan table led here and the bit is what was lost.
  if (all_zero(in.rec)) {
    in.state = InodeInfo::State::kNeverUsed;
  } else if (!checksum_ok(in.rec)) {
    if (in.bit)
      damaged_record(in, true, "bad checksum");
    else
      in.state = InodeInfo::State::kFree;
  } else if (in.rec.mode == 0) {
    in.state = InodeInfo::State::kFree;
  } else if (dtype_of_mode(in.rec.mode) == DT_UNKNOWN) {
    if (in.bit)
      damaged_record(in, false, fmt::format("invalid file type (mode {:#o})", in.rec.mode));
    else
      in.state = InodeInfo::State::kFree;
  } else {
    in.state = InodeInfo::State::kLive;
    check_inode_body(in);
  }
  return in;
}

void Checker::check_inode_body(InodeInfo& in) {
  const L::InodeRecord& r = in.rec;
  if (r.flags & ~(L::kInodeOrphan | L::kInodeBeyondEof))
    rep_.unrepairable(fmt::format("inode {}: unknown flags {:#x}", in.ino, r.flags));
  if (in.is_dir() && (r.parent == 0 || r.parent > sb_.inode_count))
    rep_.unrepairable(fmt::format("directory {}: parent {} is not an inode", in.ino, r.parent));
  for (uint32_t k = 0; k < L::kInlineExtents; ++k)
    check_extent(in, r.extents[k],
                 inode_off(in.ino) + offsetof(L::InodeRecord, extents) + k * sizeof(L::Extent),
                 fmt::format("inline extent {}", k));
  check_extent_chain(in);
  std::sort(in.extents.begin(), in.extents.end(),
            [](const L::Extent& a, const L::Extent& b) { return a.file_block < b.file_block; });
  for (size_t k = 1; k < in.extents.size(); ++k) {
    const L::Extent& a = in.extents[k - 1];
    const L::Extent& b = in.extents[k];
    if (a.file_block + a.nblocks > b.file_block)
      rep_.unrepairable(fmt::format("inode {}: extents overlap at file block {} (pool blocks {} and {})",
                                    in.ino, b.file_block, a.pool_block, b.pool_block));
  }
  check_xattrs(in);
}

void Checker::check_xattrs(InodeInfo& in) {
  std::unordered_set<uint64_t> seen;
  std::unordered_set<std::string> names;
  for (uint64_t p = in.rec.xattr_head; p != 0;) {
    if (!in_data(p, 1)) {
      rep_.unrepairable(fmt::format("inode {}: xattr chain leads to block {}, outside the data area",
                                    in.ino, p));
      claims_incomplete_ = true;
      return;
    }
    if (!seen.insert(p).second) {
      rep_.unrepairable(fmt::format("inode {}: xattr chain loops back to block {}", in.ino, p));
      return;
    }
    const uint64_t off = p * L::kBlockSize;
    const auto h = img_.get<L::XattrHeader>(off);
    if (h.magic != L::kXattrMagic || !checksum_ok(h)) {
      claim(p, 1, in.ino, ClaimKind::kXattr);
      rep_.unrepairable(fmt::format("inode {}: xattr block {}: bad {}", in.ino, p,
                                    h.magic != L::kXattrMagic ? "magic" : "checksum"));
      claims_incomplete_ = true;
      return;
    }
    const uint64_t need = sizeof(L::XattrHeader) + uint64_t{h.name_len} + h.value_len;
    if (h.nblocks == 0 || !in_data(p, h.nblocks) || h.name_len == 0 || h.name_len > L::kMaxNameLen ||
        h.value_len > L::kMaxXattrValue || need > uint64_t{h.nblocks} * L::kBlockSize) {
      claim(p, 1, in.ino, ClaimKind::kXattr);
      rep_.unrepairable(fmt::format(
          "inode {}: xattr block {}: invalid geometry ({} blocks, name {} bytes, value {} bytes)", in.ino,
          p, h.nblocks, h.name_len, h.value_len));
      claims_incomplete_ = true;
      return;
    }
    claim(p, h.nblocks, in.ino, ClaimKind::kXattr);
    if (img_.crc(off + sizeof(h), h.name_len + uint64_t{h.value_len}) != h.data_checksum) {
      rep_.unrepairable(fmt::format("inode {}: xattr block {}: name/value checksum is bad", in.ino, p));
    } else {
      std::string name(h.name_len, '\0');
      img_.read(off + sizeof(h), name.data(), name.size());
      static constexpr const char* kSpaces[] = {"user.", "trusted.", "security.", "system."};
      const bool spaced = std::any_of(std::begin(kSpaces), std::end(kSpaces), [&](const char* ns) {
        return name.rfind(ns, 0) == 0 && name.size() > std::strlen(ns);
      });
      if (!spaced || name.find('\0') != std::string::npos)
        rep_.unrepairable(fmt::format("inode {}: xattr block {}: invalid name {}", in.ino, p, quoted(name)));
      else if (!names.insert(name).second)
        rep_.unrepairable(fmt::format("inode {}: xattr {} is stored twice (block {})", in.ino, name, p));
    }
    p = h.next;
  }
}

void Checker::release_claims(uint64_t ino) {
  for (const Claim& c : claims_) {
    if (c.ino != ino) continue;
    for (uint64_t i = c.block - data_first_, end = i + c.n; i < end; ++i) owned_->reset(i);
  }
}

void Checker::claim(uint64_t block, uint64_t n, uint64_t ino, ClaimKind kind, uint64_t at) {
  claims_.push_back({block, n, ino, kind, at});
  claims_sorted_ = false;
  for (uint64_t i = block - data_first_, end = i + n; i < end; ++i) {
    if (owned_->test(i))
      if (!twice_.empty() && twice_.back().first + twice_.back().second == i)
        ++twice_.back().second;
      else
        twice_.emplace_back(i, 1);
    else
      owned_->set(i);
  }
}

}  // namespace pmemfs::fsck
