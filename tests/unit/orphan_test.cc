// The orphan list (pmemfs/orphan.h) and the lifetime of unlinked inodes
// (pmemfs/fs_lifetime.cc), in process: any number of files unlinked while
// open are listed and freed after a crash; a version 1 pool is upgraded; an
// unlinked file's space is free when unlink (or the last release) returns,
// and an allocation meeting ENOSPC waits for a free that is on its way.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pmemfs/crc32c.h"
#include "pmemfs/fs_impl.h"
#include "pmemfs/layout.h"
#include "pmemfs/superblock.h"
#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;
using Clock = std::chrono::steady_clock;

uint64_t free_inodes(Filesystem& fs) { return fs.statfs()->inodes_free; }
uint64_t free_blocks(Filesystem& fs) { return fs.statfs()->blocks_free; }

// A file with data, open, then unlinked; still referenced by the "kernel"
// (one lookup) and one handle. Returns its ino.
uint64_t open_unlinked(Filesystem& fs, const std::string& name, size_t bytes = 5000) {
  auto a = fs.mknod(kRoot, name, S_IFREG | 0644, 0, root_caller());
  EXPECT_TRUE(a.ok()) << name;
  if (!a.ok()) return 0;
  EXPECT_TRUE(fs.open(a->ino).ok());
  const std::string data(bytes, 'o');
  EXPECT_TRUE(fs.write(a->ino, 0, data.data(), data.size()).ok());
  EXPECT_TRUE(fs.unlink(kRoot, name).ok());
  return a->ino;
}

// The pool as the format sees it.
layout::Superblock superblock_of(FsImpl& fs) { return *read_superblock(fs.pool()); }

TEST(OrphanList, GrowsPastTheTableAndShrinksAgain) {
  TempPool pool(128 * kMiB);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  FsImpl& impl = TempPool::impl(*fs);
  const uint64_t inodes = free_inodes(*fs);
  const layout::Superblock sb = superblock_of(impl);
  ASSERT_EQ(layout::kFormatVersion, sb.version);
  const uint64_t n = layout::orphan_table_inos(sb) + 2 * layout::kOrphansPerBlock + 7;
  std::vector<uint64_t> inos;
  for (uint64_t i = 0; i < n; ++i) inos.push_back(open_unlinked(*fs, "f" + std::to_string(i)));
  EXPECT_EQ(inodes - n, free_inodes(*fs));
  // Every one is listed, and flagged.
  EXPECT_EQ(3u, impl.orphans_for_tests().chain_blocks());
  EXPECT_EQ(n, impl.orphans_for_tests().size());
  for (uint64_t ino : inos) {
    auto in = impl.inode_for_tests(ino);
    ASSERT_TRUE(in.ok());
    EXPECT_TRUE((*in)->rec.flags & layout::kInodeOrphan) << ino;
  }
  for (uint64_t ino : inos) {
    fs->release(ino);
    fs->forget(ino, 1);
  }
  EXPECT_EQ(0u, impl.orphans_for_tests().size());
  EXPECT_EQ(inodes, free_inodes(*fs));
  ASSERT_TRUE(fs->unmount().ok());
  fs.reset();  // lets go of the pool's lock
  fs = pool.mount();
  ASSERT_TRUE(fs);
  EXPECT_EQ(0u, TempPool::impl(*fs).orphans_for_tests().chain_blocks()) << "the chain was not shrunk";
  EXPECT_EQ(inodes, free_inodes(*fs));
}

// Crash with thousands of open-unlinked files, some listed in the chain:
// the next mount frees every one.
TEST(OrphanList, EveryOrphanIsFreedAfterACrash) {
  TempPool pool(128 * kMiB);
  MountOptions mo;
  mo.source = pool.path();
  mo.powerfail.enabled = true;
  auto fs = Filesystem::mount(mo);
  ASSERT_TRUE(fs.ok());
  const uint64_t inodes = free_inodes(**fs), blocks = free_blocks(**fs);
  for (int i = 0; i < 3000; ++i) open_unlinked(**fs, "f" + std::to_string(i));
  FsImpl& impl = TempPool::impl(**fs);
  auto view = impl.pool().durable_view();
  ASSERT_TRUE(view.ok());
  (void)(*fs)->power_cut();
  auto recovered = FsImpl::mount_pool(std::move(*view));
  ASSERT_TRUE(recovered.ok()) << recovered.error();
  EXPECT_EQ(inodes, free_inodes(**recovered));
  // The root directory keeps the slot blocks its 3000 names needed.
  EXPECT_LE(free_blocks(**recovered), blocks);
  EXPECT_GT(free_blocks(**recovered) + 256, blocks);
  EXPECT_EQ(0u, (*recovered)->orphans_for_tests().size());
  EXPECT_EQ(0u, (*recovered)->orphans_for_tests().chain_blocks());
}

// A version 1 pool: the table alone, whose last slot is an ino. Mounted, it
// keeps working and becomes version 2 once its orphans are finished.
TEST(OrphanList, AVersion1PoolIsUpgradedAtMount) {
  TempPool pool(64 * kMiB);
  MountOptions mo;
  mo.source = pool.path();
  mo.powerfail.enabled = true;
  auto fs = Filesystem::mount(mo);
  ASSERT_TRUE(fs.ok());
  FsImpl& impl = TempPool::impl(**fs);
  const uint64_t inodes = free_inodes(**fs);
  const layout::Superblock sb = superblock_of(impl);
  open_unlinked(**fs, "a");  // in slot 0
  const uint64_t last = open_unlinked(**fs, "b");
  auto view = impl.pool().durable_view();
  ASSERT_TRUE(view.ok());
  (void)(*fs)->power_cut();
  // The crashed pool as version 1 wrote it: "b" in the table's last slot
  // (a 2048th orphan), which version 2 reads as the chain's link.
  Pool& p = **view;
  uint64_t* table = p.at<uint64_t>(sb.orphan_off);
  for (uint64_t i = 0; i + 1 < sb.orphan_slots; ++i)
    if (table[i] == last) table[i] = 0;
  table[sb.orphan_slots - 1] = last;
  layout::Superblock v1 = sb;
  v1.version = 1;
  seal(v1);
  std::memcpy(p.at<char>(0), &v1, sizeof(v1));
  std::memcpy(p.at<char>(layout::kBlockSize), &v1, sizeof(v1));
  auto recovered = FsImpl::mount_pool(std::move(*view));
  ASSERT_TRUE(recovered.ok()) << recovered.error();
  EXPECT_EQ(inodes, free_inodes(**recovered)) << "orphans of the version 1 table were not finished";
  Pool& rp = (*recovered)->pool();
  EXPECT_EQ(2u, rp.at<layout::Superblock>(0)->version);
  EXPECT_EQ(2u, rp.at<layout::Superblock>(layout::kBlockSize)->version);
  EXPECT_EQ(0u, *rp.at<uint64_t>(layout::orphan_link_off(sb)));
  // And it lists more orphans than the table holds now.
  for (uint64_t i = 0; i < layout::orphan_table_inos(sb) + 3; ++i)
    open_unlinked(**recovered, "g" + std::to_string(i), 10);
  EXPECT_EQ(1u, (*recovered)->orphans_for_tests().chain_blocks());
}

// unlink of a file no handle has open frees its data at once, though the
// kernel still holds the inode; the record goes at FORGET.
TEST(UnlinkedSpace, DataIsFreeWhenUnlinkReturns) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto a = fs->mknod(kRoot, "f", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(a.ok());
  const uint64_t before = free_blocks(*fs);
  ASSERT_TRUE(fs->open(a->ino).ok());
  const std::string data(8 * kMiB, 'd');
  ASSERT_TRUE(fs->write(a->ino, 0, data.data(), data.size()).ok());
  fs->release(a->ino);
  const uint64_t inodes = free_inodes(*fs);
  ASSERT_TRUE(fs->unlink(kRoot, "f").ok());
  EXPECT_EQ(before, free_blocks(*fs)) << "the data waits for FORGET";
  auto st = fs->getattr(a->ino);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(data.size(), st->size);
  EXPECT_EQ(ENOENT, fs->open(a->ino).error());
  EXPECT_EQ(inodes, free_inodes(*fs));
  fs->forget(a->ino, 1);
  EXPECT_EQ(inodes + 1, free_inodes(*fs));
}

// Open at unlink: the data is freed by the last release, while the kernel
// still holds the inode.
TEST(UnlinkedSpace, DataIsFreeWhenTheLastHandleIsReleased) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  const uint64_t before = free_blocks(*fs);
  const uint64_t ino = open_unlinked(*fs, "f", 8 * kMiB);
  ASSERT_TRUE(fs->open(ino).ok());  // a second handle (reopened through /proc/PID/fd)
  EXPECT_LT(free_blocks(*fs) + 2048, before);
  fs->release(ino);
  EXPECT_LT(free_blocks(*fs) + 2048, before) << "freed while a handle is open";
  fs->release(ino);
  EXPECT_GE(free_blocks(*fs) + 1, before);  // the root's first slot block stays
  fs->forget(ino, 1);
}

// Fill the pool with a file, close it "asynchronously" (its RELEASE comes
// after the unlink, from another thread): a write meeting ENOSPC meanwhile
// waits for that free instead of failing.
TEST(UnlinkedSpace, AllocationWaitsForAFreeOnItsWay) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto a = fs->mknod(kRoot, "full", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(fs->open(a->ino).ok());
  const std::string chunk(kMiB, 'x');
  uint64_t off = 0;
  while (fs->write(a->ino, off, chunk.data(), chunk.size()).ok()) off += chunk.size();
  ASSERT_GT(off, 16 * kMiB);
  ASSERT_TRUE(fs->unlink(kRoot, "full").ok());  // still open: freed at release
  auto b = fs->mknod(kRoot, "next", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(b.ok());
  std::thread releaser([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    fs->release(a->ino);
  });
  const auto t0 = Clock::now();
  auto w = fs->write(b->ino, 0, chunk.data(), chunk.size());
  const auto waited = Clock::now() - t0;
  releaser.join();
  EXPECT_TRUE(w.ok()) << "early ENOSPC: " << (w.ok() ? 0 : w.error());
  EXPECT_GE(waited, std::chrono::milliseconds(40));
  fs->forget(a->ino, 1);
}

// A file really held open after its unlink keeps its blocks: ENOSPC comes,
// after a short wait, not never.
TEST(UnlinkedSpace, AFileHeldOpenKeepsItsSpaceAndEnospcStillComes) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto a = fs->mknod(kRoot, "held", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE(fs->open(a->ino).ok());
  const std::string chunk(kMiB, 'x');
  uint64_t off = 0;
  while (fs->write(a->ino, off, chunk.data(), chunk.size()).ok()) off += chunk.size();
  ASSERT_TRUE(fs->unlink(kRoot, "held").ok());
  auto b = fs->mknod(kRoot, "next", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(b.ok());
  const auto t0 = Clock::now();
  auto w = fs->write(b->ino, 0, chunk.data(), chunk.size());
  EXPECT_EQ(ENOSPC, w.ok() ? 0 : w.error());
  EXPECT_LT(Clock::now() - t0, std::chrono::seconds(2));
  // Later ENOSPCs do not wait again.
  const auto t1 = Clock::now();
  EXPECT_FALSE(fs->write(b->ino, 0, chunk.data(), chunk.size()).ok());
  EXPECT_LT(Clock::now() - t1, std::chrono::milliseconds(100));
  fs->release(a->ino);
  EXPECT_TRUE(fs->write(b->ino, 0, chunk.data(), chunk.size()).ok());
}

}  // namespace
}  // namespace pmemfs::test
