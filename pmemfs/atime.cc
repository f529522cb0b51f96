// Access times: the relatime/strictatime/noatime/nodiratime policy, applied
// by reads and directory listings in memory only (Inode::pending_atime).
#include <sys/stat.h>

#include "pmemfs/fs_impl.h"

namespace pmemfs {
namespace {

constexpr int64_t kDayNs = int64_t{86400} * 1000000000;

// The kernel's relatime_need_update and atime_needs_update, on nanoseconds.
bool due(const AtimeOptions& o, bool is_dir, int64_t atime, int64_t mtime, int64_t ctime,
         int64_t now) {
  if (o.mode == AtimeMode::kNever || (is_dir && !o.dirs)) return false;
  if (o.mode == AtimeMode::kStrict) return atime != now;
  return atime <= mtime || atime <= ctime || now - atime >= kDayNs;
}

int64_t ns(const timespec& t) { return int64_t{t.tv_sec} * 1000000000 + t.tv_nsec; }

uint32_t pack(const AtimeOptions& o) {
  return static_cast<uint32_t>(o.mode) | (o.dirs ? 0x100u : 0u);
}
AtimeOptions unpack(uint32_t v) {
  return AtimeOptions{static_cast<AtimeMode>(v & 0xff), (v & 0x100u) != 0};
}

}  // namespace

bool atime_update_due(const AtimeOptions& o, const Attr& a, int64_t now) {
  return due(o, S_ISDIR(a.mode), ns(a.atime), ns(a.mtime), ns(a.ctime), now);
}

void FsImpl::set_atime(const AtimeOptions& o) { atime_.store(pack(o)); }

AtimeOptions FsImpl::atime() const { return unpack(atime_.load()); }

bool Filesystem::atime_due(uint64_t ino) {
  if (read_only()) return false;
  auto a = getattr(ino);
  return a.ok() && atime_update_due(atime(), *a, now_ns());
}

void FsImpl::touch_atime(Inode& f) {
  // Read-only: nothing is written, not even later (ext4 and the kernel's
  // touch_atime do the same on a read-only mount).
  if (read_only_.load(std::memory_order_relaxed)) return;
  const int64_t pending_m = f.pending_mtime();
  const int64_t pending_a = f.pending_atime();
  const int64_t last = pending_a != 0 ? pending_a : f.rec.atime_ns;
  const int64_t mtime = std::max(f.rec.mtime_ns, pending_m);
  const int64_t ctime = std::max(f.rec.ctime_ns, pending_m);
  const int64_t now = now_ns();
  if (due(atime(), f.is_dir(), last, mtime, ctime, now))
    f.extra().pending_atime.store(now, std::memory_order_relaxed);
}

}  // namespace pmemfs
