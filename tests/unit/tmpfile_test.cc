// O_TMPFILE in the library (pmemfs/fs_tmpfile.cc): an unnamed regular file,
// listed as an orphan from the transaction that creates it, freed at its
// last release and forget, or given a name by link() -- only if it is
// linkable -- which takes it off the list. A crash before the name frees it.
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <sys/stat.h>

#include <cstring>

#include <string>

#include <gtest/gtest.h>

#include "pmemfs/fs_impl.h"
#include "pmemfs/layout.h"
#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;

uint64_t free_inodes(Filesystem& fs) { return fs.statfs()->inodes_free; }
uint64_t free_blocks(Filesystem& fs) { return fs.statfs()->blocks_free; }

bool listed(FsImpl& fs, uint64_t ino) {
  for (uint64_t o : fs.orphans_for_tests().list())
    if (o == ino) return true;
  return false;
}

TEST(Tmpfile, IsAnOpenUnnamedRegularFileOnTheOrphanList) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  FsImpl& impl = TempPool::impl(*fs);
  auto d = fs->mkdir(kRoot, "d", 02775, root_caller());
  ASSERT_TRUE(d.ok());
  auto t = fs->tmpfile(d->ino, S_IFREG | 0666, Caller{1000, 1000, 022}, true);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(static_cast<uint32_t>(S_IFREG | 0644), t->mode);
  EXPECT_EQ(0u, t->nlink);
  EXPECT_EQ(1000u, t->uid);
  EXPECT_EQ(0u, t->gid) << "a setgid directory's group";
  EXPECT_TRUE(listed(impl, t->ino));
  auto in = impl.inode_for_tests(t->ino);
  ASSERT_TRUE(in.ok());
  EXPECT_TRUE((*in)->rec.flags & layout::kInodeOrphan);
  // No name anywhere: the directory stays empty.
  EXPECT_TRUE(fs->rmdir(kRoot, "d").ok());
  // Data as in any file.
  const std::string data(3 * kMiB + 5, 't');
  ASSERT_TRUE(fs->write(t->ino, 0, data.data(), data.size()).ok());
  std::string back(data.size(), 0);
  ASSERT_EQ(data.size(), *fs->read(t->ino, 0, back.size(), back.data()));
  EXPECT_TRUE(back == data);
}

// As a created file: a default ACL of the directory replaces the umask and
// becomes the tmpfile's access ACL (masked by the mode).
TEST(Tmpfile, InheritsTheDirectorysDefaultAcl) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  auto d = fs->mkdir(kRoot, "d", 0755, root_caller());
  ASSERT_TRUE(d.ok());
  // u::rwx g::r-x g:99:rwx m::rwx o::---
  constexpr uint32_t kNoId = static_cast<uint32_t>(ACL_UNDEFINED_ID);
  const struct { uint16_t tag, perm; uint32_t id; } entries[] = {
      {ACL_USER_OBJ, 7, kNoId}, {ACL_GROUP_OBJ, 5, kNoId}, {ACL_GROUP, 7, 99},
      {ACL_MASK, 7, kNoId},     {ACL_OTHER, 0, kNoId}};
  std::string acl(sizeof(posix_acl_xattr_header), '\0');
  const posix_acl_xattr_header h{POSIX_ACL_XATTR_VERSION};
  std::memcpy(acl.data(), &h, sizeof h);
  for (const auto& e : entries) {
    const posix_acl_xattr_entry x{e.tag, e.perm, e.id};
    acl.append(reinterpret_cast<const char*>(&x), sizeof x);
  }
  ASSERT_TRUE(fs->setxattr(d->ino, "system.posix_acl_default", acl, 0).ok());
  auto t = fs->tmpfile(d->ino, S_IFREG | 0664, Caller{0, 0, 077}, true);
  ASSERT_TRUE(t.ok()) << t.error();
  EXPECT_EQ(0660u, t->mode & 07777) << "the umask 077 must give way to the default ACL";
  auto access = fs->getxattr(t->ino, "system.posix_acl_access");
  ASSERT_TRUE(access.ok()) << access.error();
  EXPECT_EQ(acl.size(), access->size());
  // Without a default ACL the umask applies.
  auto u = fs->tmpfile(kRoot, S_IFREG | 0666, Caller{0, 0, 027}, true);
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(0640u, u->mode & 07777);
}

TEST(Tmpfile, RefusesWhatIsNoLiveDirectoryOrNoRegularFile) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  auto f = fs->mknod(kRoot, "f", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(ENOTDIR, fs->tmpfile(f->ino, S_IFREG | 0600, root_caller(), true).error());
  EXPECT_EQ(EINVAL, fs->tmpfile(kRoot, S_IFDIR | 0700, root_caller(), true).error());
  auto d = fs->mkdir(kRoot, "gone", 0755, root_caller());
  ASSERT_TRUE(d.ok());
  ASSERT_TRUE(fs->rmdir(kRoot, "gone").ok());
  EXPECT_EQ(ENOENT, fs->tmpfile(d->ino, S_IFREG | 0600, root_caller(), true).error());
}

TEST(Tmpfile, ReleasedWithoutANameItIsFreedSpaceAndInode) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  FsImpl& impl = TempPool::impl(*fs);
  const uint64_t inodes = free_inodes(*fs), blocks = free_blocks(*fs);
  auto t = fs->tmpfile(kRoot, S_IFREG | 0600, root_caller(), true);
  ASSERT_TRUE(t.ok());
  const std::string data(5 * kMiB, 'x');
  ASSERT_TRUE(fs->write(t->ino, 0, data.data(), data.size()).ok());
  EXPECT_EQ(inodes - 1, free_inodes(*fs));
  EXPECT_LT(free_blocks(*fs), blocks);
  fs->release(t->ino);
  EXPECT_EQ(blocks, free_blocks(*fs)) << "data not freed at the last release";
  fs->forget(t->ino, 1);
  EXPECT_EQ(inodes, free_inodes(*fs));
  EXPECT_FALSE(listed(impl, t->ino));
  // Freed for good: it cannot be named any more.
  EXPECT_FALSE(fs->link(t->ino, kRoot, "late").ok());
}

TEST(Tmpfile, LinkGivesItANameAndTakesItOffTheOrphanList) {
  TempPool pool(64 * kMiB);
  {
    auto fs = pool.mount();
    FsImpl& impl = TempPool::impl(*fs);
    auto t = fs->tmpfile(kRoot, S_IFREG | 0600, root_caller(), true);
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(fs->write(t->ino, 0, "kept", 4).ok());
    auto l = fs->link(t->ino, kRoot, "named");
    ASSERT_TRUE(l.ok()) << l.error();
    EXPECT_EQ(1u, l->nlink);
    EXPECT_FALSE(listed(impl, t->ino));
    auto in = impl.inode_for_tests(t->ino);
    ASSERT_TRUE(in.ok());
    EXPECT_FALSE((*in)->rec.flags & layout::kInodeOrphan);
    // The release of the handle keeps a named file.
    fs->release(t->ino);
    fs->forget(t->ino, 2);
    // Unlinked again (a normal unlink), it is no tmpfile any more.
    auto again = fs->lookup(kRoot, "named");
    ASSERT_TRUE(again.ok());
    ASSERT_TRUE(fs->open(again->ino).ok());
    ASSERT_TRUE(fs->link(again->ino, kRoot, "second").ok());
    ASSERT_TRUE(fs->unlink(kRoot, "named").ok());
    ASSERT_TRUE(fs->unlink(kRoot, "second").ok());
    EXPECT_EQ(ENOENT, fs->link(again->ino, kRoot, "back").error());
    fs->release(again->ino);
    fs->forget(again->ino, 3);
    auto k = fs->tmpfile(kRoot, S_IFREG | 0600, root_caller(), true);
    ASSERT_TRUE(k.ok());
    ASSERT_TRUE(fs->write(k->ino, 0, "survives", 8).ok());
    ASSERT_TRUE(fs->link(k->ino, kRoot, "k").ok());
    fs->release(k->ino);
    fs->forget(k->ino, 2);
    ASSERT_TRUE(fs->unmount().ok());
  }
  auto fs = pool.mount();
  auto k = fs->lookup(kRoot, "k");
  ASSERT_TRUE(k.ok());
  char buf[8];
  ASSERT_EQ(8u, *fs->read(k->ino, 0, 8, buf));
  EXPECT_EQ("survives", std::string(buf, 8));
  EXPECT_EQ(1u, k->nlink);
  EXPECT_EQ(0u, TempPool::impl(*fs).orphans_for_tests().size());
}

TEST(Tmpfile, NotLinkableAfterOExclNorAFileUnlinkedNormally) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  auto t = fs->tmpfile(kRoot, S_IFREG | 0600, root_caller(), /*linkable=*/false);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(ENOENT, fs->link(t->ino, kRoot, "named").error());
  EXPECT_FALSE(fs->lookup(kRoot, "named").ok());
  auto f = fs->mknod(kRoot, "f", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(f.ok());
  ASSERT_TRUE(fs->open(f->ino).ok());
  ASSERT_TRUE(fs->unlink(kRoot, "f").ok());
  EXPECT_EQ(ENOENT, fs->link(f->ino, kRoot, "back").error());
}

// A crash (power cut) with one unnamed and one named tmpfile: the next
// mount frees the unnamed one and keeps the other.
TEST(Tmpfile, ACrashFreesTheUnnamedOneAndKeepsTheNamedOne) {
  TempPool pool(64 * kMiB);
  MountOptions mo;
  mo.source = pool.path();
  mo.powerfail.enabled = true;
  auto fs = Filesystem::mount(mo);
  ASSERT_TRUE(fs.ok());
  const uint64_t inodes = free_inodes(**fs);
  auto named = (*fs)->tmpfile(kRoot, S_IFREG | 0600, root_caller(), true);
  ASSERT_TRUE(named.ok());
  ASSERT_TRUE((*fs)->write(named->ino, 0, "named", 5).ok());
  ASSERT_TRUE((*fs)->link(named->ino, kRoot, "n").ok());
  const uint64_t blocks_named = free_blocks(**fs);
  auto unnamed = (*fs)->tmpfile(kRoot, S_IFREG | 0600, root_caller(), true);
  ASSERT_TRUE(unnamed.ok());
  const std::string data(4 * kMiB, 'u');
  ASSERT_TRUE((*fs)->write(unnamed->ino, 0, data.data(), data.size()).ok());
  FsImpl& impl = TempPool::impl(**fs);
  auto view = impl.pool().durable_view();
  ASSERT_TRUE(view.ok());
  (void)(*fs)->power_cut();
  auto recovered = FsImpl::mount_pool(std::move(*view));
  ASSERT_TRUE(recovered.ok()) << recovered.error();
  EXPECT_EQ(inodes - 1, free_inodes(**recovered)) << "the unnamed tmpfile survived";
  EXPECT_EQ(blocks_named, free_blocks(**recovered));
  EXPECT_EQ(0u, (*recovered)->orphans_for_tests().size());
  auto n = (*recovered)->lookup(kRoot, "n");
  ASSERT_TRUE(n.ok());
  char buf[5];
  ASSERT_EQ(5u, *(*recovered)->read(n->ino, 0, 5, buf));
  EXPECT_EQ("named", std::string(buf, 5));
}

}  // namespace
}  // namespace pmemfs::test
