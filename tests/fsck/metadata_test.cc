// fsck on damaged metadata: superblocks, state record, xattrs, directory
// entries, link counts, size rules, bitmaps, the orphan table. Damaged
// records are in damaged_record_test.cc, unreachable inodes in
// lost_found_test.cc.
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fsck/fsck_fixture.h"

namespace pmemfs::fsck {
namespace {

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

}  // namespace
}  // namespace pmemfs::fsck
