// The Filesystem class end to end, in process (see filesystem_test_util.h).
// The namespace: error codes, hard links, symlinks and special files,
// readdir, huge directories.
#include "filesystem_test_util.h"

namespace pmemfs::test {
namespace {

// ---- errors ----------------------------------------------------------------

TEST(Filesystem, ErrorCodes) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  const Caller rc = root_caller();
  Attr f = mkfile(*fs, kRoot, "file");
  Attr d = mkdir_(*fs, kRoot, "dir");
  mkfile(*fs, d.ino, "inside");

  EXPECT_EQ(fs->mknod(kRoot, "file", S_IFREG | 0644, 0, rc).error(), EEXIST);
  EXPECT_EQ(fs->mkdir(kRoot, "file", 0755, rc).error(), EEXIST);
  EXPECT_EQ(fs->mkdir(kRoot, "dir", 0755, rc).error(), EEXIST);
  EXPECT_EQ(fs->symlink(kRoot, "dir", "x", rc).error(), EEXIST);
  EXPECT_EQ(fs->link(f.ino, kRoot, "dir").error(), EEXIST);
  EXPECT_EQ(fs->mkdir(kRoot, ".", 0755, rc).error(), EEXIST);
  EXPECT_EQ(fs->mkdir(kRoot, "..", 0755, rc).error(), EEXIST);

  EXPECT_EQ(lookup_err(*fs, kRoot, "missing"), ENOENT);
  EXPECT_EQ(fs->unlink(kRoot, "missing").error(), ENOENT);
  EXPECT_EQ(fs->rmdir(kRoot, "missing").error(), ENOENT);
  EXPECT_EQ(fs->rename(kRoot, "missing", kRoot, "x", 0).error(), ENOENT);

  EXPECT_EQ(fs->rmdir(kRoot, "dir").error(), ENOTEMPTY);
  EXPECT_EQ(fs->rmdir(d.ino, "..").error(), ENOTEMPTY);
  EXPECT_EQ(fs->rmdir(d.ino, ".").error(), EINVAL);

  EXPECT_EQ(fs->mknod(f.ino, "x", S_IFREG | 0644, 0, rc).error(), ENOTDIR);
  EXPECT_EQ(fs->mkdir(f.ino, "x", 0755, rc).error(), ENOTDIR);
  EXPECT_EQ(lookup_err(*fs, f.ino, "x"), ENOTDIR);
  EXPECT_EQ(fs->rmdir(kRoot, "file").error(), ENOTDIR);
  EXPECT_EQ(fs->readdir(f.ino, 0, [](const DirEntry&) { return true; }).error(), ENOTDIR);
  EXPECT_EQ(fs->rename(kRoot, "file", f.ino, "x", 0).error(), ENOTDIR);

  EXPECT_EQ(fs->unlink(kRoot, "dir").error(), EISDIR);
  char buf[16];
  EXPECT_EQ(fs->read(d.ino, 0, sizeof buf, buf).error(), EISDIR);
  EXPECT_EQ(fs->write(d.ino, 0, "x", 1).error(), EISDIR);
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 0;
  EXPECT_EQ(fs->setattr(d.ino, sa).error(), EISDIR);
  EXPECT_EQ(fs->fallocate(d.ino, 0, 0, 4096).error(), EISDIR);

  const std::string n255(255, 'n'), n256(256, 'n');
  Attr longf = mkfile(*fs, kRoot, n255);
  EXPECT_EQ(ino_of(*fs, kRoot, n255), longf.ino);
  EXPECT_TRUE(names(*fs, kRoot).count(n255));
  EXPECT_EQ(fs->mknod(kRoot, n256, S_IFREG | 0644, 0, rc).error(), ENAMETOOLONG);
  EXPECT_EQ(fs->mkdir(kRoot, n256, 0755, rc).error(), ENAMETOOLONG);
  EXPECT_EQ(fs->symlink(kRoot, n256, "x", rc).error(), ENAMETOOLONG);
  EXPECT_EQ(fs->link(f.ino, kRoot, n256).error(), ENAMETOOLONG);
  EXPECT_EQ(lookup_err(*fs, kRoot, n256), ENAMETOOLONG);
  EXPECT_EQ(fs->rename(kRoot, "file", kRoot, n256, 0).error(), ENAMETOOLONG);
  ASSERT_TRUE(fs->rename(kRoot, n255, kRoot, std::string(255, 'm'), 0).ok());
  Attr longd = mkdir_(*fs, kRoot, n255);
  EXPECT_TRUE(S_ISDIR(longd.mode));

  EXPECT_EQ(fs->mknod(kRoot, "a/b", S_IFREG | 0644, 0, rc).error(), EINVAL);
  EXPECT_EQ(fs->mknod(kRoot, "dirtype", S_IFDIR | 0755, 0, rc).error(), EINVAL);
  EXPECT_EQ(fs->rename(kRoot, "file", kRoot, "x", RENAME_NOREPLACE | RENAME_EXCHANGE).error(),
            EINVAL);
  EXPECT_EQ(fs->rename(kRoot, "file", kRoot, "x", 0x80).error(), EINVAL);
  EXPECT_EQ(fs->readlink(f.ino).error(), EINVAL);
  EXPECT_EQ(fs->fallocate(f.ino, 0, 0, 0).error(), EINVAL);
  EXPECT_EQ(fs->lseek(f.ino, 0, 42).error(), EINVAL);
  EXPECT_EQ(fs->link(d.ino, kRoot, "dirlink").error(), EPERM);
  EXPECT_EQ(fs->symlink(kRoot, "empty", "", rc).error(), ENOENT);

  // A removed directory takes no new entries.
  Attr gone = mkdir_(*fs, kRoot, "gone");
  ASSERT_TRUE(fs->rmdir(kRoot, "gone").ok());
  EXPECT_EQ(fs->mknod(gone.ino, "x", S_IFREG | 0644, 0, rc).error(), ENOENT);
  EXPECT_EQ(fs->mkdir(gone.ino, "x", 0755, rc).error(), ENOENT);
  EXPECT_EQ(fs->link(f.ino, gone.ino, "x").error(), ENOENT);
  EXPECT_EQ(fs->rename(kRoot, "file", gone.ino, "x", 0).error(), ENOENT);
  EXPECT_TRUE(names(*fs, gone.ino).empty());
  // Nothing above changed the names in the root.
  EXPECT_EQ(names(*fs, kRoot),
            (std::set<std::string>{"file", "dir", std::string(255, 'm'), n255}));
}

// ---- links and special files -------------------------------------------------

TEST(Filesystem, HardLinks) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  Attr d = mkdir_(*fs, kRoot, "d");
  tick();
  auto l = fs->link(f.ino, d.ino, "g");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->ino, f.ino);
  EXPECT_EQ(l->nlink, 2u);
  EXPECT_TRUE(later(l->ctime, f.ctime));
  ASSERT_TRUE(fs->link(f.ino, kRoot, "h").ok());
  EXPECT_EQ(fs->getattr(f.ino)->nlink, 3u);
  EXPECT_EQ(fs->getattr(d.ino)->nlink, 2u);  // hard links to files count nothing
  // Data written through one name is read through the others.
  uint64_t g = ino_of(*fs, d.ino, "g");
  put(*fs, g, 0, "shared data");
  EXPECT_EQ(all(*fs, ino_of(*fs, kRoot, "h")), "shared data");
  ASSERT_TRUE(fs->unlink(kRoot, "f").ok());
  EXPECT_EQ(fs->getattr(f.ino)->nlink, 2u);
  EXPECT_EQ(all(*fs, g), "shared data");
  ASSERT_TRUE(fs->unlink(d.ino, "g").ok());
  EXPECT_EQ(fs->getattr(f.ino)->nlink, 1u);
  EXPECT_EQ(ino_of(*fs, kRoot, "h"), f.ino);
  for (const auto& e : list(*fs, kRoot))
    if (e.name == "h") { EXPECT_EQ(e.type, DT_REG); }
}

TEST(Filesystem, HardLinkedFileFreedAfterLastNameAndReference) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  mkfile(*fs, kRoot, "warm");
  ASSERT_TRUE(fs->unlink(kRoot, "warm").ok());
  const auto base = *fs->statfs();
  Attr f = mkfile(*fs, kRoot, "f");
  put(*fs, f.ino, 0, pattern(kMiB, 1));
  ASSERT_TRUE(fs->link(f.ino, kRoot, "g").ok());  // a second reference
  ASSERT_TRUE(fs->open(f.ino).ok());
  ASSERT_TRUE(fs->unlink(kRoot, "f").ok());
  ASSERT_TRUE(fs->unlink(kRoot, "g").ok());
  // An unlinked file cannot get a name again (linkat of an O_TMPFILE aside).
  EXPECT_EQ(fs->link(f.ino, kRoot, "h").error(), ENOENT);
  fs->forget(f.ino, 1);
  EXPECT_TRUE(all(*fs, f.ino) == pattern(kMiB, 1)) << "the open handle still reads it";
  // No name and no handle left: the data is free at once, as on ext4,
  // while the inode waits for the kernel's last reference.
  fs->release(f.ino);
  EXPECT_EQ(fs->statfs()->blocks_free, base.blocks_free);
  EXPECT_LT(fs->statfs()->inodes_free, base.inodes_free);
  fs->forget(f.ino, 1);
  EXPECT_EQ(fs->statfs()->blocks_free, base.blocks_free);
  EXPECT_EQ(fs->statfs()->inodes_free, base.inodes_free);
  EXPECT_FALSE(fs->getattr(f.ino).ok());

  // A directory's slot blocks come back with rmdir.
  Attr d = mkdir_(*fs, kRoot, "d");
  for (int i = 0; i < 1000; ++i) fs->forget(mkfile(*fs, d.ino, "e" + std::to_string(i)).ino, 1);
  EXPECT_GE(fs->getattr(d.ino)->size, 1000 / 15 * 4096u);
  for (int i = 0; i < 1000; ++i) ASSERT_TRUE(fs->unlink(d.ino, "e" + std::to_string(i)).ok());
  ASSERT_TRUE(fs->rmdir(kRoot, "d").ok());
  fs->forget(d.ino, 1);
  EXPECT_EQ(fs->statfs()->blocks_free, base.blocks_free);
  EXPECT_EQ(fs->statfs()->inodes_free, base.inodes_free);
  EXPECT_EQ(fs->getattr(kRoot)->nlink, 2u);
}

TEST(Filesystem, SymlinksAndSpecialFiles) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Caller user{1000, 1000, 077};
  auto s = fs->symlink(kRoot, "s", "some/where/../else", user);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->mode, S_IFLNK | 0777u);  // umask does not apply
  EXPECT_EQ(s->size, 18u);
  EXPECT_EQ(s->uid, 1000u);
  EXPECT_EQ(*fs->readlink(s->ino), "some/where/../else");
  const std::string t4095(4095, 't'), t4096(4096, 't');
  auto big = fs->symlink(kRoot, "big", t4095, user);
  ASSERT_TRUE(big.ok()) << big.error();
  EXPECT_EQ(*fs->readlink(big->ino), t4095);
  EXPECT_EQ(big->size, 4095u);
  EXPECT_EQ(fs->symlink(kRoot, "toobig", t4096, user).error(), ENAMETOOLONG);
  EXPECT_EQ(lookup_err(*fs, kRoot, "toobig"), ENOENT);
  auto one = fs->symlink(kRoot, "one", "/", user);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(*fs->readlink(one->ino), "/");
  EXPECT_EQ(fs->write(s->ino, 0, "x", 1).error(), EINVAL);
  for (const auto& e : list(*fs, kRoot))
    if (e.name == "s") { EXPECT_EQ(e.type, DT_LNK); }

  auto fifo = fs->mknod(kRoot, "fifo", S_IFIFO | 0666, 0, user);
  ASSERT_TRUE(fifo.ok());
  EXPECT_EQ(fifo->mode, S_IFIFO | 0600u);
  EXPECT_EQ(fifo->rdev, 0u);
  const dev_t dev = makedev(1, 3);
  auto chr = fs->mknod(kRoot, "null", S_IFCHR | 0666, dev, root_caller());
  ASSERT_TRUE(chr.ok());
  EXPECT_EQ(chr->mode, S_IFCHR | 0644u);
  EXPECT_EQ(chr->rdev, dev);
  EXPECT_EQ(fs->getattr(chr->ino)->rdev, dev);
  auto blk = fs->mknod(kRoot, "blk", S_IFBLK | 0600, makedev(259, 7), root_caller());
  ASSERT_TRUE(blk.ok());
  EXPECT_EQ(blk->rdev, makedev(259, 7));
  auto sock = fs->mknod(kRoot, "sock", S_IFSOCK | 0600, 0, root_caller());
  ASSERT_TRUE(sock.ok());
  // mode 0 type means a regular file, as mknod(2) says.
  auto reg = fs->mknod(kRoot, "reg", 0644, 0, root_caller());
  ASSERT_TRUE(reg.ok());
  EXPECT_TRUE(S_ISREG(reg->mode));
  std::map<std::string, uint32_t> types;
  for (const auto& e : list(*fs, kRoot)) types[e.name] = e.type;
  EXPECT_EQ(types["fifo"], DT_FIFO);
  EXPECT_EQ(types["null"], DT_CHR);
  EXPECT_EQ(types["blk"], DT_BLK);
  EXPECT_EQ(types["sock"], DT_SOCK);
  EXPECT_EQ(types["reg"], DT_REG);
  // Unlinking a symlink frees its block.
  const uint64_t before = free_blocks(*fs);
  ASSERT_TRUE(fs->unlink(kRoot, "big").ok());
  fs->forget(big->ino, 1);
  EXPECT_EQ(free_blocks(*fs), before + 1);
}

// ---- readdir ---------------------------------------------------------------

TEST(Filesystem, ReaddirEveryNameOnceAcrossCookies) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr d = mkdir_(*fs, kRoot, "d");
  constexpr int kN = 5000;
  std::map<std::string, uint64_t> expect;
  for (int i = 0; i < kN; ++i) {
    std::string n = "entry-" + std::to_string(i);
    Attr a = i % 10 == 0 ? mkdir_(*fs, d.ino, n) : mkfile(*fs, d.ino, n);
    expect[n] = a.ino;
  }
  EXPECT_EQ(fs->getattr(d.ino)->nlink, 2u + kN / 10);
  // Read in pieces of 97 entries, resuming from the last cookie each time.
  std::map<std::string, int> seen;
  uint64_t cookie = 0;
  int calls = 0;
  for (;;) {
    int taken = 0;
    ASSERT_TRUE(fs->readdir(d.ino, cookie, [&](const DirEntry& e) {
                    if (taken == 97) return false;
                    ++taken;
                    seen[e.name]++;
                    if (e.name == ".") {
                      EXPECT_EQ(e.ino, d.ino);
                    } else if (e.name == "..") {
                      EXPECT_EQ(e.ino, kRoot);
                    } else {
                      EXPECT_EQ(e.ino, expect[e.name]) << e.name;
                      const bool is_dir = std::stoi(e.name.substr(6)) % 10 == 0;
                      EXPECT_EQ(e.type, is_dir ? DT_DIR : DT_REG) << e.name;
                    }
                    EXPECT_GT(e.offset, cookie);
                    cookie = e.offset;
                    return true;
                  }).ok());
    ++calls;
    if (taken == 0) break;
    ASSERT_LT(calls, 1000);
  }
  EXPECT_EQ(seen.size(), kN + 2u);
  for (const auto& [n, count] : seen) EXPECT_EQ(count, 1) << n;
  EXPECT_EQ(seen.count("."), 1u);
  EXPECT_EQ(seen.count(".."), 1u);
  // A cookie past the end gives nothing.
  int extra = 0;
  ASSERT_TRUE(fs->readdir(d.ino, cookie, [&](const DirEntry&) { return ++extra, true; }).ok());
  EXPECT_EQ(extra, 0);
}

TEST(Filesystem, ReaddirWhileEntriesAreRemoved) {
  TempPool pool(64 << 20, 8192);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr d = mkdir_(*fs, kRoot, "d");
  constexpr int kN = 5000;
  for (int i = 0; i < kN; ++i) mkfile(*fs, d.ino, "n" + std::to_string(i));
  std::map<std::string, int> seen;
  uint64_t cookie = 0;
  auto read_some = [&](int max) {
    int taken = 0;
    EXPECT_TRUE(fs->readdir(d.ino, cookie, [&](const DirEntry& e) {
                    if (taken == max) return false;
                    ++taken;
                    seen[e.name]++;
                    cookie = e.offset;
                    return true;
                  }).ok());
    return taken;
  };
  read_some(kN / 2);
  // Remove every third name, seen or not yet seen, and add some new ones.
  std::set<std::string> removed;
  for (int i = 0; i < kN; i += 3) {
    std::string n = "n" + std::to_string(i);
    ASSERT_TRUE(fs->unlink(d.ino, n).ok());
    removed.insert(n);
  }
  for (int i = 0; i < 100; ++i) mkfile(*fs, d.ino, "new" + std::to_string(i));
  while (read_some(333) > 0) {
  }
  for (const auto& [n, count] : seen) EXPECT_EQ(count, 1) << n;
  // Every name that existed throughout was returned.
  for (int i = 0; i < kN; ++i) {
    std::string n = "n" + std::to_string(i);
    if (!removed.count(n)) { EXPECT_EQ(seen.count(n), 1u) << n; }
  }
  // A fresh listing is exactly the current contents.
  auto now = names(*fs, d.ino);
  EXPECT_EQ(now.size(), kN - removed.size() + 100);
  for (const auto& n : removed) EXPECT_EQ(now.count(n), 0u);
}

TEST(Filesystem, HugeDirectoryLookups) {
  const int kN = kSanitized ? 20000 : 100000;
  TempPool pool(512 << 20, 2048);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr d = mkdir_(*fs, kRoot, "big");
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<uint64_t> inos(kN);
  for (int i = 0; i < kN; ++i) {
    auto a = fs->mknod(d.ino, "file-" + std::to_string(i), S_IFREG | 0644, 0, root_caller());
    ASSERT_TRUE(a.ok()) << i << ": " << a.error();
    inos[i] = a->ino;
    fs->forget(a->ino, 1);
  }
  for (int i = 0; i < kN; i += 7) {
    auto a = fs->lookup(d.ino, "file-" + std::to_string(i));
    ASSERT_TRUE(a.ok()) << i;
    EXPECT_EQ(a->ino, inos[i]);
    fs->forget(a->ino, 1);
  }
  EXPECT_EQ(lookup_err(*fs, d.ino, "file-" + std::to_string(kN)), ENOENT);
  size_t count = 0;
  ASSERT_TRUE(fs->readdir(d.ino, 0, [&](const DirEntry&) { return ++count, true; }).ok());
  EXPECT_EQ(count, kN + 2u);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // ~2.5 s here; the bound leaves room for a loaded machine and still
  // catches anything quadratic.
  if (!kSanitized) {
    EXPECT_LT(secs, 10.0);
  }
  // The index is rebuilt from the slots after a remount.
  fs.reset();
  fs = pool.mount();
  ASSERT_TRUE(fs);
  for (int i = 1; i < kN; i += 997) EXPECT_EQ(ino_of(*fs, d.ino, "file-" + std::to_string(i)), inos[i]);
}

}  // namespace
}  // namespace pmemfs::test
