// fsck against real pools: each test formats a pool with the library, builds
// a small tree through filesystem.h, unmounts, plants one kind of damage with
// layout.h and checks that -n finds it without changing a byte and that -y
// repairs it (a second -n is then clean) or, where no repair exists yet,
// changes nothing.
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "pmemfs/filesystem.h"
#include "pmemfs/layout.h"
#include "tools/fsck/checker.h"
#include "tools/fsck/records.h"

namespace pmemfs::fsck {
namespace {

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/dev/shm/pmemfs-fsck-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".pool";
    unlink(path_.c_str());
    FormatOptions fo;
    fo.source = path_;
    fo.size = 64u << 20;
    auto formatted = Filesystem::format(fo);
    ASSERT_TRUE(formatted.ok()) << "format: " << std::strerror(formatted.error());
    ASSERT_NO_FATAL_FAILURE(build_tree());
    sb_ = read_at<L::Superblock>(0);
  }

  void TearDown() override {
    if (getenv("FSCK_TEST_KEEP") == nullptr) unlink(path_.c_str());
  }

  // /a/b, /f1 (data, xattr, a hard link /a/b/l1), /a/f2 (3 MiB), /s -> a/f2,
  // /fifo, /sparse (one block at 1 MiB), /many (7 runs 4 MiB apart), 20
  // files in /a/b (two directory blocks).
  void build_tree() {
    MountOptions mo;
    mo.source = path_;
    auto mounted = Filesystem::mount(mo);
    ASSERT_TRUE(mounted.ok()) << "mount: " << std::strerror(mounted.error());
    Filesystem& fs = **mounted;
    Caller who;
    auto attr = [](auto r, const char* what) {
      EXPECT_TRUE(r.ok()) << what << ": " << std::strerror(r.error());
      return r.ok() ? r->ino : 0;
    };
    a_ = attr(fs.mkdir(L::kRootIno, "a", 0755, who), "mkdir a");
    b_ = attr(fs.mkdir(a_, "b", 0755, who), "mkdir b");
    f1_ = attr(fs.mknod(L::kRootIno, "f1", S_IFREG | 0644, 0, who), "create f1");
    f2_ = attr(fs.mknod(a_, "f2", S_IFREG | 0644, 0, who), "create f2");
    sparse_ = attr(fs.mknod(L::kRootIno, "sparse", S_IFREG | 0644, 0, who), "create sparse");
    many_ = attr(fs.mknod(L::kRootIno, "many", S_IFREG | 0644, 0, who), "create many");
    ASSERT_TRUE(a_ && b_ && f1_ && f2_ && sparse_ && many_);
    // More separate runs than fit inline: its extents spill to extent blocks.
    for (uint64_t k = 0; k <= L::kInlineExtents + 1; ++k)
      ASSERT_TRUE(fs.write(many_, k * (4u << 20), "m", 1).ok());
    std::string data(10000, 'x');
    ASSERT_TRUE(fs.write(f1_, 0, data.data(), data.size()).ok());
    std::string big(3u << 20, 'y');
    ASSERT_TRUE(fs.write(f2_, 0, big.data(), big.size()).ok());
    ASSERT_TRUE(fs.write(sparse_, 1u << 20, "z", 1).ok());
    ASSERT_TRUE(fs.link(f1_, b_, "l1").ok());
    ASSERT_TRUE(fs.symlink(L::kRootIno, "s", "a/f2", who).ok());
    ASSERT_TRUE(fs.mknod(L::kRootIno, "fifo", S_IFIFO | 0644, 0, who).ok());
    ASSERT_TRUE(fs.setxattr(f1_, "user.color", "blue", 0).ok());
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(fs.mknod(b_, "file" + std::to_string(i), S_IFREG | 0600, 0, who).ok());
    ASSERT_TRUE(fs.unmount().ok());
  }

  // Raw access to the pool file.
  void read_raw(uint64_t off, void* buf, size_t len) const {
    int fd = open(path_.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pread(fd, buf, len, off), static_cast<ssize_t>(len));
    close(fd);
  }
  void write_raw(uint64_t off, const void* buf, size_t len) const {
    int fd = open(path_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, buf, len, off), static_cast<ssize_t>(len));
    close(fd);
  }
  template <typename T>
  T read_at(uint64_t off) const {
    T v{};
    read_raw(off, &v, sizeof(v));
    return v;
  }
  template <typename T>
  void write_at(uint64_t off, const T& v) const {
    write_raw(off, &v, sizeof(v));
  }
  void flip_byte(uint64_t off) const { write_at<uint8_t>(off, read_at<uint8_t>(off) ^ 0x5a); }

  size_t hash() const {
    std::string all;
    struct stat st;
    EXPECT_EQ(stat(path_.c_str(), &st), 0);
    all.resize(st.st_size);
    read_raw(0, all.data(), all.size());
    return std::hash<std::string>{}(all);
  }

  uint64_t inode_off(uint64_t ino) const {
    return sb_.inode_table_off + (ino - 1) * sizeof(L::InodeRecord);
  }
  L::InodeRecord inode(uint64_t ino) const { return read_at<L::InodeRecord>(inode_off(ino)); }
  void put_inode(uint64_t ino, L::InodeRecord r) const {
    seal(r);
    write_at(inode_off(ino), r);
  }
  uint64_t data_first() const { return sb_.data_off / L::kBlockSize; }

  // Bit i of the block bitmap (data block i = pool block data_first() + i).
  bool block_bit(uint64_t pool_block) const {
    const uint64_t i = pool_block - data_first();
    return (read_at<uint8_t>(sb_.block_bitmap_off + i / 8) >> (i % 8)) & 1;
  }
  void set_block_bit(uint64_t pool_block, bool on) const {
    const uint64_t i = pool_block - data_first();
    auto byte = read_at<uint8_t>(sb_.block_bitmap_off + i / 8);
    byte = on ? (byte | (1u << (i % 8))) : (byte & ~(1u << (i % 8)));
    write_at<uint8_t>(sb_.block_bitmap_off + i / 8, byte);
  }
  bool inode_bit(uint64_t ino) const {
    return (read_at<uint8_t>(sb_.inode_bitmap_off + (ino - 1) / 8) >> ((ino - 1) % 8)) & 1;
  }

  // Where each data extent of ino is stored: inline or in its extent blocks.
  struct ExtentLoc {
    uint64_t off;  // pool offset of the Extent
    bool in_inode;
    L::Extent e;
  };
  std::vector<ExtentLoc> extents_of(uint64_t ino) const {
    std::vector<ExtentLoc> out;
    const L::InodeRecord r = inode(ino);
    for (uint32_t k = 0; k < L::kInlineExtents; ++k)
      if (r.extents[k].nblocks)
        out.push_back({inode_off(ino) + offsetof(L::InodeRecord, extents) + k * sizeof(L::Extent), true,
                       r.extents[k]});
    for (uint64_t p = r.extent_next; p != 0;) {
      const auto eb = read_at<L::ExtentBlock>(p * L::kBlockSize);
      for (uint32_t k = 0; k < L::kExtentsPerBlock; ++k)
        if (eb.extents[k].nblocks)
          out.push_back({p * L::kBlockSize + offsetof(L::ExtentBlock, extents) + k * sizeof(L::Extent),
                         false, eb.extents[k]});
      p = eb.next;
    }
    return out;
  }
  // Rewrites an extent in place; reseal: give it a valid checksum.
  void put_extent(uint64_t ino, const ExtentLoc& loc, L::Extent e, bool reseal = true) const {
    if (reseal) seal(e);
    write_at(loc.off, e);
    if (loc.in_inode) put_inode(ino, inode(ino));  // the record's checksum covers it
  }
  ExtentLoc first_extent(uint64_t ino) const {
    auto all = extents_of(ino);
    EXPECT_FALSE(all.empty()) << "inode " << ino << " has no extents";
    return all.empty() ? ExtentLoc{} : all.front();
  }

  // Pool offset of the slot named name in directory dir (0 for a free slot).
  uint64_t find_slot(uint64_t dir, const std::string* name) const {
    for (const ExtentLoc& loc : extents_of(dir)) {
      for (uint64_t i = 0; i < loc.e.nblocks; ++i) {
        for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s) {
          const uint64_t off = (loc.e.pool_block + i) * L::kBlockSize + s * sizeof(L::DirentSlot);
          const auto d = read_at<L::DirentSlot>(off);
          if (name == nullptr ? d.ino == 0 : (d.ino != 0 && std::string(d.name, d.name_len) == *name))
            return off;
        }
      }
    }
    ADD_FAILURE() << "no " << (name ? "entry " + *name : "free slot") << " in directory " << dir;
    return 0;
  }
  uint64_t slot_off(uint64_t dir, const std::string& name) const { return find_slot(dir, &name); }
  uint64_t free_slot_off(uint64_t dir) const { return find_slot(dir, nullptr); }
  // A data block no one uses.
  uint64_t free_block() const {
    for (uint64_t b = data_first() + sb_.data_blocks - 1; b > data_first(); --b)
      if (!block_bit(b)) return b;
    ADD_FAILURE() << "no free block";
    return 0;
  }

  // Writes a committed lane holding records (JournalRecord + padded payload
  // each, already packed).
  void commit_lane(uint32_t lane, uint64_t seq, const std::vector<char>& records, uint32_t nrecords) {
    L::LaneHeader h{};
    h.seq = seq;
    h.state = L::kLaneCommitted;
    h.nrecords = nrecords;
    h.bytes = records.size();
    h.records_checksum = crc32c(records.data(), records.size());
    seal(h);
    const uint64_t off = sb_.journal_off + lane * sb_.lane_size;
    write_raw(off + sizeof(h), records.data(), records.size());
    write_at(off, h);
  }
  static void add_record(std::vector<char>& records, uint32_t kind, uint64_t target, const void* payload,
                         uint32_t len) {
    const L::JournalRecord rec{kind, len, target};
    const size_t at = records.size();
    records.resize(at + sizeof(rec) + L::round_up(len, 8), 0);
    std::memcpy(records.data() + at, &rec, sizeof(rec));
    std::memcpy(records.data() + at + sizeof(rec), payload, len);
  }

  CheckResult fsck(CheckMode mode) {
    std::ostringstream os;
    CheckResult r = check_pool(path_, mode, os);
    out_ = os.str();
    if (getenv("FSCK_TEST_VERBOSE") != nullptr)
      std::cerr << "fsck " << (mode == CheckMode::kRepair ? "-y" : "-n") << " -> " << r.exit_code << "\n"
                << out_;
    return r;
  }

  // -n finds the damage (its output names needle) and changes nothing.
  void expect_detected(const std::string& needle) {
    const size_t before = hash();
    const CheckResult r = fsck(CheckMode::kNoChanges);
    EXPECT_EQ(r.exit_code, kExitUncorrected) << out_;
    EXPECT_NE(out_.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << out_;
    EXPECT_EQ(hash(), before) << "fsck -n changed the pool";
  }
  // -y repairs it; a second check is clean, and the library mounts it.
  void expect_repaired() {
    CheckResult r = fsck(CheckMode::kRepair);
    EXPECT_EQ(r.exit_code, kExitCorrected) << out_;
    EXPECT_TRUE(r.repaired);
    r = fsck(CheckMode::kNoChanges);
    EXPECT_EQ(r.exit_code, kExitClean) << out_;
    expect_mountable();
  }
  // -y cannot repair it: exit 4, nothing written.
  void expect_not_repaired() {
    const size_t before = hash();
    const CheckResult r = fsck(CheckMode::kRepair);
    EXPECT_EQ(r.exit_code, kExitUncorrected) << out_;
    EXPECT_FALSE(r.repaired);
    EXPECT_EQ(hash(), before) << "fsck -y wrote although it could not repair";
  }
  void expect_mountable() {
    {
      MountOptions mo;
      mo.source = path_;
      auto mounted = Filesystem::mount(mo);
      ASSERT_TRUE(mounted.ok()) << "mount after repair: " << std::strerror(mounted.error());
      char buf[16] = {};
      auto n = (*mounted)->read(f1_, 0, sizeof(buf), buf);
      EXPECT_TRUE(n.ok());
      EXPECT_EQ(std::string(buf, 4), "xxxx");
      ASSERT_TRUE((*mounted)->unmount().ok());
    }  // the pool lock goes with the object
    const CheckResult r = fsck(CheckMode::kNoChanges);
    EXPECT_EQ(r.exit_code, kExitClean) << "after mount+unmount:\n" << out_;
  }

  std::string path_;
  std::string out_;
  L::Superblock sb_{};
  uint64_t a_ = 0, b_ = 0, f1_ = 0, f2_ = 0, sparse_ = 0, many_ = 0;
};

TEST_F(FsckTest, FreshTreeIsClean) {
  const size_t before = hash();
  CheckResult r = fsck(CheckMode::kNoChanges);
  EXPECT_EQ(r.exit_code, kExitClean) << out_;
  EXPECT_NE(out_.find("clean"), std::string::npos) << out_;
  r = fsck(CheckMode::kRepair);
  EXPECT_EQ(r.exit_code, kExitClean) << out_;
  EXPECT_EQ(hash(), before) << "a clean check wrote";
}

TEST_F(FsckTest, MountedPoolIsRefused) {
  MountOptions mo;
  mo.source = path_;
  auto mounted = Filesystem::mount(mo);
  ASSERT_TRUE(mounted.ok());
  CheckResult r = fsck(CheckMode::kNoChanges);
  EXPECT_EQ(r.exit_code, kExitOperational) << out_;
  EXPECT_NE(out_.find("in use (mounted?)"), std::string::npos) << out_;
  r = fsck(CheckMode::kRepair);
  EXPECT_EQ(r.exit_code, kExitOperational) << out_;
  ASSERT_TRUE((*mounted)->unmount().ok());
}

TEST_F(FsckTest, PrimarySuperblockRestoredFromCopy) {
  flip_byte(offsetof(L::Superblock, inode_count));
  expect_detected("primary superblock (block 0): bad checksum");
  expect_repaired();
  const auto restored = read_at<L::Superblock>(0);
  EXPECT_EQ(std::memcmp(&sb_, &restored, sizeof(sb_)), 0);
}

TEST_F(FsckTest, SuperblockCopyRewritten) {
  flip_byte(L::kBlockSize + offsetof(L::Superblock, label));
  expect_detected("superblock copy (block 1)");
  expect_repaired();
}

TEST_F(FsckTest, BothSuperblocksBad) {
  flip_byte(offsetof(L::Superblock, data_off));
  flip_byte(L::kBlockSize + offsetof(L::Superblock, data_off));
  expect_detected("no usable superblock");
  expect_not_repaired();
}

TEST_F(FsckTest, NewerFormatVersionRefused) {
  auto s = sb_;
  s.version = L::kFormatVersion + 1;
  seal(s);
  write_at(0, s);
  write_at(L::kBlockSize, s);
  const CheckResult r = fsck(CheckMode::kRepair);
  EXPECT_EQ(r.exit_code, kExitOperational) << out_;
  EXPECT_NE(out_.find("newer"), std::string::npos) << out_;
}

TEST_F(FsckTest, DamagedInodeRecord) {
  flip_byte(inode_off(f2_) + offsetof(L::InodeRecord, uid));
  expect_detected("inode " + std::to_string(f2_) + ": bad checksum");
  expect_not_repaired();
}

TEST_F(FsckTest, DamagedDirentSlot) {
  flip_byte(slot_off(L::kRootIno, "f1") + offsetof(L::DirentSlot, name) + 1);
  expect_detected("bad checksum");
  expect_not_repaired();
}

TEST_F(FsckTest, DamagedExtent) {
  const ExtentLoc loc = first_extent(f1_);
  L::Extent e = loc.e;
  e.pool_block ^= 1;  // the extent's checksum is now wrong (a record holding it is resealed)
  put_extent(f1_, loc, e, /*reseal=*/false);
  expect_detected("inode " + std::to_string(f1_) + ": ");
  EXPECT_NE(out_.find("bad checksum"), std::string::npos) << out_;
  expect_not_repaired();
}

TEST_F(FsckTest, DamagedStateRecord) {
  flip_byte(sb_.state_off + offsetof(L::StateRecord, mount_count));
  expect_detected("state record: bad checksum");
  expect_repaired();
}

TEST_F(FsckTest, UsedBlockFreeInBitmap) {
  const uint64_t block = first_extent(f1_).e.pool_block;
  ASSERT_TRUE(block_bit(block));
  set_block_bit(block, false);
  expect_detected("block " + std::to_string(block) + ": used by inode " + std::to_string(f1_));
  expect_repaired();
  EXPECT_TRUE(block_bit(block));
}

TEST_F(FsckTest, LeakedBlock) {
  const uint64_t block = free_block();
  set_block_bit(block, true);
  expect_detected("block " + std::to_string(block) + ": marked in use but owned by no inode");
  expect_repaired();
  EXPECT_FALSE(block_bit(block));
}

TEST_F(FsckTest, WrongLinkCount) {
  auto r = inode(f1_);
  ASSERT_EQ(r.nlink, 2u);
  r.nlink = 5;
  put_inode(f1_, r);
  expect_detected("inode " + std::to_string(f1_) + ": link count is 5, should be 2");
  expect_repaired();
  EXPECT_EQ(inode(f1_).nlink, 2u);
}

TEST_F(FsckTest, WrongDirectoryLinkCountAndParent) {
  auto r = inode(b_);
  r.nlink = 7;
  r.parent = L::kRootIno;
  put_inode(b_, r);
  expect_detected("directory " + std::to_string(b_) + ": parent is 1, but it is in directory " +
                  std::to_string(a_));
  expect_repaired();
  EXPECT_EQ(inode(b_).nlink, 2u);
  EXPECT_EQ(inode(b_).parent, a_);
}

TEST_F(FsckTest, DirentToFreeInode) {
  uint64_t free_ino = sb_.inode_count;
  ASSERT_FALSE(inode_bit(free_ino));
  L::DirentSlot d{};
  d.ino = free_ino;
  d.type = DT_REG;
  d.name_len = 5;
  std::memcpy(d.name, "ghost", 5);
  seal(d);
  const uint64_t off = free_slot_off(L::kRootIno);
  write_at(off, d);
  expect_detected("names free inode " + std::to_string(free_ino));
  expect_repaired();
  EXPECT_EQ(read_at<L::DirentSlot>(off).ino, 0u);
}

TEST_F(FsckTest, WrongDirentType) {
  const uint64_t off = slot_off(L::kRootIno, "f1");
  auto d = read_at<L::DirentSlot>(off);
  d.type = DT_DIR;
  seal(d);
  write_at(off, d);
  expect_detected("has type 4 but inode " + std::to_string(f1_) + " is a regular file");
  expect_repaired();
}

TEST_F(FsckTest, DuplicateName) {
  const uint64_t off = slot_off(L::kRootIno, "sparse");
  auto d = read_at<L::DirentSlot>(off);
  std::memset(d.name, 0, sizeof(d.name));
  std::memcpy(d.name, "f1", 2);
  d.name_len = 2;
  seal(d);
  write_at(off, d);
  expect_detected("name \"f1\" appears twice");
  expect_not_repaired();
}

TEST_F(FsckTest, BlockOwnedTwice) {
  // /sparse maps only file block 256; give it f1's first extent at block 0.
  auto sparse = inode(sparse_);
  const L::Extent stolen = first_extent(f1_).e;
  ASSERT_GT(stolen.nblocks, 0u);
  ASSERT_LE(stolen.nblocks, 256u);
  int slot = -1;
  for (int k = 0; k < static_cast<int>(L::kInlineExtents); ++k)
    if (sparse.extents[k].nblocks == 0) slot = k;
  ASSERT_GE(slot, 0);
  sparse.extents[slot] = stolen;
  sparse.extents[slot].file_block = 0;
  seal(sparse.extents[slot]);
  put_inode(sparse_, sparse);
  expect_detected("claimed more than once: ");
  expect_not_repaired();
}

TEST_F(FsckTest, ExtentOutsideDataArea) {
  const ExtentLoc loc = first_extent(f1_);
  L::Extent e = loc.e;
  e.pool_block = data_first() + sb_.data_blocks;
  put_extent(f1_, loc, e);
  expect_detected("lies outside the data area");
  expect_not_repaired();
}

TEST_F(FsckTest, InodeFreeButMarkedInUse) {
  const uint64_t ino = sb_.inode_count;
  const uint64_t i = ino - 1;
  auto byte = read_at<uint8_t>(sb_.inode_bitmap_off + i / 8);
  write_at<uint8_t>(sb_.inode_bitmap_off + i / 8, byte | (1u << (i % 8)));
  expect_detected("inode " + std::to_string(ino) + ": free but marked in use");
  expect_repaired();
  EXPECT_FALSE(inode_bit(ino));
}

TEST_F(FsckTest, UnlinkedInodeNotInOrphanTableIsFreed) {
  // As after a crash when the orphan table was full: /sparse unlinked while
  // open, its record at nlink 0, its blocks still allocated.
  write_at(slot_off(L::kRootIno, "sparse"), L::DirentSlot{});
  auto r = inode(sparse_);
  const uint64_t block = first_extent(sparse_).e.pool_block;
  r.nlink = 0;
  put_inode(sparse_, r);
  expect_detected("link count 0, in no directory and not in the orphan table");
  expect_repaired();
  EXPECT_FALSE(inode_bit(sparse_));
  EXPECT_FALSE(block_bit(block));
}

TEST_F(FsckTest, CommittedJournalLaneIsReplayed) {
  // A transaction committed but not applied: it restores f1's record, which
  // is wrong in place (nlink 9). -n must check the pool as if replayed.
  const L::InodeRecord good = inode(f1_);
  auto bad = good;
  bad.nlink = 9;
  put_inode(f1_, bad);

  std::vector<char> records(sizeof(L::JournalRecord) + sizeof(good));
  const L::JournalRecord rec{L::kRecWrite, sizeof(good), inode_off(f1_)};
  std::memcpy(records.data(), &rec, sizeof(rec));
  std::memcpy(records.data() + sizeof(rec), &good, sizeof(good));
  commit_lane(3, 42, records, 1);
  const uint64_t lane = sb_.journal_off + 3 * sb_.lane_size;

  expect_detected("journal needs replay");
  EXPECT_EQ(out_.find("link count"), std::string::npos) << "not checked as replayed:\n" << out_;
  expect_repaired();
  EXPECT_EQ(inode(f1_).nlink, 2u);
  EXPECT_EQ(read_at<L::LaneHeader>(lane).state, L::kLaneFree);
}

TEST_F(FsckTest, TornJournalLaneIsDiscarded) {
  L::LaneHeader h{};
  h.seq = 7;
  h.state = L::kLaneCommitted;
  h.nrecords = 1;
  h.bytes = 24;
  seal(h);
  h.checksum ^= 1;
  const uint64_t lane = sb_.journal_off + 5 * sb_.lane_size;
  write_at(lane, h);
  expect_detected("journal lane 5: committed, but its header checksum is bad");
  expect_repaired();
}

TEST_F(FsckTest, OrphanTableNamingFreeInode) {
  write_at<uint64_t>(sb_.orphan_off + 8, sb_.inode_count);
  expect_detected("orphan table slot 1: inode " + std::to_string(sb_.inode_count) + " is free");
  expect_repaired();
}

TEST_F(FsckTest, LiveInodeFreeInBitmap) {
  const uint64_t i = f1_ - 1;
  auto byte = read_at<uint8_t>(sb_.inode_bitmap_off + i / 8);
  write_at<uint8_t>(sb_.inode_bitmap_off + i / 8, byte & ~(1u << (i % 8)));
  expect_detected("inode " + std::to_string(f1_) + ": in use but free in the inode bitmap");
  expect_repaired();
  EXPECT_TRUE(inode_bit(f1_));
}

TEST_F(FsckTest, DamagedXattrValue) {
  const uint64_t head = inode(f1_).xattr_head;
  ASSERT_NE(head, 0u);
  const auto h = read_at<L::XattrHeader>(head * L::kBlockSize);
  flip_byte(head * L::kBlockSize + sizeof(h) + h.name_len);  // first value byte
  expect_detected("xattr block " + std::to_string(head) + ": name/value checksum is bad");
  expect_not_repaired();
}

TEST_F(FsckTest, DamagedExtentBlockHeader) {
  const uint64_t eb = inode(many_).extent_next;
  ASSERT_NE(eb, 0u) << "more extents than fit inline, yet no extent block";
  flip_byte(eb * L::kBlockSize + offsetof(L::ExtentBlock, next) + 3);
  expect_detected("extent block " + std::to_string(eb) + ": bad checksum");
  expect_not_repaired();
}

TEST_F(FsckTest, DirectorySizeBeyondItsBlocks) {
  auto r = inode(b_);
  r.size += 2 * L::kBlockSize;
  put_inode(b_, r);
  expect_detected("directory " + std::to_string(b_) + ": file block");
  expect_not_repaired();
}

TEST_F(FsckTest, FileBlocksBeyondSize) {
  auto r = inode(sparse_);
  r.size = 10;
  put_inode(sparse_, r);
  expect_detected("inode " + std::to_string(sparse_) + ": blocks mapped up to file block 256, beyond its size 10");
  expect_not_repaired();
}

TEST_F(FsckTest, OpenUnlinkedFileIsAnOrphan) {
  const std::string crashed = path_ + ".crash";
  {
    MountOptions mo;
    mo.source = path_;
    auto mounted = Filesystem::mount(mo);
    ASSERT_TRUE(mounted.ok());
    Filesystem& fs = **mounted;
    auto t = fs.mknod(L::kRootIno, "tmp", S_IFREG | 0644, 0, Caller{});
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(fs.write(t->ino, 0, "data", 4).ok());
    ASSERT_TRUE(fs.open(t->ino).ok());
    ASSERT_TRUE(fs.unlink(L::kRootIno, "tmp").ok());
    // Still open: an orphan with no links. The pool file as it is now is
    // what a crash would leave (every store reached the page cache).
    EXPECT_EQ(fsck(CheckMode::kNoChanges).exit_code, kExitOperational);
    std::string image(sb_.pool_size, '\0');
    read_raw(0, image.data(), image.size());
    int fd = open(crashed.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, image.data(), image.size()), static_cast<ssize_t>(image.size()));
    close(fd);
    ASSERT_TRUE(fs.unmount().ok());
  }
  CheckResult r = fsck(CheckMode::kNoChanges);
  EXPECT_EQ(r.exit_code, kExitClean) << out_;

  // The crashed image: the orphan is in the table, nlink 0, in no directory.
  {
    int fd = open(crashed.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    uint64_t listed = 0;
    ASSERT_EQ(pread(fd, &listed, sizeof(listed), sb_.orphan_off), 8);
    close(fd);
    ASSERT_NE(listed, 0u) << "the unlinked open file is not in the orphan table";
  }
  std::ostringstream os;
  r = check_pool(crashed, CheckMode::kNoChanges, os);
  EXPECT_EQ(r.exit_code, kExitClean) << os.str();
  EXPECT_NE(os.str().find("not cleanly unmounted"), std::string::npos) << os.str();
  {
    MountOptions mo;
    mo.source = crashed;
    auto mounted = Filesystem::mount(mo);  // frees the orphan
    ASSERT_TRUE(mounted.ok());
    ASSERT_TRUE((*mounted)->unmount().ok());
  }
  os.str("");
  r = check_pool(crashed, CheckMode::kNoChanges, os);
  EXPECT_EQ(r.exit_code, kExitClean) << os.str();
  unlink(crashed.c_str());
}

TEST_F(FsckTest, CommittedBitRecordsAreReplayedInSeqOrder) {
  // In place: one of f1's blocks is free in the bitmap. Two committed lanes
  // (applied in seq order, not lane order) set it, clear it, set it again.
  const uint64_t block = first_extent(f1_).e.pool_block;
  set_block_bit(block, false);
  const uint64_t i = block - data_first();
  const uint64_t word = sb_.block_bitmap_off + i / 64 * 8, mask = uint64_t{1} << (i % 64);
  std::vector<char> first, second;
  add_record(first, L::kRecSetBits, word, &mask, 8);
  add_record(first, L::kRecClearBits, word, &mask, 8);
  add_record(second, L::kRecSetBits, word, &mask, 8);
  commit_lane(9, 100, second, 1);  // applied last
  commit_lane(2, 99, first, 2);
  expect_detected("journal: 2 committed transaction(s)");
  EXPECT_EQ(out_.find("free in the block bitmap"), std::string::npos) << out_;
  expect_repaired();
  EXPECT_TRUE(block_bit(block));
}

TEST_F(FsckTest, CommittedLaneWritingTheSuperblockIsRefused) {
  std::vector<char> records;
  const uint64_t zero = 0;
  add_record(records, L::kRecWrite, 8, &zero, 8);  // inside the superblock
  commit_lane(0, 5, records, 1);
  expect_detected("journal lane 0 (seq 5): committed, but record 0 targets");
  expect_not_repaired();
}

TEST_F(FsckTest, InvalidNameWithValidChecksum) {
  const uint64_t off = slot_off(L::kRootIno, "sparse");
  auto d = read_at<L::DirentSlot>(off);
  d.name[2] = '/';
  seal(d);
  write_at(off, d);
  expect_detected("invalid name \"sp/rse\"");
  expect_not_repaired();
}

TEST_F(FsckTest, DirectoryNamedTwice) {
  L::DirentSlot d{};
  d.ino = b_;
  d.type = DT_DIR;
  d.name_len = 5;
  std::memcpy(d.name, "alias", 5);
  seal(d);
  write_at(free_slot_off(L::kRootIno), d);
  expect_detected("directory " + std::to_string(b_) + ": named by 2 entries");
  expect_not_repaired();
}

TEST_F(FsckTest, UnreachableFile) {
  write_at(slot_off(L::kRootIno, "sparse"), L::DirentSlot{});  // nlink stays 1
  expect_detected("inode " + std::to_string(sparse_) + " (regular file): in no directory");
  expect_not_repaired();
}

// What a crash between two operations leaves (the pool file copied while
// mounted, every store in the page cache) must be clean for fsck: the
// library and fsck agree on every rule, for every kind of operation.
TEST_F(FsckTest, SnapshotsBetweenOperationsAreClean) {
  const std::string snap = path_ + ".snap";
  MountOptions mo;
  mo.source = path_;
  auto mounted = Filesystem::mount(mo);
  ASSERT_TRUE(mounted.ok());
  Filesystem& fs = **mounted;
  Caller who;
  auto check_snapshot = [&](const std::string& after) {
    std::string image(sb_.pool_size, '\0');
    read_raw(0, image.data(), image.size());
    int fd = open(snap.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, image.data(), image.size()), static_cast<ssize_t>(image.size()));
    close(fd);
    std::ostringstream os;
    const CheckResult r = check_pool(snap, CheckMode::kNoChanges, os);
    EXPECT_EQ(r.exit_code, kExitClean) << "after " << after << ":\n" << os.str();
  };
  auto ok = [](const auto& r, const char* what) {
    ASSERT_TRUE(r.ok()) << what << ": " << std::strerror(r.error());
  };

  ok(fs.rename(L::kRootIno, "f1", a_, "f1moved", 0), "rename across directories");
  check_snapshot("rename across directories");
  ok(fs.rename(a_, "b", L::kRootIno, "b2", 0), "rename a directory");
  check_snapshot("rename a directory");
  ok(fs.rename(L::kRootIno, "b2", L::kRootIno, "fifo", RENAME_EXCHANGE), "exchange");
  check_snapshot("rename exchange of a directory and a fifo");
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 5000;
  ok(fs.setattr(f2_, sa), "truncate");
  check_snapshot("truncate");
  auto big = fs.mknod(L::kRootIno, "big", S_IFREG | 0644, 0, who);
  ok(big, "create big");
  std::string data(5u << 20, 'b');
  ok(fs.write(big->ino, 0, data.data(), data.size()), "write 5 MiB");
  check_snapshot("write 5 MiB");
  sa.size = 1u << 20;
  ok(fs.setattr(big->ino, sa), "truncate to 1 MiB");
  check_snapshot("truncate to 1 MiB");
  ok(fs.fallocate(sparse_, FALLOC_FL_KEEP_SIZE, 0, 8u << 20), "fallocate keep size");
  check_snapshot("fallocate KEEP_SIZE");
  ok(fs.fallocate(sparse_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 1u << 20), "punch hole");
  check_snapshot("punch hole");
  ok(fs.unlink(L::kRootIno, "b2"), "unlink");  // the fifo, since the exchange
  check_snapshot("unlink");
  ok(fs.mkdir(L::kRootIno, "c", 0700, who), "mkdir c");
  ok(fs.rmdir(L::kRootIno, "c"), "rmdir c");
  check_snapshot("rmdir");
  ok(fs.removexattr(f1_, "user.color"), "removexattr");
  ok(fs.setxattr(f1_, "user.big", std::string(60000, 'v'), 0), "setxattr 60 KB");
  check_snapshot("xattrs");
  ok(fs.symlink(L::kRootIno, "longlink", std::string(4000, 'l'), who), "long symlink");
  ok(fs.link(sparse_, a_, "sparse2"), "link");
  ok(fs.unlink(L::kRootIno, "sparse"), "unlink one of two links");
  check_snapshot("links");
  for (int i = 0; i < 20; ++i)
    ok(fs.unlink(b_, "file" + std::to_string(i)), "unlink in b");
  check_snapshot("emptying a directory");
  ok(fs.unmount(), "unmount");
  (*mounted).reset();  // releases the pool lock
  EXPECT_EQ(fsck(CheckMode::kNoChanges).exit_code, kExitClean) << out_;
  unlink(snap.c_str());
}

}  // namespace
}  // namespace pmemfs::fsck
