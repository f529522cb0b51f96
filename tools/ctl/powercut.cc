#include "powercut.h"

#include <poll.h>
#include <sys/mount.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "control_xattr.h"

namespace pmemfs::ctl {
namespace {

constexpr const char* kPowerFailXattr = "user.pmemfs.powerfail";
constexpr const char* kPowerCutXattr = "user.pmemfs.powercut";
constexpr const char* kFuseConnections = "/sys/fs/fuse/connections";
constexpr long kFusectlMagic = 0x65735543;  // FUSECTL_SUPER_MAGIC

std::string error_text(const std::string& what) { return what + ": " + std::strerror(errno); }

// systemd mounts the FUSE control filesystem at boot; a container or a
// minimal system may not have.
bool ensure_fusectl(std::string* error) {
  struct statfs sfs {};
  if (statfs(kFuseConnections, &sfs) == 0 && sfs.f_type == kFusectlMagic) return true;
  if (mount("fusectl", kFuseConnections, "fusectl", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) == 0)
    return true;
  *error = error_text(std::string("cannot mount fusectl on ") + kFuseConnections) +
           (errno == EPERM ? " (mount it, or run powercut as root)" : "");
  return false;
}

// glibc 2.36 declares pidfd_open without C linkage for C++; the system call
// is all there is to it.
int open_pidfd(pid_t pid) { return static_cast<int>(syscall(SYS_pidfd_open, pid, 0)); }

bool wait_for_exit(int pidfd, int timeout_ms) {
  pollfd p{pidfd, POLLIN, 0};
  for (;;) {
    int n = poll(&p, 1, timeout_ms);  // a pidfd is readable once the process has exited
    if (n > 0) return true;
    if (n == 0 || errno != EINTR) return false;
  }
}

// The bound on the daemon's exit for a mount of mnt (see powercut.h).
int exit_timeout_ms(const std::string& mnt, double evict_probability) {
  struct statvfs sv {};
  if (evict_probability <= 0 || statvfs(mnt.c_str(), &sv) != 0) return kDaemonExitTimeoutMs;
  const double gib = static_cast<double>(sv.f_blocks) * static_cast<double>(sv.f_frsize) /
                     static_cast<double>(1ull << 30);
  return kDaemonExitTimeoutMs + static_cast<int>(std::min(gib, 10'000.0) * kEvictionTimeoutMsPerGiB);
}

struct PidFd {
  int fd;
  ~PidFd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

int powercut(const std::string& mountpoint) {
  char real[PATH_MAX];
  if (!realpath(mountpoint.c_str(), real)) return fail(error_text(mountpoint));
  const std::string mnt = real;

  // 1. Only the root carries the attribute, so a path inside the mount is
  // refused as well as one outside.
  std::string state;
  if (!read_control(mnt, kPowerFailXattr, /*root_only=*/true, &state)) return 1;
  bool simulated = false;
  uint64_t pid = 0;
  double evict = 0;
  const std::string what = std::string(kPowerFailXattr) + " of " + mnt;
  DaemonJson j;
  if (!parse_daemon_json(state, what, &j) || !json_member(j, "powerfail_sim", what, &simulated) ||
      !json_member(j, "pid", what, &pid) || !json_member(j, "evict_probability", what, &evict))
    return 1;
  if (pid == 0 || pid > INT_MAX) {
    unexpected(what, "\"pid\" is " + std::to_string(pid));
    return 1;
  }
  if (!simulated)
    return fail(mnt + " is not mounted with -o powerfail_sim: there is no simulated power to "
                "cut (nothing was changed)");
  const PidFd daemon{open_pidfd(static_cast<pid_t>(pid))};
  if (daemon.fd < 0)
    return fail(error_text("cannot watch the daemon (pid " + std::to_string(pid) + ")") +
                " (nothing was changed)");

  const int timeout_ms = exit_timeout_ms(mnt, evict);  // while the mount still answers

  // 2.
  std::string error;
  if (!ensure_fusectl(&error)) return fail(error + " (nothing was changed)");

  // 3.
  if (setxattr(mnt.c_str(), kPowerCutXattr, "1", 1, 0) != 0 && errno != ECONNABORTED &&
      errno != ENOTCONN) {
    if (errno == EPERM)
      return fail(mnt + ": only root or the user who mounted it may cut its power "
                  "(nothing was changed)");
    if (errno == EINVAL)
      return fail(mnt + " is not mounted with -o powerfail_sim (nothing was changed)");
    return fail(error_text("the daemon of " + mnt + " could not abort its FUSE connection") +
                " (nothing was changed)");
  }
  // 4. From here on the pool file no longer changes, whatever else fails.
  if (umount2(mnt.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL)
    return fail(error_text("the power is cut, but detaching " + mnt + " failed"));
  // 5.
  if (!wait_for_exit(daemon.fd, timeout_ms))
    return fail("the power is cut and " + mnt + " is detached, but its daemon (pid " +
                std::to_string(pid) + ") has not exited after " +
                std::to_string(timeout_ms / 1000) + " s");
  std::printf("power cut: %s is detached and its daemon (pid %llu) has exited; mount the pool "
              "again to see what survived\n",
              mnt.c_str(), static_cast<unsigned long long>(pid));
  return 0;
}

}  // namespace pmemfs::ctl
