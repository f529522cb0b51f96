// The Filesystem class end to end, in process (see filesystem_test_util.h).
// Space: fallocate modes, SEEK_DATA/SEEK_HOLE, copy_file_range, statfs,
// ENOSPC and inode exhaustion.
#include "filesystem_test_util.h"

namespace pmemfs::test {
namespace {

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
  EXPECT_TRUE(fs->listxattr(keep.ino, root_caller())->empty());
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

// Past the inode's five extents, a file's extents live in extent blocks. When
// extents go (truncate, punch), blocks left without any are freed and unlinked
// from the chain in the same transaction; extents added later go into the
// blocks that remain, and the next mount reads the same chain back.
TEST(Filesystem, ExtentBlocksAreFreedWhenTheirExtentsGo) {
  TempPool pool(128 << 20);
  constexpr uint64_t kN = 1024;  // one-block extents, a one-block hole after each
  uint64_t ino = 0, empty = 0;
  auto fragment = [&](Filesystem& fs) {
    put(fs, ino, 0, std::string(kN * 8192, 'x'));
    for (uint64_t i = 0; i < kN; ++i)
      ASSERT_TRUE(fs.fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, i * 8192 + 4096, 4096)
                      .ok());
  };
  auto blocks = [&](Filesystem& fs) { return fs.getattr(ino)->blocks / 8; };
  auto truncate = [&](Filesystem& fs, uint64_t size) {
    SetAttr s;
    s.valid = SetAttr::kSize;
    s.size = size;
    ASSERT_TRUE(fs.setattr(ino, s).ok());
  };
  {
    auto fs = pool.mount();
    ASSERT_TRUE(fs);
    ino = mkfile(*fs, kRoot, "f").ino;
    empty = free_blocks(*fs);
    fragment(*fs);
    const uint64_t chain = (kN - 5 + 168) / 169;  // 7
    EXPECT_EQ(blocks(*fs), kN + chain);
    EXPECT_EQ(free_blocks(*fs), empty - kN - chain);
    truncate(*fs, 0);
    EXPECT_EQ(blocks(*fs), 0u);
    EXPECT_EQ(free_blocks(*fs), empty);

    // Punch extents 100..699: extent blocks 1 to 3 of 7 hold none of the rest.
    fragment(*fs);
    ASSERT_TRUE(fs->fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 100 * 8192,
                              600 * 8192).ok());
    EXPECT_EQ(blocks(*fs), kN - 600 + 4);
    EXPECT_EQ(free_blocks(*fs), empty - (kN - 600 + 4));
    // New extents (single blocks: their 2 MiB range is no hole) fill the free
    // slots of the blocks that are left.
    for (uint64_t i = 100; i < 256; ++i) put(*fs, ino, i * 8192, "y");
    EXPECT_EQ(blocks(*fs), kN - 600 + 156 + 4);
    fs->forget(ino, 1);
  }
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  EXPECT_EQ(blocks(*fs), kN - 600 + 156 + 4);
  const std::string data = all(*fs, ino);
  ASSERT_EQ(data.size(), kN * 8192);
  for (uint64_t i = 0; i < kN; ++i) {
    const char want = i >= 100 && i < 256 ? 'y' : i >= 256 && i < 700 ? '\0' : 'x';
    ASSERT_EQ(data[i * 8192], want) << "extent " << i;
    ASSERT_EQ(data[i * 8192 + 4096], '\0') << "hole after extent " << i;
  }
  truncate(*fs, 0);
  EXPECT_EQ(blocks(*fs), 0u);
  EXPECT_EQ(free_blocks(*fs), empty);
}

}  // namespace
}  // namespace pmemfs::test
