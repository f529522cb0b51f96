// Helpers for unit tests: a formatted pool file in /dev/shm and a mounted
// Filesystem on it, removed when the test ends.
#pragma once

#include <memory>
#include <string>

#include "pmemfs/filesystem.h"
#include "pmemfs/fs_impl.h"

namespace pmemfs::test {

class TempPool {
 public:
  explicit TempPool(uint64_t size, uint64_t bytes_per_inode = 0);
  ~TempPool();
  const std::string& path() const { return path_; }
  std::unique_ptr<Filesystem> mount() const;
  static FsImpl& impl(Filesystem& fs) { return static_cast<FsImpl&>(fs); }

 private:
  std::string path_;
};

// Root with its capabilities: sees every xattr name.
inline Caller root_caller() { return Caller{0, 0, 022, true}; }

}  // namespace pmemfs::test
