// The picture of the pool (usage.h, fs_usage.cc): exact cell counts for a
// known layout, the cells' letters in place, the summary's JSON both ways
// and the drawing.
#include <algorithm>
#include <string>

#include <gtest/gtest.h>

#include "pmemfs/alloc.h"
#include "pmemfs/usage.h"
#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;

uint64_t create(Filesystem& fs, const char* name) {
  auto a = fs.mknod(kRoot, name, S_IFREG | 0644, 0, root_caller());
  EXPECT_TRUE(a.ok()) << a.error();
  return a->ino;
}

TEST(Usage, ExactCellsForAKnownLayout) {
  TempPool tp(64 * kMiB);
  auto fs = tp.mount();
  ASSERT_TRUE(fs);
  Allocator& alloc = TempPool::impl(*fs).allocator();
  const uint64_t cells = alloc.cells();
  ASSERT_GT(cells, 8u);

  auto empty = fs->usage();
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->cells, cells);
  EXPECT_EQ(empty->free, cells);  // an empty root holds no block
  EXPECT_EQ(empty->partial + empty->full + empty->huge, 0u);
  EXPECT_EQ(empty->free_blocks, cells * 512);

  // Two 2 MiB extents (fallocate of 4 MiB takes whole groups), and one file
  // of three 4 KiB blocks, which goes to a partly used cell.
  const uint64_t big = create(*fs, "big");
  ASSERT_TRUE(fs->fallocate(big, 0, 0, 4 * kMiB).ok());
  const uint64_t small = create(*fs, "small");
  std::string block(3 * 4096, 's');
  ASSERT_TRUE(fs->write(small, 0, block.data(), block.size()).ok());

  auto u = fs->usage();
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->huge, 2u);
  EXPECT_EQ(u->full, 0u);
  EXPECT_EQ(u->partial, 1u);  // the small file and the root's first block
  EXPECT_EQ(u->free, cells - 3);
  EXPECT_EQ(u->free_whole_blocks, u->free * 512);
  EXPECT_EQ(u->free_blocks, alloc.free_blocks());

  auto letters = fs->usage_cells(0, cells);
  ASSERT_TRUE(letters.ok());
  ASSERT_EQ(letters->size(), cells);
  EXPECT_EQ(summarize_cells(*letters, u->free_blocks).to_json(), u->to_json());
  EXPECT_EQ(std::count(letters->begin(), letters->end(), 'H'), 2);
  EXPECT_EQ(std::count(letters->begin(), letters->end(), 'p'), 1);
  const uint64_t first = letters->find("HH");
  ASSERT_NE(first, std::string::npos);
  // A page from the middle is the same letters.
  EXPECT_EQ(*fs->usage_cells(first, 2), "HH");
  EXPECT_EQ(*fs->usage_cells(cells, 10), "");

  // 1024 single blocks of one file, every other one written backwards so
  // that none is sequential (and each an extent of its own): they fill the
  // partly used cell and the next free one, and begin a third. Full, but
  // not one extent.
  const uint64_t pieces = create(*fs, "pieces");
  std::string page(4096, 'p');
  for (uint64_t i = 0; i < 1024; ++i)
    ASSERT_TRUE(fs->write(pieces, (2047 - 2 * i) * 4096, page.data(), 4096).ok());
  auto v = fs->usage();
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->full, 2u);
  EXPECT_EQ(v->huge, 2u);
  EXPECT_EQ(v->partial, 1u);
  EXPECT_EQ(v->free, cells - 5);
  EXPECT_EQ(v->free_whole_blocks, (cells - 5) * 512);

  // Everything gone: free again, but for the root's directory block.
  for (const char* n : {"big", "small", "pieces"}) ASSERT_TRUE(fs->unlink(kRoot, n).ok());
  for (uint64_t ino : {big, small, pieces}) fs->forget(ino, 1);
  auto w = fs->usage();
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->huge, 0u);
  EXPECT_EQ(w->full, 0u);
  EXPECT_EQ(w->partial, 1u);  // the root's block
  EXPECT_EQ(w->free, cells - 1);
}

TEST(Usage, JsonBothWaysAndTheDrawing) {
  const UsageSummary s = summarize_cells("..pfHH.", 1000);
  EXPECT_EQ(s.cells, 7u);
  EXPECT_EQ(s.free, 3u);
  EXPECT_EQ(s.partial, 1u);
  EXPECT_EQ(s.full, 1u);
  EXPECT_EQ(s.huge, 2u);
  EXPECT_EQ(s.free_whole_blocks, 3u * 512);
  auto back = UsageSummary::from_json(s.to_json());
  ASSERT_TRUE(back);
  EXPECT_EQ(back->to_json(), s.to_json());
  EXPECT_EQ(R"({"cells":7,"cell_bytes":2097152,"free":3,"partial":1,"full":1,"huge":2,)"
            R"("free_blocks":1000,"free_whole_blocks":1536})",
            s.to_json());
  std::string why;
  EXPECT_FALSE(UsageSummary::from_json("{\"cells\":1}", &why));
  EXPECT_EQ("no \"free\"", why);
  EXPECT_FALSE(UsageSummary::from_json("{\"cells\":1,", &why));
  EXPECT_EQ("not JSON", why);
  EXPECT_FALSE(UsageSummary::from_json("[1]", &why));
  EXPECT_EQ("not a JSON object", why);
  std::string bad = s.to_json();
  bad.replace(bad.find("\"huge\":2"), 8, "\"huge\":-2");
  EXPECT_FALSE(UsageSummary::from_json(bad, &why));
  EXPECT_EQ("\"huge\" is not an unsigned integer", why);
  EXPECT_NE(s.to_text().find("full, one 2 MiB extent               2"), std::string::npos) << s.to_text();

  const std::string svg = usage_svg(s, "..pfHH.", "a <pool> & more");
  EXPECT_EQ(svg.rfind("<svg", 0), 0u);
  EXPECT_NE(svg.find("a &lt;pool> &amp; more"), std::string::npos);
  size_t rects = 0;
  for (size_t i = 0; (i = svg.find("<rect ", i)) != std::string::npos; ++i) ++rects;
  EXPECT_EQ(rects, 7u + 4u);  // a cell each, and the legend's four
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
}

}  // namespace
}  // namespace pmemfs::test
