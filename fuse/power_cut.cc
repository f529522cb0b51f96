#include "fuse/power_cut.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace pmemfs::daemon {

int cut_power(OpsContext& c, uid_t caller, pid_t caller_pid) {
  if (!c.powerfail.enabled) return EINVAL;
  // With allow_other anyone may reach the root; pulling the plug is for the
  // one who plugged it in.
  if (caller != 0 && caller != geteuid()) return EPERM;
  if (c.fuse_connection.empty()) {
    spdlog::error("power cut refused: the FUSE connection of the mount was not found at mount time");
    return ENOTCONN;
  }
  if (c.power_cut.exchange(true)) return 0;  // already cut: nothing left to lose

  const std::string abort_path = std::string(kFuseConnections) + "/" + c.fuse_connection + "/abort";
  const int fd = ::open(abort_path.c_str(), O_WRONLY | O_CLOEXEC);
  const bool aborted = fd >= 0 && ::write(fd, "1", 1) == 1;
  const int e = errno;
  if (fd >= 0) ::close(fd);
  if (!aborted) {
    c.power_cut = false;
    spdlog::error("power cut refused: cannot abort the FUSE connection ({}): {}", abort_path,
                  strerror(e));
    return e;
  }
  spdlog::warn("power cut by pid {} (uid {}): FUSE connection {} aborted", caller_pid, caller,
               c.fuse_connection);
  if (auto r = c.fs->power_cut(); !r)  // it logs how many unpersisted lines survived
    spdlog::error("power cut: the library refused: {}", strerror(r.error()));
  return 0;
}

void sync_answered(OpsContext& c) {
  const uint64_t n = c.syncs.fetch_add(1, std::memory_order_relaxed) + 1;
  if (c.cut_after_syncs == 0 || n != c.cut_after_syncs) return;
  spdlog::warn("powerfail_cut_after={}: cutting the power after sync {}", c.cut_after_syncs, n);
  if (int e = cut_power(c, geteuid(), getpid())) spdlog::error("power cut failed: {}", strerror(e));
}

}  // namespace pmemfs::daemon
