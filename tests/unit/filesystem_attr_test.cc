// The Filesystem class end to end, in process (see filesystem_test_util.h).
// Attributes (getattr, setattr, truncate, setgid inheritance) and extended
// attributes.
#include "filesystem_test_util.h"

namespace pmemfs::test {
namespace {

// ---- attributes -------------------------------------------------------------

TEST(Filesystem, GetattrFields) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto root = fs->getattr(kRoot);
  ASSERT_TRUE(root.ok());
  EXPECT_TRUE(S_ISDIR(root->mode));
  EXPECT_EQ(root->ino, kRoot);
  EXPECT_EQ(root->nlink, 2u);

  Caller user{1000, 2000, 027};
  Attr f = mkfile(*fs, kRoot, "f", 0666, user);
  EXPECT_EQ(f.mode, S_IFREG | 0640u);
  EXPECT_EQ(f.uid, 1000u);
  EXPECT_EQ(f.gid, 2000u);
  EXPECT_EQ(f.nlink, 1u);
  EXPECT_EQ(f.size, 0u);
  EXPECT_EQ(f.blocks, 0u);
  EXPECT_TRUE(same(f.mtime, f.ctime));
  EXPECT_TRUE(same(f.btime, f.ctime));
  Attr d = mkdir_(*fs, kRoot, "d", 0777, user);
  EXPECT_EQ(d.mode, S_IFDIR | 0750u);
  EXPECT_EQ(d.nlink, 2u);
  EXPECT_EQ(d.uid, 1000u);
  EXPECT_EQ(fs->getattr(kRoot)->nlink, 3u);
  for (int i = 0; i < 5; ++i) mkdir_(*fs, d.ino, "sub" + std::to_string(i));
  mkfile(*fs, d.ino, "notadir");
  EXPECT_EQ(fs->getattr(d.ino)->nlink, 7u);
  ASSERT_TRUE(fs->rmdir(d.ino, "sub3").ok());
  EXPECT_EQ(fs->getattr(d.ino)->nlink, 6u);
  EXPECT_EQ(fs->getattr(kRoot)->nlink, 3u);

  // Times: a write advances mtime and ctime, not atime or btime.
  tick();
  put(*fs, f.ino, 0, std::string(5000, 'q'));
  auto w = fs->getattr(f.ino);
  EXPECT_EQ(w->size, 5000u);
  EXPECT_GE(w->blocks, 16u);  // two 4 KiB blocks at least
  EXPECT_TRUE(later(w->mtime, f.mtime));
  EXPECT_TRUE(later(w->ctime, f.ctime));
  EXPECT_TRUE(same(w->btime, f.btime));
  // An overwrite inside the file (the shared-lock path) advances them too.
  tick();
  put(*fs, f.ino, 10, "zz");
  auto o = fs->getattr(f.ino);
  EXPECT_TRUE(later(o->mtime, w->mtime));
  // chmod changes ctime only.
  tick();
  SetAttr sa;
  sa.valid = SetAttr::kMode;
  sa.mode = 0600;
  auto c = fs->setattr(f.ino, sa);
  ASSERT_TRUE(c.ok());
  EXPECT_TRUE(same(c->mtime, o->mtime));
  EXPECT_TRUE(later(c->ctime, o->ctime));
  // Creating an entry changes the directory's mtime and ctime.
  auto before = fs->getattr(d.ino);
  tick();
  mkfile(*fs, d.ino, "another");
  auto after = fs->getattr(d.ino);
  EXPECT_TRUE(later(after->mtime, before->mtime));
  EXPECT_TRUE(later(after->ctime, before->ctime));
  // Directories report their slot blocks as size.
  EXPECT_GT(after->size, 0u);
  EXPECT_EQ(after->size % 4096, 0u);
  struct stat st;
  o->to_stat(&st);
  EXPECT_EQ(st.st_size, 5000);
  EXPECT_EQ(st.st_ino, f.ino);
  EXPECT_EQ(st.st_blocks, static_cast<blkcnt_t>(o->blocks));
}

TEST(Filesystem, SetattrModeOwnerTimes) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  SetAttr sa;
  sa.valid = SetAttr::kMode;
  sa.mode = 04751;
  auto r = fs->setattr(f.ino, sa);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->mode, S_IFREG | 04751u);
  sa.valid = SetAttr::kUid | SetAttr::kGid;
  sa.uid = 123;
  sa.gid = 456;
  r = fs->setattr(f.ino, sa);
  EXPECT_EQ(r->uid, 123u);
  EXPECT_EQ(r->gid, 456u);
  EXPECT_EQ(fs->getattr(f.ino)->uid, 123u);
  // chmod never changes the file type, even when asked to.
  sa.valid = SetAttr::kMode;
  sa.mode = S_IFDIR | 0700;
  r = fs->setattr(f.ino, sa);
  EXPECT_EQ(r->mode, S_IFREG | 0700u);

  // Explicit times.
  sa.valid = SetAttr::kAtime | SetAttr::kMtime;
  sa.atime = {1000000, 5};
  sa.mtime = {2000000, 999999999};
  r = fs->setattr(f.ino, sa);
  EXPECT_TRUE(same(r->atime, sa.atime));
  EXPECT_TRUE(same(r->mtime, sa.mtime));
  EXPECT_TRUE(later(r->ctime, sa.mtime));
  auto g = fs->getattr(f.ino);
  EXPECT_TRUE(same(g->atime, sa.atime));
  EXPECT_TRUE(same(g->mtime, sa.mtime));
  // Times before the epoch survive.
  sa.valid = SetAttr::kMtime;
  sa.mtime = {-100, 250};
  r = fs->setattr(f.ino, sa);
  EXPECT_TRUE(same(r->mtime, sa.mtime));
  // ATIME_NOW / MTIME_NOW.
  timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  sa.valid = SetAttr::kAtimeNow | SetAttr::kMtimeNow;
  r = fs->setattr(f.ino, sa);
  EXPECT_FALSE(later(now, r->atime));
  EXPECT_FALSE(later(now, r->mtime));
  EXPECT_TRUE(later(r->mtime, g->mtime));
  // Only the atime.
  auto before = *r;
  tick();
  sa.valid = SetAttr::kAtimeNow;
  r = fs->setattr(f.ino, sa);
  EXPECT_TRUE(later(r->atime, before.atime));
  EXPECT_TRUE(same(r->mtime, before.mtime));
  // chmod on a directory and a symlink target unchanged.
  Attr d = mkdir_(*fs, kRoot, "d");
  sa.valid = SetAttr::kMode;
  sa.mode = 01777;
  EXPECT_EQ(fs->setattr(d.ino, sa)->mode, S_IFDIR | 01777u);
}

TEST(Filesystem, TruncateDownThenUpReadsZero) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "t");
  const std::string data = pattern(5 * kMiB + 100, 3);
  put(*fs, f.ino, 0, data);
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  // Cut inside a page, inside the first 2 MiB range, then grow past it again.
  for (uint64_t cut : {uint64_t{3 * kMiB + 17}, uint64_t{kMiB + 4095}, uint64_t{8193},
                       uint64_t{4096}, uint64_t{1}, uint64_t{0}}) {
    sa.size = cut;
    auto r = fs->setattr(f.ino, sa);
    ASSERT_TRUE(r.ok()) << r.error();
    EXPECT_EQ(r->size, cut);
    sa.size = 5 * kMiB;
    r = fs->setattr(f.ino, sa);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->size, 5 * kMiB);
    std::string back = get(*fs, f.ino, 0, 5 * kMiB);
    ASSERT_EQ(back.size(), 5 * kMiB);
    EXPECT_TRUE(back.substr(0, cut) == data.substr(0, cut)) << cut;
    EXPECT_TRUE(back.substr(cut) == std::string(5 * kMiB - cut, '\0')) << "cut " << cut;
    // Restore the data for the next round.
    put(*fs, f.ino, 0, data.substr(0, 5 * kMiB));
  }
  // Truncating to zero frees everything.
  sa.size = 0;
  auto z = fs->setattr(f.ino, sa);
  EXPECT_EQ(z->size, 0u);
  EXPECT_EQ(z->blocks, 0u);
  // Truncate up of an empty file allocates nothing and reads zero.
  sa.size = 3 * kMiB;
  auto u = fs->setattr(f.ino, sa);
  EXPECT_EQ(u->size, 3 * kMiB);
  EXPECT_EQ(u->blocks, 0u);
  EXPECT_EQ(get(*fs, f.ino, 2 * kMiB - 10, 20), std::string(20, '\0'));
  // A truncate changes mtime and ctime.
  auto before = fs->getattr(f.ino);
  tick();
  sa.size = 10;
  auto t = fs->setattr(f.ino, sa);
  EXPECT_TRUE(later(t->mtime, before->mtime));
  EXPECT_TRUE(later(t->ctime, before->ctime));
}

TEST(Filesystem, SetgidDirectoryInheritance) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr d = mkdir_(*fs, kRoot, "shared", 02775, Caller{0, 100, 0});
  EXPECT_EQ(d.mode, S_IFDIR | 02775u);
  EXPECT_EQ(d.gid, 100u);
  Caller user{1000, 3000, 022};
  Attr f = mkfile(*fs, d.ino, "f", 0664, user);
  EXPECT_EQ(f.uid, 1000u);
  EXPECT_EQ(f.gid, 100u);
  EXPECT_EQ(f.mode & S_ISGID, 0u);
  Attr sub = mkdir_(*fs, d.ino, "sub", 0755, user);
  EXPECT_EQ(sub.gid, 100u);
  EXPECT_EQ(sub.mode, S_IFDIR | S_ISGID | 0755u);
  // ... and again one level down.
  Attr subsub = mkdir_(*fs, sub.ino, "subsub", 0700, user);
  EXPECT_EQ(subsub.gid, 100u);
  EXPECT_TRUE(subsub.mode & S_ISGID);
  auto link = fs->symlink(sub.ino, "ln", "target", user);
  ASSERT_TRUE(link.ok());
  EXPECT_EQ(link->gid, 100u);
  // Without setgid, the caller's group.
  Attr plain = mkdir_(*fs, kRoot, "plain", 0755, Caller{0, 100, 0});
  Attr g = mkfile(*fs, plain.ino, "g", 0644, user);
  EXPECT_EQ(g.gid, 3000u);
  Attr psub = mkdir_(*fs, plain.ino, "psub", 0755, user);
  EXPECT_EQ(psub.mode & S_ISGID, 0u);
}

// ---- xattrs ----------------------------------------------------------------

TEST(Filesystem, Xattrs) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  EXPECT_TRUE(fs->listxattr(f.ino, root_caller())->empty());
  EXPECT_EQ(fs->getxattr(f.ino, "user.none").error(), ENODATA);
  ASSERT_TRUE(fs->setxattr(f.ino, "user.a", "alpha", 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "user.b", "beta", 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "trusted.c", std::string("with\0nul", 8), 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "security.d", "", 0).ok());
  EXPECT_EQ(*fs->getxattr(f.ino, "user.a"), "alpha");
  EXPECT_EQ(*fs->getxattr(f.ino, "trusted.c"), std::string("with\0nul", 8));
  EXPECT_EQ(*fs->getxattr(f.ino, "security.d"), "");
  auto l = *fs->listxattr(f.ino, root_caller());
  EXPECT_EQ(std::set<std::string>(l.begin(), l.end()),
            (std::set<std::string>{"user.a", "user.b", "trusted.c", "security.d"}));
  EXPECT_EQ(l.size(), 4u);

  EXPECT_EQ(fs->setxattr(f.ino, "user.a", "x", XATTR_CREATE).error(), EEXIST);
  EXPECT_EQ(fs->setxattr(f.ino, "user.zz", "x", XATTR_REPLACE).error(), ENODATA);
  EXPECT_EQ(fs->getxattr(f.ino, "user.zz").error(), ENODATA);
  ASSERT_TRUE(fs->setxattr(f.ino, "user.new", "n", XATTR_CREATE).ok());
  // Replacing one (first, middle, last in the chain) keeps all the others.
  for (const char* name : {"user.new", "user.b", "user.a", "security.d"}) {
    ASSERT_TRUE(fs->setxattr(f.ino, name, std::string("replaced-") + name, XATTR_REPLACE).ok());
    EXPECT_EQ(*fs->getxattr(f.ino, name), std::string("replaced-") + name);
    EXPECT_EQ(fs->listxattr(f.ino, root_caller())->size(), 5u);
  }
  ASSERT_TRUE(fs->setxattr(f.ino, "user.b", "plain set replaces", 0).ok());
  EXPECT_EQ(*fs->getxattr(f.ino, "user.b"), "plain set replaces");
  EXPECT_EQ(*fs->getxattr(f.ino, "user.a"), "replaced-user.a");
  EXPECT_EQ(*fs->getxattr(f.ino, "trusted.c"), std::string("with\0nul", 8));

  // Sizes.
  const std::string v64k = pattern(65536, 5);
  ASSERT_TRUE(fs->setxattr(f.ino, "user.big", v64k, 0).ok());
  EXPECT_EQ(*fs->getxattr(f.ino, "user.big"), v64k);
  EXPECT_EQ(fs->setxattr(f.ino, "user.big2", pattern(65537, 5), 0).error(), E2BIG);
  EXPECT_EQ(fs->getxattr(f.ino, "user.big2").error(), ENODATA);
  const std::string n255 = "user." + std::string(250, 'x');
  ASSERT_TRUE(fs->setxattr(f.ino, n255, "long name", 0).ok());
  EXPECT_EQ(*fs->getxattr(f.ino, n255), "long name");
  EXPECT_EQ(fs->setxattr(f.ino, n255 + "x", "v", 0).error(), ERANGE);
  // Namespaces.
  EXPECT_EQ(fs->setxattr(f.ino, "bogus.name", "v", 0).error(), EOPNOTSUPP);
  EXPECT_EQ(fs->setxattr(f.ino, "noprefix", "v", 0).error(), EOPNOTSUPP);
  EXPECT_EQ(fs->setxattr(f.ino, "", "v", 0).error(), EINVAL);

  // Remove: first, middle and the rest.
  ASSERT_TRUE(fs->removexattr(f.ino, "user.a").ok());
  EXPECT_EQ(fs->removexattr(f.ino, "user.a").error(), ENODATA);
  EXPECT_EQ(fs->getxattr(f.ino, "user.a").error(), ENODATA);
  EXPECT_EQ(*fs->getxattr(f.ino, "user.b"), "plain set replaces");
  EXPECT_EQ(fs->listxattr(f.ino, root_caller())->size(), 6u);
  auto ctime_before = fs->getattr(f.ino)->ctime;
  tick();
  ASSERT_TRUE(fs->removexattr(f.ino, "user.big").ok());
  EXPECT_TRUE(later(fs->getattr(f.ino)->ctime, ctime_before));
  const auto left = *fs->listxattr(f.ino, root_caller());
  for (const auto& n : left) ASSERT_TRUE(fs->removexattr(f.ino, n).ok());
  EXPECT_TRUE(fs->listxattr(f.ino, root_caller())->empty());

  // Directories and symlinks carry xattrs too; xattr blocks are freed.
  Attr d = mkdir_(*fs, kRoot, "d");
  ASSERT_TRUE(fs->setxattr(d.ino, "user.dir", "yes", 0).ok());
  EXPECT_EQ(*fs->getxattr(d.ino, "user.dir"), "yes");
  const uint64_t before = free_blocks(*fs);
  Attr g = mkfile(*fs, kRoot, "g");
  for (int i = 0; i < 10; ++i)
    ASSERT_TRUE(fs->setxattr(g.ino, "user.k" + std::to_string(i), pattern(20000, i), 0).ok());
  EXPECT_LT(free_blocks(*fs), before - 10 * 4);
  ASSERT_TRUE(fs->unlink(kRoot, "g").ok());
  fs->forget(g.ino, 1);
  EXPECT_EQ(free_blocks(*fs), before);
}

TEST(Filesystem, TrustedXattrNamesListedOnlyWithCapSysAdmin) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  ASSERT_TRUE(fs->setxattr(f.ino, "trusted.t", "1", 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "user.u", "2", 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "security.s", "3", 0).ok());
  auto all = *fs->listxattr(f.ino, root_caller());
  EXPECT_EQ(std::set<std::string>(all.begin(), all.end()),
            (std::set<std::string>{"trusted.t", "user.u", "security.s"}));
  for (Caller who : {Caller{1000, 1000, 022}, Caller{0, 0, 022, /*cap_sys_admin=*/false}}) {
    auto seen = *fs->listxattr(f.ino, who);
    EXPECT_EQ(std::set<std::string>(seen.begin(), seen.end()),
              (std::set<std::string>{"user.u", "security.s"}))
        << "uid " << who.uid;
  }
}

}  // namespace
}  // namespace pmemfs::test
