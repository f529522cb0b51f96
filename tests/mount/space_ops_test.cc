// Space through a real mount: SEEK_DATA/SEEK_HOLE, fallocate, copy_file_range,
// statfs, the extent map and usage pmemfs-ctl shows, and a full pool.
#include <dirent.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <cstdio>
#include <cstring>
#include <chrono>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

class SpaceOpsTest : public MountTest {};

TEST_F(SpaceOpsTest, SeekDataAndHole) {
  Fd fd(open(p("sp").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  const std::string block = pattern(4096, 5);
  ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, 0));
  ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, 16 * kMiB));
  const off_t size = 16 * kMiB + 4096;
  EXPECT_EQ(0, lseek(fd, 0, SEEK_DATA));
  off_t hole = lseek(fd, 0, SEEK_HOLE);
  // Allocation is in 4 KiB blocks or 2 MiB extents: the first hole starts
  // within the first extent, the next data within the last one.
  EXPECT_GE(hole, 4096);
  EXPECT_LE(hole, static_cast<off_t>(2 * kMiB));
  off_t data = lseek(fd, hole, SEEK_DATA);
  EXPECT_GE(data, static_cast<off_t>(14 * kMiB));
  EXPECT_LE(data, static_cast<off_t>(16 * kMiB));
  EXPECT_EQ(size, lseek(fd, 16 * kMiB, SEEK_HOLE));  // EOF is a hole
  EXPECT_ERRNO(lseek(fd, size, SEEK_DATA), ENXIO);
  EXPECT_ERRNO(lseek(fd, size + 1, SEEK_HOLE), ENXIO);
}

TEST_F(SpaceOpsTest, FallocateModes) {
  std::string want;
  {
  Fd fd(open(p("fa").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  struct stat st {};
  // Plain allocation extends the size and allocates.
  ASSERT_EQ(0, fallocate(fd, 0, 0, 4 * kMiB));
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(static_cast<off_t>(4 * kMiB), st.st_size);
  EXPECT_GE(st.st_blocks * 512, static_cast<blkcnt_t>(4 * kMiB));
  // KEEP_SIZE allocates past EOF without changing the size.
  ASSERT_EQ(0, fallocate(fd, FALLOC_FL_KEEP_SIZE, 4 * kMiB, 2 * kMiB));
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(static_cast<off_t>(4 * kMiB), st.st_size);
  EXPECT_GE(st.st_blocks * 512, static_cast<blkcnt_t>(6 * kMiB));
  // Allocated space reads as zeros.
  std::string got(4 * kMiB, 'x');
  ASSERT_EQ(static_cast<ssize_t>(got.size()), pread(fd, got.data(), got.size(), 0));
  EXPECT_EQ(std::string(4 * kMiB, '\0'), got);

  const std::string data = pattern(4 * kMiB, 6);
  ASSERT_EQ(static_cast<ssize_t>(data.size()), pwrite(fd, data.data(), data.size(), 0));
  ASSERT_EQ(0, fsync(fd));
  ASSERT_EQ(0, fstat(fd, &st));
  const blkcnt_t before = st.st_blocks;
  // PUNCH_HOLE (must come with KEEP_SIZE) zeroes and frees a 2 MiB aligned range.
  ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 2 * kMiB, 2 * kMiB));
  ASSERT_EQ(0, fstat(fd, &st));
  EXPECT_EQ(static_cast<off_t>(4 * kMiB), st.st_size);
  EXPECT_LT(st.st_blocks, before);
  EXPECT_ERRNO(fallocate(fd, FALLOC_FL_PUNCH_HOLE, 0, 4096), EOPNOTSUPP);
  // ZERO_RANGE zeroes an unaligned range and keeps the rest.
  ASSERT_EQ(0, fallocate(fd, FALLOC_FL_ZERO_RANGE, 1000, 5000));
  want = data;
  want.replace(2 * kMiB, 2 * kMiB, std::string(2 * kMiB, '\0'));
  want.replace(1000, 5000, std::string(5000, '\0'));
  ASSERT_EQ(static_cast<ssize_t>(got.size()), pread(fd, got.data(), got.size(), 0));
  EXPECT_TRUE(want == got) << "content differs after punch/zero";
  ASSERT_EQ(0, fsync(fd));
  }
  ASSERT_TRUE(fs_->remount());
  EXPECT_TRUE(want == read_file(p("fa"))) << "content differs after remount";
}

TEST_F(SpaceOpsTest, CopyFileRangeCopiesBytes) {
  const std::string data = pattern(3 * kMiB + 100, 7);
  ASSERT_EQ(0, write_file(p("src"), data));
  Fd in(open(p("src").c_str(), O_RDONLY));
  Fd out(open(p("dst").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(in, 0);
  ASSERT_GE(out, 0);
  loff_t off_in = 100, off_out = 4096;
  size_t left = 3 * kMiB;
  while (left > 0) {
    ssize_t n = copy_file_range(in, &off_in, out, &off_out, left, 0);
    ASSERT_GT(n, 0) << strerror(errno);
    left -= static_cast<size_t>(n);
  }
  std::string got(3 * kMiB, '\0');
  ASSERT_EQ(static_cast<ssize_t>(got.size()), pread(out, got.data(), got.size(), 4096));
  EXPECT_TRUE(data.substr(100, 3 * kMiB) == got);
  struct stat st {};
  ASSERT_EQ(0, fstat(out, &st));
  EXPECT_EQ(static_cast<off_t>(4096 + 3 * kMiB), st.st_size);
}

TEST_F(SpaceOpsTest, StatfsReportsSpaceThatWritesUse) {
  struct statvfs a {}, b {};
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &a));
  EXPECT_GT(a.f_blocks, 0u);
  EXPECT_GT(a.f_bfree, 0u);
  EXPECT_LE(a.f_bfree, a.f_blocks);
  EXPECT_GT(a.f_files, 0u);
  EXPECT_EQ(255u, a.f_namemax);
  ASSERT_EQ(0, write_file(p("big"), pattern(16 * kMiB, 8)));
  sync();
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &b));
  EXPECT_LE((b.f_bfree + 16 * kMiB / b.f_frsize) * b.f_frsize, a.f_bfree * a.f_frsize + b.f_frsize);
}

void write_fragmented(const std::string& path, int extents) {
  ASSERT_EQ(0, write_file(path, std::string(size_t{8192} * extents, 'x')));
  Fd fd(open(path.c_str(), O_RDWR));
  ASSERT_GE(fd, 0) << strerror(errno);
  for (int i = 0; i < extents; ++i)
    ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                           static_cast<off_t>(i) * 8192 + 4096, 4096))
        << strerror(errno);
  ASSERT_EQ(0, fsync(fd));
}

// A map larger than one xattr value (64 KiB, about 800 extents) comes in pages.
TEST_F(SpaceOpsTest, CtlMapShowsEveryExtentOfAHeavilyFragmentedFile) {
  constexpr int kExtents = 5120;
  const std::string f = p("frag");
  write_fragmented(f, kExtents);
  auto r = run({ctl_path(), "map", f, "--json"});
  ASSERT_EQ(0, r.status) << r.output.substr(0, 300);
  const std::string& json = r.output;
  ASSERT_EQ("[{", json.substr(0, 2)) << json.substr(0, 300);
  ASSERT_EQ("}]\n", json.substr(json.size() - 3)) << json.substr(json.size() - 300);
  // Every extent once, in file order, as one JSON array.
  size_t pos = 0;
  int seen = 0;
  for (; (pos = json.find("{\"file_offset\":", pos)) != std::string::npos; ++seen) {
    pos += 15;
    ASSERT_EQ(std::to_string(uint64_t{8192} * seen) + ",\"length\":4096,",
              json.substr(pos, json.find("\"pool_offset\"", pos) - pos))
        << "entry " << seen;
  }
  EXPECT_EQ(kExtents, seen);
  EXPECT_EQ(std::string::npos, json.find("}{")) << "pages joined without a comma";
  EXPECT_EQ(std::string::npos, json.find("]["));

  r = run({ctl_path(), "map", f});
  ASSERT_EQ(0, r.status) << r.output.substr(0, 300);
  size_t lines = 0;
  for (char c : r.output) lines += c == '\n';
  EXPECT_EQ(kExtents + 2u, lines);  // header, one line per extent, total
  EXPECT_NE(std::string::npos,
            r.output.find(std::to_string(uint64_t{4096} * kExtents) + " bytes mapped, 0.0% in 2 MiB"))
      << r.output.substr(r.output.size() - 200);

  // The pages are control attributes too: not listed, not writable.
  char buf[16];
  EXPECT_EQ(0, listxattr(f.c_str(), buf, sizeof buf));
  EXPECT_ERRNO(setxattr(f.c_str(), "user.pmemfs.map.0", "x", 1, 0), EPERM);
  EXPECT_ERRNO(removexattr(f.c_str(), "user.pmemfs.map.0"), EPERM);
}

// pmemfs-ctl usage: the cell counts of a known layout (one file of two 2 MiB
// extents, one of three blocks, the root's directory block), as text and as
// a drawing; refused off the mount point. (usage_test has the exact counts
// of one thread's allocations.)
TEST_F(SpaceOpsTest, CtlUsageCountsTheCellsOfAKnownLayout) {
  int fd = open(p("big").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  ASSERT_EQ(0, fallocate(fd, 0, 0, 4 << 20)) << strerror(errno);
  close(fd);
  fd = open(p("small").c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << strerror(errno);
  std::string data(3 * 4096, 's');
  ASSERT_EQ(static_cast<ssize_t>(data.size()), write(fd, data.data(), data.size()));
  close(fd);

  auto r = run({ctl_path(), "usage", fs_->mnt()});
  ASSERT_EQ(0, r.status) << r.output;
  uint64_t cells = 0;
  ASSERT_EQ(1, std::sscanf(r.output.c_str(), "data area: %lu cells", &cells)) << r.output;
  ASSERT_GT(cells, 100u);
  ASSERT_LT(cells, MountedFs::kDefaultPoolSize / (2 << 20));
  auto has = [&](const std::string& label, uint64_t n) {
    const size_t at = r.output.find(label);
    if (at == std::string::npos) return false;
    uint64_t got = 0;
    return std::sscanf(r.output.c_str() + at + label.size(), " %lu", &got) == 1 && got == n;
  };
  // The root's block and the small file's share a cell when one thread
  // served both; the allocator's shards are per thread, and the daemon's
  // request threads are several.
  const uint64_t partial = has("partly used", 1) ? 1 : 2;
  EXPECT_TRUE(has("partly used", partial)) << r.output;
  EXPECT_TRUE(has("free (whole 2 MiB regions)", cells - 2 - partial)) << r.output;
  EXPECT_TRUE(has("full, in smaller pieces", 0)) << r.output;
  EXPECT_TRUE(has("full, one 2 MiB extent", 2)) << r.output;

  const std::string svg = fs_->dir() + "/usage.svg";
  auto d = run({ctl_path(), "usage", fs_->mnt(), "--svg", svg});
  ASSERT_EQ(0, d.status) << d.output;
  EXPECT_EQ(r.output, d.output) << "the drawing's counts are the summary's";
  std::string doc;
  {
    std::FILE* f = std::fopen(svg.c_str(), "r");
    ASSERT_TRUE(f);
    char buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) doc.append(buf, n);
    std::fclose(f);
  }
  EXPECT_EQ(0u, doc.find("<svg"));
  size_t rects = 0;
  for (size_t i = 0; (i = doc.find("<rect ", i)) != std::string::npos; ++i) ++rects;
  EXPECT_EQ(cells + 4, rects);  // a cell each, and the legend's four

  auto off = run({ctl_path(), "usage", p("small")});
  EXPECT_EQ(1, off.status);
  EXPECT_NE(std::string::npos, off.output.find("give the mount point")) << off.output;
  char buf[16];
  EXPECT_EQ(0, listxattr(fs_->mnt().c_str(), buf, sizeof buf)) << "control attributes are never listed";
  EXPECT_ERRNO(setxattr(fs_->mnt().c_str(), "user.pmemfs.usage", "x", 1, 0), EPERM);
}

// Waits for statfs's free blocks to reach want (frees may complete just after
// the call that made them returns); returns the last count seen.
uint64_t wait_free_blocks(const std::string& mnt, uint64_t want) {
  struct statvfs v {};
  for (int i = 0; i < 500; ++i) {
    if (statvfs(mnt.c_str(), &v) != 0) return 0;
    if (v.f_bfree == want) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return v.f_bfree;
}

// A file of more extents than its inode holds spills them to extent blocks;
// those must be freed when the extents go, not only when the file is deleted.
TEST_F(SpaceOpsTest, ShrinkingAFragmentedFileFreesItsExtentBlocks) {
  constexpr int kExtents = 3072;
  const std::string f = p("frag");
  ASSERT_EQ(0, write_file(f, ""));
  struct statvfs empty {};
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &empty));
  write_fragmented(f, kExtents);
  struct stat st {};
  ASSERT_EQ(0, stat(f.c_str(), &st));
  const uint64_t chain_blocks = static_cast<uint64_t>(st.st_blocks) / 8 - kExtents;
  EXPECT_EQ(19u, chain_blocks);  // 5 extents in the inode, 169 in each extent block
  const uint64_t used = kExtents + chain_blocks;
  EXPECT_EQ(empty.f_bfree - used, wait_free_blocks(fs_->mnt(), empty.f_bfree - used));

  ASSERT_EQ(0, truncate(f.c_str(), 0));
  EXPECT_EQ(empty.f_bfree, wait_free_blocks(fs_->mnt(), empty.f_bfree));
  ASSERT_EQ(0, stat(f.c_str(), &st));
  EXPECT_EQ(0, st.st_blocks);

  // Punching the middle empties extent blocks between others: the chain is
  // relinked around them, and the rest of the file survives a remount.
  write_fragmented(f, kExtents);
  {
    Fd fd(open(f.c_str(), O_RDWR));
    ASSERT_EQ(0, fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 8192 * 500,
                           8192 * 2000));
    ASSERT_EQ(0, fsync(fd));
  }
  // 1,072 extents are left, in the inode and in the extent blocks at both
  // ends of the chain; those in between hold none and are freed.
  ASSERT_EQ(0, stat(f.c_str(), &st));
  const uint64_t kept_blocks = static_cast<uint64_t>(st.st_blocks) / 8;
  EXPECT_LT(kept_blocks, kExtents - 2000 + chain_blocks);
  EXPECT_EQ(empty.f_bfree - kept_blocks, wait_free_blocks(fs_->mnt(), empty.f_bfree - kept_blocks));
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(0, stat(f.c_str(), &st));
  EXPECT_EQ(kept_blocks, static_cast<uint64_t>(st.st_blocks) / 8) << "the chain read back differs";
  const std::string data = read_file(f);
  ASSERT_EQ(8192u * kExtents, data.size());
  for (int i = 0; i < kExtents; ++i) {
    const char want = i >= 500 && i < 2500 ? '\0' : 'x';
    ASSERT_EQ(want, data[8192u * i]) << "extent " << i;
    ASSERT_EQ('\0', data[8192u * i + 4096]) << "hole after extent " << i;
  }
  ASSERT_EQ(0, fs_->unmount());
  auto r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

// ---- full pool ------------------------------------------------------------------

class FullPoolTest : public MountTest {
  // cache=none: write(2) itself reports ENOSPC instead of a later fsync.
  std::string mount_options() const override { return "cache=none"; }
  uint64_t pool_size() const override { return 64ull << 20; }
};

TEST_F(FullPoolTest, EnospcThenWritesSucceedOnceSpaceIsFreed) {
  const std::string chunk = pattern(kMiB, 10);
  int err = 0;
  size_t written = 0;
  {
    Fd fd(open(p("fill").c_str(), O_WRONLY | O_CREAT, 0644));
    ASSERT_GE(fd, 0);
    for (int i = 0; i < 128 && err == 0; ++i) {
      ssize_t n = write(fd, chunk.data(), chunk.size());
      if (n < 0) err = errno;
      else written += static_cast<size_t>(n);
      if (n >= 0 && static_cast<size_t>(n) < chunk.size()) {
        // A short write: the next one must fail.
        n = write(fd, chunk.data(), chunk.size());
        err = n < 0 ? errno : 0;
        if (n >= 0) written += static_cast<size_t>(n);
      }
    }
  }
  EXPECT_EQ(ENOSPC, err) << "after " << written << " bytes";
  EXPECT_GT(written, 16 * kMiB);
  struct statvfs sv {};
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &sv));
  EXPECT_LT(sv.f_bavail * sv.f_frsize, 2 * kMiB);
  // What was written is intact.
  std::string got = read_file(p("fill"));
  ASSERT_EQ(written, got.size());
  EXPECT_TRUE(got.substr(0, kMiB) == chunk);
  // Free the space; writing works again.
  ASSERT_EQ(0, unlink(p("fill").c_str()));
  EXPECT_EQ(0, write_file(p("after"), pattern(8 * kMiB, 11)));
  EXPECT_EQ(8 * kMiB, read_file(p("after")).size());
}

}  // namespace
}  // namespace pmemfs::test
