// Where a write into a hole gets a 2 MiB extent and where 4 KiB blocks
// (fault.h, WriteIntent; pmemfs.8, GUARANTEES, "2 MiB extents"): only where
// the range is being filled — a sequential writer, a request covering the
// whole range, fallocate — and 4 KiB blocks for scattered writes, so that a
// sparse file costs what it holds (issue 12 item 4).
#include <linux/falloc.h>

#include <random>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kPage = 4096;
constexpr uint64_t kHuge = 2 * kMiB;

uint64_t create_file(Filesystem& fs, const char* name, uint64_t size = 0) {
  auto a = fs.mknod(kRoot, name, S_IFREG | 0644, 0, root_caller());
  EXPECT_TRUE(a.ok()) << a.error();
  if (size) {
    SetAttr s;
    s.valid = SetAttr::kSize;
    s.size = size;
    EXPECT_TRUE(fs.setattr(a->ino, s).ok());
  }
  return a->ino;
}

struct Layout {
  uint64_t mapped = 0, huge = 0;
};

Layout layout_of(Filesystem& fs, uint64_t ino) {
  Layout l;
  auto map = fs.map(ino);
  EXPECT_TRUE(map.ok());
  for (const auto& e : *map) {
    l.mapped += e.length;
    if (e.huge) l.huge += e.length;
  }
  return l;
}

uint64_t allocated(Filesystem& fs, uint64_t ino) { return fs.getattr(ino)->blocks * 512; }

void write_seq(Filesystem& fs, uint64_t ino, uint64_t from, uint64_t to, uint64_t chunk) {
  std::string buf(chunk, 's');
  for (uint64_t off = from; off < to; off += chunk) {
    const uint64_t n = std::min(chunk, to - off);
    buf[0] = static_cast<char>(off / chunk);
    ASSERT_EQ(*fs.write(ino, off, buf.data(), n), n) << off;
  }
}

TEST(AllocationPolicy, ScatteredWritesIntoATruncatedFileTakeOneBlockEach) {
  TempPool pool(256 * kMiB);
  auto fs = pool.mount();
  const uint64_t ino = create_file(*fs, "sparse", 64 * kMiB);
  std::mt19937_64 rng(12);
  std::set<uint64_t> pages;
  std::string block(kPage, 'r');
  uint64_t last_end = 0;
  for (int i = 0; i < 300; ++i) {
    uint64_t page;
    do {
      page = rng() % (64 * kMiB / kPage);
      // Scattered: neither continuing the last write nor the same page again.
    } while (pages.count(page) || page * kPage == last_end);
    pages.insert(page);
    ASSERT_EQ(*fs->write(ino, page * kPage, block.data(), kPage), kPage);
    last_end = (page + 1) * kPage;
    // (st_blocks also counts the extent blocks the map spills into.)
    ASSERT_EQ(layout_of(*fs, ino).mapped, pages.size() * kPage) << "write " << i << " at page " << page;
  }
  const Layout l = layout_of(*fs, ino);
  EXPECT_EQ(l.mapped, pages.size() * kPage);
  EXPECT_EQ(l.huge, 0u);
  // Every written page reads back, every other page reads as zeros.
  std::string got(kPage, 'x');
  for (uint64_t page : {*pages.begin(), *pages.rbegin()}) {
    ASSERT_EQ(*fs->read(ino, page * kPage, kPage, got.data()), kPage);
    EXPECT_EQ(got, block);
  }
  uint64_t unwritten = 0;
  while (pages.count(unwritten)) ++unwritten;
  ASSERT_EQ(*fs->read(ino, unwritten * kPage, kPage, got.data()), kPage);
  EXPECT_EQ(got, std::string(kPage, '\0'));
}

// A 4 KiB write past EOF of a sparse file, or into a small one, is one block.
TEST(AllocationPolicy, SingleWritesPinNoExtent) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  const uint64_t far = create_file(*fs, "far");
  ASSERT_TRUE(fs->write(far, 40 * kMiB, "x", 1).ok());  // past EOF: a hole before it
  EXPECT_EQ(allocated(*fs, far), kPage);
  const uint64_t small = create_file(*fs, "small");
  ASSERT_TRUE(fs->write(small, 0, "y", 1).ok());  // at EOF of an empty file
  EXPECT_EQ(allocated(*fs, small), kPage);
  // Growing a small file by appending stays in 4 KiB blocks in its first 2 MiB.
  write_seq(*fs, small, 1, 64 * 1024, 4095);
  EXPECT_EQ(allocated(*fs, small), 64 * 1024u);
}

struct SeqCase {
  const char* name;
  uint64_t chunk;
  bool truncate_first;
};

class SequentialWriter : public ::testing::TestWithParam<SeqCase> {};

// fio-like 4 KiB writes, 1 MiB writes and odd-sized ones, appending or after
// ftruncate to the final size: every 2 MiB range but the first a 2 MiB
// extent (small files keep 4 KiB blocks, so the first range is written in
// them, into a group other small files share).
TEST_P(SequentialWriter, Gets2MiBExtents) {
  const SeqCase& c = GetParam();
  TempPool pool(128 * kMiB);
  auto fs = pool.mount();
  constexpr uint64_t kSize = 32 * kMiB;
  const uint64_t ino = create_file(*fs, "seq", c.truncate_first ? kSize : 0);
  write_seq(*fs, ino, 0, kSize, c.chunk);
  const Layout l = layout_of(*fs, ino);
  EXPECT_EQ(allocated(*fs, ino), kSize);
  EXPECT_EQ(l.mapped, kSize);
  EXPECT_GE(l.huge, kSize - kHuge) << "every range past the first is one 2 MiB extent";
  std::string back(c.chunk, '\0');
  ASSERT_EQ(*fs->read(ino, 5 * c.chunk, c.chunk, back.data()), c.chunk);
  EXPECT_EQ(back[0], static_cast<char>(5));
}

INSTANTIATE_TEST_SUITE_P(AllocationPolicy, SequentialWriter,
                         ::testing::Values(SeqCase{"append4k", 4096, false},
                                           SeqCase{"append1m", kMiB, false},
                                           SeqCase{"append_odd", 100 * 1000 + 17, false},
                                           SeqCase{"ftruncate4k", 4096, true},
                                           SeqCase{"ftruncate1m", kMiB, true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(AllocationPolicy, AWriteCoveringAnAlignedRangeGetsOneExtent) {
  TempPool pool(128 * kMiB);
  auto fs = pool.mount();
  const uint64_t ino = create_file(*fs, "f", 64 * kMiB);
  std::string buf(kHuge, 'c');
  ASSERT_EQ(*fs->write(ino, 10 * kMiB, buf.data(), kHuge), kHuge);
  auto map = fs->map(ino);
  ASSERT_EQ(map->size(), 1u);
  EXPECT_TRUE((*map)[0].huge);
  EXPECT_EQ((*map)[0].file_offset, 10 * kMiB);
  // Unaligned, 3 MiB from 21 MiB: one 2 MiB extent for [22, 24) MiB, 4 KiB
  // blocks for the 1 MiB at the edges; no more than the bytes written.
  std::string big(3 * kMiB, 'd');
  ASSERT_EQ(*fs->write(ino, 21 * kMiB, big.data(), big.size()), big.size());
  EXPECT_EQ(allocated(*fs, ino), kHuge + 3 * kMiB);
  EXPECT_EQ(layout_of(*fs, ino).huge, 2 * kHuge);
}

TEST(AllocationPolicy, FallocateGets2MiBExtentsAndExactlyWhatItAsks) {
  TempPool pool(128 * kMiB);
  auto fs = pool.mount();
  const uint64_t a = create_file(*fs, "a");
  ASSERT_TRUE(fs->fallocate(a, 0, 0, 16 * kMiB).ok());
  EXPECT_EQ(layout_of(*fs, a).huge, 16 * kMiB);
  const uint64_t b = create_file(*fs, "b");
  ASSERT_TRUE(fs->fallocate(b, 0, kMiB, 8 * kMiB).ok());  // [1, 9) MiB
  EXPECT_EQ(allocated(*fs, b), 8 * kMiB);
  EXPECT_EQ(layout_of(*fs, b).huge, 6 * kMiB);
  // A small fallocate is a few blocks, not an extent.
  const uint64_t c = create_file(*fs, "c", 64 * kMiB);
  ASSERT_TRUE(fs->fallocate(c, FALLOC_FL_KEEP_SIZE, 30 * kMiB, 3 * kPage).ok());
  EXPECT_EQ(allocated(*fs, c), 3 * kPage);
}

// A streaming writer's 2 MiB extent reaches past EOF while it writes; the
// last close gives that part back, so a closed file holds its size rounded
// up to 4 KiB. Space asked for with fallocate stays.
TEST(AllocationPolicy, StreamTailPastEofIsGivenBackAtLastClose) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  const uint64_t ino = create_file(*fs, "log");
  ASSERT_TRUE(fs->open(ino).ok());
  write_seq(*fs, ino, 0, kHuge + 3 * kPage, kPage);
  EXPECT_EQ(allocated(*fs, ino), 2 * kHuge) << "the writer is in its second extent";
  ASSERT_TRUE(fs->open(ino).ok());
  fs->release(ino);
  EXPECT_EQ(allocated(*fs, ino), 2 * kHuge) << "a handle is still open";
  fs->release(ino);
  EXPECT_EQ(allocated(*fs, ino), kHuge + 3 * kPage);
  std::string back(kPage, '\0');
  ASSERT_EQ(*fs->read(ino, kHuge + 2 * kPage, kPage, back.data()), kPage);
  EXPECT_EQ(back[0], static_cast<char>((kHuge + 2 * kPage) / kPage));
  // Appending again goes on in 4 KiB blocks: the range is no longer a hole.
  ASSERT_TRUE(fs->open(ino).ok());
  write_seq(*fs, ino, kHuge + 3 * kPage, kHuge + 5 * kPage, kPage);
  fs->release(ino);
  EXPECT_EQ(allocated(*fs, ino), kHuge + 5 * kPage);

  const uint64_t pre = create_file(*fs, "pre");
  ASSERT_TRUE(fs->open(pre).ok());
  write_seq(*fs, pre, 0, kHuge + kPage, kPage);
  ASSERT_TRUE(fs->fallocate(pre, FALLOC_FL_KEEP_SIZE, kHuge + kPage, 8 * kMiB).ok());
  fs->release(pre);
  EXPECT_EQ(allocated(*fs, pre), kHuge + kPage + 8 * kMiB) << "fallocate'd space was given back";
}

}  // namespace
}  // namespace pmemfs::test
