// Small helpers shared by the mount tests: a fixture with a fresh mount per
// test, and file helpers that report errno.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "tests/mount/mounted_fs.h"

// expr fails (-1) with errno e.
#define EXPECT_ERRNO(expr, e)                                  \
  do {                                                         \
    errno = 0;                                                 \
    EXPECT_EQ(-1, (expr)) << #expr;                            \
    EXPECT_EQ((e), errno) << #expr << ": " << strerror(errno); \
  } while (0)

namespace pmemfs::test {

inline constexpr size_t kMiB = 1 << 20;

// Debian's python3, which has the modules the workloads import (sqlite3,
// lmdb), before another python3 on PATH.
inline std::string python() { return access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3"; }

// The three cache modes, for suites run in each:
//   INSTANTIATE_TEST_SUITE_P(CacheModes, T, kCacheModes, cache_mode_name);
// (the test names end in /none, /writethrough, /writeback).
inline const auto kCacheModes =
    ::testing::Values("cache=none", "cache=writethrough", "cache=writeback");
inline std::string cache_mode_name(const ::testing::TestParamInfo<const char*>& i) {
  return std::string(i.param).substr(std::string("cache=").size());
}

// Deterministic, position dependent bytes: a misplaced block shows up.
std::string pattern(size_t n, uint32_t seed);

// Whole-file helpers; errors come back as errno (0 = ok).
int write_file(const std::string& path, const std::string& data, mode_t mode = 0644);
std::string read_file(const std::string& path);

// The options field of mnt's line in /proc/self/mounts, or "".
std::string mount_options_of(const std::string& mnt);

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() { if (fd >= 0) ::close(fd); }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  operator int() const { return fd; }  // NOLINT: used like the int it wraps
};

class MountTest : public ::testing::Test {
 protected:
  void SetUp() override {
    PMEMFS_REQUIRE_FUSE();
    fs_ = std::make_unique<MountedFs>(mount_options(), pool_size(), pool_parent());
    ASSERT_TRUE(fs_->ok());
  }
  void TearDown() override { fs_.reset(); }
  virtual std::string mount_options() const { return ""; }
  virtual uint64_t pool_size() const { return MountedFs::kDefaultPoolSize; }
  virtual std::string pool_parent() const { return "/dev/shm"; }
  std::string p(const std::string& rel) const { return fs_->path(rel); }

  std::unique_ptr<MountedFs> fs_;
};

}  // namespace pmemfs::test
