// Promises about durability and errors that real programs found broken
// (issue "Every promise kept"), each through a real mount with
// -o powerfail_sim, a power cut and recovery, in every cache mode:
//  - fsync after a truncate or a hole punch keeps every earlier write
//    (SQLite's WAL checkpoint: write pages, truncate to the same size, fsync);
//  - sync(2) and syncfs(2) make written data durable;
//  - write(2) itself reports ENOSPC and EFBIG in the default mode, and no
//    write that returned success is lost.
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/statvfs.h>

#include <cstring>
#include <functional>
#include <string>
#include <utility>

#include "fuse/exit_status.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

int pwrite_all(int fd, const std::string& data, off_t off) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = pwrite(fd, data.data() + done, data.size() - done, off + static_cast<off_t>(done));
    if (n < 0) return errno;
    done += static_cast<size_t>(n);
  }
  return 0;
}

// The first offset at which got and want differ, or npos.
size_t first_difference(const std::string& got, const std::string& want) {
  const size_t n = std::min(got.size(), want.size());
  for (size_t i = 0; i < n; ++i)
    if (got[i] != want[i]) return i;
  return got.size() == want.size() ? std::string::npos : n;
}

std::string describe_difference(const std::string& got, const std::string& want) {
  const size_t at = first_difference(got, want);
  if (at == std::string::npos) return "identical";
  std::string s = "sizes " + std::to_string(got.size()) + " and " + std::to_string(want.size()) +
                  ", first difference at byte " + std::to_string(at);
  size_t differ = 0;
  for (size_t i = at; i < std::min(got.size(), want.size()); ++i) differ += got[i] != want[i];
  return s + " (" + std::to_string(differ) + " bytes differ)";
}

struct Mode {
  const char* name;
  const char* options;
};

void PrintTo(const Mode& m, std::ostream* os) { *os << m.options; }

const Mode kModes[] = {
    {"Default", "powerfail_sim"},
    {"Writeback", "powerfail_sim,cache=writeback"},
    {"Writethrough", "powerfail_sim,cache=writethrough"},
    {"NoCache", "powerfail_sim,cache=none"},
    {"WritethroughHalfEvicted", "powerfail_sim,cache=writethrough,powerfail_evict=0.5"},
    {"WritebackHalfEvicted", "powerfail_sim,cache=writeback,powerfail_evict=0.5"},
};

class DurabilityTest : public MountTest, public ::testing::WithParamInterface<Mode> {
 protected:
  std::string mount_options() const override { return GetParam().options; }
  uint64_t pool_size() const override { return 128 * kMiB; }

  ::testing::AssertionResult cut_and_recover() {
    auto r = run({ctl_path(), "powercut", fs_->mnt()});
    if (r.status != 0)
      return ::testing::AssertionFailure() << "powercut exited " << r.status << ": " << r.output;
    const int st = fs_->wait_daemon(5000);
    if (st != daemon::kExitPowerCut)
      return ::testing::AssertionFailure() << "daemon exit status " << st << "; log:\n"
                                           << fs_->daemon_log();
    return fs_->mount(GetParam().options);
  }

  void expect_clean_fsck() {
    ASSERT_EQ(0, fs_->unmount()) << fs_->daemon_log();
    auto r = run({fsck_path(), "-n", fs_->pool()});
    EXPECT_EQ(0, r.status) << r.output;
  }

  // A synced A, then B written over it (never synced by itself), then
  // `change` (a truncate or punch), then fsync: the file must read as
  // `want` after a cut, whatever the cache mode.
  void expect_second_fsync_keeps_everything(size_t size, const std::function<int(int)>& change,
                                            const std::string& want) {
    {
      Fd fd(open(p("f").c_str(), O_RDWR | O_CREAT, 0644));
      ASSERT_GE(fd, 0);
      ASSERT_EQ(0, pwrite_all(fd, std::string(size, 'A'), 0));
      ASSERT_EQ(0, fsync(fd));
      ASSERT_EQ(0, pwrite_all(fd, std::string(size, 'B'), 0));
      ASSERT_EQ(0, change(fd)) << strerror(errno);
      ASSERT_EQ(0, fsync(fd));
      ASSERT_TRUE(cut_and_recover());
    }
    const std::string got = read_file(p("f"));
    EXPECT_TRUE(got == want) << "after fsync: " << describe_difference(got, want);
    expect_clean_fsck();
  }
};

TEST_P(DurabilityTest, FsyncAfterTruncateToTheSameSizeKeepsEarlierWrites) {
  constexpr size_t kSize = 3 * kMiB;  // one 2 MiB extent and 4 KiB blocks
  expect_second_fsync_keeps_everything(
      kSize, [](int fd) { return ftruncate(fd, kSize); }, std::string(kSize, 'B'));
}

TEST_P(DurabilityTest, FsyncAfterAShrinkingTruncateKeepsEarlierWrites) {
  constexpr size_t kSize = 3 * kMiB, kKept = kMiB + 5000;  // cut inside the 2 MiB extent
  expect_second_fsync_keeps_everything(
      kSize, [](int fd) { return ftruncate(fd, kKept); }, std::string(kKept, 'B'));
}

TEST_P(DurabilityTest, FsyncAfterPunchingOnePageKeepsTheRestOfTheExtent) {
  constexpr size_t kSize = 4 * kMiB, kPunched = kMiB;
  std::string want(kSize, 'B');
  want.replace(kPunched, 4096, 4096, '\0');
  expect_second_fsync_keeps_everything(
      kSize,
      [](int fd) { return fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kPunched, 4096); },
      want);
}

// sync(2) and syncfs(2) reach the daemon only as the kernel's write-back,
// which it does not always wait to see answered (pmemfs.8): their promise
// is for data written with write(2) in the modes where the daemon has it
// when write(2) returns. With the writeback cache, fsync is the promise.
class SyncDurabilityTest : public DurabilityTest {};

TEST_P(SyncDurabilityTest, SyncfsMakesWrittenDataDurable) {
  const std::string data = pattern(3 * kMiB, 21);
  {
    Fd fd(open(p("f").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, pwrite_all(fd, data, 0));
    ASSERT_EQ(0, syncfs(fd));  // what `sync -f FILE` does
    ASSERT_TRUE(cut_and_recover());
  }
  const std::string got = read_file(p("f"));
  EXPECT_TRUE(got == data) << "after syncfs: " << describe_difference(got, data);
  expect_clean_fsck();
}

TEST_P(SyncDurabilityTest, TheSyncCommandMakesWrittenDataDurable) {
  const std::string data = pattern(3 * kMiB + 777, 22);
  {
    Fd fd(open(p("f").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, pwrite_all(fd, data, 0));
    auto r = run({"sync"});  // sync(2): every filesystem, as a user types it
    ASSERT_EQ(0, r.status) << r.output;
    ASSERT_TRUE(cut_and_recover());
  }
  const std::string got = read_file(p("f"));
  EXPECT_TRUE(got == data) << "after sync: " << describe_difference(got, data);
  expect_clean_fsck();
}

TEST_P(DurabilityTest, StoresThroughASharedMappingAreDurableAfterMsync) {
  constexpr size_t kSize = 3 * kMiB;
  const std::string data = pattern(kSize, 23);
  {
    Fd fd(open(p("mapped").c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, ftruncate(fd, kSize));
    void* m = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (std::string(GetParam().options).find("cache=none") != std::string::npos) {
      // pmemfs.8: cache=none has no shared mappings; they are refused.
      EXPECT_EQ(MAP_FAILED, m);
      EXPECT_EQ(ENODEV, errno) << strerror(errno);
      return;
    }
    ASSERT_NE(MAP_FAILED, m);
    std::memcpy(m, data.data(), kSize);
    ASSERT_EQ(0, msync(m, kSize, MS_SYNC));
    ASSERT_TRUE(cut_and_recover());
    munmap(m, kSize);
  }
  const std::string got = read_file(p("mapped"));
  EXPECT_TRUE(got == data) << "after msync: " << describe_difference(got, data);
  expect_clean_fsck();
}

TEST_P(DurabilityTest, SyncFileRangeMakesTheRangeDurable) {
  const std::string data = pattern(2 * kMiB + 4096 * 3, 24);
  {
    Fd fd(open(p("f").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, pwrite_all(fd, data, 0));
    ASSERT_EQ(0, sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER));
    ASSERT_TRUE(cut_and_recover());
  }
  const std::string got = read_file(p("f"));
  EXPECT_TRUE(got == data) << "after sync_file_range: " << describe_difference(got, data);
  expect_clean_fsck();
}

const Mode kSyncModes[] = {
    {"Default", "powerfail_sim"},
    {"NoCache", "powerfail_sim,cache=none"},
    {"WritethroughHalfEvicted", "powerfail_sim,cache=writethrough,powerfail_evict=0.5"},
};
// An O_DIRECT write goes past the kernel's cache in every mode (a direct-I/O
// file handle: pmemfs.8, O_DIRECT), so it is durable when it returns, with
// no fsync; and stores through a shared mapping of the same O_DIRECT file
// are durable after msync(MS_SYNC), where shared mappings exist.
TEST_P(DurabilityTest, ODirectWritesAreDurableWhenTheyReturn) {
  constexpr size_t kSize = 2 * kMiB + 3 * 4096;
  const std::string data = pattern(kSize, 31);
  const bool mappable = std::string(GetParam().options).find("cache=none") == std::string::npos;
  {
    Fd fd(open(p("direct").c_str(), O_RDWR | O_CREAT | O_DIRECT, 0644));
    ASSERT_GE(fd, 0) << strerror(errno);
    void* buf = nullptr;
    ASSERT_EQ(0, posix_memalign(&buf, 4096, kSize));
    std::memcpy(buf, data.data(), kSize);
    ASSERT_EQ(static_cast<ssize_t>(kSize), pwrite(fd, buf, kSize, 0)) << strerror(errno);
    free(buf);
    if (mappable) {
      void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
      ASSERT_NE(MAP_FAILED, m) << strerror(errno);
      std::memset(m, 'M', 100);
      ASSERT_EQ(0, msync(m, 4096, MS_SYNC));
      munmap(m, 4096);
    }
    ASSERT_TRUE(cut_and_recover());
  }
  std::string want = data;
  if (mappable) want.replace(0, 100, std::string(100, 'M'));
  const std::string got = read_file(p("direct"));
  EXPECT_TRUE(got == want) << "after O_DIRECT writes: " << describe_difference(got, want);
  expect_clean_fsck();
}

INSTANTIATE_TEST_SUITE_P(CacheModes, SyncDurabilityTest, ::testing::ValuesIn(kSyncModes),
                         [](const ::testing::TestParamInfo<Mode>& info) { return info.param.name; });

INSTANTIATE_TEST_SUITE_P(CacheModes, DurabilityTest, ::testing::ValuesIn(kModes),
                         [](const ::testing::TestParamInfo<Mode>& info) { return info.param.name; });

// ---- errors come from write(2) itself -----------------------------------------

class WriteErrorTest : public MountTest, public ::testing::WithParamInterface<Mode> {
 protected:
  std::string mount_options() const override { return GetParam().options; }
  uint64_t pool_size() const override { return 64 * kMiB; }
};

// ext4 returns ENOSPC from write(2); so must the default mode, and no write
// that returned success may be lost: after the ENOSPC, fsync succeeds and
// every acknowledged byte is there, also after a remount.
TEST_P(WriteErrorTest, ANearlyFullPoolSaysENOSPCFromWriteAndKeepsWhatItAccepted) {
  constexpr size_t kChunk = kMiB, kTries = 201;
  uint64_t accepted = 0;
  int write_error = 0;
  {
    Fd fd(open(p("big").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    for (size_t i = 0; i < kTries && write_error == 0; ++i) {
      const std::string chunk = pattern(kChunk, static_cast<uint32_t>(i));
      ssize_t n = pwrite(fd, chunk.data(), chunk.size(), static_cast<off_t>(accepted));
      if (n < 0) write_error = errno;
      else accepted += static_cast<uint64_t>(n);
      if (n >= 0 && static_cast<size_t>(n) < kChunk) break;  // a short write: the pool is full
    }
    if (write_error == 0) {
      // A short write; the next one must say why.
      ssize_t n = pwrite(fd, "x", 1, static_cast<off_t>(accepted));
      write_error = n < 0 ? errno : 0;
    }
    EXPECT_EQ(ENOSPC, write_error) << "write(2) never said ENOSPC; accepted " << accepted;
    EXPECT_LT(accepted, 64 * kMiB);
    EXPECT_EQ(0, fsync(fd)) << "fsync after the acknowledged writes: " << strerror(errno);
  }
  ASSERT_TRUE(fs_->remount());
  const std::string got = read_file(p("big"));
  ASSERT_EQ(accepted, got.size());
  std::string want;
  for (size_t i = 0; want.size() < accepted; ++i) want += pattern(kChunk, static_cast<uint32_t>(i));
  want.resize(accepted);
  EXPECT_TRUE(got == want) << describe_difference(got, want);
}

TEST_P(WriteErrorTest, AWritePastTheMaximumFileSizeSaysEFBIGFromWrite) {
  Fd fd(open(p("f").c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  errno = 0;
  EXPECT_EQ(-1, pwrite(fd, "x", 1, off_t{1} << 52));
  EXPECT_EQ(EFBIG, errno) << strerror(errno);
  EXPECT_EQ(0, close(std::exchange(fd.fd, -1))) << strerror(errno);
  struct stat st {};
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(0, st.st_size);
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(0, stat(p("f").c_str(), &st));
  EXPECT_EQ(0, st.st_size);
}

const Mode kErrorModes[] = {
    {"Default", ""},
    {"Writethrough", "cache=writethrough"},
    {"NoCache", "cache=none"},
};
INSTANTIATE_TEST_SUITE_P(CacheModes, WriteErrorTest, ::testing::ValuesIn(kErrorModes),
                         [](const ::testing::TestParamInfo<Mode>& info) { return info.param.name; });

// With the writeback cache the daemon sees buffered data only at writeback,
// so errors arrive at fsync and close (as on NFS), never silently: an
// fsync after overfilling the pool must fail.
TEST(WritebackErrorTest, ErrorsArriveAtFsyncWhenWriteCouldNotReportThem) {
  PMEMFS_REQUIRE_FUSE();
  MountedFs fs("cache=writeback", 64 * kMiB);
  ASSERT_TRUE(fs.ok());
  Fd fd(open(fs.path("big").c_str(), O_WRONLY | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  const std::string chunk(kMiB, 'w');
  int write_error = 0;
  for (int i = 0; i < 100 && write_error == 0; ++i)
    if (pwrite(fd, chunk.data(), chunk.size(), off_t{i} * static_cast<off_t>(kMiB)) < 0) write_error = errno;
  const int fsync_rc = fsync(fd);
  EXPECT_TRUE(write_error == ENOSPC || (fsync_rc == -1 && errno == ENOSPC))
      << "100 MiB into a 64 MiB pool: neither write nor fsync said ENOSPC";
}

}  // namespace
}  // namespace pmemfs::test
