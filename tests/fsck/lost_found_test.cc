// Unreachable inodes: -y moves each into /lost+found as "#<ino>" (creating
// or growing it), a directory with all it holds; what it cannot place it
// reports and leaves alone.
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fsck/fsck_fixture.h"

namespace pmemfs::fsck {
namespace {

std::string lf_name(uint64_t ino) { return "#" + std::to_string(ino); }

TEST_F(FsckTest, UnreachableFileMovedToLostFound) {
  write_at(slot_off(L::kRootIno, "sparse"), L::DirentSlot{});  // its only name; nlink stays 1
  expect_detected("inode " + std::to_string(sparse_) + " (regular file): in no directory");
  EXPECT_NE(out_.find("[-y: moving it to /lost+found as \"" + lf_name(sparse_) + "\"]"), std::string::npos)
      << out_;
  EXPECT_NE(out_.find("/lost+found is missing"), std::string::npos) << out_;
  expect_repaired([&](Filesystem& fs) {
    const uint64_t lf = lookup_path(fs, {"lost+found"});
    const Attr a = attr_of(fs, lf);
    EXPECT_EQ(a.mode, S_IFDIR | 0700u);
    EXPECT_EQ(a.uid, 0u);
    EXPECT_EQ(a.nlink, 2u);
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(sparse_)}), sparse_);
    EXPECT_EQ(attr_of(fs, sparse_).nlink, 1u);
    EXPECT_EQ(read_file(fs, sparse_, 1u << 20, 1), "z");
    EXPECT_EQ(attr_of(fs, L::kRootIno).nlink, 4u);  // a and lost+found
    EXPECT_EQ(read_file(fs, f1_, 0, 4), "xxxx");
  });
}

TEST_F(FsckTest, UnreachableDirectoryKeepsItsTree) {
  write_at(slot_off(L::kRootIno, "a"), L::DirentSlot{});
  expect_detected("inode " + std::to_string(a_) + " (directory): in no directory");
  // Only the top of what is lost moves; /a/b stays in /a.
  EXPECT_EQ(out_.find("inode " + std::to_string(b_) + " (directory): in no directory"), std::string::npos)
      << out_;
  expect_repaired([&](Filesystem& fs) {
    const uint64_t lf = lookup_path(fs, {"lost+found"});
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(a_)}), a_);
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(a_), ".."}), lf);
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(a_), "f2"}), f2_);
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(a_), "b", "l1"}), f1_);
    EXPECT_EQ(read_file(fs, f2_, (3u << 20) - 4, 4), "yyyy");
    EXPECT_EQ(attr_of(fs, lf).nlink, 3u);
    EXPECT_EQ(attr_of(fs, L::kRootIno).nlink, 3u);  // lost+found only
    EXPECT_EQ(attr_of(fs, a_).nlink, 3u);
  });
}

TEST_F(FsckTest, ExistingLostFoundIsUsedAndGrown) {
  // A full /lost+found (one block, 15 names), one of which is the name the
  // first lost file would get.
  uint64_t lf = 0, file0 = 0, file1 = 0;
  {
    MountOptions mo;
    mo.source = path_;
    auto mounted = Filesystem::mount(mo);
    ASSERT_TRUE(mounted.ok());
    Filesystem& fs = **mounted;
    Caller who;
    auto made = fs.mkdir(L::kRootIno, "lost+found", 0700, who);
    ASSERT_TRUE(made.ok());
    lf = made->ino;
    file0 = lookup_path(fs, {"a", "b", "file0"});
    file1 = lookup_path(fs, {"a", "b", "file1"});
    for (uint32_t i = 0; i + 1 < L::kSlotsPerBlock; ++i)
      ASSERT_TRUE(fs.mknod(lf, "old" + std::to_string(i), S_IFREG | 0600, 0, who).ok());
    ASSERT_TRUE(fs.mknod(lf, lf_name(file0), S_IFREG | 0600, 0, who).ok());
    ASSERT_TRUE(fs.unmount().ok());
  }
  ASSERT_EQ(inode(lf).size, L::kBlockSize);
  write_at(slot_off(b_, "file0"), L::DirentSlot{});
  write_at(slot_off(b_, "file1"), L::DirentSlot{});
  expect_detected("/lost+found is full: the repairs grow it by 1 block(s)");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(lookup_path(fs, {"lost+found"}), lf);
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(file0) + ".1"}), file0);
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(file1)}), file1);
    EXPECT_NE(lookup_path(fs, {"lost+found", lf_name(file0)}), file0);  // the old one
    EXPECT_EQ(attr_of(fs, lf).size, 2 * L::kBlockSize);
    EXPECT_EQ(attr_of(fs, lf).nlink, 2u);
  });
}

TEST_F(FsckTest, LostFoundCreatedInAFullRoot) {
  // Fill the root's one block; a lost file in /a/b needs /lost+found, and
  // the root a second block for its name.
  ASSERT_EQ(inode(L::kRootIno).size, L::kBlockSize);
  const uint64_t root_block = first_extent(L::kRootIno).e.pool_block;
  uint32_t used = 0;
  for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s)
    used += read_at<L::DirentSlot>(root_block * L::kBlockSize + s * sizeof(L::DirentSlot)).ino != 0;
  {
    MountOptions mo;
    mo.source = path_;
    auto mounted = Filesystem::mount(mo);
    ASSERT_TRUE(mounted.ok());
    for (uint32_t i = used; i < L::kSlotsPerBlock; ++i)
      ASSERT_TRUE((*mounted)->mknod(L::kRootIno, "r" + std::to_string(i), S_IFREG | 0600, 0, Caller{}).ok());
    ASSERT_TRUE((*mounted)->unmount().ok());
  }
  ASSERT_EQ(inode(L::kRootIno).size, L::kBlockSize);
  const uint64_t file0 = read_at<L::DirentSlot>(slot_off(b_, "file0")).ino;
  write_at(slot_off(b_, "file0"), L::DirentSlot{});
  expect_detected("inode " + std::to_string(file0) + " (regular file): in no directory");
  expect_repaired([&](Filesystem& fs) {
    EXPECT_EQ(attr_of(fs, L::kRootIno).size, 2 * L::kBlockSize);
    EXPECT_EQ(lookup_path(fs, {"lost+found", lf_name(file0)}), file0);
    EXPECT_NE(lookup_path(fs, {"r14"}), 0u);
  });
}

TEST_F(FsckTest, LostFoundThatIsNotADirectoryIsNotUsed) {
  {
    MountOptions mo;
    mo.source = path_;
    auto mounted = Filesystem::mount(mo);
    ASSERT_TRUE(mounted.ok());
    ASSERT_TRUE((*mounted)->mknod(L::kRootIno, "lost+found", S_IFREG | 0600, 0, Caller{}).ok());
    ASSERT_TRUE((*mounted)->unmount().ok());
  }
  write_at(slot_off(L::kRootIno, "sparse"), L::DirentSlot{});
  expect_detected("/lost+found is not a directory");
  expect_not_repaired();
}

TEST_F(FsckTest, UnreachableDirectoryLoopIsNotRepaired) {
  // /a leaves the root and /a/b names /a: a loop nothing reaches.
  write_at(slot_off(L::kRootIno, "a"), L::DirentSlot{});
  L::DirentSlot d{};
  d.ino = a_;
  d.type = DT_DIR;
  d.name_len = 4;
  std::memcpy(d.name, "loop", 4);
  seal(d);
  write_at(free_slot_off(b_), d);
  expect_detected("in a loop of directories no path from the root reaches");
  expect_not_repaired();
}

}  // namespace
}  // namespace pmemfs::fsck
