// Extended attributes, including the virtual control attributes of
// control.h, with the syscalls' size-probe and ERANGE contract.
#include "fuse/ops_internal.h"

#include <linux/capability.h>
#include <sys/stat.h>

#include <cstdio>
#include <string>

#include "dax/protocol.h"
#include "fuse/control.h"
#include "fuse/dax_server.h"
#include "fuse/remount.h"

namespace pmemfs::daemon {
namespace {

// dax/protocol.h's kDaxXattr: where a client process finds the daemon, or
// "off" and why there is no direct access. Regular files only.
Result<std::string> dax_xattr(OpsContext& c, uint64_t ino) {
  auto a = c.fs->getattr(ino);
  if (!a) return err(a.error());
  if (!S_ISREG(a->mode)) return err(ENODATA);
  if (!c.dax) return "off\n" + c.dax_off + "\n";
  return c.dax->xattr_value();
}

// Whether the thread that sent a request (FUSE gives its tid, as seen from
// the daemon's pid namespace; 0 when it has none there) holds CAP_SYS_ADMIN
// as the kernel's capable() means it: in its effective set, and in the
// daemon's user namespace rather than in a child namespace it created. When
// that cannot be told (the thread is gone), it does not.
bool has_cap_sys_admin(pid_t tid) {
  if (tid <= 0) return false;
  const std::string proc = "/proc/" + std::to_string(tid);
  struct stat theirs {}, ours {};
  // Unreadable (a daemon not run by root may not inspect others' namespaces):
  // the capability sets alone decide.
  if (stat((proc + "/ns/user").c_str(), &theirs) == 0 && stat("/proc/self/ns/user", &ours) == 0 &&
      (theirs.st_ino != ours.st_ino || theirs.st_dev != ours.st_dev))
    return false;
  FILE* f = std::fopen((proc + "/status").c_str(), "re");
  if (!f) return false;
  char line[256];
  unsigned long long eff = 0;
  bool found = false;
  while (!found && std::fgets(line, sizeof line, f))
    found = std::sscanf(line, "CapEff: %llx", &eff) == 1;
  std::fclose(f);
  return found && (eff >> CAP_SYS_ADMIN & 1);
}

// Answers a getxattr/listxattr value the way the syscalls define it: size 0
// asks for the length, a too small buffer is ERANGE.
void reply_xattr_value(fuse_req_t req, int err, const std::string& value, size_t size) {
  if (err) fuse_reply_err(req, err);
  else if (size == 0) fuse_reply_xattr(req, value.size());
  else if (value.size() > size) fuse_reply_err(req, ERANGE);
  else fuse_reply_buf(req, value.data(), value.size());
}

void pm_setxattr(fuse_req_t req, fuse_ino_t ino, const char* name, const char* value, size_t size,
                 int flags) noexcept {
  int err = guarded("setxattr", [&] {
    const fuse_ctx* who = fuse_req_ctx(req);
    if (auto e = control_setxattr(ctx(req), ino, name, who->uid, who->pid)) return *e;
    return fs(req).setxattr(ino, name, std::string_view(value, size), flags).error();
  });
  reply_status(req, err);
}

void pm_getxattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size) noexcept {
  if (std::string_view(name).starts_with(kRemountPrefix)) {
    remount_getxattr(req, ino, name, size);  // replies, perhaps later
    return;
  }
  std::string value;
  int err = guarded("getxattr", [&] {
    if (name == std::string_view(dax::kDaxXattr)) {
      auto r = dax_xattr(ctx(req), ino);
      if (!r) return r.error();
      value = std::move(*r);
      return 0;
    }
    auto r = control_getxattr(ctx(req), ino, name);
    if (!r) r = fs(req).getxattr(ino, name);
    if (!*r) return r->error();
    value = std::move(**r);
    return 0;
  });
  reply_xattr_value(req, err, value, size);
}

void pm_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size) noexcept {
  std::string names;
  int err = guarded("listxattr", [&] {
    const fuse_ctx* fc = fuse_req_ctx(req);
    const Caller who{fc->uid, fc->gid, fc->umask, has_cap_sys_admin(fc->pid)};
    auto r = fs(req).listxattr(ino, who);
    if (!r) return r.error();
    for (const std::string& n : *r) {
      if (is_control_xattr(n)) continue;
      names += n;
      names += '\0';
    }
    return 0;
  });
  reply_xattr_value(req, err, names, size);
}

void pm_removexattr(fuse_req_t req, fuse_ino_t ino, const char* name) noexcept {
  int err = guarded("removexattr", [&] {
    if (is_control_xattr(name)) return EPERM;
    return fs(req).removexattr(ino, name).error();
  });
  reply_status(req, err);
}

}  // namespace

void add_xattr_ops(fuse_lowlevel_ops& o) {
  o.setxattr = pm_setxattr;
  o.getxattr = pm_getxattr;
  o.listxattr = pm_listxattr;
  o.removexattr = pm_removexattr;
}

}  // namespace pmemfs::daemon
