// The Filesystem class end to end, in process: what a POSIX filesystem such as
// ext4, XFS or tmpfs guarantees, checked through the library API the FUSE
// daemon calls. Every lookup/mknod/mkdir/symlink/link result holds one kernel
// reference; tests that wait for space to come back forget those references.
#include <dirent.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kKiB = 1024, kMiB = 1024 * 1024;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// ---- helpers ---------------------------------------------------------------

Attr mkfile(Filesystem& fs, uint64_t parent, std::string_view name, mode_t mode = 0644,
            const Caller& who = root_caller()) {
  auto a = fs.mknod(parent, name, S_IFREG | mode, 0, who);
  EXPECT_TRUE(a.ok()) << "mknod " << name << ": " << a.error();
  return a.ok() ? *a : Attr{};
}

Attr mkdir_(Filesystem& fs, uint64_t parent, std::string_view name, mode_t mode = 0755,
            const Caller& who = root_caller()) {
  auto a = fs.mkdir(parent, name, mode, who);
  EXPECT_TRUE(a.ok()) << "mkdir " << name << ": " << a.error();
  return a.ok() ? *a : Attr{};
}

void put(Filesystem& fs, uint64_t ino, uint64_t off, const std::string& data) {
  auto n = fs.write(ino, off, data.data(), data.size());
  ASSERT_TRUE(n.ok()) << "write at " << off << ": " << n.error();
  ASSERT_EQ(*n, data.size());
}

std::string get(Filesystem& fs, uint64_t ino, uint64_t off, size_t len) {
  std::string buf(len, '\xee');
  auto n = fs.read(ino, off, len, buf.data());
  EXPECT_TRUE(n.ok()) << "read at " << off << ": " << n.error();
  buf.resize(n.ok() ? *n : 0);
  return buf;
}

std::string all(Filesystem& fs, uint64_t ino) {
  auto a = fs.getattr(ino);
  EXPECT_TRUE(a.ok());
  return a.ok() ? get(fs, ino, 0, a->size) : std::string();
}

// Deterministic bytes that differ per seed and per position.
std::string pattern(size_t len, uint32_t seed) {
  std::string s(len, '\0');
  uint32_t x = seed * 2654435761u + 12345;
  for (size_t i = 0; i < len; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>('a' + (x >> 16) % 26);
  }
  return s;
}

uint64_t ino_of(Filesystem& fs, uint64_t parent, std::string_view name) {
  auto a = fs.lookup(parent, name);
  return a.ok() ? a->ino : 0;
}

int lookup_err(Filesystem& fs, uint64_t parent, std::string_view name) {
  return fs.lookup(parent, name).error();
}

std::vector<DirEntry> list(Filesystem& fs, uint64_t dir) {
  std::vector<DirEntry> out;
  Status s = fs.readdir(dir, 0, [&](const DirEntry& e) {
    out.push_back(e);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.error();
  return out;
}

std::set<std::string> names(Filesystem& fs, uint64_t dir) {
  std::set<std::string> out;
  for (const auto& e : list(fs, dir))
    if (e.name != "." && e.name != "..") out.insert(e.name);
  return out;
}

uint64_t free_blocks(Filesystem& fs) { return fs.statfs()->blocks_free; }

bool later(const timespec& a, const timespec& b) {
  return std::tie(a.tv_sec, a.tv_nsec) > std::tie(b.tv_sec, b.tv_nsec);
}
bool same(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

void tick() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }

// ---- create, write, read ---------------------------------------------------

TEST(Filesystem, CreateWriteReadBack) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto a = fs->mknod(kRoot, "file", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->mode, S_IFREG | 0644u);
  std::string data(10000, 'x');
  ASSERT_EQ(*fs->write(a->ino, 100, data.data(), data.size()), data.size());
  std::string back(20000, '?');
  auto n = fs->read(a->ino, 0, back.size(), back.data());
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 10100u);
  EXPECT_EQ(back.substr(0, 100), std::string(100, '\0'));
  EXPECT_EQ(back.substr(100, 10000), data);
  EXPECT_EQ(fs->getattr(a->ino)->size, 10100u);
}

TEST(Filesystem, NestedTreeWithManyFiles) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  uint64_t dir = kRoot;
  std::vector<uint64_t> chain;
  for (int depth = 0; depth < 12; ++depth) {
    dir = mkdir_(*fs, dir, "level" + std::to_string(depth)).ino;
    ASSERT_NE(dir, 0u);
    chain.push_back(dir);
  }
  std::map<std::string, uint64_t> files;
  for (int i = 0; i < 300; ++i) {
    uint64_t parent = chain[i % chain.size()];
    std::string name = "f" + std::to_string(i);
    Attr a = mkfile(*fs, parent, name);
    put(*fs, a.ino, 0, pattern(100 + i * 37, i));
    files[name] = a.ino;
  }
  // Walk the chain by name again and read every file back.
  uint64_t d = kRoot;
  for (int depth = 0; depth < 12; ++depth) {
    d = ino_of(*fs, d, "level" + std::to_string(depth));
    ASSERT_EQ(d, chain[depth]);
    EXPECT_EQ(ino_of(*fs, d, ".."), depth == 0 ? kRoot : chain[depth - 1]);
    EXPECT_EQ(ino_of(*fs, d, "."), d);
  }
  for (int i = 0; i < 300; ++i) {
    std::string name = "f" + std::to_string(i);
    uint64_t parent = chain[i % chain.size()];
    ASSERT_EQ(ino_of(*fs, parent, name), files[name]);
    EXPECT_EQ(all(*fs, files[name]), pattern(100 + i * 37, i)) << name;
  }
  EXPECT_EQ(ino_of(*fs, kRoot, ".."), kRoot);
  // 2 + one subdirectory on every level but the last.
  EXPECT_EQ(fs->getattr(chain[0])->nlink, 3u);
  EXPECT_EQ(fs->getattr(chain.back())->nlink, 2u);
}

TEST(Filesystem, SparseFilesAndBoundaries) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  uint64_t f = mkfile(*fs, kRoot, "sparse").ino;
  // Writes straddling 4 KiB and 2 MiB boundaries, with holes between.
  struct Piece { uint64_t off; size_t len; };
  const std::vector<Piece> pieces = {
      {4096 - 10, 20},                     // across the first page boundary
      {3 * 4096 + 100, 2 * 4096},          // spanning three pages
      {2 * kMiB - 3000, 6000},             // across the 2 MiB boundary
      {6 * kMiB - 1, 2},                   // one byte each side of 6 MiB
      {9 * kMiB + 12345, 3 * kMiB + 777},  // several 2 MiB ranges, unaligned
  };
  std::string model;
  for (size_t i = 0; i < pieces.size(); ++i) {
    std::string d = pattern(pieces[i].len, 100 + i);
    put(*fs, f, pieces[i].off, d);
    if (model.size() < pieces[i].off + d.size()) model.resize(pieces[i].off + d.size(), '\0');
    model.replace(pieces[i].off, d.size(), d);
  }
  EXPECT_EQ(fs->getattr(f)->size, model.size());
  EXPECT_EQ(all(*fs, f), model);
  // Unaligned reads at arbitrary places, including across every boundary.
  std::mt19937_64 rng(7);
  for (int i = 0; i < (kSanitized ? 30 : 200); ++i) {
    uint64_t off = rng() % model.size();
    size_t len = rng() % (3 * kMiB);
    std::string exp = model.substr(off, len);
    ASSERT_EQ(get(*fs, f, off, len), exp) << "off " << off << " len " << len;
  }
  // Holes read as zero, and reads past EOF are short / empty.
  EXPECT_EQ(get(*fs, f, 5 * kMiB, 4096), std::string(4096, '\0'));
  EXPECT_EQ(get(*fs, f, model.size() - 10, 100).size(), 10u);
  EXPECT_EQ(get(*fs, f, model.size(), 100), "");
  EXPECT_EQ(get(*fs, f, model.size() + 5 * kMiB, 100), "");
  // Overwrite in place (shared-lock path) and read back.
  std::string over = pattern(10000, 99);
  put(*fs, f, 2 * kMiB - 5000, over);
  model.replace(2 * kMiB - 5000, over.size(), over);
  EXPECT_EQ(all(*fs, f), model);
  // read_direct hands out the same bytes.
  std::string direct;
  auto r = fs->read_direct(f, kMiB, 4 * kMiB, [&](const iovec* iov, int n) {
    for (int i = 0; i < n; ++i) direct.append(static_cast<char*>(iov[i].iov_base), iov[i].iov_len);
    return 0;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 4 * kMiB);
  EXPECT_EQ(direct, model.substr(kMiB, 4 * kMiB));
  // A sparse file allocates less than its size.
  uint64_t s = mkfile(*fs, kRoot, "very-sparse").ino;
  put(*fs, s, 100 * kMiB, "x");
  EXPECT_LE(fs->getattr(s)->blocks * 512, 2 * kMiB);
  EXPECT_EQ(get(*fs, s, 50 * kMiB, 4096), std::string(4096, '\0'));
}

TEST(Filesystem, LargeFile) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  uint64_t f = mkfile(*fs, kRoot, "big").ino;
  const uint64_t size = (kSanitized ? 16 : 40) * kMiB + 1234;
  std::string data = pattern(size, 42);
  // Unaligned chunks so that writes straddle page and 2 MiB boundaries.
  const size_t chunk = kMiB + 4097;
  for (uint64_t off = 0; off < size; off += chunk)
    put(*fs, f, off, data.substr(off, std::min<uint64_t>(chunk, size - off)));
  auto a = fs->getattr(f);
  EXPECT_EQ(a->size, size);
  EXPECT_GE(a->blocks * 512, size);
  EXPECT_LE(a->blocks * 512, size + 4 * kMiB);
  EXPECT_TRUE(get(*fs, f, 0, size) == data);
  EXPECT_TRUE(get(*fs, f, 10 * kMiB - 7, 3 * kMiB) == data.substr(10 * kMiB - 7, 3 * kMiB));
  // Huge extents are used for a file this large.
  auto m = fs->map(f);
  ASSERT_TRUE(m.ok());
  uint64_t mapped = 0;
  bool any_huge = false;
  for (const auto& e : *m) {
    mapped += e.length;
    any_huge |= e.huge;
  }
  EXPECT_EQ(mapped, a->blocks * 512);
  EXPECT_TRUE(any_huge);
}

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
  // The old target is unlinked but still referenced by the kernel.
  auto old = fs_->getattr(victim.ino);
  ASSERT_TRUE(old.ok());
  EXPECT_EQ(old->nlink, 0u);
  EXPECT_EQ(get(*fs_, victim.ino, 0, 100), pattern(100, 1));
  EXPECT_EQ(free_blocks(*fs_), used_before);
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
  EXPECT_TRUE(all(*fs, f.ino) == pattern(kMiB, 1));
  fs->release(f.ino);
  EXPECT_LT(fs->statfs()->blocks_free, base.blocks_free);
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

// ---- xattrs ----------------------------------------------------------------

TEST(Filesystem, Xattrs) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  EXPECT_TRUE(fs->listxattr(f.ino)->empty());
  EXPECT_EQ(fs->getxattr(f.ino, "user.none").error(), ENODATA);
  ASSERT_TRUE(fs->setxattr(f.ino, "user.a", "alpha", 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "user.b", "beta", 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "trusted.c", std::string("with\0nul", 8), 0).ok());
  ASSERT_TRUE(fs->setxattr(f.ino, "security.d", "", 0).ok());
  EXPECT_EQ(*fs->getxattr(f.ino, "user.a"), "alpha");
  EXPECT_EQ(*fs->getxattr(f.ino, "trusted.c"), std::string("with\0nul", 8));
  EXPECT_EQ(*fs->getxattr(f.ino, "security.d"), "");
  auto l = *fs->listxattr(f.ino);
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
    EXPECT_EQ(fs->listxattr(f.ino)->size(), 5u);
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
  EXPECT_EQ(fs->listxattr(f.ino)->size(), 6u);
  auto ctime_before = fs->getattr(f.ino)->ctime;
  tick();
  ASSERT_TRUE(fs->removexattr(f.ino, "user.big").ok());
  EXPECT_TRUE(later(fs->getattr(f.ino)->ctime, ctime_before));
  const auto left = *fs->listxattr(f.ino);
  for (const auto& n : left) ASSERT_TRUE(fs->removexattr(f.ino, n).ok());
  EXPECT_TRUE(fs->listxattr(f.ino)->empty());

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

// ---- fallocate, lseek, copy_file_range ---------------------------------------

TEST(Filesystem, FallocateModes) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  // Mode 0: extends the size and allocates; the new range reads zero.
  Attr f = mkfile(*fs, kRoot, "f");
  const uint64_t free0 = free_blocks(*fs);
  ASSERT_TRUE(fs->fallocate(f.ino, 0, 0, 3 * kMiB + 5).ok());
  auto a = fs->getattr(f.ino);
  EXPECT_EQ(a->size, 3 * kMiB + 5);
  EXPECT_GE(a->blocks * 512, 3 * kMiB + 5);
  EXPECT_LE(free_blocks(*fs), free0 - (3 * kMiB + 5 + 4095) / 4096);
  EXPECT_EQ(get(*fs, f.ino, 0, 3 * kMiB + 5), std::string(3 * kMiB + 5, '\0'));
  // Mode 0 inside the file keeps the size.
  ASSERT_TRUE(fs->fallocate(f.ino, 0, 100, 100).ok());
  EXPECT_EQ(fs->getattr(f.ino)->size, 3 * kMiB + 5);
  // Writes into preallocated space do not allocate more.
  const uint64_t free1 = free_blocks(*fs);
  put(*fs, f.ino, kMiB, pattern(kMiB, 1));
  EXPECT_EQ(free_blocks(*fs), free1);

  // KEEP_SIZE: allocates, the size stays.
  Attr k = mkfile(*fs, kRoot, "k");
  put(*fs, k.ino, 0, "0123456789");
  ASSERT_TRUE(fs->fallocate(k.ino, FALLOC_FL_KEEP_SIZE, 0, 2 * kMiB).ok());
  auto ka = fs->getattr(k.ino);
  EXPECT_EQ(ka->size, 10u);
  EXPECT_GE(ka->blocks * 512, 2 * kMiB);
  EXPECT_EQ(all(*fs, k.ino), "0123456789");
  // Growing afterwards reads zero past the old EOF.
  put(*fs, k.ino, kMiB, "x");
  EXPECT_EQ(get(*fs, k.ino, 10, kMiB - 10), std::string(kMiB - 10, '\0'));
  // Truncate frees the blocks past EOF too.
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 10;
  EXPECT_LE(fs->setattr(k.ino, sa)->blocks, 8u);

  // PUNCH_HOLE: whole blocks freed, partial edges zeroed, the rest intact.
  Attr p = mkfile(*fs, kRoot, "p");
  const std::string data = pattern(4 * kMiB, 9);
  put(*fs, p.ino, 0, data);
  const uint64_t blocks_before = fs->getattr(p.ino)->blocks;
  const uint64_t hole_off = kMiB + 1000, hole_len = 5 * 4096 + 3000;
  ASSERT_TRUE(fs->fallocate(p.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, hole_off, hole_len)
                  .ok());
  auto pa = fs->getattr(p.ino);
  EXPECT_EQ(pa->size, 4 * kMiB);
  // Blocks fully inside [kMiB+1000, kMiB+24480): kMiB/4096+1 .. +4, four of them.
  EXPECT_EQ(pa->blocks, blocks_before - 4 * 8);
  std::string expect = data;
  expect.replace(hole_off, hole_len, std::string(hole_len, '\0'));
  EXPECT_TRUE(all(*fs, p.ino) == expect);
  // Punching across the 2 MiB boundary and a huge extent.
  ASSERT_TRUE(fs->fallocate(p.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * kMiB - 4096,
                            kMiB).ok());
  expect.replace(2 * kMiB - 4096, kMiB, std::string(kMiB, '\0'));
  EXPECT_TRUE(all(*fs, p.ino) == expect);
  EXPECT_EQ(fs->getattr(p.ino)->blocks, blocks_before - 4 * 8 - kMiB / 512);
  // A punch inside one block only zeroes.
  ASSERT_TRUE(fs->fallocate(p.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 3 * kMiB + 10, 20)
                  .ok());
  expect.replace(3 * kMiB + 10, 20, std::string(20, '\0'));
  EXPECT_TRUE(all(*fs, p.ino) == expect);
  // Punch past EOF changes nothing visible.
  ASSERT_TRUE(fs->fallocate(p.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * kMiB - 100,
                            kMiB).ok());
  expect.replace(4 * kMiB - 100, 100, std::string(100, '\0'));
  EXPECT_EQ(fs->getattr(p.ino)->size, 4 * kMiB);
  EXPECT_TRUE(all(*fs, p.ino) == expect);
  // The punched range can be written again.
  put(*fs, p.ino, hole_off, data.substr(hole_off, hole_len));
  expect.replace(hole_off, hole_len, data.substr(hole_off, hole_len));
  EXPECT_TRUE(all(*fs, p.ino) == expect);
  // PUNCH_HOLE needs KEEP_SIZE.
  EXPECT_EQ(fs->fallocate(p.ino, FALLOC_FL_PUNCH_HOLE, 0, 4096).error(), EOPNOTSUPP);
  EXPECT_EQ(fs->fallocate(p.ino, FALLOC_FL_COLLAPSE_RANGE, 0, 4096).error(), EOPNOTSUPP);

  // ZERO_RANGE zeroes, unaligned, and keeps the rest.
  Attr z = mkfile(*fs, kRoot, "z");
  const std::string zd = pattern(100000, 11);
  put(*fs, z.ino, 0, zd);
  ASSERT_TRUE(fs->fallocate(z.ino, FALLOC_FL_ZERO_RANGE, 777, 50000).ok());
  std::string zexp = zd;
  zexp.replace(777, 50000, std::string(50000, '\0'));
  EXPECT_TRUE(all(*fs, z.ino) == zexp);
  EXPECT_EQ(fs->getattr(z.ino)->size, 100000u);
  // ... and extends the size without KEEP_SIZE.
  ASSERT_TRUE(fs->fallocate(z.ino, FALLOC_FL_ZERO_RANGE, 99990, 20).ok());
  EXPECT_EQ(fs->getattr(z.ino)->size, 100010u);
  zexp.replace(99990, 10, std::string(10, '\0'));
  zexp.append(10, '\0');
  EXPECT_TRUE(all(*fs, z.ino) == zexp);
}

TEST(Filesystem, SeekDataAndHole) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  put(*fs, f.ino, 0, pattern(64 * kKiB, 1));
  put(*fs, f.ino, 8 * kMiB, pattern(64 * kKiB, 2));
  const uint64_t size = 8 * kMiB + 64 * kKiB;
  EXPECT_EQ(*fs->lseek(f.ino, 0, SEEK_DATA), 0u);
  EXPECT_EQ(*fs->lseek(f.ino, 100, SEEK_DATA), 100u);
  // The hole starts at the end of the first run of blocks (which may include
  // preallocation) but well before the second piece of data.
  auto hole = fs->lseek(f.ino, 0, SEEK_HOLE);
  ASSERT_TRUE(hole.ok());
  EXPECT_GE(*hole, 64 * kKiB);
  EXPECT_LE(*hole, 4 * kMiB);
  EXPECT_EQ(*hole % 4096, 0u);
  EXPECT_EQ(get(*fs, f.ino, *hole, 4096), std::string(4096, '\0'));
  EXPECT_EQ(*fs->lseek(f.ino, *hole, SEEK_HOLE), *hole);
  EXPECT_EQ(*fs->lseek(f.ino, *hole, SEEK_DATA), 8 * kMiB);
  EXPECT_EQ(*fs->lseek(f.ino, 5 * kMiB, SEEK_DATA), 8 * kMiB);
  EXPECT_EQ(*fs->lseek(f.ino, 5 * kMiB + 3, SEEK_HOLE), 5 * kMiB + 3);
  EXPECT_EQ(*fs->lseek(f.ino, 8 * kMiB + 5, SEEK_DATA), 8 * kMiB + 5);
  // The implicit hole at EOF.
  EXPECT_EQ(*fs->lseek(f.ino, 8 * kMiB, SEEK_HOLE), size);
  EXPECT_EQ(*fs->lseek(f.ino, size - 1, SEEK_HOLE), size);
  EXPECT_EQ(*fs->lseek(f.ino, size - 1, SEEK_DATA), size - 1);
  EXPECT_EQ(fs->lseek(f.ino, size, SEEK_DATA).error(), ENXIO);
  EXPECT_EQ(fs->lseek(f.ino, size, SEEK_HOLE).error(), ENXIO);
  EXPECT_EQ(fs->lseek(f.ino, size + kMiB, SEEK_DATA).error(), ENXIO);
  EXPECT_EQ(*fs->lseek(f.ino, 12, SEEK_SET), 12u);
  EXPECT_EQ(*fs->lseek(f.ino, 0, SEEK_END), size);
  // A file that is all hole.
  Attr h = mkfile(*fs, kRoot, "h");
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = kMiB;
  ASSERT_TRUE(fs->setattr(h.ino, sa).ok());
  EXPECT_EQ(fs->lseek(h.ino, 0, SEEK_DATA).error(), ENXIO);
  EXPECT_EQ(*fs->lseek(h.ino, 0, SEEK_HOLE), 0u);
  EXPECT_EQ(*fs->lseek(h.ino, 1000, SEEK_HOLE), 1000u);
  // Data past EOF from KEEP_SIZE preallocation is not data.
  ASSERT_TRUE(fs->fallocate(h.ino, FALLOC_FL_KEEP_SIZE, 2 * kMiB, 4096).ok());
  EXPECT_EQ(fs->lseek(h.ino, 0, SEEK_DATA).error(), ENXIO);
  // An empty file.
  Attr e = mkfile(*fs, kRoot, "e");
  EXPECT_EQ(fs->lseek(e.ino, 0, SEEK_DATA).error(), ENXIO);
  EXPECT_EQ(fs->lseek(e.ino, 0, SEEK_HOLE).error(), ENXIO);
}

TEST(Filesystem, PunchedHoleIsAHoleAndEdgesStayZero) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  const std::string data = pattern(4 * kMiB, 3);
  put(*fs, f.ino, 0, data);
  ASSERT_TRUE(fs->fallocate(f.ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kMiB, 64 * kKiB)
                  .ok());
  EXPECT_EQ(*fs->lseek(f.ino, 0, SEEK_HOLE), kMiB);
  EXPECT_EQ(*fs->lseek(f.ino, kMiB, SEEK_DATA), kMiB + 64 * kKiB);
  EXPECT_EQ(*fs->lseek(f.ino, kMiB + 4096, SEEK_HOLE), kMiB + 4096);
  // Filling the hole again makes it data.
  put(*fs, f.ino, kMiB, data.substr(kMiB, 64 * kKiB));
  EXPECT_EQ(*fs->lseek(f.ino, 0, SEEK_HOLE), 4 * kMiB);
  EXPECT_TRUE(all(*fs, f.ino) == data);

  // fallocate past EOF from an unaligned size: the tail of the last block
  // and everything new reads zero.
  Attr g = mkfile(*fs, kRoot, "g");
  put(*fs, g.ino, 0, "0123456789");
  ASSERT_TRUE(fs->fallocate(g.ino, 0, 5000, 100).ok());
  EXPECT_EQ(fs->getattr(g.ino)->size, 5100u);
  std::string expect = "0123456789" + std::string(5090, '\0');
  EXPECT_EQ(all(*fs, g.ino), expect);
  // Same after truncating down into the first block and growing by a write.
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 3;
  ASSERT_TRUE(fs->setattr(g.ino, sa).ok());
  put(*fs, g.ino, 4000, "x");
  EXPECT_EQ(all(*fs, g.ino), "012" + std::string(3997, '\0') + "x");
}

TEST(Filesystem, CopyFileRange) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr a = mkfile(*fs, kRoot, "a");
  Attr b = mkfile(*fs, kRoot, "b");
  const std::string data = pattern(3 * kMiB + 333, 4);
  put(*fs, a.ino, 0, data);
  auto n = fs->copy_file_range(a.ino, 1000, b.ino, 5000, 2 * kMiB + 10);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 2 * kMiB + 10);
  EXPECT_EQ(fs->getattr(b.ino)->size, 5000 + 2 * kMiB + 10);
  EXPECT_EQ(get(*fs, b.ino, 0, 5000), std::string(5000, '\0'));
  EXPECT_TRUE(get(*fs, b.ino, 5000, 2 * kMiB + 10) == data.substr(1000, 2 * kMiB + 10));
  // Short at EOF of the source; nothing past it.
  n = fs->copy_file_range(a.ino, data.size() - 100, b.ino, 0, 1000);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 100u);
  EXPECT_EQ(get(*fs, b.ino, 0, 100), data.substr(data.size() - 100));
  n = fs->copy_file_range(a.ino, data.size() + 5, b.ino, 0, 1000);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  n = fs->copy_file_range(a.ino, 0, b.ino, 0, 0);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 0u);
  // Holes copy as zeros; the source is unchanged.
  Attr s = mkfile(*fs, kRoot, "sparse");
  put(*fs, s.ino, 3 * kMiB, "tail");
  Attr c = mkfile(*fs, kRoot, "c");
  n = fs->copy_file_range(s.ino, 0, c.ino, 0, 4 * kMiB);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 3 * kMiB + 4);
  EXPECT_TRUE(all(*fs, c.ino) == all(*fs, s.ino));
  EXPECT_TRUE(all(*fs, a.ino) == data);
  EXPECT_EQ(fs->copy_file_range(a.ino, 0, kRoot, 0, 10).error(), EISDIR);
}

// ---- space -------------------------------------------------------------------

TEST(Filesystem, StatfsAndEnospc) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto s0 = fs->statfs();
  ASSERT_TRUE(s0.ok());
  EXPECT_EQ(s0->block_size, 4096u);
  EXPECT_EQ(s0->name_max, 255u);
  EXPECT_GT(s0->blocks, 0u);
  EXPECT_LE(s0->blocks_free, s0->blocks);
  EXPECT_GT(s0->inodes_free, 0u);
  EXPECT_LT(s0->inodes_free, s0->inodes);
  // Warm up the root directory's first slot block so it is not counted below.
  mkfile(*fs, kRoot, "warm");
  ASSERT_TRUE(fs->unlink(kRoot, "warm").ok());
  fs->forget(ino_of(*fs, kRoot, "warm"), 0);
  const auto base = *fs->statfs();

  Attr one = mkfile(*fs, kRoot, "one");
  EXPECT_EQ(fs->statfs()->inodes_free, base.inodes_free - 1);
  put(*fs, one.ino, 0, pattern(kMiB, 1));
  EXPECT_LE(fs->statfs()->blocks_free, base.blocks_free - kMiB / 4096);

  // Fill the pool.
  std::vector<uint64_t> files{one.ino};
  const std::string chunk = pattern(kMiB, 2);
  int enospc = 0;
  uint64_t written = kMiB;
  for (int i = 0; i < 40 && !enospc; ++i) {
    Attr f = mkfile(*fs, kRoot, "fill" + std::to_string(i));
    files.push_back(f.ino);
    for (int j = 0; j < 8; ++j) {
      auto n = fs->write(f.ino, uint64_t(j) * kMiB, chunk.data(), chunk.size());
      if (!n.ok()) {
        EXPECT_EQ(n.error(), ENOSPC);
        enospc = 1;
        break;
      }
      written += *n;
    }
  }
  ASSERT_TRUE(enospc) << "64 MiB pool took " << written << " bytes";
  EXPECT_GE(written, 40 * kMiB);  // most of the pool is data
  EXPECT_LT(fs->statfs()->blocks_free, 512u);
  // Everything written before ENOSPC is intact.
  EXPECT_TRUE(get(*fs, one.ino, 0, kMiB) == pattern(kMiB, 1));
  // Other allocations fail cleanly too.
  Attr extra = mkfile(*fs, kRoot, "extra");
  EXPECT_EQ(fs->fallocate(extra.ino, 0, 0, 64 * kMiB).error(), ENOSPC);

  // Delete everything: all the space comes back.
  for (size_t i = 0; i < files.size(); ++i) {
    ASSERT_TRUE(fs->unlink(kRoot, i == 0 ? "one" : "fill" + std::to_string(i - 1)).ok());
    fs->forget(files[i], 1);
  }
  ASSERT_TRUE(fs->unlink(kRoot, "extra").ok());
  fs->forget(extra.ino, 1);
  auto s1 = *fs->statfs();
  EXPECT_EQ(s1.blocks_free, base.blocks_free);
  EXPECT_EQ(s1.inodes_free, base.inodes_free);
  // And can be used again.
  Attr again = mkfile(*fs, kRoot, "again");
  for (int j = 0; j < 32; ++j) put(*fs, again.ino, uint64_t(j) * kMiB, chunk);
  EXPECT_TRUE(get(*fs, again.ino, 31 * kMiB, kMiB) == chunk);
}

TEST(Filesystem, FailuresOnAFullPoolLeaveNoTrace) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr keep = mkfile(*fs, kRoot, "keep");
  put(*fs, keep.ino, 0, "kept");
  Attr d = mkdir_(*fs, kRoot, "d");  // empty: its first entry needs a block
  const auto base = *fs->statfs();
  // Fill every block: big writes first, then single blocks.
  Attr fill = mkfile(*fs, kRoot, "fill");
  uint64_t off = 0;
  for (size_t chunk : {size_t{kMiB}, size_t{4096}}) {
    const std::string data(chunk, 'f');
    for (;;) {
      auto n = fs->write(fill.ino, off, data.data(), data.size());
      if (!n.ok()) {
        ASSERT_EQ(n.error(), ENOSPC);
        break;
      }
      off += *n;
    }
  }
  ASSERT_EQ(fs->statfs()->blocks_free, 0u);
  EXPECT_EQ(fs->getattr(fill.ino)->size, off);
  const auto full = *fs->statfs();
  const Caller rc = root_caller();

  EXPECT_EQ(fs->mknod(d.ino, "x", S_IFREG | 0644, 0, rc).error(), ENOSPC);
  EXPECT_EQ(fs->mkdir(d.ino, "x", 0755, rc).error(), ENOSPC);
  EXPECT_EQ(fs->symlink(kRoot, "ln", "target", rc).error(), ENOSPC);
  EXPECT_EQ(fs->link(keep.ino, d.ino, "x").error(), ENOSPC);
  EXPECT_EQ(fs->rename(kRoot, "keep", d.ino, "x", 0).error(), ENOSPC);
  EXPECT_EQ(fs->setxattr(keep.ino, "user.x", "v", 0).error(), ENOSPC);
  EXPECT_EQ(fs->fallocate(keep.ino, 0, 0, kMiB).error(), ENOSPC);
  EXPECT_EQ(fs->write(keep.ino, 8192, "x", 1).error(), ENOSPC);

  EXPECT_EQ(lookup_err(*fs, d.ino, "x"), ENOENT);
  EXPECT_EQ(lookup_err(*fs, kRoot, "ln"), ENOENT);
  EXPECT_TRUE(names(*fs, d.ino).empty());
  EXPECT_EQ(fs->getattr(d.ino)->size, 0u);
  EXPECT_EQ(fs->getattr(d.ino)->nlink, 2u);
  EXPECT_EQ(ino_of(*fs, kRoot, "keep"), keep.ino);
  EXPECT_EQ(fs->getattr(keep.ino)->nlink, 1u);
  EXPECT_EQ(fs->getattr(keep.ino)->size, 4u);
  EXPECT_EQ(all(*fs, keep.ino), "kept");
  EXPECT_TRUE(fs->listxattr(keep.ino)->empty());
  auto after = *fs->statfs();
  EXPECT_EQ(after.blocks_free, full.blocks_free);
  EXPECT_EQ(after.inodes_free, full.inodes_free);
  // Operations that need no block still work.
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = kMiB;
  ASSERT_TRUE(fs->setattr(keep.ino, sa).ok());
  EXPECT_EQ(get(*fs, keep.ino, 4, 100), std::string(100, '\0'));
  ASSERT_TRUE(fs->rename(kRoot, "keep", kRoot, "kept", 0).ok());
  ASSERT_TRUE(fs->mknod(kRoot, "small", S_IFREG | 0644, 0, rc).ok());  // a free slot

  // Free the filler: everything works again and the counts add up.
  ASSERT_TRUE(fs->unlink(kRoot, "fill").ok());
  fs->forget(fill.ino, 1);
  EXPECT_EQ(fs->statfs()->blocks_free, base.blocks_free);
  ASSERT_TRUE(fs->mknod(d.ino, "x", S_IFREG | 0644, 0, rc).ok());
  ASSERT_TRUE(fs->symlink(kRoot, "ln", "target", rc).ok());
  ASSERT_TRUE(fs->setxattr(keep.ino, "user.x", "v", 0).ok());
  EXPECT_EQ(*fs->readlink(ino_of(*fs, kRoot, "ln")), "target");
  EXPECT_EQ(names(*fs, d.ino), std::set<std::string>{"x"});
  // And the pool still mounts to the same picture.
  const auto before_remount = *fs->statfs();
  fs.reset();
  fs = pool.mount();
  ASSERT_TRUE(fs);
  EXPECT_EQ(fs->statfs()->blocks_free, before_remount.blocks_free);
  EXPECT_EQ(fs->statfs()->inodes_free, before_remount.inodes_free);
  EXPECT_EQ(names(*fs, kRoot), (std::set<std::string>{"kept", "d", "small", "ln"}));
}

TEST(Filesystem, InodeExhaustion) {
  TempPool pool(32 << 20, 65536);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  const uint64_t inodes_free = fs->statfs()->inodes_free;
  ASSERT_LT(inodes_free, 2000u);
  int err = 0;
  uint64_t made = 0;
  for (uint64_t i = 0; i <= inodes_free; ++i) {
    auto a = fs->mknod(kRoot, "i" + std::to_string(i), S_IFREG | 0644, 0, root_caller());
    if (!a.ok()) {
      err = a.error();
      break;
    }
    fs->forget(a->ino, 1);
    ++made;
  }
  EXPECT_EQ(err, ENOSPC);
  EXPECT_EQ(made, inodes_free);
  EXPECT_EQ(lookup_err(*fs, kRoot, "i" + std::to_string(made)), ENOENT);
  ASSERT_TRUE(fs->unlink(kRoot, "i0").ok());
  EXPECT_TRUE(fs->mknod(kRoot, "again", S_IFREG | 0644, 0, root_caller()).ok());
}

TEST(Filesystem, OverwriteTimesSurviveForget) {
  // An overwrite inside the file keeps its mtime in DRAM only (pending_mtime);
  // dropping the last kernel reference must not lose it.
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f");
  put(*fs, f.ino, 0, std::string(10000, 'a'));
  tick();
  put(*fs, f.ino, 100, "bbbb");
  auto written = fs->getattr(f.ino);
  fs->forget(f.ino, 1);
  auto again = fs->lookup(kRoot, "f");
  ASSERT_TRUE(again.ok());
  EXPECT_TRUE(same(again->mtime, written->mtime));
  EXPECT_TRUE(same(again->ctime, written->ctime));
  EXPECT_EQ(get(*fs, f.ino, 100, 4), "bbbb");
  // ... nor across an unmount after the reference is gone.
  tick();
  put(*fs, f.ino, 200, "cccc");
  written = fs->getattr(f.ino);
  fs->forget(f.ino, 1);
  fs.reset();
  fs = pool.mount();
  ASSERT_TRUE(fs);
  auto remounted = fs->lookup(kRoot, "f");
  ASSERT_TRUE(remounted.ok());
  EXPECT_TRUE(same(remounted->mtime, written->mtime));
}

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
  fs->release(g.ino);
  EXPECT_LT(free_blocks(*fs), base);
  EXPECT_TRUE(all(*fs, g.ino) == data);
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
  auto names = fs.listxattr(a.ino);
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
  {
    auto fs = pool.mount();
    ASSERT_TRUE(fs);
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

// ---- concurrency -------------------------------------------------------------

// Checks the namespace below dir: every name resolves to a live inode of the
// type readdir reports, directories count their subdirectories and name their
// parent, files' link counts match the names found.
void check_consistency(Filesystem& fs, uint64_t dir, std::map<uint64_t, uint32_t>& names_of,
                       std::map<uint64_t, uint32_t>& nlink_of) {
  uint32_t subdirs = 0;
  for (const auto& e : list(fs, dir)) {
    if (e.name == "." || e.name == "..") continue;
    auto a = fs.lookup(dir, e.name);
    ASSERT_TRUE(a.ok()) << e.name << ": " << a.error();
    EXPECT_EQ(a->ino, e.ino) << e.name;
    EXPECT_EQ(IFTODT(a->mode), e.type) << e.name;
    fs.forget(a->ino, 1);
    if (S_ISDIR(a->mode)) {
      ++subdirs;
      EXPECT_EQ(ino_of(fs, a->ino, ".."), dir) << e.name;
      check_consistency(fs, a->ino, names_of, nlink_of);
    } else {
      names_of[a->ino]++;
      nlink_of[a->ino] = a->nlink;
    }
  }
  EXPECT_EQ(fs.getattr(dir)->nlink, 2 + subdirs) << "dir " << dir;
}

TEST(Filesystem, ConcurrentNamespaceAndData) {
  TempPool pool(256 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  constexpr int kThreads = 4;
  const int kOps = kSanitized ? 800 : 2500;
  Attr shared = mkdir_(*fs, kRoot, "shared");
  std::vector<uint64_t> own(kThreads);
  for (int t = 0; t < kThreads; ++t) own[t] = mkdir_(*fs, kRoot, "t" + std::to_string(t)).ino;
  std::atomic<int> failures{0};
  auto fail = [&](const char* what, int e) {
    if (failures.fetch_add(1) < 10) ADD_FAILURE() << what << ": " << e;
  };

  auto worker = [&](int t) {
    std::mt19937 rng(t);
    // The names this thread owns, by directory: (dir ino, name) -> is_dir.
    std::map<std::pair<uint64_t, std::string>, bool> mine;
    uint64_t data_file = 0;
    {
      auto a = fs->mknod(own[t], "data", S_IFREG | 0644, 0, root_caller());
      if (!a.ok()) return fail("mknod data", a.error());
      data_file = a->ino;
    }
    std::string model;
    for (int i = 0; i < kOps; ++i) {
      const uint64_t dirs[3] = {shared.ino, own[t], own[(t + 1) % kThreads]};
      const uint64_t dir = dirs[rng() % 3];
      const std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
      switch (rng() % 8) {
        case 0:
        case 1: {
          auto a = fs->mknod(dir, name, S_IFREG | 0644, 0, root_caller());
          if (!a.ok()) return fail("mknod", a.error());
          std::string d = pattern(rng() % 9000, i);
          auto w = fs->write(a->ino, 0, d.data(), d.size());
          if (d.size() && !w.ok()) return fail("write", w.error());
          fs->forget(a->ino, 1);
          mine[{dir, name}] = false;
          break;
        }
        case 2: {
          auto a = fs->mkdir(dir, name, 0755, root_caller());
          if (!a.ok()) return fail("mkdir", a.error());
          fs->forget(a->ino, 1);
          mine[{dir, name}] = true;
          break;
        }
        case 3:
        case 4: {  // rename one of mine to a new name in any directory
          if (mine.empty()) break;
          auto it = mine.begin();
          std::advance(it, rng() % mine.size());
          auto [from, is_dir] = *it;
          Status s = fs->rename(from.first, from.second, dir, name, rng() % 2 ? RENAME_NOREPLACE : 0);
          if (!s.ok()) return fail("rename", s.error());
          mine.erase(it);
          mine[{dir, name}] = is_dir;
          break;
        }
        case 5: {  // remove one of mine
          if (mine.empty()) break;
          auto it = mine.begin();
          std::advance(it, rng() % mine.size());
          Status s = it->second ? fs->rmdir(it->first.first, it->first.second)
                                : fs->unlink(it->first.first, it->first.second);
          if (!s.ok()) return fail("remove", s.error());
          mine.erase(it);
          break;
        }
        case 6: {  // write and verify a private file
          const uint64_t off = rng() % (3 * kMiB);
          std::string d = pattern(1 + rng() % 20000, i);
          auto w = fs->write(data_file, off, d.data(), d.size());
          if (!w.ok()) return fail("write data", w.error());
          if (model.size() < off + d.size()) model.resize(off + d.size(), '\0');
          model.replace(off, d.size(), d);
          std::string back(d.size(), '?');
          auto r = fs->read(data_file, off, d.size(), back.data());
          if (!r.ok() || back != d) return fail("read back", r.error());
          break;
        }
        case 7: {  // lookups and listings of busy directories
          auto a = fs->lookup(dir, name);
          if (a.ok()) return fail("lookup of a name never made", 0);
          size_t n = 0;
          Status s = fs->readdir(dir, 0, [&](const DirEntry&) { return ++n < 50; });
          if (!s.ok()) return fail("readdir", s.error());
          if (!mine.empty()) {
            auto it = mine.begin();
            std::advance(it, rng() % mine.size());
            auto l = fs->lookup(it->first.first, it->first.second);
            if (!l.ok()) return fail("lookup of mine", l.error());
            fs->forget(l->ino, 1);
          }
          break;
        }
      }
    }
    // Every name this thread owns is where it left it.
    for (const auto& [where, is_dir] : mine) {
      auto a = fs->lookup(where.first, where.second);
      if (!a.ok()) return fail("final lookup", a.error());
      if (S_ISDIR(a->mode) != is_dir) return fail("type", 0);
      fs->forget(a->ino, 1);
    }
    std::string back(model.size(), '?');
    auto r = fs->read(data_file, 0, model.size(), back.data());
    if (!r.ok() || back != model) return fail("final data", r.error());
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  std::map<uint64_t, uint32_t> names_of, nlink_of;
  check_consistency(*fs, kRoot, names_of, nlink_of);
  for (const auto& [ino, count] : names_of) EXPECT_EQ(nlink_of[ino], count) << "ino " << ino;
  // The same after a remount, and the free counts agree with what is there.
  const auto s = *fs->statfs();
  fs.reset();
  fs = pool.mount();
  ASSERT_TRUE(fs);
  std::map<uint64_t, uint32_t> names2, nlink2;
  check_consistency(*fs, kRoot, names2, nlink2);
  EXPECT_EQ(names2, names_of);
  EXPECT_EQ(fs->statfs()->blocks_free, s.blocks_free);
  EXPECT_EQ(fs->statfs()->inodes_free, s.inodes_free);
}

TEST(Filesystem, ConcurrentRenamesBetweenDirectoryPairs) {
  // Opposite-direction cross-directory renames and directory moves up and
  // down one tree: the lock order must hold without deadlock.
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr a = mkdir_(*fs, kRoot, "a");
  Attr b = mkdir_(*fs, kRoot, "b");
  Attr ab = mkdir_(*fs, a.ino, "ab");
  constexpr int kThreads = 4;
  const int kOps = kSanitized ? 500 : 2000;
  std::atomic<int> failures{0};
  auto worker = [&](int t) {
    const uint64_t dirs[3] = {a.ino, b.ino, ab.ino};
    std::mt19937 rng(100 + t);
    std::string fname = "f" + std::to_string(t), dname = "d" + std::to_string(t);
    uint64_t fdir = dirs[t % 3], ddir = dirs[(t + 1) % 3];
    auto f = fs->mknod(fdir, fname, S_IFREG | 0644, 0, root_caller());
    auto d = fs->mkdir(ddir, dname, 0755, root_caller());
    if (!f.ok() || !d.ok()) return (void)failures.fetch_add(1);
    for (int i = 0; i < kOps; ++i) {
      uint64_t to = dirs[rng() % 3];
      if (fs->rename(fdir, fname, to, fname, 0).ok()) fdir = to;
      else failures.fetch_add(1);
      to = dirs[rng() % 3];
      if (fs->rename(ddir, dname, to, dname, 0).ok()) ddir = to;
      else failures.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::map<uint64_t, uint32_t> names_of, nlink_of;
  check_consistency(*fs, kRoot, names_of, nlink_of);
  EXPECT_EQ(names_of.size(), kThreads + 0u);
  for (const auto& [ino, count] : names_of) EXPECT_EQ(nlink_of[ino], count);
}

}  // namespace
}  // namespace pmemfs::test
