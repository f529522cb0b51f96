// Pass 4: the directory tree, the orphan table and what follows from both:
// link counts, parents, reachability and the size rules of each file type.
#include <algorithm>
#include <cstring>

#include <spdlog/fmt/fmt.h>

#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {

std::string quoted(const std::string& name) {
  std::string q = "\"";
  for (unsigned char c : name) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
      q += fmt::format("\\x{:02x}", c);
    else
      q += static_cast<char>(c);
  }
  return q + "\"";
}

void Checker::walk_tree() {
  InodeInfo& root = load(L::kRootIno);
  if (!root.live() || !root.is_dir()) {
    if (root.state != InodeInfo::State::kDamaged)
      rep_.unrepairable("root inode 1 is not a directory in use");
    tree_incomplete_ = true;
    return;
  }
  walk_from(root);
}

void Checker::walk_from(InodeInfo& top) {
  std::deque<uint64_t> queue{top.ino};
  top.traversed = true;
  uint64_t walked = 0;
  while (!queue.empty()) {
    advance(walked++);
    InodeInfo& dir = inodes_.at(queue.front());  // references survive rehashing
    queue.pop_front();
    walk_dir(dir, queue);
  }
}

void Checker::walk_dir(InodeInfo& dir, std::deque<uint64_t>& queue) {
  // Entries in blocks that cannot be read may name anything.
  if (!dir.extents_complete) tree_incomplete_ = true;
  std::unordered_set<std::string> names;
  const uint64_t nblocks = dir.rec.size / L::kBlockSize;
  for (const L::Extent& e : dir.extents) {
    for (uint64_t i = 0; i < e.nblocks; ++i) {
      if (e.file_block + i >= nblocks) break;  // beyond the size: check_size_rules reports it
      for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s)
        check_dirent(dir, e.pool_block + i, s, names, queue);
    }
  }
}

void Checker::check_dirent(InodeInfo& dir, uint64_t pblock, uint32_t slot,
                           std::unordered_set<std::string>& names, std::deque<uint64_t>& queue) {
  const uint64_t off = pblock * L::kBlockSize + uint64_t{slot} * sizeof(L::DirentSlot);
  const auto d = img_.get<L::DirentSlot>(off);
  const std::string where = fmt::format("directory {} (block {} slot {})", dir.ino, pblock, slot);
  auto clear_slot = [off](Image& img) { img.put(off, L::DirentSlot{}); };
  if (d.ino == 0) {
    if (!all_zero(d)) rep_.repairable(where + ": free slot is not zeroed; zeroing it", clear_slot);
    // Room for lost+found and its entries (lost_found.cc).
    if (dir.ino == L::kRootIno || dir.ino == lost_found_entry_) free_slots_[dir.ino].push_back(off);
    return;
  }
  if (!checksum_ok(d)) {
    // Nothing in it can be trusted, the inode number least of all. If it was
    // the only name of an inode, that inode goes to lost+found.
    rep_.repairable(fmt::format("{}: entry for inode {}: bad checksum; clearing the slot", where, d.ino),
                    clear_slot);
    return;
  }
  const std::string name(d.name, d.name_len);
  if (dir.ino == L::kRootIno && name == "lost+found") lost_found_entry_ = d.ino;
  if (dir.ino == lost_found_entry_) lost_found_names_.insert(name);
  const bool tail_zero = all_zero(d.name + d.name_len, sizeof(d.name) - d.name_len) &&
                         all_zero(d.reserved, sizeof(d.reserved));
  if (d.name_len == 0 || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos || name == "." || name == ".." || !tail_zero) {
    rep_.unrepairable(fmt::format("{}: invalid name {} (length {})", where, quoted(name), d.name_len));
  } else if (!names.insert(name).second) {
    rep_.unrepairable(fmt::format("{}: name {} appears twice", where, quoted(name)));
  }
  if (d.ino > sb_.inode_count) {
    rep_.repairable(fmt::format("{}: entry {} names inode {}, beyond the inode table; removing the entry",
                                where, quoted(name), d.ino),
                    clear_slot);
    return;
  }
  InodeInfo& t = load(d.ino);
  if (t.state == InodeInfo::State::kNeverUsed || t.state == InodeInfo::State::kFree) {
    rep_.repairable(fmt::format("{}: entry {} names free inode {}; removing the entry", where,
                                quoted(name), d.ino),
                    clear_slot);
    return;
  }
  if (t.state == InodeInfo::State::kCleared) {
    rep_.repairable(fmt::format("{}: entry {} names inode {}, which is cleared; removing the entry", where,
                                quoted(name), d.ino),
                    clear_slot);
    return;
  }
  ++t.links;
  if (t.links == 1) t.first_dir = dir.ino;
  if (!t.live()) {
    // Its damage is reported already; if it is a directory, what it holds
    // cannot be seen.
    tree_incomplete_ = true;
    return;
  }
  const uint8_t type = dtype_of_mode(t.rec.mode);
  if (d.type != type && t.resealed) {
    // Either the entry or the resealed record's mode is wrong: no way to tell.
    rep_.unrepairable(fmt::format("{}: entry {} has type {} but inode {}, whose checksum was bad, is a {}",
                                  where, quoted(name), d.type, d.ino, type_name(t.rec.mode)));
  } else if (d.type != type) {
    rep_.repairable(fmt::format("{}: entry {} has type {} but inode {} is a {}; fixing the type", where,
                                quoted(name), d.type, d.ino, type_name(t.rec.mode)),
                    [off, type](Image& img) {
                      auto s = img.get<L::DirentSlot>(off);
                      s.type = type;
                      seal(s);
                      img.put(off, s);
                    });
  }
  if (t.is_dir()) {
    ++dir.subdirs;
    if (!t.traversed) {
      t.traversed = true;
      queue.push_back(t.ino);
    }
  }
}

void Checker::check_orphan_table() {
  std::unordered_set<uint64_t> seen;
  for (uint64_t slot = 0; slot < L::orphan_table_inos(sb_); ++slot)
    check_orphan_slot(sb_.orphan_off + slot * sizeof(uint64_t), fmt::format("orphan table slot {}", slot),
                      seen);
  if (!L::has_orphan_chain(sb_)) return;
  // Version 2: the chain of OrphanBlocks from the table's last u64. A bad
  // link ends the chain there; the orphans listed past it are then freed
  // like any unlinked inode no list names (check_inode_links).
  std::unordered_set<uint64_t> blocks;
  uint64_t link_off = L::orphan_link_off(sb_);
  std::string link_name = "the orphan table's link";
  for (uint64_t p = img_.get<uint64_t>(link_off); p != 0;) {
    std::string bad;
    const auto blk = in_data(p, 1) ? img_.get<L::OrphanBlock>(p * L::kBlockSize) : L::OrphanBlock{};
    if (!in_data(p, 1))
      bad = "outside the data area";
    else if (!blocks.insert(p).second)
      bad = "where the chain was already";
    else if (blk.magic != L::kOrphanBlockMagic)
      bad = "which has a bad magic";
    else if (blk.checksum != orphan_block_checksum(blk))
      bad = "which has a bad checksum";
    if (!bad.empty()) {
      const uint64_t at = link_off;
      const bool in_table = at == L::orphan_link_off(sb_);
      rep_.repairable(fmt::format("orphan chain: {} leads to block {}, {}; ending the chain there", link_name,
                                  p, bad),
                      [at, in_table](Image& img) {
                        if (in_table) {
                          img.put(at, uint64_t{0});
                          return;
                        }
                        // at is the next field of a chain block: reseal its header.
                        const uint64_t blk_off = at - offsetof(L::OrphanBlock, next);
                        auto b = img.get<L::OrphanBlock>(blk_off);
                        b.next = 0;
                        b.checksum = orphan_block_checksum(b);
                        img.put(blk_off, b);
                      });
      return;
    }
    claim(p, 1, 0, ClaimKind::kOrphanBlock);
    for (uint64_t j = 0; j < L::kOrphansPerBlock; ++j)
      check_orphan_slot(p * L::kBlockSize + offsetof(L::OrphanBlock, inos) + j * sizeof(uint64_t),
                        fmt::format("orphan block {} slot {}", p, j), seen);
    link_off = p * L::kBlockSize + offsetof(L::OrphanBlock, next);
    link_name = fmt::format("orphan block {}", p);
    p = blk.next;
  }
}

void Checker::check_orphan_slot(uint64_t off, const std::string& where,
                                std::unordered_set<uint64_t>& seen) {
  {
    const auto ino = img_.get<uint64_t>(off);
    if (ino == 0) return;
    auto clear_slot = [off](Image& img) { img.put(off, uint64_t{0}); };
    if (ino > sb_.inode_count) {
      rep_.repairable(fmt::format("{}: inode {} is beyond the inode table; clearing the slot", where, ino),
                      clear_slot);
      return;
    }
    if (!seen.insert(ino).second) {
      rep_.repairable(fmt::format("{}: inode {} is listed twice; clearing the slot", where, ino), clear_slot);
      return;
    }
    InodeInfo& in = load(ino);
    if (in.state == InodeInfo::State::kDamaged) return;  // reported
    if (in.state == InodeInfo::State::kCleared) {
      rep_.repairable(fmt::format("{}: inode {} is cleared; clearing the slot", where, ino), clear_slot);
      return;
    }
    if (!in.live()) {
      rep_.repairable(fmt::format("{}: inode {} is free; clearing the slot", where, ino), clear_slot);
      return;
    }
    in.on_orphan_list = true;
    if (!in.flagged_orphan()) {
      const uint64_t rec_off = inode_off(ino);
      rep_.repairable(fmt::format("inode {}: in the orphan table but not flagged orphan; flagging it", ino),
                      [rec_off](Image& img) {
                        auto r = img.get<L::InodeRecord>(rec_off);
                        r.flags |= L::kInodeOrphan;
                        seal(r);
                        img.put(rec_off, r);
                      });
    }
  }
}

void Checker::check_inode_links() {
  std::vector<uint64_t> inos;
  inos.reserve(inodes_.size());
  for (const auto& [ino, in] : inodes_) inos.push_back(ino);
  std::sort(inos.begin(), inos.end());  // stable output

  uint64_t checked = 0;
  for (uint64_t ino : inos) {
    advance(checked++);
    InodeInfo& in = inodes_.at(ino);
    const uint64_t off = inode_off(ino);
    const uint64_t bm = sb_.inode_bitmap_off;
    auto rewrite = [off](auto change) {
      return [off, change](Image& img) {
        auto r = img.get<L::InodeRecord>(off);
        change(r);
        seal(r);
        img.put(off, r);
      };
    };
    if (!in.live()) {
      // Damaged: reported; cleared: the repair clears the bit.
      if (in.bit && (in.state == InodeInfo::State::kNeverUsed || in.state == InodeInfo::State::kFree))
        rep_.repairable(fmt::format("inode {}: free but marked in use in the inode bitmap; clearing the bit",
                                    ino),
                        [bm, ino](Image& img) { image_set_bit(img, bm, ino - 1, false); });
      continue;
    }
    const bool reached = ino == L::kRootIno || in.links > 0;
    if (!reached && !in.on_orphan_list) {
      if (in.rec.nlink == 0 && in.bit) {
        // Unlinked while open and the orphan table was full (or the flag
        // was lost): the mount that should have freed it never came.
        release_claims(ino);
        const uint64_t generation = in.rec.generation;
        rep_.repairable(fmt::format("inode {} ({}): link count 0, in no directory and not in the orphan "
                                    "table; freeing it and its blocks",
                                    ino, type_name(in.rec.mode)),
                        [off, bm, ino, generation](Image& img) {
                          L::InodeRecord freed{};
                          freed.generation = generation;
                          seal(freed);
                          img.put(off, freed);
                          image_set_bit(img, bm, ino - 1, false);
                        });
      }
      // Otherwise reconnect_unreachable said why it cannot move it to
      // lost+found (those it moves have a link now).
      continue;
    }
    if (!in.bit)
      rep_.repairable(fmt::format("inode {}: in use but free in the inode bitmap; marking it", ino),
                      [bm, ino](Image& img) { image_set_bit(img, bm, ino - 1, true); });
    if (in.flagged_orphan() && !in.on_orphan_list)
      rep_.repairable(fmt::format("inode {}: flagged orphan but not in the orphan table; clearing the flag",
                                  ino),
                      rewrite([](L::InodeRecord& r) { r.flags &= ~L::kInodeOrphan; }));
    if (in.extents_lost) truncate_to_kept_extents(in);
    check_size_rules(in);

    uint32_t expected = in.links;
    if (in.is_dir()) {
      uint64_t parent = in.rec.parent;
      if (ino == L::kRootIno) {
        if (in.links > 0)
          rep_.unrepairable(fmt::format("root directory: named by an entry in directory {}", in.first_dir));
        parent = L::kRootIno;
      } else if (in.links > 1) {
        rep_.unrepairable(fmt::format("directory {}: named by {} entries (the first in directory {})", ino,
                                      in.links, in.first_dir));
      } else if (in.links == 1) {
        parent = in.first_dir;
      }
      if (parent != in.rec.parent)
        rep_.repairable(fmt::format("directory {}: parent is {}, but it is in directory {}; fixing the parent",
                                    ino, in.rec.parent, parent),
                        rewrite([parent](L::InodeRecord& r) { r.parent = parent; }));
      // An unlinked directory (an orphan named nowhere) has no links at all.
      expected = (in.links == 0 && ino != L::kRootIno) ? 0 : 2 + in.subdirs;
    }
    if (in.rec.nlink > expected && tree_incomplete_)
      rep_.note(fmt::format("inode {}: link count is {}, {} entries seen; the damaged directories above "
                            "may hold more",
                            ino, in.rec.nlink, expected));
    else if (in.rec.nlink != expected)
      rep_.repairable(fmt::format("inode {}: link count is {}, should be {}; fixing it", ino, in.rec.nlink,
                                  expected),
                      rewrite([expected](L::InodeRecord& r) { r.nlink = expected; }));
  }
}

void Checker::check_size_rules(const InodeInfo& in) {
  if (!in.extents_complete) return;  // the unreadable extents are reported
  const L::InodeRecord& r = in.rec;
  uint64_t end = 0;  // one past the last mapped file block
  for (const L::Extent& e : in.extents) end = std::max<uint64_t>(end, e.file_block + e.nblocks);
  // File blocks [0, n) all mapped, nothing beyond: directories and symlinks.
  auto require_dense = [&](uint64_t n, const char* what) {
    uint64_t next = 0;
    for (const L::Extent& e : in.extents) {
      if (e.file_block > next) break;
      next = std::max<uint64_t>(next, e.file_block + e.nblocks);
    }
    if (next < n)
      rep_.unrepairable(fmt::format("{} {}: file block {} is not allocated (size {})", what, in.ino, next,
                                    r.size));
    else if (end > n)
      rep_.unrepairable(fmt::format("{} {}: blocks mapped up to file block {}, beyond its size {}", what,
                                    in.ino, end - 1, r.size));
  };
  switch (r.mode & S_IFMT) {
    case S_IFREG:
      // Orphans may be mid-truncate; kInodeBeyondEof marks preallocation.
      if (!in.on_orphan_list && !(r.flags & L::kInodeBeyondEof) &&
          end > div_round_up(r.size, L::kBlockSize))
        rep_.unrepairable(fmt::format("inode {}: blocks mapped up to file block {}, beyond its size {}",
                                      in.ino, end - 1, r.size));
      break;
    case S_IFDIR:
      if (r.size % L::kBlockSize != 0)
        rep_.unrepairable(fmt::format("directory {}: size {} is not a multiple of {}", in.ino, r.size,
                                      L::kBlockSize));
      else
        require_dense(r.size / L::kBlockSize, "directory");
      break;
    case S_IFLNK:
      if (r.size == 0 || r.size > L::kMaxSymlinkLen) {
        rep_.unrepairable(fmt::format("symlink {}: invalid target length {}", in.ino, r.size));
      } else {
        require_dense(div_round_up(r.size, L::kBlockSize), "symlink");
        if (!in.extents.empty() && in.extents[0].file_block == 0) {
          std::string target(r.size, '\0');
          img_.read(in.extents[0].pool_block * L::kBlockSize, target.data(), target.size());
          if (target.find('\0') != std::string::npos)
            rep_.unrepairable(fmt::format("symlink {}: target contains a NUL byte", in.ino));
        }
      }
      break;
    default:
      if (!in.extents.empty() || r.extent_next != 0)
        rep_.unrepairable(fmt::format("inode {}: a {} with data blocks", in.ino, type_name(r.mode)));
      break;
  }
}

}  // namespace pmemfs::fsck
