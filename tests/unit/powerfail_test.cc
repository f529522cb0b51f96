// The power-fail simulator (pmemfs/powerfail.h) on its own and under a
// mounted Filesystem: only persisted cache lines survive a cut; fsync'd data
// survives, unsynced data does not, and nothing is ever garbage.
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "pmemfs/pool.h"
#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;

// A raw simulator over two plain buffers.
struct SimBuffers {
  explicit SimBuffers(uint64_t size, double evict = 0)
      : working(size, 0), durable(size, 0),
        sim(working.data(), durable.data(), size, PowerFailOptions{true, evict, 42}) {}
  std::vector<char> working, durable;
  PowerFailSim sim;
};

TEST(PowerFailSim, OnlyDrainedLinesReachTheDurableImage) {
  SimBuffers b(16 * 1024);
  std::memset(b.working.data() + 100, 'a', 10);  // stored, never flushed
  std::memset(b.working.data() + 4096, 'b', 10);
  b.sim.flush(b.working.data() + 4096, 10);  // flushed, not yet drained
  EXPECT_EQ(b.durable[4096], 0) << "a flush without a fence made data durable";
  b.sim.drain();
  EXPECT_EQ(b.durable[4096], 'b');
  EXPECT_EQ(b.durable[100], 0);
  EXPECT_EQ(b.sim.drains(), 1u);
  // The whole cache line goes, not just the flushed bytes: as a CPU writes back.
  b.working[4096 + 63] = 'c';
  b.working[4096 + 64] = 'd';
  b.sim.flush(b.working.data() + 4096, 1);
  b.sim.drain();
  EXPECT_EQ(b.durable[4096 + 63], 'c');
  EXPECT_EQ(b.durable[4096 + 64], 0);
  EXPECT_EQ(b.sim.unpersisted_lines(), (std::vector<uint64_t>{64, 4096 + 64}));
}

TEST(PowerFailSim, AThreadsFenceDrainsOnlyItsOwnFlushes) {
  SimBuffers b(8192);
  b.working[0] = 'x';
  std::thread([&] {
    b.working[128] = 'y';
    b.sim.flush(b.working.data() + 128, 1);  // never drained by this thread
  }).join();
  b.sim.flush(b.working.data(), 1);
  b.sim.drain();
  EXPECT_EQ(b.durable[0], 'x');
  EXPECT_EQ(b.durable[128], 0) << "another thread's flush was made durable by our fence";
}

TEST(PowerFailSim, NothingIsDurableAfterTheCut) {
  SimBuffers b(8192);
  b.working[0] = 'x';
  EXPECT_EQ(b.sim.cut(), 0u);
  b.sim.flush(b.working.data(), 1);
  b.sim.drain();
  EXPECT_EQ(b.durable[0], 0);
  EXPECT_TRUE(b.sim.is_cut());
}

TEST(PowerFailSim, EvictionLetsUnpersistedLinesSurviveWholeOrNotAtAll) {
  SimBuffers b(64 * 1024, 0.5);
  for (size_t i = 0; i < b.working.size(); ++i) b.working[i] = static_cast<char>(1 + i % 250);
  const uint64_t survived = b.sim.cut();
  // 1024 lines at P = 0.5: far from none and far from all.
  EXPECT_GT(survived, 300u);
  EXPECT_LT(survived, 724u);
  uint64_t whole = 0;
  for (uint64_t line = 0; line < b.working.size(); line += kCacheLine) {
    const bool same = std::memcmp(&b.working[line], &b.durable[line], kCacheLine) == 0;
    const bool zero = std::all_of(&b.durable[line], &b.durable[line + kCacheLine],
                                  [](char c) { return c == 0; });
    EXPECT_TRUE(same || zero) << "line " << line << " is torn";
    whole += same;
  }
  EXPECT_EQ(whole, survived);
}

// ---- through the filesystem -------------------------------------------------

std::unique_ptr<Filesystem> mount_simulated(const TempPool& pool, double evict = 0) {
  MountOptions mo;
  mo.source = pool.path();
  mo.powerfail = PowerFailOptions{true, evict, 7};
  auto fs = Filesystem::mount(mo);
  EXPECT_TRUE(fs.ok()) << fs.error();
  return fs.ok() ? std::move(*fs) : nullptr;
}

std::string read_all(Filesystem& fs, uint64_t ino) {
  auto a = fs.getattr(ino);
  if (!a.ok()) return "<getattr failed>";
  std::string s(a->size, '\0');
  auto n = fs.read(ino, 0, s.size(), s.data());
  return n.ok() ? s.substr(0, *n) : "<read failed>";
}

TEST(PowerFailFs, FsyncedDataAndSizeSurviveUnsyncedDataDoesNot) {
  TempPool pool(64 * kMiB);
  uint64_t synced = 0, unsynced = 0;
  {
    auto fs = mount_simulated(pool);
    ASSERT_TRUE(fs);
    synced = fs->mknod(kRoot, "synced", S_IFREG | 0644, 0, root_caller())->ino;
    ASSERT_TRUE(fs->write(synced, 0, std::string(10000, 's').data(), 10000).ok());
    ASSERT_TRUE(fs->fsync(synced, false).ok());
    // Overwrite part of it again without syncing: old or new, never garbage.
    ASSERT_TRUE(fs->write(synced, 0, std::string(100, 'n').data(), 100).ok());
    unsynced = fs->mknod(kRoot, "unsynced", S_IFREG | 0644, 0, root_caller())->ino;
    ASSERT_TRUE(fs->write(unsynced, 0, std::string(5000, 'u').data(), 5000).ok());
    ASSERT_TRUE(fs->power_cut().ok());
  }  // the destructor's unmount changes only the lost working copy
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto a = fs->lookup(kRoot, "synced");
  ASSERT_TRUE(a.ok());
  const std::string s = read_all(*fs, a->ino);
  ASSERT_EQ(s.size(), 10000u);
  for (size_t i = 0; i < s.size(); ++i) {
    ASSERT_TRUE(s[i] == 's' || (i < 100 && s[i] == 'n')) << "byte " << i << " is " << int(s[i]);
  }
  // The create committed through the journal (durable at return); the data
  // was never synced: a size of 0..5000 with only 'u' or zeros.
  auto u = fs->lookup(kRoot, "unsynced");
  ASSERT_TRUE(u.ok());
  for (char c : read_all(*fs, u->ino)) ASSERT_TRUE(c == 'u' || c == 0);
}

TEST(PowerFailFs, ACleanUnmountUnderSimulationLosesNothing) {
  // Every byte the filesystem needs must have been persisted by unmount: a
  // store it forgot to persist shows up here as lost data.
  TempPool pool(64 * kMiB);
  {
    auto fs = mount_simulated(pool);
    ASSERT_TRUE(fs);
    auto d = fs->mkdir(kRoot, "d", 0755, root_caller());
    ASSERT_TRUE(d.ok());
    auto f = fs->mknod(d->ino, "f", S_IFREG | 0600, 0, root_caller());
    ASSERT_TRUE(f.ok());
    ASSERT_TRUE(fs->write(f->ino, 0, std::string(3 * kMiB, 'z').data(), 3 * kMiB).ok());
    ASSERT_TRUE(fs->setxattr(f->ino, "user.k", "v", 0).ok());
    ASSERT_TRUE(fs->unmount().ok());
  }
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto d = fs->lookup(kRoot, "d");
  ASSERT_TRUE(d.ok());
  auto f = fs->lookup(d->ino, "f");
  ASSERT_TRUE(f.ok());
  EXPECT_EQ(read_all(*fs, f->ino), std::string(3 * kMiB, 'z'));
  EXPECT_EQ(*fs->getxattr(f->ino, "user.k"), "v");
}

TEST(PowerFailFs, UnpersistedLinesAreExactlyTheStoredButUnsyncedOnes) {
  // The pool file's working copy is a private mapping: the scan looks only
  // at pages copied on write, and must still find every unsynced line.
  TempPool pool(64 * kMiB);
  auto fs = mount_simulated(pool);
  ASSERT_TRUE(fs);
  PowerFailSim* sim = TempPool::impl(*fs).pool().powerfail();
  ASSERT_NE(sim, nullptr);
  auto f = fs->mknod(kRoot, "f", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(f.ok());
  EXPECT_TRUE(sim->unpersisted_lines().empty()) << "a metadata operation left lines unpersisted";
  // A write is durable when it returns, as DAX write(2) is: sync(2) through
  // the mount relies on it (the kernel only writes its pages back).
  ASSERT_TRUE(fs->write(f->ino, 0, std::string(10000, 'd').data(), 10000).ok());
  EXPECT_TRUE(sim->unpersisted_lines().empty()) << "a write left lines unpersisted";
  ASSERT_TRUE(fs->write(f->ino, 3 * kMiB, std::string(3 * kMiB, 'e').data(), 3 * kMiB).ok());
  EXPECT_TRUE(sim->unpersisted_lines().empty()) << "an allocating write left lines unpersisted";
  ASSERT_TRUE(fs->fsync(f->ino, false).ok());
  EXPECT_TRUE(sim->unpersisted_lines().empty()) << "fsync left lines unpersisted";
}

TEST(PowerFailFs, PowerCutWithoutSimulationIsRefused) {
  TempPool pool(64 * kMiB);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto r = fs->power_cut();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error(), EINVAL);
}

}  // namespace
}  // namespace pmemfs::test
