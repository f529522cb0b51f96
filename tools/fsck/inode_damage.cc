// Inode records in use (bit set) that fail their checksum or have no valid
// file type. As e2fsck does with a metadata checksum error: a record whose
// every field is still plausible is resealed (the damage, if any, is in a
// field no check can judge: an owner, a time, permission bits), and the rest
// of the check treats it as live; any other record is cleared, which frees
// its blocks (the block bitmap check finds them unowned) and removes the
// entries naming it (tree.cc). Nothing of a cleared record is kept: its
// extents cannot be trusted to name the file's blocks, so none are given to
// anyone. The root cannot be cleared: that stays unrepairable.
#include <spdlog/fmt/fmt.h>

#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {
namespace {

// The most links the library gives one inode (EMLINK beyond).
constexpr uint32_t kMaxLinks = 65000;

}  // namespace

std::string Checker::implausible(const L::InodeRecord& r) const {
  const uint32_t type = r.mode & S_IFMT;
  if (dtype_of_mode(r.mode) == DT_UNKNOWN) return fmt::format("invalid file type (mode {:#o})", r.mode);
  if (r.mode & ~(S_IFMT | 07777)) return fmt::format("invalid mode {:#o}", r.mode);
  if (r.flags & ~(L::kInodeOrphan | L::kInodeBeyondEof)) return fmt::format("unknown flags {:#x}", r.flags);
  if (r.reserved0 != 0 || r.reserved1 != 0 || !all_zero(r.reserved, sizeof(r.reserved)))
    return "reserved fields not zero";
  if (r.nlink > kMaxLinks) return fmt::format("link count {}", r.nlink);
  if (r.size > L::kMaxFileSize) return fmt::format("size {}", r.size);
  if (type == S_IFDIR) {
    if (r.parent == 0 || r.parent > sb_.inode_count) return fmt::format("parent {}", r.parent);
    if (r.size % L::kBlockSize != 0) return fmt::format("directory size {}", r.size);
  } else if (r.parent != 0) {
    return fmt::format("parent {} of a non-directory", r.parent);
  }
  if (type == S_IFLNK && (r.size == 0 || r.size > L::kMaxSymlinkLen))
    return fmt::format("symlink length {}", r.size);
  if (type != S_IFCHR && type != S_IFBLK && r.rdev != 0) return fmt::format("device number {}", r.rdev);
  if (r.extent_next != 0 && !in_data(r.extent_next, 1))
    return fmt::format("extent block {} outside the data area", r.extent_next);
  if (r.xattr_head != 0 && !in_data(r.xattr_head, 1))
    return fmt::format("xattr block {} outside the data area", r.xattr_head);
  for (uint32_t k = 0; k < L::kInlineExtents; ++k) {
    const L::Extent& e = r.extents[k];
    if (all_zero(e)) continue;
    if (e.nblocks == 0 || !checksum_ok(e) || !in_data(e.pool_block, e.nblocks))
      return fmt::format("inline extent {} damaged", k);
  }
  return "";
}

void Checker::damaged_record(InodeInfo& in, bool bad_checksum, const std::string& why) {
  const uint64_t ino = in.ino, off = inode_off(ino), bm = sb_.inode_bitmap_off;
  std::string problem = why;
  if (bad_checksum) {
    const std::string bad = implausible(in.rec);
    if (bad.empty()) {
      in.state = InodeInfo::State::kLive;
      in.resealed = true;
      rep_.repairable(fmt::format("inode {}: bad checksum, but every field is plausible; resealing it",
                                  ino),
                      [off](Image& img) {
                        auto r = img.get<L::InodeRecord>(off);
                        seal(r);
                        img.put(off, r);
                      });
      check_inode_body(in);
      return;
    }
    problem += " (" + bad + ")";
  }
  if (ino == L::kRootIno) {
    in.state = InodeInfo::State::kDamaged;
    rep_.unrepairable(fmt::format("inode {}: {}", ino, problem));
    claims_incomplete_ = true;
    tree_incomplete_ = true;
    return;
  }
  in.state = InodeInfo::State::kCleared;
  const uint64_t generation = in.rec.generation;
  rep_.repairable(fmt::format("inode {}: {}; clearing it (its blocks are freed and the entries naming "
                              "it removed)",
                              ino, problem),
                  [off, bm, ino, generation](Image& img) {
                    // What the library leaves of a freed inode.
                    L::InodeRecord freed{};
                    freed.generation = generation;
                    seal(freed);
                    img.put(off, freed);
                    image_set_bit(img, bm, ino - 1, false);
                  });
}

}  // namespace pmemfs::fsck
