// The Filesystem class end to end, in process (see filesystem_test_util.h).
// Creating, writing and reading files: nested trees, sparse files and
// boundaries, a large file.
#include "filesystem_test_util.h"

namespace pmemfs::test {
namespace {

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

// The map in pages (as user.pmemfs.map.OFFSET serves it), each continuing at
// the end of the last one's last entry, is the whole map.
TEST(Filesystem, MapInPagesIsTheWholeMap) {
  TempPool pool(128 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  const uint64_t f = mkfile(*fs, kRoot, "f").ino;
  put(*fs, f, 0, std::string(16 * kMiB, 'x'));  // 2 MiB extents
  // Some stay whole, two become runs of 4 KiB blocks, and the last 4 MiB
  // single blocks with holes between.
  for (uint64_t off : {4 * kMiB + 4096, 10 * kMiB + 8192})
    ASSERT_TRUE(fs->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, 4096).ok());
  for (uint64_t off = 12 * kMiB + 4096; off < 16 * kMiB; off += 8192)
    ASSERT_TRUE(fs->fallocate(f, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, 4096).ok());
  auto whole = fs->map(f);
  ASSERT_TRUE(whole.ok());
  ASSERT_GT(whole->size(), 512u);
  EXPECT_TRUE((*whole)[0].huge);
  auto key = [](const ExtentInfo& e) {
    return std::make_tuple(e.file_offset, e.length, e.pool_offset, e.huge);
  };
  for (size_t page : {1, 2, 7, 512}) {
    std::vector<ExtentInfo> joined;
    for (uint64_t from = 0;;) {
      auto p = fs->map(f, from, page);
      ASSERT_TRUE(p.ok());
      ASSERT_LE(p->size(), page);
      if (p->empty()) break;
      joined.insert(joined.end(), p->begin(), p->end());
      from = p->back().file_offset + p->back().length;
    }
    ASSERT_EQ(joined.size(), whole->size()) << "pages of " << page;
    for (size_t i = 0; i < joined.size(); ++i)
      ASSERT_EQ(key(joined[i]), key((*whole)[i])) << "pages of " << page << ", entry " << i;
  }
  // A page may start inside an entry: it begins there.
  auto mid = fs->map(f, 12 * kMiB + 8192 + 100, 1);
  ASSERT_TRUE(mid.ok());
  ASSERT_EQ(mid->size(), 1u);
  EXPECT_EQ((*mid)[0].file_offset, 12 * kMiB + 8192);
}

}  // namespace
}  // namespace pmemfs::test
