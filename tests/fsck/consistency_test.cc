// fsck on pools the library left: clean after unmount, refused while mounted,
// and clean on what a crash between operations leaves.
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fsck/fsck_fixture.h"

namespace pmemfs::fsck {
namespace {

TEST_F(FsckTest, FreshTreeIsClean) {
  const size_t before = hash();
  CheckResult r = fsck(CheckMode::kNoChanges);
  EXPECT_EQ(r.exit_code, kExitClean) << out_;
  EXPECT_NE(out_.find("clean"), std::string::npos) << out_;
  r = fsck(CheckMode::kRepair);
  EXPECT_EQ(r.exit_code, kExitClean) << out_;
  EXPECT_EQ(hash(), before) << "a clean check wrote";
}

TEST_F(FsckTest, MountedPoolIsRefused) {
  MountOptions mo;
  mo.source = path_;
  auto mounted = Filesystem::mount(mo);
  ASSERT_TRUE(mounted.ok());
  CheckResult r = fsck(CheckMode::kNoChanges);
  EXPECT_EQ(r.exit_code, kExitOperational) << out_;
  EXPECT_NE(out_.find("in use (mounted?)"), std::string::npos) << out_;
  r = fsck(CheckMode::kRepair);
  EXPECT_EQ(r.exit_code, kExitOperational) << out_;
  ASSERT_TRUE((*mounted)->unmount().ok());
}

TEST_F(FsckTest, OpenUnlinkedFileIsAnOrphan) {
  const std::string crashed = path_ + ".crash";
  {
    MountOptions mo;
    mo.source = path_;
    auto mounted = Filesystem::mount(mo);
    ASSERT_TRUE(mounted.ok());
    Filesystem& fs = **mounted;
    auto t = fs.mknod(L::kRootIno, "tmp", S_IFREG | 0644, 0, Caller{});
    ASSERT_TRUE(t.ok());
    ASSERT_TRUE(fs.write(t->ino, 0, "data", 4).ok());
    ASSERT_TRUE(fs.open(t->ino).ok());
    ASSERT_TRUE(fs.unlink(L::kRootIno, "tmp").ok());
    // Still open: an orphan with no links. The pool file as it is now is
    // what a crash would leave (every store reached the page cache).
    EXPECT_EQ(fsck(CheckMode::kNoChanges).exit_code, kExitOperational);
    std::string image(sb_.pool_size, '\0');
    read_raw(0, image.data(), image.size());
    int fd = open(crashed.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, image.data(), image.size()), static_cast<ssize_t>(image.size()));
    close(fd);
    ASSERT_TRUE(fs.unmount().ok());
  }
  CheckResult r = fsck(CheckMode::kNoChanges);
  EXPECT_EQ(r.exit_code, kExitClean) << out_;

  // The crashed image: the orphan is in the table, nlink 0, in no directory.
  {
    int fd = open(crashed.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    uint64_t listed = 0;
    ASSERT_EQ(pread(fd, &listed, sizeof(listed), sb_.orphan_off), 8);
    close(fd);
    ASSERT_NE(listed, 0u) << "the unlinked open file is not in the orphan table";
  }
  std::ostringstream os;
  r = check_pool(crashed, CheckMode::kNoChanges, os);
  EXPECT_EQ(r.exit_code, kExitClean) << os.str();
  EXPECT_NE(os.str().find("not cleanly unmounted"), std::string::npos) << os.str();
  {
    MountOptions mo;
    mo.source = crashed;
    auto mounted = Filesystem::mount(mo);  // frees the orphan
    ASSERT_TRUE(mounted.ok());
    ASSERT_TRUE((*mounted)->unmount().ok());
  }
  os.str("");
  r = check_pool(crashed, CheckMode::kNoChanges, os);
  EXPECT_EQ(r.exit_code, kExitClean) << os.str();
  unlink(crashed.c_str());
}

// What a crash between two operations leaves (the pool file copied while
// mounted, every store in the page cache) must be clean for fsck: the
// library and fsck agree on every rule, for every kind of operation.
TEST_F(FsckTest, SnapshotsBetweenOperationsAreClean) {
  const std::string snap = path_ + ".snap";
  MountOptions mo;
  mo.source = path_;
  auto mounted = Filesystem::mount(mo);
  ASSERT_TRUE(mounted.ok());
  Filesystem& fs = **mounted;
  Caller who;
  auto check_snapshot = [&](const std::string& after) {
    std::string image(sb_.pool_size, '\0');
    read_raw(0, image.data(), image.size());
    int fd = open(snap.c_str(), O_CREAT | O_TRUNC | O_WRONLY, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, image.data(), image.size()), static_cast<ssize_t>(image.size()));
    close(fd);
    std::ostringstream os;
    const CheckResult r = check_pool(snap, CheckMode::kNoChanges, os);
    EXPECT_EQ(r.exit_code, kExitClean) << "after " << after << ":\n" << os.str();
  };
  auto ok = [](const auto& r, const char* what) {
    ASSERT_TRUE(r.ok()) << what << ": " << std::strerror(r.error());
  };

  ok(fs.rename(L::kRootIno, "f1", a_, "f1moved", 0), "rename across directories");
  check_snapshot("rename across directories");
  ok(fs.rename(a_, "b", L::kRootIno, "b2", 0), "rename a directory");
  check_snapshot("rename a directory");
  ok(fs.rename(L::kRootIno, "b2", L::kRootIno, "fifo", RENAME_EXCHANGE), "exchange");
  check_snapshot("rename exchange of a directory and a fifo");
  SetAttr sa;
  sa.valid = SetAttr::kSize;
  sa.size = 5000;
  ok(fs.setattr(f2_, sa), "truncate");
  check_snapshot("truncate");
  auto big = fs.mknod(L::kRootIno, "big", S_IFREG | 0644, 0, who);
  ok(big, "create big");
  std::string data(5u << 20, 'b');
  ok(fs.write(big->ino, 0, data.data(), data.size()), "write 5 MiB");
  check_snapshot("write 5 MiB");
  sa.size = 1u << 20;
  ok(fs.setattr(big->ino, sa), "truncate to 1 MiB");
  check_snapshot("truncate to 1 MiB");
  ok(fs.fallocate(sparse_, FALLOC_FL_KEEP_SIZE, 0, 8u << 20), "fallocate keep size");
  check_snapshot("fallocate KEEP_SIZE");
  ok(fs.fallocate(sparse_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096, 1u << 20), "punch hole");
  check_snapshot("punch hole");
  ok(fs.unlink(L::kRootIno, "b2"), "unlink");  // the fifo, since the exchange
  check_snapshot("unlink");
  ok(fs.mkdir(L::kRootIno, "c", 0700, who), "mkdir c");
  ok(fs.rmdir(L::kRootIno, "c"), "rmdir c");
  check_snapshot("rmdir");
  ok(fs.removexattr(f1_, "user.color"), "removexattr");
  ok(fs.setxattr(f1_, "user.big", std::string(60000, 'v'), 0), "setxattr 60 KB");
  check_snapshot("xattrs");
  ok(fs.symlink(L::kRootIno, "longlink", std::string(4000, 'l'), who), "long symlink");
  ok(fs.link(sparse_, a_, "sparse2"), "link");
  ok(fs.unlink(L::kRootIno, "sparse"), "unlink one of two links");
  check_snapshot("links");
  for (int i = 0; i < 20; ++i)
    ok(fs.unlink(b_, "file" + std::to_string(i)), "unlink in b");
  check_snapshot("emptying a directory");
  ok(fs.unmount(), "unmount");
  (*mounted).reset();  // releases the pool lock
  EXPECT_EQ(fsck(CheckMode::kNoChanges).exit_code, kExitClean) << out_;
  unlink(snap.c_str());
}

}  // namespace
}  // namespace pmemfs::fsck
