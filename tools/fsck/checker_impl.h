// The checker's passes and the state they share. Internal to tools/fsck.
//
// Pass order (each relies on the ones before):
//   superblock.cc  pick a usable superblock (primary or copy), geometry
//   journal.cc     validate lanes; stage committed ones "as replayed"
//   inodes.cc      state record; live inodes from the inode bitmap; each
//                  inode's extents, extent blocks and xattr runs (block claims)
//   tree.cc        directory tree from root: dirents, names, types; orphan
//                  table; link counts, parents, reachability, size rules
//   blocks.cc      block ownership vs the block bitmap; blocks claimed twice
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

enum class ClaimKind : uint8_t { kData, kExtentBlock, kXattr };
const char* claim_kind_name(ClaimKind k);

// A run of data blocks an inode's metadata says it owns.
struct Claim {
  uint64_t block;  // absolute pool block
  uint64_t n;
  uint64_t ino;
  ClaimKind kind;
};

struct InodeInfo {
  enum class State { kNeverUsed, kFree, kDamaged, kLive };
  uint64_t ino = 0;
  State state = State::kNeverUsed;
  L::InodeRecord rec{};
  bool bit = false;                // inode bitmap
  std::vector<L::Extent> extents;  // readable data extents, sorted by file block
  bool extents_complete = true;    // every extent and extent block was readable
  uint32_t links = 0;              // entries naming it in directories reached from root
  uint32_t subdirs = 0;            // directories: entries in it naming directories
  uint64_t first_dir = 0;          // directory holding the first entry naming it
  bool on_orphan_list = false;     // named by the orphan table
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

  uint64_t live_inodes() const;
  uint64_t used_blocks() const { return owned_ ? owned_->count() : 0; }

 private:
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
  void check_extent(InodeInfo& in, const L::Extent& e, const std::string& where);
  void check_extent_chain(InodeInfo& in);
  void check_xattrs(InodeInfo& in);
  void claim(uint64_t block, uint64_t n, uint64_t ino, ClaimKind kind);
  // Forgets the blocks ino claimed (it is being freed).
  void release_claims(uint64_t ino);
  // tree.cc
  void walk_tree();
  void walk_dir(InodeInfo& dir, std::deque<uint64_t>& queue);
  void check_dirent(InodeInfo& dir, uint64_t pblock, uint32_t slot,
                    std::unordered_set<std::string>& names, std::deque<uint64_t>& queue);
  void check_orphan_table();
  void check_inode_links();
  void check_size_rules(const InodeInfo& in);
  // blocks.cc
  void check_block_bitmap();
  void report_double_claims();
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
  // Some directory entry could not be read: link counts seen may be short.
  bool links_incomplete_ = false;
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
