// Unreachable inodes: live, with links, but named by no directory the walk
// from the root reached (the entry naming them was removed or damaged). As
// e2fsck does, each one is given a name in /lost+found, "#<ino>", and an
// unreachable directory keeps what it holds, its ".." becoming /lost+found.
// /lost+found is a directory in the root (mode 0700, owned by root), created
// when missing and grown when it has no free slot left; its blocks are taken
// from blocks free in the bitmap and owned by nobody, so no repair of the
// bitmap can give them to anyone else.
//
// Unlinked inodes (link count 0) that missed the orphan table are not
// reconnected: check_inode_links frees them, as the mount would have.
#include <time.h>

#include <algorithm>
#include <cstring>

#include <spdlog/fmt/fmt.h>

#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {
namespace {

constexpr char kLostFound[] = "lost+found";
constexpr uint32_t kLostFoundMode = S_IFDIR | 0700;

L::DirentSlot make_entry(const std::string& name, uint64_t ino, uint8_t type) {
  L::DirentSlot s{};
  s.ino = ino;
  s.type = type;
  s.name_len = static_cast<uint8_t>(name.size());
  std::memcpy(s.name, name.data(), name.size());
  seal(s);
  return s;
}

int64_t now_ns() {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// Zeroes blocks [block, block+n) and marks them in use.
void take_blocks(Image& img, uint64_t block_bitmap_off, uint64_t data_first, uint64_t block, uint64_t n) {
  static const std::vector<char> kZero(L::kBlockSize, 0);
  for (uint64_t b = block; b < block + n; ++b) {
    img.write(b * L::kBlockSize, kZero.data(), kZero.size());
    image_set_bit(img, block_bitmap_off, b - data_first, true);
  }
}

// Runs first, then second.
Report::Repair then(Report::Repair first, Report::Repair second) {
  if (!first) return second;
  return [first, second](Image& img) {
    first(img);
    second(img);
  };
}

}  // namespace

void Checker::reconnect_unreachable() {
  std::vector<uint64_t> lost;
  for (const auto& [ino, in] : inodes_) {
    if (in.live() && ino != L::kRootIno && in.links == 0 && !in.on_orphan_list &&
        !(in.rec.nlink == 0 && in.bit))
      lost.push_back(ino);
  }
  if (lost.empty()) return;
  std::sort(lost.begin(), lost.end());

  // An unreachable directory keeps what it holds: walk it as the tree walk
  // does, so its entries count as links. What no entry names then is the top
  // of something lost, and only the tops get a name in lost+found.
  if (!tree_incomplete_) {
    for (uint64_t ino : lost) {
      InodeInfo& in = inodes_.at(ino);
      if (in.is_dir() && !in.traversed) walk_from(in);
    }
  }
  if (tree_incomplete_) {
    // Not known to be unreachable: one line, not one per inode.
    constexpr size_t kListed = 8;
    std::string inos;
    for (size_t i = 0; i < lost.size() && i < kListed; ++i) inos += fmt::format("{}{}", i ? ", " : "", lost[i]);
    if (lost.size() > kListed) inos += ", ...";
    rep_.unrepairable(fmt::format("{} inode(s) are in no directory that could be read (a damaged directory "
                                  "above may name them): {}",
                                  lost.size(), inos));
    return;
  }
  std::vector<uint64_t> tops;
  std::unordered_map<uint64_t, int> memo;
  for (uint64_t ino : lost) {
    const InodeInfo& in = inodes_.at(ino);
    if (in.links == 0)
      tops.push_back(ino);
    else if (in.is_dir() && !hangs_from_a_top(ino, memo))
      rep_.unrepairable(fmt::format("directory {}: in a loop of directories no path from the root reaches",
                                    ino));
  }
  if (tops.empty()) return;

  auto cannot = [&](const std::string& why) {
    for (uint64_t ino : tops)
      rep_.unrepairable(fmt::format("inode {} ({}): in no directory (unreachable), and {}", ino,
                                    type_name(inodes_.at(ino).rec.mode), why));
  };
  // The lost+found the root names, if it is a directory that stays.
  uint64_t lf = 0;
  if (auto it = inodes_.find(lost_found_entry_); lost_found_entry_ != 0 && it != inodes_.end()) {
    const InodeInfo& named = it->second;
    if (named.live() && named.is_dir()) {
      lf = lost_found_entry_;
    } else if (named.live()) {
      cannot("/lost+found is not a directory");
      return;
    }  // else the entry names a free or cleared inode and is removed
  }
  const uint64_t need = tops.size();
  Report::Repair prep;
  if (lf == 0) {
    const uint64_t blocks = div_round_up(need, L::kSlotsPerBlock);
    lf = create_lost_found(blocks, &prep);
    if (lf == 0) {
      cannot("there is no room to create /lost+found");
      return;
    }
    rep_.note(fmt::format("/lost+found is missing: the repairs create it (inode {}, {} block(s))", lf,
                          blocks));
  } else if (free_slots_[lf].size() < need) {
    const uint64_t blocks = div_round_up(need - free_slots_[lf].size(), L::kSlotsPerBlock);
    prep = grow_dir(inodes_.at(lf), blocks);
    if (!prep) {
      cannot("/lost+found is full and cannot grow");
      return;
    }
    rep_.note(fmt::format("/lost+found is full: the repairs grow it by {} block(s)", blocks));
  }

  InodeInfo& lfi = inodes_.at(lf);
  const std::vector<uint64_t>& slots = free_slots_[lf];
  for (size_t i = 0; i < tops.size(); ++i) {
    InodeInfo& in = inodes_.at(tops[i]);
    const uint64_t ino = in.ino;
    std::string name = fmt::format("#{}", ino);
    for (int n = 1; lost_found_names_.count(name) != 0; ++n) name = fmt::format("#{}.{}", ino, n);
    lost_found_names_.insert(name);
    const L::DirentSlot entry = make_entry(name, ino, dtype_of_mode(in.rec.mode));
    const uint64_t slot = slots[i];
    const bool dir = in.is_dir();
    const uint64_t off = inode_off(ino), lf_off = inode_off(lf);
    // As the repair leaves them.
    in.links = 1;
    in.first_dir = lf;
    if (dir) {
      in.rec.parent = lf;
      ++lfi.subdirs;
      ++lfi.rec.nlink;
    }
    Report::Repair move = [slot, entry, dir, off, lf, lf_off](Image& img) {
      img.put(slot, entry);
      if (!dir) return;
      auto r = img.get<L::InodeRecord>(off);
      r.parent = lf;
      seal(r);
      img.put(off, r);
      auto l = img.get<L::InodeRecord>(lf_off);
      ++l.nlink;
      seal(l);
      img.put(lf_off, l);
    };
    rep_.repairable(fmt::format("inode {} ({}): in no directory (unreachable); moving it to /lost+found "
                                "as {}{}",
                                ino, type_name(in.rec.mode), quoted(name),
                                dir ? " (its \"..\" becomes /lost+found)" : ""),
                    i == 0 ? then(prep, move) : move);
  }
}

bool Checker::hangs_from_a_top(uint64_t dir, std::unordered_map<uint64_t, int>& memo) {
  // memo: 0 on the path being followed, 1 hangs from a top, 2 in or below a loop.
  std::vector<uint64_t> path;
  bool hangs = false;
  for (uint64_t cur = dir;;) {
    if (auto it = memo.find(cur); it != memo.end()) {
      hangs = it->second == 1;
      break;
    }
    const InodeInfo& c = inodes_.at(cur);
    if (c.links == 0) {
      hangs = true;
      break;
    }
    memo[cur] = 0;
    path.push_back(cur);
    cur = c.first_dir;
  }
  for (uint64_t p : path) memo[p] = hangs ? 1 : 2;
  return hangs;
}

uint64_t Checker::create_lost_found(uint64_t blocks, Report::Repair* prep) {
  const uint64_t ino = free_inode();
  if (ino == 0) return 0;
  InodeInfo& root = inodes_.at(L::kRootIno);
  Report::Repair grow_root;
  if (free_slots_[L::kRootIno].empty()) {
    grow_root = grow_dir(root, 1);
    if (!grow_root) return 0;
  }
  const uint64_t run = free_run(blocks);
  if (run == 0) return 0;
  taken_.emplace_back(run, blocks);
  const uint64_t slot = free_slots_[L::kRootIno].front();
  free_slots_[L::kRootIno].erase(free_slots_[L::kRootIno].begin());

  L::InodeRecord r{};
  r.mode = kLostFoundMode;
  r.nlink = 2;
  r.size = blocks * L::kBlockSize;
  // A generation this slot has not had (the library keeps it when it frees).
  r.generation = img_.get<L::InodeRecord>(inode_off(ino)).generation + 1;
  r.atime_ns = r.mtime_ns = r.ctime_ns = r.btime_ns = now_ns();
  r.parent = L::kRootIno;
  r.extents[0].file_block = 0;
  r.extents[0].pool_block = run;
  r.extents[0].nblocks = static_cast<uint32_t>(blocks);
  seal(r.extents[0]);
  seal(r);

  // The new directory as the repair leaves it, for the passes after this.
  InodeInfo& in = inodes_[ino];
  in.ino = ino;
  in.state = InodeInfo::State::kLive;
  in.rec = r;
  in.bit = true;
  in.extents = {r.extents[0]};
  in.links = 1;
  in.first_dir = L::kRootIno;
  in.traversed = true;
  ++root.subdirs;
  ++root.rec.nlink;
  for (uint64_t b = run; b < run + blocks; ++b)
    for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s)
      free_slots_[ino].push_back(b * L::kBlockSize + s * sizeof(L::DirentSlot));

  const uint64_t off = inode_off(ino), root_off = inode_off(L::kRootIno);
  const uint64_t ibm = sb_.inode_bitmap_off, bbm = sb_.block_bitmap_off, first = data_first_;
  const L::DirentSlot entry = make_entry(kLostFound, ino, DT_DIR);
  *prep = then(grow_root, [=](Image& img) {
    take_blocks(img, bbm, first, run, blocks);
    img.put(off, r);
    image_set_bit(img, ibm, ino - 1, true);
    img.put(slot, entry);
    auto root_rec = img.get<L::InodeRecord>(root_off);
    ++root_rec.nlink;
    seal(root_rec);
    img.put(root_off, root_rec);
  });
  return ino;
}

Report::Repair Checker::grow_dir(InodeInfo& dir, uint64_t k) {
  const uint64_t fb = dir.rec.size / L::kBlockSize;
  // The last extent grows when it is inline and the blocks after it are
  // free; otherwise a new run goes in a free inline slot. Extent blocks are
  // not allocated here: a directory that needs one has no room.
  int slot = -1;
  uint64_t run = 0;
  for (uint32_t i = 0; i < L::kInlineExtents; ++i) {
    const L::Extent& e = dir.rec.extents[i];
    if (e.nblocks != 0 && e.file_block + e.nblocks == fb && e.nblocks + k <= UINT32_MAX &&
        blocks_free(e.pool_block + e.nblocks, k)) {
      slot = static_cast<int>(i);
      run = e.pool_block + e.nblocks;
    }
  }
  if (slot < 0) {
    for (uint32_t i = 0; i < L::kInlineExtents && slot < 0; ++i)
      if (all_zero(dir.rec.extents[i])) slot = static_cast<int>(i);
    if (slot < 0) return {};
    run = free_run(k);
    if (run == 0) return {};
  }
  taken_.emplace_back(run, k);
  L::Extent& e = dir.rec.extents[slot];
  if (e.nblocks == 0) e = L::Extent{fb, run, 0, 0};
  e.nblocks += static_cast<uint32_t>(k);
  seal(e);
  dir.rec.size += k * L::kBlockSize;
  auto it = std::find_if(dir.extents.begin(), dir.extents.end(),
                         [&](const L::Extent& x) { return x.file_block == e.file_block; });
  if (it != dir.extents.end())
    *it = e;
  else
    dir.extents.push_back(e);  // after every other: it starts at the old end
  for (uint64_t b = run; b < run + k; ++b)
    for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s)
      free_slots_[dir.ino].push_back(b * L::kBlockSize + s * sizeof(L::DirentSlot));

  const uint64_t off = inode_off(dir.ino), size = dir.rec.size, bbm = sb_.block_bitmap_off,
                 first = data_first_;
  const L::Extent grown = e;
  return [=](Image& img) {
    take_blocks(img, bbm, first, run, k);
    auto r = img.get<L::InodeRecord>(off);
    r.extents[slot] = grown;
    r.size = size;
    seal(r);
    img.put(off, r);
  };
}

bool Checker::blocks_free(uint64_t block, uint64_t n) const {
  if (!in_data(block, n)) return false;
  for (uint64_t b = block; b < block + n; ++b) {
    const uint64_t i = b - data_first_;
    if (owned_->test(i) || image_bit(img_, sb_.block_bitmap_off, i)) return false;
    for (const auto& [start, len] : taken_)
      if (b >= start && b < start + len) return false;
  }
  return true;
}

uint64_t Checker::free_run(uint64_t n) const {
  const uint64_t bm = sb_.block_bitmap_off;
  std::vector<uint8_t> chunk(L::kBlockSize);
  uint64_t start = 0, len = 0;
  for (uint64_t at = 0; at * 8 < sb_.data_blocks; at += chunk.size()) {
    const uint64_t nb = std::min<uint64_t>(chunk.size(), div_round_up(sb_.data_blocks, 8) - at);
    img_.read(bm + at, chunk.data(), nb);
    for (uint64_t byte = 0; byte < nb; ++byte) {
      if (chunk[byte] == 0xff) {
        len = 0;
        continue;
      }
      for (int bit = 0; bit < 8; ++bit) {
        const uint64_t i = (at + byte) * 8 + bit;
        if (i >= sb_.data_blocks) return 0;
        if (((chunk[byte] >> bit) & 1) || !blocks_free(data_first_ + i, 1)) {
          len = 0;
          continue;
        }
        if (len++ == 0) start = i;
        if (len == n) return data_first_ + start;
      }
    }
  }
  return 0;
}

uint64_t Checker::free_inode() const {
  const uint64_t bytes = div_round_up(sb_.inode_count, 8);
  std::vector<uint8_t> chunk(L::kBlockSize);
  for (uint64_t at = 0; at < bytes; at += chunk.size()) {
    const uint64_t nb = std::min<uint64_t>(chunk.size(), bytes - at);
    img_.read(sb_.inode_bitmap_off + at, chunk.data(), nb);
    for (uint64_t byte = 0; byte < nb; ++byte) {
      if (chunk[byte] == 0xff) continue;
      for (int bit = 0; bit < 8; ++bit) {
        const uint64_t ino = (at + byte) * 8 + bit + 1;
        if (ino > sb_.inode_count) return 0;
        // Anything loaded is named somewhere (an entry, the orphan table).
        if (!((chunk[byte] >> bit) & 1) && inodes_.count(ino) == 0) return ino;
      }
    }
  }
  return 0;
}

}  // namespace pmemfs::fsck
