// Extended attributes (the syscall contract, and the control attributes
// pmemfs-ctl reads) and file handles (name_to_handle_at/open_by_handle_at)
// through a real mount.
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

class XattrExportTest : public MountTest {};

TEST_F(XattrExportTest, XattrsFollowTheSyscallContract) {
  ASSERT_EQ(0, write_file(p("x"), "data"));
  const std::string f = p("x");
  ASSERT_EQ(0, setxattr(f.c_str(), "user.color", "blue", 4, 0));
  EXPECT_ERRNO(setxattr(f.c_str(), "user.color", "red", 3, XATTR_CREATE), EEXIST);
  EXPECT_ERRNO(setxattr(f.c_str(), "user.size", "1", 1, XATTR_REPLACE), ENODATA);
  ASSERT_EQ(0, setxattr(f.c_str(), "user.color", "green", 5, XATTR_REPLACE));
  const std::string big(3000, 'v');
  ASSERT_EQ(0, setxattr(f.c_str(), "user.big", big.data(), big.size(), XATTR_CREATE));
  // A size-0 probe returns the size; a short buffer is ERANGE.
  EXPECT_EQ(5, getxattr(f.c_str(), "user.color", nullptr, 0));
  char buf[4096];
  EXPECT_ERRNO(getxattr(f.c_str(), "user.color", buf, 2), ERANGE);
  ASSERT_EQ(5, getxattr(f.c_str(), "user.color", buf, sizeof buf));
  EXPECT_EQ("green", std::string(buf, 5));
  ASSERT_EQ(3000, getxattr(f.c_str(), "user.big", buf, sizeof buf));
  EXPECT_EQ(big, std::string(buf, 3000));
  EXPECT_ERRNO(getxattr(f.c_str(), "user.none", buf, sizeof buf), ENODATA);
  // The list: exactly the stored names, no control attributes.
  ssize_t n = listxattr(f.c_str(), nullptr, 0);
  ASSERT_GT(n, 0);
  EXPECT_ERRNO(listxattr(f.c_str(), buf, 3), ERANGE);
  ASSERT_EQ(n, listxattr(f.c_str(), buf, sizeof buf));
  std::set<std::string> names;
  for (ssize_t i = 0; i < n; i += static_cast<ssize_t>(strlen(buf + i)) + 1) names.insert(buf + i);
  EXPECT_EQ((std::set<std::string>{"user.big", "user.color"}), names);
  ASSERT_EQ(0, removexattr(f.c_str(), "user.big"));
  EXPECT_ERRNO(removexattr(f.c_str(), "user.big"), ENODATA);
  ASSERT_EQ(0, setxattr(p("").c_str(), "user.on-root", "r", 1, 0));  // directories too
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(5, getxattr(f.c_str(), "user.color", buf, sizeof buf));
  EXPECT_EQ("green", std::string(buf, 5));
  EXPECT_EQ(1, getxattr(p("").c_str(), "user.on-root", buf, sizeof buf));
}

TEST_F(XattrExportTest, ControlXattrsExposeStatsAndMapsButAreNotListedOrWritable) {
  ASSERT_EQ(0, write_file(p("m"), pattern(3 * kMiB, 9)));
  Fd fd(open(p("m").c_str(), O_RDONLY));
  ASSERT_EQ(0, fsync(fd));
  char buf[65536];
  ssize_t n = getxattr(fs_->mnt().c_str(), "user.pmemfs.stats", buf, sizeof buf);
  ASSERT_GT(n, 1) << strerror(errno);
  std::string stats(buf, static_cast<size_t>(n));
  // pmemfs.8, "JSON OUTPUT": an object (padded with spaces) of counts, the
  // persistence and transport names, and the requests by opcode.
  const auto sj = nlohmann::json::parse(stats, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(sj.is_object()) << stats;
  for (const char* key : {"hole_faults", "pte_faults", "pmd_faults", "upgrades", "retries",
                          "hole_evictions", "fsync_calls", "fsync_bytes_flushed", "journal_commits",
                          "persists", "data_blocks", "free_blocks", "free_huge_regions"})
    EXPECT_TRUE(sj.contains(key) && sj[key].is_number_unsigned()) << key << " in " << stats;
  EXPECT_GE(sj.value("fsync_calls", 0u), 1u) << stats;
  EXPECT_TRUE(sj.contains("persistence") && sj["persistence"].is_string()) << stats;
  EXPECT_TRUE(sj.contains("transport") && sj["transport"].is_string()) << stats;
  EXPECT_TRUE(sj.contains("requests") && sj["requests"]["write"]["count"].is_number_unsigned()) << stats;
  EXPECT_EQ(n, getxattr(fs_->mnt().c_str(), "user.pmemfs.stats", nullptr, 0));
  EXPECT_ERRNO(getxattr(p("m").c_str(), "user.pmemfs.stats", buf, sizeof buf), ENODATA);

  n = getxattr(p("m").c_str(), "user.pmemfs.map", buf, sizeof buf);
  ASSERT_GT(n, 1) << strerror(errno);
  std::string map(buf, static_cast<size_t>(n));
  EXPECT_EQ('[', map.front()) << map;
  EXPECT_EQ(']', map.back()) << map;
  for (const char* key : {"\"file_offset\":", "\"length\":", "\"pool_offset\":", "\"size_class\":"})
    EXPECT_NE(std::string::npos, map.find(key)) << key << " missing in " << map;
  const auto mj = nlohmann::json::parse(map, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(mj.is_array() && !mj.empty()) << map;
  uint64_t mapped = 0;
  for (const auto& e : mj) {
    ASSERT_TRUE(e["file_offset"].is_number_unsigned() && e["length"].is_number_unsigned() &&
                e["pool_offset"].is_number_unsigned()) << map;
    EXPECT_TRUE(e["size_class"] == "2M" || e["size_class"] == "4K") << map;
    mapped += e["length"].get<uint64_t>();
  }
  EXPECT_GE(mapped, 3 * kMiB) << map;  // whole extents: 2 MiB ones may reach past EOF

  EXPECT_ERRNO(setxattr(fs_->mnt().c_str(), "user.pmemfs.stats", "x", 1, 0), EPERM);
  EXPECT_ERRNO(removexattr(p("m").c_str(), "user.pmemfs.map"), EPERM);
  EXPECT_EQ(0, listxattr(p("m").c_str(), buf, sizeof buf));
  EXPECT_EQ(0, listxattr(fs_->mnt().c_str(), buf, sizeof buf));
}

// Leaves 4 KiB of data every 8 KiB, each block an extent of its own: written
// whole (in 2 MiB extents), then every other block punched out. (Written a
// block at a time, a streaming writer would get 2 MiB extents.) A multiple of
// 256 extents fills the last 2 MiB extent: no blocks past EOF remain.
TEST_F(XattrExportTest, FileHandlesOpenFilesAndDirectoriesAfterRemount) {
  ASSERT_EQ(0, mkdir(p("a").c_str(), 0755));
  ASSERT_EQ(0, mkdir(p("a/b").c_str(), 0755));
  ASSERT_EQ(0, write_file(p("a/b/file"), "by handle"));
  struct Handle {
    file_handle fh;
    unsigned char bytes[MAX_HANDLE_SZ];
  };
  auto handle_of = [&](const std::string& path, Handle& h) {
    h.fh.handle_bytes = MAX_HANDLE_SZ;
    int mount_id = 0;
    return name_to_handle_at(AT_FDCWD, path.c_str(), &h.fh, &mount_id, 0);
  };
  Handle file_h{}, dir_h{};
  ASSERT_EQ(0, handle_of(p("a/b/file"), file_h)) << strerror(errno);
  ASSERT_EQ(0, handle_of(p("a/b"), dir_h)) << strerror(errno);

  // After a remount the kernel knows none of these inodes: opening by handle
  // makes it LOOKUP "." of the inode (and ".." up to the root for a
  // directory). Each handle gets a fresh mount so neither helps the other.
  auto open_handle = [&](Handle& h, int flags) {
    Fd mfd(open(fs_->mnt().c_str(), O_RDONLY | O_DIRECTORY));
    return open_by_handle_at(mfd, &h.fh, flags);
  };
  ASSERT_TRUE(fs_->remount());
  {
    Fd fd(open_handle(file_h, O_RDONLY));
    EXPECT_GE(fd, 0) << "file handle: " << strerror(errno);
    char buf[64];
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf) : -1;
    EXPECT_EQ("by handle", std::string(buf, n > 0 ? static_cast<size_t>(n) : 0));
  }
  ASSERT_TRUE(fs_->remount());
  {
    Fd fd(open_handle(dir_h, O_RDONLY | O_DIRECTORY));
    ASSERT_GE(fd, 0) << "directory handle: " << strerror(errno);
    struct stat st {};
    EXPECT_EQ(0, fstatat(fd, "file", &st, 0));
    // The directory is connected: its parent chain resolves.
    char path[PATH_MAX];
    std::string link = "/proc/self/fd/" + std::to_string(fd.fd);
    ssize_t n = readlink(link.c_str(), path, sizeof path);
    ASSERT_GT(n, 0);
    EXPECT_EQ(p("a/b"), std::string(path, static_cast<size_t>(n)));
  }
  // A handle of a deleted file is stale.
  ASSERT_EQ(0, unlink(p("a/b/file").c_str()));
  ASSERT_TRUE(fs_->remount());
  EXPECT_ERRNO(open_handle(file_h, O_RDONLY), ESTALE);
}

}  // namespace
}  // namespace pmemfs::test
