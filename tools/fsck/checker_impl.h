// The checker's passes and the state they share. Internal to tools/fsck.
//
// Pass order (each relies on the ones before):
//   superblock.cc  pick a usable superblock (primary or copy), geometry
//   journal.cc     validate lanes; stage committed ones "as replayed"
//   inodes.cc      state record; live inodes from the inode bitmap; each
//                  inode's xattr runs (block claims)
//   inode_damage.cc records that fail their checksum or type: resealed or
//                  cleared
//   extents.cc     each inode's extents and extent blocks (block claims);
//                  what a regular file loses with a damaged one
//   tree.cc        directory tree from root: dirents, names, types; orphan
//                  table
//   lost_found.cc  unreachable inodes moved to /lost+found (created if need be)
//   blocks.cc      blocks claimed twice
//   tree.cc        link counts, parents, size rules
//   blocks.cc      block ownership vs the block bitmap
//
// Repairs are planned in these passes: a pass that plans one updates the
// InodeInfo it changes (size, extents, links) as the repair will, so that the
// passes after it check the pool as it will be.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <ostream>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "tools/fsck/checker.h"
#include "tools/fsck/image.h"
#include "tools/fsck/records.h"
#include "tools/fsck/report.h"

namespace pmemfs::fsck {

// One bit per data block.
class BlockBits {
 public:
  explicit BlockBits(uint64_t n) : words_((n + 63) / 64, 0) {}
  bool test(uint64_t i) const { return (words_[i / 64] >> (i % 64)) & 1; }
  void set(uint64_t i) { words_[i / 64] |= uint64_t{1} << (i % 64); }
  void reset(uint64_t i) { words_[i / 64] &= ~(uint64_t{1} << (i % 64)); }
  uint64_t word(uint64_t w) const { return words_[w]; }
  uint64_t count() const;

 private:
  std::vector<uint64_t> words_;
};

// kOrphanBlock: a block of the orphan chain (Claim::ino 0: no inode owns it).
enum class ClaimKind : uint8_t { kData, kExtentBlock, kXattr, kOrphanBlock };
const char* claim_kind_name(ClaimKind k);

// A run of data blocks an inode's metadata says it owns.
struct Claim {
  uint64_t block;  // absolute pool block
  uint64_t n;
  uint64_t ino;
  ClaimKind kind;
  uint64_t at = 0;  // kData: pool offset of the Extent record, to clear it
};

struct InodeInfo {
  // kDamaged: unusable and no repair exists; kCleared: unusable, and the
  // repair frees it (entries naming it are removed).
  enum class State { kNeverUsed, kFree, kDamaged, kCleared, kLive };
  uint64_t ino = 0;
  State state = State::kNeverUsed;
  L::InodeRecord rec{};
  bool bit = false;                // inode bitmap
  std::vector<L::Extent> extents;  // readable data extents, sorted by file block
  bool extents_complete = true;    // every extent and extent block was readable,
                                   // or the repairs clear the rest (extents_lost)
  bool extents_lost = false;       // regular file: the repairs clear some extents
  bool resealed = false;           // bad checksum, plausible fields: resealed
  uint32_t links = 0;              // entries naming it in directories reached from root
  uint32_t subdirs = 0;            // directories: entries in it naming directories
  uint64_t first_dir = 0;          // directory holding the first entry naming it
  bool on_orphan_list = false;     // named by the orphan table or its chain
  bool traversed = false;          // directories: queued for the tree walk

  bool live() const { return state == State::kLive; }
  bool is_dir() const { return (rec.mode & S_IFMT) == S_IFDIR; }
  bool flagged_orphan() const { return (rec.flags & L::kInodeOrphan) != 0; }
};

class Checker {
 public:
  Checker(Image& img, Report& rep, const CheckOptions& opts, std::ostream& out,
          const std::string& source)
      : img_(img), rep_(rep), opts_(opts), out_(out), source_(source) {}

  // Runs every pass. Returns 0 when the check ran to the end (problems are in
  // the Report), else the exit code of a check that could not continue.
  int run();
  // The passes of run(), as progress reports count them.
  static constexpr int kPasses = 9;

  uint64_t live_inodes() const;
  uint64_t used_blocks() const { return owned_ ? owned_->count() : 0; }

 private:
  // Progress (progress.h), when the options ask for it.
  void start_pass(int pass, const char* name, uint64_t max);
  void advance(uint64_t done);
  void end_pass();
  // superblock.cc
  int check_superblocks();
  // journal.cc
  void check_journal();
  std::string journal_records_problem(uint64_t off, const L::LaneHeader& h) const;
  // inodes.cc
  void check_state_record();
  void scan_inode_bitmap();
  InodeInfo& load(uint64_t ino);
  void check_inode_body(InodeInfo& in);
  void check_xattrs(InodeInfo& in);
  void claim(uint64_t block, uint64_t n, uint64_t ino, ClaimKind kind, uint64_t at = 0);
  // Forgets the blocks ino claimed (it is being freed).
  void release_claims(uint64_t ino);
  // inode_damage.cc
  void damaged_record(InodeInfo& in, bool bad_checksum, const std::string& why);
  std::string implausible(const L::InodeRecord& r) const;
  // extents.cc
  void check_extent(InodeInfo& in, const L::Extent& e, uint64_t at, const std::string& where);
  void check_extent_chain(InodeInfo& in);
  void lose_extent(InodeInfo& in, uint64_t at, const std::string& line);
  void cut_extent_chain(InodeInfo& in, uint64_t link, const std::string& line, bool loses);
  Report::Repair clear_extent_repair(uint64_t ino, uint64_t at) const;
  void truncate_to_kept_extents(InodeInfo& in);
  // lost_found.cc
  void reconnect_unreachable();
  // Whether a directory reached only from unreachable ones hangs below one
  // no entry names (else they form a loop).
  bool hangs_from_a_top(uint64_t dir, std::unordered_map<uint64_t, int>& memo);
  // Plans /lost+found with blocks empty blocks; returns its ino (0: no room)
  // and sets *prep to the repair that creates it.
  uint64_t create_lost_found(uint64_t blocks, Report::Repair* prep);
  // Plans k more empty blocks at the end of directory dir, their slots
  // added to free_slots_; returns the repair, empty when there is no room.
  Report::Repair grow_dir(InodeInfo& dir, uint64_t k);
  // Data blocks free in the bitmap, owned by nobody and not taken_ yet.
  bool blocks_free(uint64_t block, uint64_t n) const;
  uint64_t free_run(uint64_t n) const;  // first block of n such; 0 none
  uint64_t free_inode() const;          // free and named nowhere; 0 none
  // tree.cc
  void walk_tree();
  void walk_from(InodeInfo& top);
  void walk_dir(InodeInfo& dir, std::deque<uint64_t>& queue);
  void check_dirent(InodeInfo& dir, uint64_t pblock, uint32_t slot,
                    std::unordered_set<std::string>& names, std::deque<uint64_t>& queue);
  void check_orphan_table();
  // One slot (a u64 ino, 0 free) of the orphan table or chain, at off.
  void check_orphan_slot(uint64_t off, const std::string& where, std::unordered_set<uint64_t>& seen);
  void check_inode_links();
  void check_size_rules(const InodeInfo& in);
  // blocks.cc
  void check_block_bitmap();
  void resolve_double_claims();
  const Claim* owner_of(uint64_t block);

  // Geometry helpers.
  uint64_t inode_off(uint64_t ino) const {
    return sb_.inode_table_off + (ino - 1) * sizeof(L::InodeRecord);
  }
  bool inode_bit(uint64_t ino) const;
  bool in_data(uint64_t block, uint64_t n) const {
    return block >= data_first_ && n <= sb_.data_blocks && block - data_first_ <= sb_.data_blocks - n;
  }
  std::string blocks_str(uint64_t block, uint64_t n) const;

  Image& img_;
  Report& rep_;
  const CheckOptions& opts_;
  std::ostream& out_;
  const std::string& source_;

  L::Superblock sb_{};
  uint64_t data_first_ = 0;  // absolute pool block of data block 0
  L::StateRecord state_{};

  std::unordered_map<uint64_t, InodeInfo> inodes_;  // every inode looked at
  // Some inode's blocks could not all be read (damaged record, extent, extent
  // block or xattr header): blocks in use that nobody claims may be its own,
  // so they are not called leaked.
  bool claims_incomplete_ = false;
  // A directory's entries could not all be read (its record or extents are
  // damaged beyond repair): inodes no entry names may be its, so they are
  // not called unreachable, and link counts seen may be short.
  bool tree_incomplete_ = false;
  // lost+found: the inode "lost+found" in the root names (0 none), the free
  // slots of the root and of lost+found (pool offsets), names in lost+found,
  // and data blocks the planned repairs take (absolute runs).
  uint64_t lost_found_entry_ = 0;
  std::unordered_map<uint64_t, std::vector<uint64_t>> free_slots_;
  std::unordered_set<std::string> lost_found_names_;
  std::vector<std::pair<uint64_t, uint64_t>> taken_;
  std::unique_ptr<BlockBits> owned_;
  // Runs of data blocks (index, count) claimed more than once; runs, not
  // blocks, so that a file claiming a huge range twice costs little.
  std::vector<std::pair<uint64_t, uint64_t>> twice_;
  std::vector<Claim> claims_;
  bool claims_sorted_ = false;
};

// name in double quotes, non-printable bytes as \xNN.
std::string quoted(const std::string& name);

// Byte-wise bit helpers over the image (bitmaps are little endian u64 words,
// which is the same as bit i%8 of byte i/8).
bool image_bit(const Image& img, uint64_t bitmap_off, uint64_t i);
void image_set_bit(Image& img, uint64_t bitmap_off, uint64_t i, bool on);

}  // namespace pmemfs::fsck
