// Faults of direct-access clients (pmemfs/dax.h): the entry each fault hands
// out, and the revocations that must come before every change of what a
// client may have mapped.
#include <linux/falloc.h>

#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pmemfs/dax.h"
#include "pmemfs/pool.h"
#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kPage = 4096;

struct Revocation {
  uint64_t ino, first, last;
  bool operator==(const Revocation&) const = default;
};

// Records every revoke(); `during` runs inside it (with the inode lock held
// exclusive, as a real revoker would be called).
class RecordingRevoker : public DaxRevoker {
 public:
  void revoke(uint64_t ino, uint64_t first, uint64_t last) override {
    {
      std::lock_guard<std::mutex> g(mu);
      calls.push_back({ino, first, last});
    }
    if (during) during(ino, first, last);
  }
  std::vector<Revocation> taken() {
    std::lock_guard<std::mutex> g(mu);
    return std::exchange(calls, {});
  }
  std::function<void(uint64_t, uint64_t, uint64_t)> during;

 private:
  std::mutex mu;
  std::vector<Revocation> calls;
};

class DaxFault : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = pool_.mount();
    fs_->set_dax_revoker(&revoker_);
  }
  uint64_t file(const char* name, uint64_t size) {
    auto a = fs_->mknod(kRoot, name, S_IFREG | 0644, 0, root_caller());
    EXPECT_TRUE(a.ok());
    SetAttr s;
    s.valid = SetAttr::kSize;
    s.size = size;
    EXPECT_TRUE(fs_->setattr(a->ino, s).ok());
    return a->ino;
  }
  uint64_t data_blocks() { return fs_->stats().data_blocks; }
  const char* pool_at(uint64_t off) { return TempPool::impl(*fs_).pool().base() + off; }

  TempPool pool_{256 * kMiB};
  std::unique_ptr<Filesystem> fs_;
  RecordingRevoker revoker_;
};

TEST_F(DaxFault, AReadOfAHoleIsItsWholeRunOfZeroPagesAndAllocatesNothing) {
  const uint64_t ino = file("hole", 64 * kMiB);
  const uint64_t blocks = data_blocks();
  auto e = fs_->dax_fault(ino, 1000, /*write=*/false);
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_EQ(EntryKind::kHole, e->kind);
  EXPECT_EQ(512u, e->first_page);  // the page's 2 MiB range, all of it a hole
  EXPECT_EQ(512u, e->npages);
  EXPECT_EQ(blocks, data_blocks());
  EXPECT_TRUE(fs_->map(ino)->empty());
}

TEST_F(DaxFault, AHoleEntryStopsAtBlocksAndAtEof) {
  const uint64_t ino = file("f", 2 * kMiB + 40 * kPage);
  ASSERT_TRUE(fs_->write(ino, 10 * kPage, "x", 1).ok());
  ASSERT_TRUE(fs_->write(ino, 20 * kPage, "y", 1).ok());
  auto e = fs_->dax_fault(ino, 15, false);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(EntryKind::kHole, e->kind);
  EXPECT_EQ(11u, e->first_page);
  EXPECT_EQ(9u, e->npages);
  e = fs_->dax_fault(ino, 515, false);  // the last range, cut by EOF at page 552
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(512u, e->first_page);
  EXPECT_EQ(40u, e->npages);
}

TEST_F(DaxFault, APageAtOrPastEofIsEnxio) {
  const uint64_t ino = file("short", 3 * kPage + 1);
  EXPECT_TRUE(fs_->dax_fault(ino, 3, false).ok());
  EXPECT_EQ(ENXIO, fs_->dax_fault(ino, 4, false).error());
  EXPECT_EQ(ENXIO, fs_->dax_fault(ino, 4, true).error());
  EXPECT_EQ(ENXIO, fs_->dax_fault(ino, UINT64_MAX / kPage, false).error());
}

TEST_F(DaxFault, AStoreIntoAnAlignedHoleInsideEofGetsAPmdAlignedInFileAndPool) {
  const uint64_t ino = file("big", 8 * kMiB);
  auto e = fs_->dax_fault(ino, 600, /*write=*/true);
  ASSERT_TRUE(e.ok()) << e.error();
  EXPECT_EQ(EntryKind::kPmd, e->kind);
  EXPECT_EQ(512u, e->first_page);
  EXPECT_EQ(512u, e->npages);
  EXPECT_EQ(0u, e->pool_off % (2 * kMiB));
  // Now mapped: a read fault gets the same entry.
  auto r = fs_->dax_fault(ino, 700, false);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(EntryKind::kPmd, r->kind);
  EXPECT_EQ(e->pool_off, r->pool_off);
}

TEST_F(DaxFault, AStoreWhereTheRangeCrossesEofGetsOneBlock) {
  const uint64_t ino = file("tail", 2 * kMiB + 8 * kPage);
  auto e = fs_->dax_fault(ino, 513, true);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(EntryKind::kPte, e->kind);
  EXPECT_EQ(513u, e->first_page);
  EXPECT_EQ(1u, e->npages);
}

TEST_F(DaxFault, ClientStoresAndTheMountSeeTheSameBytes) {
  const uint64_t ino = file("shared", 4 * kMiB);
  ASSERT_TRUE(fs_->write(ino, 5 * kPage + 7, "written", 7).ok());
  auto e = fs_->dax_fault(ino, 5, false);
  ASSERT_TRUE(e.ok());
  ASSERT_NE(EntryKind::kHole, e->kind);
  const uint64_t at = e->pool_off + (5 - e->first_page) * kPage + 7;
  EXPECT_EQ(0, std::memcmp(pool_at(at), "written", 7));
  // A client's store lands where read(2) through the mount finds it.
  auto w = fs_->dax_fault(ino, 5, true);
  ASSERT_TRUE(w.ok());
  std::memcpy(const_cast<char*>(pool_at(at)), "STORED!", 7);
  char back[7];
  ASSERT_TRUE(fs_->read(ino, 5 * kPage + 7, 7, back).ok());
  EXPECT_EQ(0, std::memcmp(back, "STORED!", 7));
}

TEST_F(DaxFault, AHoleAClientMapsIsRevokedBeforeAnyStoreCanReachItsNewBlocks) {
  const uint64_t ino = file("race", 4 * kMiB);
  ASSERT_EQ(EntryKind::kHole, fs_->dax_fault(ino, 3, false)->kind);
  // During the revocation the bytes are nowhere in the pool yet: a client
  // that still maps the zero page cannot have missed a store.
  static const char kMark[] = "dax-revocation-comes-before-the-store";
  bool revoked = false, stored_before = false;
  revoker_.during = [&](uint64_t, uint64_t, uint64_t) {
    Pool& p = TempPool::impl(*fs_).pool();
    revoked = true;
    stored_before = memmem(p.base(), p.size(), kMark, sizeof kMark - 1) != nullptr;
  };
  ASSERT_TRUE(fs_->write(ino, 3 * kPage, kMark, sizeof kMark - 1).ok());
  EXPECT_TRUE(revoked);
  EXPECT_FALSE(stored_before);
  revoker_.during = nullptr;
  const auto r = revoker_.taken();
  ASSERT_EQ(1u, r.size());
  EXPECT_EQ((Revocation{ino, 0, 511}), r[0]);
  // A client store into the hole revokes the same way.
  ASSERT_EQ(EntryKind::kHole, fs_->dax_fault(ino, 700, false)->kind);
  ASSERT_TRUE(fs_->dax_fault(ino, 700, true).ok());
  EXPECT_EQ((std::vector<Revocation>{{ino, 512, 1023}}), revoker_.taken());
}

TEST_F(DaxFault, TruncatePunchAndTheLastUnlinkRevokeWhatTheyChange) {
  const uint64_t ino = file("cut", 8 * kMiB);
  ASSERT_TRUE(fs_->dax_fault(ino, 0, true).ok());
  revoker_.taken();
  SetAttr s;
  s.valid = SetAttr::kSize;
  s.size = 3 * kMiB;  // pages 768.. go: revoked from their 2 MiB range on
  ASSERT_TRUE(fs_->setattr(ino, s).ok());
  auto r = revoker_.taken();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ(ino, r[0].ino);
  EXPECT_EQ(512u, r[0].first);
  ASSERT_TRUE(fs_->fallocate(ino, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4 * kPage, kPage).ok());
  r = revoker_.taken();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ((Revocation{ino, 0, 511}), r[0]);
  ASSERT_TRUE(fs_->unlink(kRoot, "cut").ok());
  fs_->forget(ino, 1);
  r = revoker_.taken();
  ASSERT_FALSE(r.empty());
  EXPECT_EQ((Revocation{ino, 0, UINT64_MAX}), r.back());
}

TEST_F(DaxFault, FilesNoClientMappedAreNeverRevoked) {
  const uint64_t ino = file("plain", 4 * kMiB);
  ASSERT_TRUE(fs_->write(ino, 0, "abc", 3).ok());
  SetAttr s;
  s.valid = SetAttr::kSize;
  s.size = kPage;
  ASSERT_TRUE(fs_->setattr(ino, s).ok());
  ASSERT_TRUE(fs_->unlink(kRoot, "plain").ok());
  fs_->forget(ino, 1);
  EXPECT_TRUE(revoker_.taken().empty());
}

// A client's stores reach the pool without the daemon seeing them: every
// fsync flushes what a client maps writable, not only the first one.
TEST_F(DaxFault, EveryFsyncFlushesWhatAClientMapsWritable) {
  const uint64_t ino = file("synced", 4 * kMiB);
  ASSERT_EQ(EntryKind::kPmd, fs_->dax_fault(ino, 512, true)->kind);
  ASSERT_EQ(EntryKind::kHole, fs_->dax_fault(ino, 0, false)->kind);  // read only: nothing to flush
  const uint64_t before = fs_->stats().fsync_bytes_flushed;
  ASSERT_TRUE(fs_->fsync(ino, false).ok());
  const uint64_t once = fs_->stats().fsync_bytes_flushed;
  EXPECT_EQ(2 * kMiB, once - before);
  ASSERT_TRUE(fs_->fsync(ino, true).ok());
  EXPECT_EQ(2 * kMiB, fs_->stats().fsync_bytes_flushed - once);
}

TEST_F(DaxFault, ReadOnlyRefusesStoresAndDirectoriesRefuseFaults) {
  const uint64_t ino = file("ro", kMiB);
  auto d = fs_->mkdir(kRoot, "dir", 0755, root_caller());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(EISDIR, fs_->dax_fault(d->ino, 0, false).error());
  ASSERT_TRUE(fs_->set_read_only(true).ok());
  EXPECT_EQ(EROFS, fs_->dax_fault(ino, 0, true).error());
  EXPECT_TRUE(fs_->dax_fault(ino, 0, false).ok());
  ASSERT_TRUE(fs_->set_read_only(false).ok());
}

// A switch to read-only marks the pool clean: first every client mapping of
// every file a client was handed goes, so that no store follows (the next
// one is a write fault, and EROFS). Also a fault that races the switch
// either is revoked or is refused.
TEST_F(DaxFault, ASwitchToReadOnlyRevokesEveryClientMappingFirst) {
  const uint64_t mapped = file("mapped", 4 * kMiB);
  const uint64_t plain = file("plain", 4 * kMiB);
  ASSERT_EQ(EntryKind::kPmd, fs_->dax_fault(mapped, 512, true)->kind);
  ASSERT_TRUE(fs_->write(plain, 0, "abc", 3).ok());
  revoker_.taken();
  bool read_only_during = false;
  revoker_.during = [&](uint64_t, uint64_t, uint64_t) { read_only_during = fs_->read_only(); };
  ASSERT_TRUE(fs_->set_read_only(true).ok());
  revoker_.during = nullptr;
  EXPECT_EQ((std::vector<Revocation>{{mapped, 0, UINT64_MAX}}), revoker_.taken());
  EXPECT_TRUE(read_only_during) << "a write fault between the revocation and the switch would escape it";
  EXPECT_EQ(EROFS, fs_->dax_fault(mapped, 512, true).error());
  ASSERT_TRUE(fs_->set_read_only(false).ok());
}

}  // namespace
}  // namespace pmemfs::test
