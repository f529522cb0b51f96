// SEEK_DATA and SEEK_HOLE through a real mount (issue 15 item 8): they name
// written data at 4 KiB granularity, not allocated extents — as ext4 and XFS
// do with unwritten extents, fallocate'd space not yet written is a hole —
// and cp --sparse=always of a sparse file keeps it sparse and identical.
#include <linux/falloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr off_t kPage = 4096;
constexpr off_t kM = 1 << 20;

class SeekTest : public MountTest {
 protected:
  // lseek's answer, or -errno.
  static off_t seek(int fd, off_t off, int whence) {
    const off_t r = lseek(fd, off, whence);
    return r < 0 ? -errno : r;
  }
  static void put(int fd, off_t off, size_t len, uint32_t seed) {
    const std::string data = pattern(len, seed);
    ASSERT_EQ(static_cast<ssize_t>(len), pwrite(fd, data.data(), len, off)) << off;
  }
};

// The case of the issue: scattered 4 KiB writes into a large hole; from the
// middle of the hole SEEK_DATA finds the first written block, not the start
// of a 2 MiB extent around it.
TEST_F(SeekTest, SeekDataFromTheMiddleOfAHoleFindsTheFirstWrittenBlock) {
  Fd fd(open(p("scattered").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, ftruncate(fd, 64 * kM));
  const std::vector<off_t> blocks = {4243456, 4243456 + 40 * kPage, 9 * kM + 3 * kPage, 33 * kM};
  for (size_t i = 0; i < blocks.size(); ++i) put(fd, blocks[i], kPage, static_cast<uint32_t>(i + 1));
  EXPECT_EQ(4243456, seek(fd, 3 * kM, SEEK_DATA));
  EXPECT_EQ(4243456, seek(fd, 0, SEEK_DATA));
  EXPECT_EQ(0, seek(fd, 0, SEEK_HOLE));
  EXPECT_EQ(4243456 + kPage, seek(fd, 4243456, SEEK_HOLE));
  EXPECT_EQ(4243456 + 40 * kPage, seek(fd, 4243456 + kPage, SEEK_DATA));
  EXPECT_EQ(9 * kM + 3 * kPage, seek(fd, 4243456 + 41 * kPage, SEEK_DATA));
  EXPECT_EQ(33 * kM, seek(fd, 9 * kM + 4 * kPage, SEEK_DATA));
  EXPECT_EQ(33 * kM + kPage, seek(fd, 33 * kM + 100, SEEK_HOLE));
  EXPECT_EQ(-ENXIO, seek(fd, 33 * kM + kPage, SEEK_DATA));
  EXPECT_EQ(60 * kM, seek(fd, 60 * kM, SEEK_HOLE));  // in a hole: where it is
  EXPECT_EQ(-ENXIO, seek(fd, 64 * kM, SEEK_HOLE));
  // Inside a written block the offset itself is the answer.
  EXPECT_EQ(4243456 + 100, seek(fd, 4243456 + 100, SEEK_DATA));
}

// A streaming writer's 2 MiB extent is written only up to where it got.
TEST_F(SeekTest, SeekHoleEndsWhereASequentialWriterGot) {
  Fd fd(open(p("stream").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, ftruncate(fd, 16 * kM));
  for (off_t off = 0; off < 2 * kM + 3 * kPage; off += 64 * 1024)
    put(fd, off, static_cast<size_t>(std::min<off_t>(64 * 1024, 2 * kM + 3 * kPage - off)), 7);
  EXPECT_EQ(0, seek(fd, 0, SEEK_DATA));
  EXPECT_EQ(2 * kM + 3 * kPage, seek(fd, 0, SEEK_HOLE));
  EXPECT_EQ(-ENXIO, seek(fd, 2 * kM + 3 * kPage, SEEK_DATA));
}

// fallocate'd space is a hole until written, as an unwritten extent on ext4:
// SEEK_DATA skips it, SEEK_HOLE stops at it. It still holds its blocks.
TEST_F(SeekTest, FallocatedSpaceIsAHoleUntilWritten) {
  Fd fd(open(p("falloc").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(0, fallocate(fd, 0, 0, 8 * kM));
  struct stat st {};
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_GE(st.st_blocks * 512, 8 * kM);
  EXPECT_EQ(-ENXIO, seek(fd, 0, SEEK_DATA));
  EXPECT_EQ(0, seek(fd, 0, SEEK_HOLE));
  put(fd, 5 * kM, kPage, 3);
  put(fd, 5 * kM + 2 * kPage, 100, 4);  // part of a block is data for all of it
  EXPECT_EQ(5 * kM, seek(fd, 0, SEEK_DATA));
  EXPECT_EQ(5 * kM + kPage, seek(fd, 5 * kM, SEEK_HOLE));
  EXPECT_EQ(5 * kM + 2 * kPage, seek(fd, 5 * kM + kPage, SEEK_DATA));
  EXPECT_EQ(5 * kM + 3 * kPage, seek(fd, 5 * kM + 2 * kPage, SEEK_HOLE));
  EXPECT_EQ(6 * kM, seek(fd, 6 * kM, SEEK_HOLE));  // fallocate'd: a hole where it is
  // A page written with zeros reads as a hole and is reported as one.
  const std::string zeros(kPage, '\0');
  ASSERT_EQ(kPage, pwrite(fd, zeros.data(), kPage, 5 * kM + 3 * kPage));
  EXPECT_EQ(5 * kM + 3 * kPage, seek(fd, 5 * kM + 2 * kPage, SEEK_HOLE));
  // KEEP_SIZE past EOF changes nothing: EOF ends the data.
  ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, 8 * kM, 4 * kM));
  EXPECT_EQ(-ENXIO, seek(fd, 5 * kM + 3 * kPage, SEEK_DATA));
  EXPECT_EQ(-ENXIO, seek(fd, 8 * kM, SEEK_HOLE));
}

TEST_F(SeekTest, CpSparseAlwaysKeepsASparseFileSparseAndIdentical) {
  const std::string src = p("sparse-src"), dst = p("sparse-dst");
  {
    Fd fd(open(src.c_str(), O_RDWR | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    ASSERT_EQ(0, ftruncate(fd, 96 * kM));
    for (int i = 0; i < 40; ++i) put(fd, (i * 2477 % 24576) * kPage, kPage, static_cast<uint32_t>(i + 10));
    put(fd, 50 * kM + 123, 300 * 1000, 99);  // an unaligned run of data
  }
  auto r = run({"cp", "--sparse=always", src, dst});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(read_file(src) == read_file(dst)) << "the copy differs";
  struct stat s {}, d {};
  ASSERT_EQ(0, stat(src.c_str(), &s));
  ASSERT_EQ(0, stat(dst.c_str(), &d));
  EXPECT_EQ(s.st_size, d.st_size);
  // 40 blocks and 300 kB of data: the copy holds about that, as the source does.
  const off_t data = 40 * kPage + 300 * 1000 + 2 * kPage;
  EXPECT_LE(s.st_blocks * 512, data) << "source";
  EXPECT_LE(d.st_blocks * 512, data) << "copy";
  // And its holes are where the source's are.
  Fd a(open(src.c_str(), O_RDONLY)), b(open(dst.c_str(), O_RDONLY));
  for (off_t off = 0; off >= 0 && off < s.st_size;) {
    const off_t da = seek(a, off, SEEK_DATA), db = seek(b, off, SEEK_DATA);
    ASSERT_EQ(da, db) << "SEEK_DATA from " << off;
    if (da < 0) break;
    const off_t ha = seek(a, da, SEEK_HOLE), hb = seek(b, da, SEEK_HOLE);
    ASSERT_EQ(ha, hb) << "SEEK_HOLE from " << da;
    off = ha;
  }
}

}  // namespace
}  // namespace pmemfs::test
