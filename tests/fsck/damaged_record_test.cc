// Damaged records: inode records resealed or cleared, directory slots
// cleared, lost extents and extent blocks (the file keeps the rest and is cut
// back to it), blocks claimed twice; and the damage that stays unrepairable.
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fsck/fsck_fixture.h"

namespace pmemfs::fsck {
namespace {

TEST_F(FsckTest, DamagedInodeRecordWithPlausibleFieldsResealed) {
  const uint32_t uid = inode(f2_).uid;
  flip_byte(inode_off(f2_) + offsetof(L::InodeRecord, uid));
  expect_detected("inode " + std::to_string(f2_) + ": bad checksum, but every field is plausible");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(read_file(fs, f2_, 0, 4), "yyyy");
    EXPECT_EQ(attr_of(fs, f2_).uid, uid ^ 0x5a);  // kept as found: nothing tells the right one
  });
}

TEST_F(FsckTest, DamagedInodeRecordCleared) {
  const uint64_t block = first_extent(f2_).e.pool_block;
  flip_byte(inode_off(f2_) + offsetof(L::InodeRecord, reserved) + 3);
  expect_detected("inode " + std::to_string(f2_) + ": bad checksum (reserved fields not zero)");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(fs.lookup(a_, "f2").error(), ENOENT);
    EXPECT_EQ(lookup_path(fs, {"a", "b", "l1"}), f1_);
  });
  EXPECT_FALSE(inode_bit(f2_));
  EXPECT_FALSE(block_bit(block));
}

TEST_F(FsckTest, InodeWithInvalidTypeCleared) {
  auto r = inode(f2_);
  r.mode = 0170644;
  put_inode(f2_, r);
  expect_detected("inode " + std::to_string(f2_) + ": invalid file type");
  expect_repaired([&](Filesystem& fs) { EXPECT_EQ(fs.lookup(a_, "f2").error(), ENOENT); });
}

TEST_F(FsckTest, DamagedDirectoryRecordClearedItsFilesToLostFound) {
  // The 20 files of /a/b lose their directory; /a/b/l1 was a second name of /f1.
  std::vector<uint64_t> files;
  for (int i = 0; i < 20; ++i) files.push_back(read_at<L::DirentSlot>(slot_off(b_, "file" + std::to_string(i))).ino);
  flip_byte(inode_off(b_) + offsetof(L::InodeRecord, reserved1));
  expect_detected("inode " + std::to_string(b_) + ": bad checksum (reserved fields not zero)");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(fs.lookup(a_, "b").error(), ENOENT);
    EXPECT_EQ(attr_of(fs, a_).nlink, 2u);
    EXPECT_EQ(attr_of(fs, f1_).nlink, 1u);
    for (uint64_t ino : files) EXPECT_EQ(lookup_path(fs, {"lost+found", "#" + std::to_string(ino)}), ino);
    EXPECT_EQ(attr_of(fs, lookup_path(fs, {"lost+found"})).size, 2 * L::kBlockSize);
  });
}

TEST_F(FsckTest, DamagedRootRecordIsNotRepaired) {
  flip_byte(inode_off(L::kRootIno) + offsetof(L::InodeRecord, reserved1));
  expect_detected("inode 1: bad checksum (reserved fields not zero)");
  expect_not_repaired();
}

TEST_F(FsckTest, ResealedRecordWhoseTypeDisagreesIsNotRepaired) {
  // One bit turns the regular file into a socket: the entries say otherwise.
  const uint64_t mode_byte = inode_off(f1_) + offsetof(L::InodeRecord, mode) + 1;
  write_at<uint8_t>(mode_byte, read_at<uint8_t>(mode_byte) ^ 0x40);  // S_IFREG -> S_IFSOCK
  ASSERT_EQ(inode(f1_).mode & S_IFMT, static_cast<uint32_t>(S_IFSOCK));
  expect_detected("whose checksum was bad, is a socket");
  expect_not_repaired();
}

TEST_F(FsckTest, DamagedDirentSlotCleared) {
  flip_byte(slot_off(L::kRootIno, "f1") + offsetof(L::DirentSlot, name) + 1);
  expect_detected("entry for inode " + std::to_string(f1_) + ": bad checksum");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(lookup_path(fs, {"a", "b", "l1"}), f1_);
    EXPECT_EQ(attr_of(fs, f1_).nlink, 1u);
    EXPECT_EQ(read_file(fs, f1_, 0, 4), "xxxx");
  });
}

TEST_F(FsckTest, DamagedDirentOfADirectoryMovesItToLostFound) {
  flip_byte(slot_off(L::kRootIno, "a") + offsetof(L::DirentSlot, name_len));
  expect_detected("bad checksum");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(lookup_path(fs, {"lost+found", "#" + std::to_string(a_), "f2"}), f2_);
    EXPECT_EQ(read_file(fs, f2_, 0, 4), "yyyy");
  });
}

TEST_F(FsckTest, DamagedExtentClearedFileCutBack) {
  const ExtentLoc loc = first_extent(f1_);
  L::Extent e = loc.e;
  e.pool_block ^= 1;  // the extent's checksum is now wrong (a record holding it is resealed)
  put_extent(f1_, loc, e, /*reseal=*/false);
  expect_detected("inode " + std::to_string(f1_) + ": inline extent 0: bad checksum");
  EXPECT_NE(out_.find("size 10000 reaches past the extents it keeps"), std::string::npos) << out_;
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(attr_of(fs, f1_).size, 0u);
    EXPECT_EQ(read_file(fs, f2_, 0, 4), "yyyy");
  });
  EXPECT_FALSE(block_bit(loc.e.pool_block));
}

TEST_F(FsckTest, ExtentOutsideDataAreaCleared) {
  const ExtentLoc loc = first_extent(f1_);
  L::Extent e = loc.e;
  e.pool_block = data_first() + sb_.data_blocks;
  put_extent(f1_, loc, e);
  expect_detected("lies outside the data area");
  expect_repaired([&](Filesystem& fs) { EXPECT_EQ(attr_of(fs, f1_).size, 0u); });
}

TEST_F(FsckTest, DamagedExtentBlockEndsTheChain) {
  const uint64_t eb = inode(many_).extent_next;
  ASSERT_NE(eb, 0u) << "more extents than fit inline, yet no extent block";
  uint64_t kept_end = 0;
  for (const ExtentLoc& loc : extents_of(many_))
    if (loc.in_inode) kept_end = std::max<uint64_t>(kept_end, (loc.e.file_block + loc.e.nblocks) * L::kBlockSize);
  const uint64_t size = inode(many_).size;
  ASSERT_LT(kept_end, size);
  flip_byte(eb * L::kBlockSize + offsetof(L::ExtentBlock, next) + 3);
  expect_detected("extent block " + std::to_string(eb) + ": bad checksum");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(attr_of(fs, many_).size, kept_end);
    for (uint64_t k = 0; k < L::kInlineExtents; ++k) EXPECT_EQ(read_file(fs, many_, k * (4u << 20), 1), "m");
  });
  EXPECT_EQ(inode(many_).extent_next, 0u);
  EXPECT_FALSE(block_bit(eb));
}

TEST_F(FsckTest, BlocksClaimedTwiceBothExtentsCleared) {
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
  expect_repaired([&](Filesystem& fs) {
    // Neither file keeps blocks that may be the other's.
    EXPECT_EQ(attr_of(fs, f1_).size, 0u);
    EXPECT_EQ(attr_of(fs, sparse_).size, (1u << 20) + 1);
    EXPECT_EQ(read_file(fs, sparse_, 0, 4), std::string(4, '\0'));
    EXPECT_EQ(read_file(fs, sparse_, 1u << 20, 1), "z");
  });
  EXPECT_FALSE(block_bit(stolen.pool_block));
}

TEST_F(FsckTest, BlockClaimedTwiceByADirectoryIsNotRepaired) {
  auto sparse = inode(sparse_);
  L::Extent stolen = first_extent(a_).e;
  stolen.file_block = 0;
  seal(stolen);
  sparse.extents[L::kInlineExtents - 1] = stolen;
  put_inode(sparse_, sparse);
  expect_detected("claimed more than once: ");
  expect_not_repaired();
}

}  // namespace
}  // namespace pmemfs::fsck
