// The Filesystem class end to end, in process (see filesystem_test_util.h).
// rename(2) and renameat2(2) flags.
#include "filesystem_test_util.h"

namespace pmemfs::test {
namespace {

// ---- rename ----------------------------------------------------------------

class RenameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = pool_.mount();
    ASSERT_TRUE(fs_);
  }
  TempPool pool_{64 << 20};
  std::unique_ptr<Filesystem> fs_;
};

TEST_F(RenameTest, PlainWithinDirectory) {
  Attr f = mkfile(*fs_, kRoot, "a");
  put(*fs_, f.ino, 0, "hello");
  auto before = fs_->getattr(kRoot);
  tick();
  ASSERT_TRUE(fs_->rename(kRoot, "a", kRoot, "b", 0).ok());
  EXPECT_EQ(lookup_err(*fs_, kRoot, "a"), ENOENT);
  EXPECT_EQ(ino_of(*fs_, kRoot, "b"), f.ino);
  EXPECT_EQ(all(*fs_, f.ino), "hello");
  EXPECT_EQ(names(*fs_, kRoot), std::set<std::string>{"b"});
  auto after = fs_->getattr(kRoot);
  EXPECT_TRUE(later(after->mtime, before->mtime));
  EXPECT_TRUE(later(fs_->getattr(f.ino)->ctime, f.ctime));
  EXPECT_EQ(after->nlink, 2u);
  // A directory within its parent keeps the parent's link count.
  Attr d = mkdir_(*fs_, kRoot, "d");
  ASSERT_TRUE(fs_->rename(kRoot, "d", kRoot, "e", 0).ok());
  EXPECT_EQ(ino_of(*fs_, kRoot, "e"), d.ino);
  EXPECT_EQ(fs_->getattr(kRoot)->nlink, 3u);
  EXPECT_EQ(ino_of(*fs_, d.ino, ".."), kRoot);
}

TEST_F(RenameTest, DirectoryAcrossDirectories) {
  Attr d1 = mkdir_(*fs_, kRoot, "d1");
  Attr d2 = mkdir_(*fs_, kRoot, "d2");
  Attr sub = mkdir_(*fs_, d1.ino, "sub");
  mkfile(*fs_, sub.ino, "leaf");
  EXPECT_EQ(fs_->getattr(d1.ino)->nlink, 3u);
  ASSERT_TRUE(fs_->rename(d1.ino, "sub", d2.ino, "moved", 0).ok());
  EXPECT_EQ(fs_->getattr(d1.ino)->nlink, 2u);
  EXPECT_EQ(fs_->getattr(d2.ino)->nlink, 3u);
  EXPECT_EQ(fs_->getattr(kRoot)->nlink, 4u);
  EXPECT_EQ(ino_of(*fs_, sub.ino, ".."), d2.ino);
  EXPECT_EQ(ino_of(*fs_, d2.ino, "moved"), sub.ino);
  EXPECT_EQ(lookup_err(*fs_, d1.ino, "sub"), ENOENT);
  EXPECT_NE(ino_of(*fs_, sub.ino, "leaf"), 0u);
  // readdir's ".." follows too.
  for (const auto& e : list(*fs_, sub.ino))
    if (e.name == "..") { EXPECT_EQ(e.ino, d2.ino); }
  // Files across directories; the parent counts do not change.
  Attr f = mkfile(*fs_, d1.ino, "f");
  ASSERT_TRUE(fs_->rename(d1.ino, "f", d2.ino, "f", 0).ok());
  EXPECT_EQ(ino_of(*fs_, d2.ino, "f"), f.ino);
  EXPECT_EQ(fs_->getattr(d2.ino)->nlink, 3u);
  // Up the tree (child moves to an ancestor) and back down.
  ASSERT_TRUE(fs_->rename(sub.ino, "leaf", kRoot, "leaf", 0).ok());
  ASSERT_TRUE(fs_->rename(kRoot, "leaf", sub.ino, "leaf2", 0).ok());
  ASSERT_TRUE(fs_->rename(d2.ino, "moved", kRoot, "top", 0).ok());
  EXPECT_EQ(ino_of(*fs_, sub.ino, ".."), kRoot);
  EXPECT_EQ(fs_->getattr(kRoot)->nlink, 5u);
  EXPECT_EQ(fs_->getattr(d2.ino)->nlink, 2u);
}

TEST_F(RenameTest, OverExistingFileFreesIt) {
  Attr victim = mkfile(*fs_, kRoot, "victim");
  put(*fs_, victim.ino, 0, pattern(3 * kMiB, 1));
  Attr src = mkfile(*fs_, kRoot, "src");
  put(*fs_, src.ino, 0, "new contents");
  const uint64_t used_before = free_blocks(*fs_);
  ASSERT_TRUE(fs_->rename(kRoot, "src", kRoot, "victim", 0).ok());
  EXPECT_EQ(ino_of(*fs_, kRoot, "victim"), src.ino);
  EXPECT_EQ(lookup_err(*fs_, kRoot, "src"), ENOENT);
  EXPECT_EQ(all(*fs_, src.ino), "new contents");
  // The old target is unlinked but still referenced by the kernel; with no
  // handle open its data is free when the rename returns.
  auto old = fs_->getattr(victim.ino);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->nlink, 0u);
  EXPECT_GE(free_blocks(*fs_), used_before + 3 * kMiB / 4096);
  fs_->forget(victim.ino, 1);
  EXPECT_GE(free_blocks(*fs_), used_before + 3 * kMiB / 4096);
  // A target with another hard link survives with one link less.
  Attr t = mkfile(*fs_, kRoot, "t");
  ASSERT_TRUE(fs_->link(t.ino, kRoot, "t2").ok());
  Attr s2 = mkfile(*fs_, kRoot, "s2");
  ASSERT_TRUE(fs_->rename(kRoot, "s2", kRoot, "t", 0).ok());
  EXPECT_EQ(fs_->getattr(t.ino)->nlink, 1u);
  EXPECT_EQ(ino_of(*fs_, kRoot, "t2"), t.ino);
  EXPECT_EQ(ino_of(*fs_, kRoot, "t"), s2.ino);
}

TEST_F(RenameTest, OverDirectories) {
  Attr a = mkdir_(*fs_, kRoot, "a");
  Attr empty = mkdir_(*fs_, kRoot, "empty");
  Attr full = mkdir_(*fs_, kRoot, "full");
  mkfile(*fs_, full.ino, "x");
  Attr file = mkfile(*fs_, kRoot, "file");
  EXPECT_EQ(fs_->getattr(kRoot)->nlink, 5u);
  EXPECT_EQ(fs_->rename(kRoot, "a", kRoot, "full", 0).error(), ENOTEMPTY);
  EXPECT_EQ(fs_->rename(kRoot, "a", kRoot, "file", 0).error(), ENOTDIR);
  EXPECT_EQ(fs_->rename(kRoot, "file", kRoot, "a", 0).error(), EISDIR);
  EXPECT_EQ(ino_of(*fs_, kRoot, "a"), a.ino);
  EXPECT_EQ(ino_of(*fs_, kRoot, "file"), file.ino);
  ASSERT_TRUE(fs_->rename(kRoot, "a", kRoot, "empty", 0).ok());
  EXPECT_EQ(ino_of(*fs_, kRoot, "empty"), a.ino);
  EXPECT_EQ(fs_->getattr(kRoot)->nlink, 4u);
  auto gone = fs_->getattr(empty.ino);
  ASSERT_TRUE(gone.ok());
  EXPECT_EQ(gone->nlink, 0u);
  EXPECT_EQ(fs_->mknod(empty.ino, "x", S_IFREG | 0644, 0, root_caller()).error(), ENOENT);
  fs_->forget(empty.ino, 1);
  // Over an empty directory in another directory.
  Attr b = mkdir_(*fs_, full.ino, "b");
  Attr c = mkdir_(*fs_, kRoot, "c");
  EXPECT_EQ(fs_->getattr(full.ino)->nlink, 3u);
  ASSERT_TRUE(fs_->rename(kRoot, "c", full.ino, "b", 0).ok());
  EXPECT_EQ(fs_->getattr(full.ino)->nlink, 3u);
  EXPECT_EQ(fs_->getattr(kRoot)->nlink, 4u);
  EXPECT_EQ(ino_of(*fs_, c.ino, ".."), full.ino);
  fs_->forget(b.ino, 1);
}

TEST_F(RenameTest, NoReplaceAndExchange) {
  Attr a = mkfile(*fs_, kRoot, "a");
  Attr b = mkfile(*fs_, kRoot, "b");
  EXPECT_EQ(fs_->rename(kRoot, "a", kRoot, "b", RENAME_NOREPLACE).error(), EEXIST);
  EXPECT_EQ(ino_of(*fs_, kRoot, "a"), a.ino);
  ASSERT_TRUE(fs_->rename(kRoot, "a", kRoot, "c", RENAME_NOREPLACE).ok());
  EXPECT_EQ(ino_of(*fs_, kRoot, "c"), a.ino);
  EXPECT_EQ(fs_->rename(kRoot, "c", kRoot, "nothing", RENAME_EXCHANGE).error(), ENOENT);
  ASSERT_TRUE(fs_->rename(kRoot, "c", kRoot, "b", RENAME_EXCHANGE).ok());
  EXPECT_EQ(ino_of(*fs_, kRoot, "c"), b.ino);
  EXPECT_EQ(ino_of(*fs_, kRoot, "b"), a.ino);
  EXPECT_EQ(fs_->getattr(a.ino)->nlink, 1u);
  EXPECT_EQ(fs_->getattr(b.ino)->nlink, 1u);

  // File <-> directory across directories.
  Attr d1 = mkdir_(*fs_, kRoot, "d1");
  Attr d2 = mkdir_(*fs_, kRoot, "d2");
  Attr f = mkfile(*fs_, d1.ino, "f");
  Attr g = mkdir_(*fs_, d2.ino, "g");
  mkfile(*fs_, g.ino, "inside");
  EXPECT_EQ(fs_->getattr(d1.ino)->nlink, 2u);
  EXPECT_EQ(fs_->getattr(d2.ino)->nlink, 3u);
  ASSERT_TRUE(fs_->rename(d1.ino, "f", d2.ino, "g", RENAME_EXCHANGE).ok());
  EXPECT_EQ(ino_of(*fs_, d1.ino, "f"), g.ino);
  EXPECT_EQ(ino_of(*fs_, d2.ino, "g"), f.ino);
  EXPECT_EQ(fs_->getattr(d1.ino)->nlink, 3u);
  EXPECT_EQ(fs_->getattr(d2.ino)->nlink, 2u);
  EXPECT_EQ(ino_of(*fs_, g.ino, ".."), d1.ino);
  EXPECT_NE(ino_of(*fs_, g.ino, "inside"), 0u);
  // readdir reports the new types.
  for (const auto& e : list(*fs_, d1.ino))
    if (e.name == "f") { EXPECT_EQ(e.type, DT_DIR); }
  for (const auto& e : list(*fs_, d2.ino))
    if (e.name == "g") { EXPECT_EQ(e.type, DT_REG); }
  // Directory <-> directory across directories keeps both counts.
  Attr h = mkdir_(*fs_, d2.ino, "h");
  ASSERT_TRUE(fs_->rename(d1.ino, "f", d2.ino, "h", RENAME_EXCHANGE).ok());
  EXPECT_EQ(fs_->getattr(d1.ino)->nlink, 3u);
  EXPECT_EQ(fs_->getattr(d2.ino)->nlink, 3u);
  EXPECT_EQ(ino_of(*fs_, g.ino, ".."), d2.ino);
  EXPECT_EQ(ino_of(*fs_, h.ino, ".."), d1.ino);
  // Exchanging a directory with its own ancestor's entry is refused.
  Attr deep = mkdir_(*fs_, h.ino, "deep");
  EXPECT_EQ(fs_->rename(kRoot, "d1", h.ino, "deep", RENAME_EXCHANGE).error(), EINVAL);
  EXPECT_EQ(ino_of(*fs_, h.ino, "deep"), deep.ino);
}

TEST_F(RenameTest, IntoOwnSubtreeAndOntoAncestor) {
  Attr a = mkdir_(*fs_, kRoot, "a");
  Attr b = mkdir_(*fs_, a.ino, "b");
  Attr c = mkdir_(*fs_, b.ino, "c");
  EXPECT_EQ(fs_->rename(kRoot, "a", c.ino, "x", 0).error(), EINVAL);
  EXPECT_EQ(fs_->rename(kRoot, "a", a.ino, "x", 0).error(), EINVAL);
  EXPECT_EQ(fs_->rename(kRoot, "a", b.ino, "x", RENAME_NOREPLACE).error(), EINVAL);
  EXPECT_EQ(fs_->rename(a.ino, "b", c.ino, "x", 0).error(), EINVAL);
  EXPECT_EQ(ino_of(*fs_, kRoot, "a"), a.ino);
  EXPECT_EQ(ino_of(*fs_, c.ino, ".."), b.ino);
  // The target may not be an ancestor of the source either (Linux: ENOTEMPTY).
  mkfile(*fs_, b.ino, "file");
  EXPECT_EQ(fs_->rename(b.ino, "file", a.ino, "b", 0).error(), ENOTEMPTY);
  EXPECT_EQ(fs_->rename(b.ino, "c", a.ino, "b", 0).error(), ENOTEMPTY);
  EXPECT_EQ(fs_->rename(c.ino, "..", kRoot, "z", 0).error(), EINVAL);
  EXPECT_EQ(fs_->rename(kRoot, "a", b.ino, ".", 0).error(), EINVAL);
  EXPECT_EQ(ino_of(*fs_, b.ino, "file"), ino_of(*fs_, b.ino, "file"));
  EXPECT_EQ(fs_->getattr(a.ino)->nlink, 3u);
  EXPECT_EQ(fs_->getattr(b.ino)->nlink, 3u);
}

TEST_F(RenameTest, ToItselfAndBetweenHardLinks) {
  Attr f = mkfile(*fs_, kRoot, "f");
  Attr d = mkdir_(*fs_, kRoot, "d");
  ASSERT_TRUE(fs_->rename(kRoot, "f", kRoot, "f", 0).ok());
  ASSERT_TRUE(fs_->rename(kRoot, "d", kRoot, "d", 0).ok());
  EXPECT_EQ(ino_of(*fs_, kRoot, "f"), f.ino);
  EXPECT_EQ(ino_of(*fs_, kRoot, "d"), d.ino);
  ASSERT_TRUE(fs_->link(f.ino, d.ino, "g").ok());
  ASSERT_TRUE(fs_->rename(kRoot, "f", d.ino, "g", 0).ok());
  // POSIX: both names stay.
  EXPECT_EQ(ino_of(*fs_, kRoot, "f"), f.ino);
  EXPECT_EQ(ino_of(*fs_, d.ino, "g"), f.ino);
  EXPECT_EQ(fs_->getattr(f.ino)->nlink, 2u);
  EXPECT_EQ(fs_->getattr(kRoot)->nlink, 3u);
}

}  // namespace
}  // namespace pmemfs::test
