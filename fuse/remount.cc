#include "fuse/remount.h"

#include <spdlog/spdlog.h>
#include <sys/mount.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "fuse/mount_flags.h"
#include "pmemfs/json_text.h"

namespace pmemfs::daemon {
namespace {

// What a remount may change in the kernel's view of the mount.
constexpr unsigned long kAtimeBits = MS_NOATIME | MS_RELATIME | MS_STRICTATIME | MS_NODIRATIME;
constexpr unsigned long kRemountBits =
    MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_SYNCHRONOUS | MS_LAZYTIME | MS_NOSYMFOLLOW |
    kAtimeBits;

struct State {
  Filesystem* fs = nullptr;
  Options options;  // as the daemon runs now; updated by each remount
  std::mutex mu;    // one remount at a time; guards options
  std::thread worker;
  std::atomic<bool> busy{false};
};
State g_state;

const char* mode_name(AtimeMode m) {
  switch (m) {
    case AtimeMode::kRelative: return "relatime";
    case AtimeMode::kStrict: return "strictatime";
    case AtimeMode::kNever: return "noatime";
  }
  return "?";
}

std::string errors_text(const std::vector<std::string>& errors) {
  std::string out;
  for (const std::string& e : errors) out += "error: " + e + "\n";
  return out;
}

std::string apply(const std::string& list) {
  std::lock_guard<std::mutex> g(g_state.mu);
  Filesystem& fs = *g_state.fs;
  Options& o = g_state.options;
  RemountRequest r = parse_remount(list, o);
  if (!r.errors.empty()) return errors_text(r.errors);
  auto current = current_mount_flags(o.mountpoint);
  if (!current) return errors_text({o.mountpoint + " is not in /proc/self/mountinfo"});
  const unsigned long cur = *current & kRemountBits;
  unsigned long want = (cur | r.set_flags) & ~r.clear_flags;
  if (r.atime_flags) want = (want & ~kAtimeBits) | (*r.atime_flags & kAtimeBits);
  const bool want_ro = r.read_only.value_or(fs.read_only());
  want = want_ro ? want | MS_RDONLY : want & ~MS_RDONLY;
  // How the kernel reads the atime bits: compare policies, not spellings.
  const AtimeOptions atime = atime_policy(want);
  const bool atime_changes = atime.mode != atime_policy(cur).mode || atime.dirs != atime_policy(cur).dirs;
  const bool kernel_changes = (want & ~kAtimeBits) != (cur & ~kAtimeBits) || atime_changes;
  const bool to_rw = !want_ro && fs.read_only();
  const bool to_ro = want_ro && !fs.read_only();

  if (to_rw) {
    if (auto s = fs.set_read_only(false); !s)
      return errors_text({"cannot make " + o.source + " writable: " + std::strerror(s.error())});
  }
  if (kernel_changes) {
    // Without an atime word the kernel keeps the mount's atime bits.
    unsigned long flags = want;
    if (!atime_changes) flags &= ~kAtimeBits;
    if (std::string why = remount_kernel(o.mountpoint, flags); !why.empty()) {
      if (to_rw) (void)fs.set_read_only(true);
      return errors_text({"cannot remount " + o.mountpoint + ": " + why});
    }
  }
  if (to_ro) {
    // The kernel is read-only now and wrote its dirty pages back first:
    // nothing can arrive that needs writing.
    if (auto s = fs.set_read_only(true); !s)
      return errors_text({"the mount is read-only, but " + o.source + " could not be marked clean: " +
                          std::strerror(s.error())});
  }
  fs.set_atime(atime);
  o.mount_flags = (o.mount_flags & ~(kAtimeBits | MS_LAZYTIME)) | (want & (kAtimeBits | MS_LAZYTIME));
  o.read_only = want_ro;
  if (r.log_level) {
    o.log_level = *r.log_level;
    spdlog::set_level(*r.log_level);
  }
  spdlog::info("remounted {} ({}): {}, {}{}", o.mountpoint, list, want_ro ? "read-only" : "read-write",
               mode_name(atime.mode), atime.dirs ? "" : ", nodiratime");
  return json_text(Json{{"read_only", want_ro}, {"atime", mode_name(atime.mode)}, {"diratime", atime.dirs}});
}

void reply_value(fuse_req_t req, const std::string& value, size_t size) {
  if (size == 0) fuse_reply_xattr(req, value.size());
  else if (value.size() > size) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, value.data(), value.size());
}

}  // namespace

void remount_setup(Filesystem& fs, const Options& mounted) {
  g_state.fs = &fs;
  g_state.options = mounted;
}

void remount_shutdown() {
  if (g_state.worker.joinable()) g_state.worker.join();
}

void remount_getxattr(fuse_req_t req, fuse_ino_t ino, std::string_view name, size_t size) {
  if (ino != FUSE_ROOT_ID || !g_state.fs) {
    fuse_reply_err(req, ENODATA);
    return;
  }
  if (fuse_req_ctx(req)->uid != 0) {
    fuse_reply_err(req, EPERM);
    return;
  }
  if (g_state.busy.exchange(true)) {
    fuse_reply_err(req, EBUSY);  // another remount is running
    return;
  }
  if (g_state.worker.joinable()) g_state.worker.join();  // the last one, finished
  std::string list(name.substr(kRemountPrefix.size()));
  try {
    g_state.worker = std::thread([req, list, size] {
      std::string value;
      try {
        value = apply(list);
      } catch (const std::exception& e) {
        value = errors_text({std::string("remount failed: ") + e.what()});
      }
      g_state.busy = false;
      reply_value(req, value, size);
    });
  } catch (const std::exception&) {
    g_state.busy = false;
    fuse_reply_err(req, EAGAIN);
  }
}

}  // namespace pmemfs::daemon
