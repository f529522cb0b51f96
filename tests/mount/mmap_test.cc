// Shared writable mappings: what databases and the users' own msync
// discipline tests rely on.
#include <sys/mman.h>
#include <sys/wait.h>

#include <cstring>
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr size_t kSize = (4u << 20) + 8192;  // crosses 2 MiB boundaries, ragged tail

class MmapTest : public MountTest {};

TEST_F(MmapTest, SharedMappingIsCoherentAcrossProcessesReadAndRemount) {
  const std::string path = p("mapped");
  {
    Fd fd(open(path.c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, ftruncate(fd, kSize));
  }
  const std::string first = pattern(kSize, 20);
  const std::string second = pattern(8192, 21);  // the child's write at 2 MiB - 4 KiB

  int go[2], done[2];
  ASSERT_EQ(0, pipe(go));
  ASSERT_EQ(0, pipe(done));
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // A second process with its own descriptor and mapping of the file.
    int fd = open(path.c_str(), O_RDWR);
    if (fd < 0) _exit(1);
    char* m = static_cast<char*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
    if (m == MAP_FAILED) _exit(2);
    char c;
    if (read(go[0], &c, 1) != 1) _exit(3);
    if (memcmp(m, first.data(), kSize) != 0) _exit(4);  // sees the parent's stores
    std::string viaread(kSize, '\0');
    if (pread(fd, viaread.data(), kSize, 0) != static_cast<ssize_t>(kSize)) _exit(5);
    if (viaread != first) _exit(6);
    memcpy(m + (2u << 20) - 4096, second.data(), second.size());
    if (msync(m, kSize, MS_SYNC) != 0) _exit(7);
    if (write(done[1], "d", 1) != 1) _exit(8);
    _exit(0);
  }
  Fd fd(open(path.c_str(), O_RDWR));
  ASSERT_GE(fd, 0);
  char* m = static_cast<char*>(mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(MAP_FAILED, m) << strerror(errno);
  memcpy(m, first.data(), kSize);
  ASSERT_EQ(0, msync(m, kSize, MS_SYNC));
  {
    std::string viaread(kSize, '\0');
    ASSERT_EQ(static_cast<ssize_t>(kSize), pread(fd, viaread.data(), kSize, 0));
    EXPECT_TRUE(viaread == first) << "read(2) does not see stores through the mapping";
  }
  ASSERT_EQ(1, write(go[1], "g", 1));
  char c;
  ASSERT_EQ(1, read(done[0], &c, 1)) << "child failed before finishing";
  int st = wait_exit(child, 30000);
  ASSERT_EQ(0, st) << "child step " << st << " failed";

  std::string want = first;
  want.replace((2u << 20) - 4096, second.size(), second);
  EXPECT_EQ(0, memcmp(m, want.data(), kSize)) << "the child's stores are not visible here";
  ASSERT_EQ(0, munmap(m, kSize));
  for (int f : {go[0], go[1], done[0], done[1]}) close(f);
  close(std::exchange(fd.fd, -1));

  ASSERT_TRUE(fs_->remount());
  EXPECT_TRUE(read_file(path) == want) << "content lost across umount/mount";
}

TEST_F(MmapTest, MappingBeyondEofFaultsAndFileGrowsThroughTruncate) {
  const std::string path = p("grow");
  Fd fd(open(path.c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, ftruncate(fd, 4096));
  char* m = static_cast<char*>(mmap(nullptr, 3 * 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0));
  ASSERT_NE(MAP_FAILED, m);
  strcpy(m, "first page");
  ASSERT_EQ(0, ftruncate(fd, 3 * 4096));
  strcpy(m + 2 * 4096, "third page");
  ASSERT_EQ(0, msync(m, 3 * 4096, MS_SYNC));
  munmap(m, 3 * 4096);
  std::string all = read_file(path);
  ASSERT_EQ(3u * 4096, all.size());
  EXPECT_EQ("first page", std::string(all.c_str()));
  EXPECT_EQ("third page", std::string(all.c_str() + 2 * 4096));
}

}  // namespace
}  // namespace pmemfs::test
