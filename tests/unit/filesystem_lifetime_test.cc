// The Filesystem class end to end, in process (see filesystem_test_util.h).
// Lifetimes: files unlinked while open, and what a remount preserves.
#include "filesystem_test_util.h"

namespace pmemfs::test {
namespace {

// ---- unlinked but open --------------------------------------------------------

TEST(Filesystem, UnlinkedButOpenFile) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  mkfile(*fs, kRoot, "warm");
  ASSERT_TRUE(fs->unlink(kRoot, "warm").ok());
  const uint64_t base = free_blocks(*fs);
  Attr f = mkfile(*fs, kRoot, "f");
  const std::string data = pattern(4 * kMiB, 8);
  put(*fs, f.ino, 0, data);
  ASSERT_TRUE(fs->open(f.ino).ok());
  ASSERT_TRUE(fs->unlink(kRoot, "f").ok());
  EXPECT_EQ(lookup_err(*fs, kRoot, "f"), ENOENT);
  EXPECT_EQ(fs->getattr(f.ino)->nlink, 0u);
  EXPECT_TRUE(all(*fs, f.ino) == data);
  put(*fs, f.ino, 4 * kMiB, "more");  // still writable
  EXPECT_EQ(fs->getattr(f.ino)->size, 4 * kMiB + 4);
  const uint64_t used = free_blocks(*fs);
  EXPECT_LE(used, base - 4 * kMiB / 4096);
  // The kernel forgets the name first; the open handle still holds it.
  fs->forget(f.ino, 1);
  EXPECT_EQ(free_blocks(*fs), used);
  EXPECT_EQ(get(*fs, f.ino, 0, 10), data.substr(0, 10));
  fs->release(f.ino);
  EXPECT_EQ(free_blocks(*fs), base);

  // Release first, forget last.
  Attr g = mkfile(*fs, kRoot, "g");
  put(*fs, g.ino, 0, data);
  ASSERT_TRUE(fs->open(g.ino).ok());
  ASSERT_TRUE(fs->open(g.ino).ok());  // two handles
  ASSERT_TRUE(fs->unlink(kRoot, "g").ok());
  fs->release(g.ino);
  EXPECT_TRUE(all(*fs, g.ino) == data) << "one handle is still open";
  fs->release(g.ino);
  EXPECT_EQ(free_blocks(*fs), base) << "no name and no handle: the data is free";
  fs->forget(g.ino, 1);
  EXPECT_EQ(free_blocks(*fs), base);
  // Its inode number is reusable with a new generation.
  Attr h = mkfile(*fs, kRoot, "h");
  if (h.ino == g.ino) { EXPECT_NE(h.generation, g.generation); }
}

TEST(Filesystem, UnmountFreesUnlinkedOpenFile) {
  TempPool pool(64 << 20);
  uint64_t base, ino;
  {
    auto fs = pool.mount();
    ASSERT_TRUE(fs);
    mkfile(*fs, kRoot, "warm");
    ASSERT_TRUE(fs->unlink(kRoot, "warm").ok());
    base = free_blocks(*fs);
    Attr f = mkfile(*fs, kRoot, "f");
    ino = f.ino;
    put(*fs, f.ino, 0, pattern(8 * kMiB, 1));
    ASSERT_TRUE(fs->setxattr(f.ino, "user.x", pattern(9000, 2), 0).ok());
    ASSERT_TRUE(fs->open(f.ino).ok());
    ASSERT_TRUE(fs->unlink(kRoot, "f").ok());
    EXPECT_LT(free_blocks(*fs), base - 2048);
  }  // unmounted with the file still open and referenced
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  EXPECT_EQ(free_blocks(*fs), base);
  EXPECT_FALSE(fs->getattr(ino).ok());
  EXPECT_TRUE(names(*fs, kRoot).empty());
}

// ---- remount ---------------------------------------------------------------

struct Snapshot {
  Attr a;
  size_t content_hash = 0;
  std::string link;
  std::map<std::string, std::string> xattrs;
};

bool operator==(const Snapshot& x, const Snapshot& y) {
  const Attr &a = x.a, &b = y.a;
  return a.ino == b.ino && a.generation == b.generation && a.mode == b.mode && a.uid == b.uid &&
         a.gid == b.gid && a.nlink == b.nlink && a.size == b.size && a.blocks == b.blocks &&
         a.rdev == b.rdev && same(a.atime, b.atime) && same(a.mtime, b.mtime) &&
         same(a.ctime, b.ctime) && same(a.btime, b.btime) && x.content_hash == y.content_hash &&
         x.link == y.link && x.xattrs == y.xattrs;
}

std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
  return os << "{ino " << s.a.ino << " gen " << s.a.generation << " mode " << std::oct << s.a.mode
            << std::dec << " uid " << s.a.uid << " gid " << s.a.gid << " nlink " << s.a.nlink
            << " size " << s.a.size << " blocks " << s.a.blocks << " rdev " << s.a.rdev
            << " mtime " << s.a.mtime.tv_sec << "." << s.a.mtime.tv_nsec << " ctime "
            << s.a.ctime.tv_sec << "." << s.a.ctime.tv_nsec << " atime " << s.a.atime.tv_sec
            << "." << s.a.atime.tv_nsec << " hash " << s.content_hash << " link '" << s.link
            << "' xattrs " << s.xattrs.size() << "}";
}

Snapshot snap(Filesystem& fs, const Attr& a) {
  Snapshot s;
  s.a = a;
  if (S_ISREG(a.mode)) s.content_hash = std::hash<std::string>{}(get(fs, a.ino, 0, a.size));
  if (S_ISLNK(a.mode)) s.link = *fs.readlink(a.ino);
  auto names = fs.listxattr(a.ino, root_caller());
  EXPECT_TRUE(names.ok());
  for (const auto& n : *names) s.xattrs[n] = *fs.getxattr(a.ino, n);
  return s;
}

void walk(Filesystem& fs, uint64_t dir, const std::string& path,
          std::map<std::string, Snapshot>& out) {
  for (const auto& e : list(fs, dir)) {
    if (e.name == "." || e.name == "..") continue;
    auto a = fs.lookup(dir, e.name);
    ASSERT_TRUE(a.ok()) << path << "/" << e.name;
    EXPECT_EQ(a->ino, e.ino);
    EXPECT_EQ(IFTODT(a->mode), e.type);
    std::string p = path + "/" + e.name;
    out[p] = snap(fs, *a);
    if (S_ISDIR(a->mode)) {
      EXPECT_EQ(ino_of(fs, a->ino, ".."), dir) << p;
      walk(fs, a->ino, p, out);
    }
    fs.forget(a->ino, 2);
  }
}

std::map<std::string, Snapshot> tree(Filesystem& fs) {
  std::map<std::string, Snapshot> out;
  out["/"] = snap(fs, *fs.getattr(kRoot));
  walk(fs, kRoot, "", out);
  return out;
}

void build_tree(Filesystem& fs) {
  const Caller user{1000, 1000, 022};
  Attr a = mkdir_(fs, kRoot, "a", 0755, user);
  Attr b = mkdir_(fs, a.ino, "b", 02770);
  Attr c = mkdir_(fs, b.ino, "c");
  Attr empty = mkdir_(fs, kRoot, "empty");
  (void)empty;
  for (int i = 0; i < 40; ++i) {
    Attr f = mkfile(fs, i % 2 ? a.ino : c.ino, "file" + std::to_string(i), 0600 + i % 8, user);
    put(fs, f.ino, uint64_t(i) * 1000, pattern(i * 3000 + 1, i));
  }
  Attr big = mkfile(fs, kRoot, "big");
  put(fs, big.ino, 0, pattern(5 * kMiB + 3, 77));
  Attr sparse = mkfile(fs, b.ino, "sparse");
  put(fs, sparse.ino, 7 * kMiB + 5, "island");
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 12 * kMiB;
  ASSERT_TRUE(fs.setattr(sparse.ino, sa).ok());
  Attr pre = mkfile(fs, kRoot, "prealloc");
  ASSERT_TRUE(fs.fallocate(pre.ino, FALLOC_FL_KEEP_SIZE, 0, kMiB).ok());
  Attr punched = mkfile(fs, kRoot, "punched");
  put(fs, punched.ino, 0, pattern(kMiB, 5));
  ASSERT_TRUE(fs.fallocate(punched.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192,
                           65536).ok());
  // Overwrites in place (lazily kept mtime) must survive the unmount.
  tick();
  put(fs, big.ino, 100, "overwritten");
  ASSERT_TRUE(fs.setxattr(big.ino, "user.one", "1", 0).ok());
  ASSERT_TRUE(fs.setxattr(big.ino, "trusted.two", pattern(70000 / 2, 3), 0).ok());
  ASSERT_TRUE(fs.setxattr(a.ino, "user.dir", "on a dir", 0).ok());
  ASSERT_TRUE(fs.symlink(c.ino, "up", "../../../big", user).ok());
  auto sl = fs.symlink(kRoot, "long", std::string(4000, 'L'), user);
  ASSERT_TRUE(sl.ok());
  ASSERT_TRUE(fs.setxattr(sl->ino, "trusted.on_link", "x", 0).ok());
  ASSERT_TRUE(fs.link(big.ino, c.ino, "big-link").ok());
  ASSERT_TRUE(fs.link(big.ino, a.ino, "big-link2").ok());
  ASSERT_TRUE(fs.mknod(b.ino, "fifo", S_IFIFO | 0644, 0, user).ok());
  ASSERT_TRUE(fs.mknod(b.ino, "tty", S_IFCHR | 0620, makedev(4, 1), root_caller()).ok());
  ASSERT_TRUE(fs.rename(a.ino, "file1", c.ino, "renamed", 0).ok());
  ASSERT_TRUE(fs.unlink(a.ino, "file3").ok());
  sa.valid = SetAttr::kAtime | SetAttr::kMtime | SetAttr::kUid;
  sa.atime = {1234, 5678};
  sa.mtime = {8765, 4321};
  sa.uid = 4242;
  ASSERT_TRUE(fs.setattr(ino_of(fs, c.ino, "renamed"), sa).ok());
  Attr many = mkdir_(fs, kRoot, "many");
  for (int i = 0; i < 200; ++i) mkfile(fs, many.ino, "m" + std::to_string(i));
  for (int i = 0; i < 200; i += 3) ASSERT_TRUE(fs.unlink(many.ino, "m" + std::to_string(i)).ok());
}

TEST(Filesystem, RemountPreservesEverything) {
  TempPool pool(128 << 20);
  std::map<std::string, Snapshot> before;
  StatFs sbefore{};
  // The walks read every file and list every directory: under relatime
  // that would move access times on (and the unmount write them).
  const AtimeOptions noatime{AtimeMode::kNever, true};
  {
    auto fs = pool.mount();
    ASSERT_TRUE(fs);
    fs->set_atime(noatime);
    build_tree(*fs);
    before = tree(*fs);
    sbefore = *fs->statfs();
    ASSERT_GT(before.size(), 150u);
    // Sanity of the walk itself.
    EXPECT_EQ(before["/a/big-link2"].a.ino, before["/big"].a.ino);
    EXPECT_EQ(before["/big"].a.nlink, 3u);
    EXPECT_EQ(before["/a/b/c/up"].link, "../../../big");
    EXPECT_EQ(before["/a/b/tty"].a.rdev, makedev(4, 1));
    EXPECT_EQ(before["/a"].a.nlink, 3u);
    EXPECT_EQ(before["/"].a.nlink, 5u);
  }
  StatFs sfirst{};
  for (int round = 0; round < 2; ++round) {
    auto fs = pool.mount();
    ASSERT_TRUE(fs);
    fs->set_atime(noatime);
    auto after = tree(*fs);
    ASSERT_EQ(after.size(), before.size());
    for (const auto& [path, s] : before) {
      auto it = after.find(path);
      ASSERT_NE(it, after.end()) << path;
      EXPECT_EQ(it->second, s) << path;
    }
    // Names unlinked while referenced were freed by the first unmount; after
    // that the counts stay put.
    auto safter = *fs->statfs();
    if (round == 0) {
      sfirst = safter;
      EXPECT_GE(safter.blocks_free, sbefore.blocks_free);
      EXPECT_EQ(safter.inodes_free, sbefore.inodes_free + 68);  // many/m0,m3,.. and a/file3
    } else {
      EXPECT_EQ(safter.blocks_free, sfirst.blocks_free);
      EXPECT_EQ(safter.inodes_free, sfirst.inodes_free);
    }
    ASSERT_TRUE(fs->unmount().ok());
  }
  // New inodes get generations that differ from every existing one.
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr n = mkfile(*fs, kRoot, "new");
  for (const auto& [path, s] : before) EXPECT_NE(n.generation, s.a.generation) << path;
}

}  // namespace
}  // namespace pmemfs::test
