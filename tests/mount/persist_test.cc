// What persist=cpu and persist=msync promise about the host's media (pmemfs.8,
// "PERSISTENCE"), for a pool file on a disk filesystem: with msync every
// persist point is written back before the request is answered; with cpu
// (the default) persist points stay in the host's page cache, and unmount
// or a switch to read-only writes them back. What the page cache holds
// dirty is read with cachestat(2) (Linux 6.5), the kernel's own count.
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "tests/mount/stats_json.h"
#include "tests/mount/test_util.h"

#ifndef __NR_cachestat
#define __NR_cachestat 451
#endif

namespace pmemfs::test {
namespace {

constexpr long kTmpfsMagic = 0x01021994;

// linux/mman.h's, which Debian 12's headers predate.
struct CacheStatRange {
  uint64_t off, len;
};
struct CacheStat {
  uint64_t nr_cache, nr_dirty, nr_writeback, nr_evicted, nr_recently_evicted;
};

// Pages of path the host's page cache holds dirty or under writeback; -1
// with errno when the kernel cannot say.
long long unwritten_pages(const std::string& path) {
  Fd fd(open(path.c_str(), O_RDONLY));
  if (fd < 0) return -1;
  CacheStatRange range{0, 0};  // len 0: to the end of the file
  CacheStat cs{};
  if (syscall(__NR_cachestat, fd.fd, &range, &cs, 0) != 0) return -1;
  return static_cast<long long>(cs.nr_dirty + cs.nr_writeback);
}

std::string persistence_of(const std::string& mnt) {
  const nlohmann::json s = stats_json(mnt);
  if (!s.is_object() || !s.contains("persistence") || !s["persistence"].is_string())
    return "(no persistence in " + s.dump() + ")";
  return s["persistence"].get<std::string>();
}

class PersistTest : public MountTest {
 protected:
  // /var/tmp: on the root filesystem, a disk (not a tmpfs, whose pages are
  // never written anywhere).
  std::string pool_parent() const override { return "/var/tmp"; }
  void SetUp() override {
    struct statfs sf {};
    ASSERT_EQ(0, statfs("/var/tmp", &sf)) << strerror(errno);
    ASSERT_NE(kTmpfsMagic, static_cast<long>(sf.f_type))
        << "/var/tmp is a tmpfs: nothing there is ever written back, the test has no disk";
    MountTest::SetUp();
  }
  // 1 MiB written and fsync'd, as a program that wants it durable does.
  void write_and_fsync() {
    const std::string data = pattern(kMiB, 4);
    Fd fd(open(p("f").c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(static_cast<ssize_t>(data.size()), pwrite(fd, data.data(), data.size(), 0));
    ASSERT_EQ(0, fsync(fd));
  }
};

class PersistMsyncTest : public PersistTest {
 protected:
  std::string mount_options() const override { return "persist=msync"; }
};

TEST_F(PersistMsyncTest, EveryPersistPointReachesTheDiskBeforeTheAnswer) {
  EXPECT_EQ("msync", persistence_of(fs_->mnt()));
  ASSERT_NO_FATAL_FAILURE(write_and_fsync());
  EXPECT_EQ(0, unwritten_pages(fs_->pool())) << strerror(errno);
}

class PersistCpuTest : public PersistTest {};

TEST_F(PersistCpuTest, IsTheDefaultAndWritesBackAtUnmount) {
  EXPECT_EQ("cpu", persistence_of(fs_->mnt()));
  ASSERT_NO_FATAL_FAILURE(write_and_fsync());
  // pmem's timing: the fsync flushed cache lines into the page cache, and
  // the page cache has not written them to the disk (which is also what
  // shows that this test can tell the two apart).
  EXPECT_GT(unwritten_pages(fs_->pool()), 0) << strerror(errno);
  ASSERT_EQ(0, fs_->unmount()) << fs_->daemon_log();
  EXPECT_EQ(0, unwritten_pages(fs_->pool())) << "an unmounted pool is not yet on the disk";
}

TEST_F(PersistCpuTest, RemountReadOnlyWritesBack) {
  ASSERT_NO_FATAL_FAILURE(write_and_fsync());
  EXPECT_GT(unwritten_pages(fs_->pool()), 0) << strerror(errno);
  // As mount(8) does it: through the helper, which tells the daemon.
  auto r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-o", "remount,ro"},
               {"PMEMFS_DAEMON=" + daemon_path()});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_EQ(0, unwritten_pages(fs_->pool())) << "a read-only pool is not yet on the disk";
  EXPECT_EQ(pattern(kMiB, 4), read_file(p("f")));
}

// A pool in a tmpfs (the test suite's, and many users' emulated pmem) is
// persisted by the CPU too: msync there costs a system call and reaches
// nothing.
class PersistOnTmpfsTest : public MountTest {};

TEST_F(PersistOnTmpfsTest, IsCpu) { EXPECT_EQ("cpu", persistence_of(fs_->mnt())); }

TEST(PersistOption, AnUnknownModeIsRefusedInOneLine) {
  PMEMFS_REQUIRE_FUSE();
  auto r = run({daemon_path(), "-f", "-o", "persist=fast", "/nonexistent", "/nonexistent"});
  EXPECT_NE(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find("expected persist=cpu|msync")) << r.output;
}

}  // namespace
}  // namespace pmemfs::test
