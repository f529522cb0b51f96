// Test support for the mount suite: a fresh pool with a real pmemfs daemon
// mounted on it, always unmounted and reaped again, even when a test fails
// halfway (RAII), plus small helpers for running programs and for doing
// things as another user.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pmemfs::test {

// Skips the test when /dev/fuse is unusable or we are not root, except under
// CI (CI=true) where that is a broken runner and must fail.
#define PMEMFS_REQUIRE_FUSE()                                            \
  do {                                                                   \
    std::string why_ = ::pmemfs::test::fuse_unavailable_reason();        \
    if (!why_.empty()) {                                                 \
      if (::pmemfs::test::running_in_ci()) FAIL() << why_;               \
      GTEST_SKIP() << why_;                                              \
    }                                                                    \
  } while (0)

std::string fuse_unavailable_reason();
bool running_in_ci();

// Daemon options every MountedFs adds in front of its own (which win where
// they say otherwise): PMEMFS_TEST_MOUNT_OPTIONS, e.g. "io_uring=on" to run
// the suite over FUSE's io_uring; "" when unset.
std::string test_mount_options();

// /sys/module/fuse/parameters/enable_uring ("Y", "N"), or "" without it.
std::string enable_uring_param();
// Writes it; false when that fails.
bool set_enable_uring_param(const std::string& value);

// Paths of the built programs, handed over by meson through the environment.
std::string daemon_path();        // PMEMFS_DAEMON
std::string mount_helper_path();  // PMEMFS_MOUNT_HELPER
std::string ctl_path();           // PMEMFS_CTL
std::string fsck_path();          // PMEMFS_FSCK

struct ProcResult {
  int status = -1;  // exit code, or 128+signal
  std::string output;  // stdout and stderr, interleaved
};
// Runs argv[0] (an absolute path or a name looked up in PATH) to completion.
ProcResult run(const std::vector<std::string>& argv,
               const std::vector<std::string>& extra_env = {});

// Runs fn in a forked child with the given credentials (groups: gid plus
// extra_groups) and umask; returns fn's return value (0 = success), or
// 200+ when the child died or could not switch credentials. fn must not use
// gtest assertions (they would not reach the parent); return a code instead.
int run_as(uid_t uid, gid_t gid, const std::function<int()>& fn,
           const std::vector<gid_t>& extra_groups = {}, mode_t umask_value = 022);

// Waits up to timeout_ms for pid to exit; returns its status as in ProcResult
// or -1 on timeout.
int wait_exit(pid_t pid, int timeout_ms);

class MountedFs {
 public:
  static constexpr uint64_t kDefaultPoolSize = 256ull << 20;

  // Formats a fresh, sparse pool in /dev/shm and mounts it with the daemon in
  // the foreground (-f) and -o allow_other,<options>. Check ok() first.
  // parent: where the pool and mount point go (a tmpfs by default; a disk
  // filesystem for tests of what reaches the host's media).
  explicit MountedFs(const std::string& options = "", uint64_t pool_size = kDefaultPoolSize,
                     const std::string& parent = "/dev/shm");
  ~MountedFs();
  MountedFs(const MountedFs&) = delete;
  MountedFs& operator=(const MountedFs&) = delete;

  ::testing::AssertionResult ok() const { return setup_; }
  const std::string& dir() const { return dir_; }    // temporary directory
  const std::string& pool() const { return pool_; }
  const std::string& mnt() const { return mnt_; }
  std::string path(const std::string& rel) const { return mnt_ + "/" + rel; }
  pid_t daemon_pid() const { return pid_; }
  std::string daemon_log() const;

  // Starts the daemon (foreground) on the pool and waits until mounted;
  // with_test_options false leaves out test_mount_options().
  ::testing::AssertionResult mount(const std::string& options, bool with_test_options = true);
  // Unmounts (umount2, retrying while busy) and reaps the daemon. Returns
  // its exit status, -1 if it had to be killed.
  int unmount();
  // unmount() that must exit 0, then mount() with the same options.
  ::testing::AssertionResult remount();
  // Lets a test end the daemon itself (SIGTERM); returns the exit status.
  int terminate();
  // For a test that unmounted by itself: reaps the daemon, returns its status.
  int wait_daemon(int timeout_ms = 15000);

  bool is_mounted() const;

 private:
  std::string dir_, pool_, mnt_, log_;
  std::string options_;
  bool with_test_options_ = true;
  pid_t pid_ = -1;
  ::testing::AssertionResult setup_ = ::testing::AssertionFailure();
};

// Waits until path is a mount point distinct from its parent's file system,
// or timeout; false if pid (when > 0) exits first.
bool wait_for_mount(const std::string& path, pid_t pid, int timeout_ms);

}  // namespace pmemfs::test
