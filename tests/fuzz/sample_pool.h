// SamplePool: the pool the whole-pool targets damage. Built once per process
// by the library itself (format, a small tree, unmount) so that it holds one
// or more of every record kind a target overwrites, plus two orphans left as
// a crash would leave them, so that every mount has recovery work to do. The
// pristine image stays in DRAM; each input starts from a work file reset to it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "pmemfs/layout.h"

namespace pmemfs::fuzz {

// Where the records of each kind are in the pristine pool (byte offsets).
struct RecordSites {
  std::vector<uint64_t> inodes;         // InodeRecord of every live inode, and one never used
  std::vector<uint64_t> extent_blocks;  // ExtentBlock of every inode that spilled
  std::vector<uint64_t> dirent_slots;   // every live DirentSlot, and one free slot
  std::vector<uint64_t> xattr_runs;     // XattrHeader of every xattr run
  std::vector<uint64_t> lanes;          // LaneHeader of every journal lane
};

class SamplePool {
 public:
  // Built on first use; aborts with a message when it cannot be.
  static SamplePool& instance();

  const std::string& path() const { return path_; }
  const layout::Superblock& superblock() const { return sb_; }
  const RecordSites& sites() const { return sites_; }
  uint64_t size() const { return image_.size(); }

  // A record of the pristine image. REQUIRES: off + sizeof(T) <= size().
  template <typename T>
  T pristine(uint64_t off) const {
    T v;
    std::memcpy(&v, image_.data() + off, sizeof(v));
    return v;
  }
  const char* pristine_bytes(uint64_t off) const { return image_.data() + off; }

  // Makes the work file the pristine image again.
  void reset();
  // Writes into the work file (clamped to the pool).
  void write(uint64_t off, const void* src, size_t len);
  template <typename T>
  void write(uint64_t off, const T& v) {
    write(off, &v, sizeof(v));
  }

 private:
  SamplePool();
  ~SamplePool();
  void build_tree();
  void leave_orphans();
  void load_image();
  void find_sites();

  std::string path_;
  int fd_ = -1;
  layout::Superblock sb_{};
  RecordSites sites_;
  std::vector<char> image_;
  // Runs of pages that are not all zero, (offset, length): all reset() writes.
  std::vector<std::pair<uint64_t, uint64_t>> nonzero_;
};

}  // namespace pmemfs::fuzz
