#include "test_pool.h"

#include <unistd.h>

#include <atomic>

#include <gtest/gtest.h>

namespace pmemfs::test {

TempPool::TempPool(uint64_t size, uint64_t bytes_per_inode) {
  static std::atomic<int> counter{0};
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  path_ = std::string(dir) + "/pmemfs-unit-" + std::to_string(getpid()) + "-" +
          std::to_string(counter++) + ".pool";
  FormatOptions o;
  o.source = path_;
  o.size = size;
  o.bytes_per_inode = bytes_per_inode;
  auto r = Filesystem::format(o);
  EXPECT_TRUE(r.ok()) << "format failed: " << r.error();
}

TempPool::~TempPool() { unlink(path_.c_str()); }

std::unique_ptr<Filesystem> TempPool::mount() const {
  MountOptions o;
  o.source = path_;
  auto fs = Filesystem::mount(o);
  EXPECT_TRUE(fs.ok()) << "mount failed: " << fs.error();
  return fs.ok() ? std::move(*fs) : nullptr;
}

}  // namespace pmemfs::test
