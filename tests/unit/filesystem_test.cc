// The Filesystem class end to end, in process.
#include <dirent.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/xattr.h>

#include <map>
#include <random>
#include <set>

#include <gtest/gtest.h>

#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;

TEST(Filesystem, CreateWriteReadBack) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  auto a = fs->mknod(kRoot, "file", S_IFREG | 0644, 0, root_caller());
  ASSERT_TRUE(a.ok()) << a.error();
  EXPECT_EQ(a->mode, S_IFREG | 0644u);
  std::string data(10000, 'x');
  ASSERT_EQ(*fs->write(a->ino, 100, data.data(), data.size()), data.size());
  std::string back(20000, '?');
  auto n = fs->read(a->ino, 0, back.size(), back.data());
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, 10100u);
  EXPECT_EQ(back.substr(0, 100), std::string(100, '\0'));
  EXPECT_EQ(back.substr(100, 10000), data);
  EXPECT_EQ(fs->getattr(a->ino)->size, 10100u);
}

}  // namespace
}  // namespace pmemfs::test
