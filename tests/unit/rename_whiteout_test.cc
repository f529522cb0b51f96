// rename(RENAME_WHITEOUT), what overlayfs asks of an upper filesystem: the
// source name is left to a whiteout (a character device 0:0, mode 0, owned
// by the caller), in the same transaction as the rename.
#include <dirent.h>
#include <linux/fs.h>
#include <sys/sysmacros.h>

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;

std::map<std::string, DirEntry> list(Filesystem& fs, uint64_t dir) {
  std::map<std::string, DirEntry> out;
  EXPECT_TRUE(fs.readdir(dir, 0, [&](const DirEntry& e) {
                  if (e.name != "." && e.name != "..") out.emplace(e.name, e);
                  return true;
                }).ok());
  return out;
}

void expect_whiteout(Filesystem& fs, uint64_t dir, const std::string& name, uid_t uid, gid_t gid) {
  auto w = fs.lookup(dir, name);
  ASSERT_TRUE(w.ok()) << name << ": " << w.error();
  EXPECT_EQ(w->mode, static_cast<uint32_t>(S_IFCHR));  // c---------
  EXPECT_EQ(w->rdev, makedev(0, 0));
  EXPECT_EQ(w->nlink, 1u);
  EXPECT_EQ(w->uid, uid);
  EXPECT_EQ(w->gid, gid);
  EXPECT_EQ(list(fs, dir).at(name).type, static_cast<uint32_t>(DT_CHR));
  fs.forget(w->ino, 1);
}

TEST(RenameWhiteout, LeavesAWhiteoutAtTheSource) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto f = fs->mknod(kRoot, "f", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(fs->write(f->ino, 0, "data", 4).ok());
  const Caller who{1000, 1001, 022};
  ASSERT_TRUE(fs->rename(kRoot, "f", kRoot, "g", RENAME_WHITEOUT, who).ok());
  auto g = fs->lookup(kRoot, "g");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->ino, f->ino);
  EXPECT_EQ(g->size, 4u);
  expect_whiteout(*fs, kRoot, "f", 1000, 1001);
  EXPECT_EQ(list(*fs, kRoot).size(), 2u);
  // A whiteout is an ordinary node of the upper layer: it can be renamed
  // over (overlayfs does so when the name comes back) and unlinked.
  auto h = fs->mknod(kRoot, "h", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(h.ok());
  ASSERT_TRUE(fs->rename(kRoot, "h", kRoot, "f", 0).ok());
  EXPECT_EQ(fs->lookup(kRoot, "f")->ino, h->ino);
}

TEST(RenameWhiteout, OverAnExistingNameAndAcrossDirectories) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto a = fs->mkdir(kRoot, "a", 0755, root_caller());
  auto b = fs->mkdir(kRoot, "b", 0755, root_caller());
  ASSERT_TRUE(a.ok() && b.ok());
  auto sub = fs->mkdir(a->ino, "sub", 0755, root_caller());
  ASSERT_TRUE(sub.ok());
  auto victim = fs->mknod(b->ino, "victim", S_IFREG | 0644, 0, root_caller());
  auto src = fs->mknod(a->ino, "src", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(victim.ok() && src.ok());

  // A file over a file in another directory.
  ASSERT_TRUE(fs->rename(a->ino, "src", b->ino, "victim", RENAME_WHITEOUT, root_caller()).ok());
  EXPECT_EQ(fs->lookup(b->ino, "victim")->ino, src->ino);
  expect_whiteout(*fs, a->ino, "src", 0, 0);
  EXPECT_EQ(fs->getattr(victim->ino)->nlink, 0u);

  // A directory: the parents' link counts move with it; the whiteout is
  // not a directory and counts for nothing.
  ASSERT_TRUE(fs->rename(a->ino, "sub", b->ino, "sub", RENAME_WHITEOUT, root_caller()).ok());
  EXPECT_EQ(fs->getattr(a->ino)->nlink, 2u);
  EXPECT_EQ(fs->getattr(b->ino)->nlink, 3u);
  expect_whiteout(*fs, a->ino, "sub", 0, 0);
  auto moved = fs->lookup(b->ino, "sub");
  ASSERT_TRUE(moved.ok());
  EXPECT_EQ(moved->ino, sub->ino);
  EXPECT_EQ(fs->lookup(sub->ino, "..")->ino, b->ino);

  // rmdir of the old parent now fails: the whiteout is in it.
  EXPECT_EQ(fs->rmdir(kRoot, "a").error(), ENOTEMPTY);
}

TEST(RenameWhiteout, FlagsAndErrorsChangeNothing) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  ASSERT_TRUE(fs->mknod(kRoot, "x", S_IFREG | 0644, 0, root_caller()).ok());
  ASSERT_TRUE(fs->mknod(kRoot, "y", S_IFREG | 0644, 0, root_caller()).ok());
  const auto before = list(*fs, kRoot);
  const uint64_t inodes_free = fs->statfs()->inodes_free;
  EXPECT_EQ(fs->rename(kRoot, "x", kRoot, "y", RENAME_WHITEOUT | RENAME_EXCHANGE, root_caller())
                .error(),
            EINVAL);
  EXPECT_EQ(fs->rename(kRoot, "x", kRoot, "y", RENAME_WHITEOUT | RENAME_NOREPLACE, root_caller())
                .error(),
            EEXIST);
  EXPECT_EQ(fs->rename(kRoot, "none", kRoot, "z", RENAME_WHITEOUT, root_caller()).error(), ENOENT);
  EXPECT_EQ(list(*fs, kRoot).size(), before.size());
  EXPECT_EQ(fs->statfs()->inodes_free, inodes_free);
  // NOREPLACE with a free target is fine.
  ASSERT_TRUE(
      fs->rename(kRoot, "x", kRoot, "z", RENAME_WHITEOUT | RENAME_NOREPLACE, root_caller()).ok());
  expect_whiteout(*fs, kRoot, "x", 0, 0);
  EXPECT_EQ(fs->statfs()->inodes_free, inodes_free - 1);
}

TEST(RenameWhiteout, SetgidDirectoryGroupAndRemount) {
  TempPool pool(64 << 20);
  uint64_t d_ino;
  {
    auto fs = pool.mount();
    ASSERT_TRUE(fs);
    auto d = fs->mkdir(kRoot, "d", 0755, root_caller());
    ASSERT_TRUE(d.ok());
    d_ino = d->ino;
    SetAttr s;
    s.valid = SetAttr::kMode | SetAttr::kGid;
    s.mode = 02775;
    s.gid = 500;
    ASSERT_TRUE(fs->setattr(d->ino, s).ok());
    ASSERT_TRUE(fs->mknod(d->ino, "f", S_IFREG | 0644, 0, root_caller()).ok());
    ASSERT_TRUE(fs->rename(d->ino, "f", d->ino, "g", RENAME_WHITEOUT, Caller{1000, 1000, 022}).ok());
    expect_whiteout(*fs, d->ino, "f", 1000, 500);
    ASSERT_TRUE(fs->unmount().ok());
  }
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  expect_whiteout(*fs, d_ino, "f", 1000, 500);
  EXPECT_TRUE(fs->lookup(d_ino, "g").ok());
}

}  // namespace
}  // namespace pmemfs::test
