#include "recovery.h"

#include <unistd.h>

#include <cstring>
#include <sstream>

#include "pmemfs/fs_impl.h"
#include "tools/fsck/checker.h"

namespace pmemfs::crash {

Result<std::unique_ptr<Filesystem>> mount_path(const std::string& path, bool simulate) {
  MountOptions mo;
  mo.source = path;
  mo.powerfail.enabled = simulate;
  return Filesystem::mount(mo);
}

std::string temp_pool_path(const std::string& tag) {
  static int counter = 0;
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  return std::string(dir) + "/pmemfs-crash-" + std::to_string(getpid()) + "-" +
         std::to_string(counter++) + "-" + tag + ".pool";
}

RemoveOnExit::~RemoveOnExit() { unlink(path.c_str()); }

std::string recover_and_check(Pool& live, const std::vector<uint64_t>* survivors,
                              const std::function<std::string(Filesystem&)>& inspect) {
  auto view = live.durable_view();
  if (!view.ok()) return "durable_view failed";
  if (survivors) {
    for (uint64_t l : *survivors) std::memcpy((*view)->base() + l, live.base() + l, kCacheLine);
  }
  const uint64_t size = (*view)->size();
  auto fs = FsImpl::mount_pool(std::move(*view));
  if (!fs.ok()) return "recovery mount failed: errno " + std::to_string(fs.error());
  std::string problems = inspect(**fs);
  if (Status st = (*fs)->unmount(); !st.ok())
    return problems + "unmount after recovery failed: errno " + std::to_string(st.error());
  std::ostringstream out;
  auto r = fsck::check_image((*fs)->pool().base(), size, out);
  if (r.exit_code != fsck::kExitClean)
    problems += "fsck exit " + std::to_string(r.exit_code) + ":\n" + out.str();
  return problems;
}

}  // namespace pmemfs::crash
