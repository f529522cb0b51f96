// mount -o remount,ro and back to rw, through mount.pmemfs and mount(8):
// the daemon switches without unmounting, writes get EROFS, the pool is
// clean on the media while read-only, and an option that cannot change is
// refused with one line and changes nothing.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

size_t count_lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class RemountTest : public MountTest {
 protected:
  ProcResult helper(const std::string& options) {
    return run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-o", options},
               {"PMEMFS_DAEMON=" + daemon_path()});
  }
  // mount(8) itself, in a private mount namespace whose /usr/sbin (and
  // /sbin) holds only the built helper as mount.pmemfs and
  // mount.fuse.pmemfs: what an installed pmemfs gives mount(8).
  ProcResult mount8(const std::string& args) {
    const std::string sbin = fs_->dir() + "/sbin";
    mkdir(sbin.c_str(), 0755);
    for (const char* n : {"/mount.pmemfs", "/mount.fuse.pmemfs"})
      (void)symlink(mount_helper_path().c_str(), (sbin + n).c_str());
    const std::string script = "mount --bind " + sbin + " /usr/sbin && { [ -L /sbin ] || mount --bind " +
                               sbin + " /sbin; } && mount " + args;
    return run({"unshare", "-m", "--propagation", "private", "sh", "-c", script},
               {"PMEMFS_DAEMON=" + daemon_path()});
  }
  // fsck -n of the pool's bytes as they are on the media now (fsck itself
  // refuses a pool a daemon holds).
  ProcResult fsck_media() {
    const std::string copy = fs_->dir() + "/media.copy";
    auto c = run({"cp", "--sparse=always", fs_->pool(), copy});
    if (c.status != 0) return c;
    auto r = run({fsck_path(), "-n", copy});
    unlink(copy.c_str());
    return r;
  }
  bool read_only() { return mount_options_of(fs_->mnt()).starts_with("ro,"); }
};

TEST_F(RemountTest, ReadOnlyAndBackThroughTheHelper) {
  const std::string data = pattern(3 * kMiB + 123, 7);
  ASSERT_EQ(0, write_file(p("f"), data));

  auto r = helper("remount,ro");
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(read_only()) << mount_options_of(fs_->mnt());
  EXPECT_EQ(EROFS, write_file(p("g"), "x"));
  EXPECT_EQ(-1, ::open(p("f").c_str(), O_WRONLY));
  EXPECT_EQ(EROFS, errno);
  EXPECT_EQ(-1, mkdir(p("d").c_str(), 0755));
  EXPECT_EQ(data, read_file(p("f")));
  // Consistent and clean on the media: a crash now would need no recovery.
  auto f = fsck_media();
  EXPECT_EQ(0, f.status) << f.output;
  EXPECT_NE(std::string::npos, f.output.find(": clean,")) << f.output;
  EXPECT_EQ(std::string::npos, f.output.find("not cleanly unmounted")) << f.output;

  r = helper("remount,rw");
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_FALSE(read_only()) << mount_options_of(fs_->mnt());
  ASSERT_EQ(0, write_file(p("g"), "after"));
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  // In use again: the media says so until the unmount.
  f = fsck_media();
  EXPECT_NE(std::string::npos, f.output.find("not cleanly unmounted")) << f.output;

  ASSERT_TRUE(fs_->remount());
  EXPECT_EQ(data, read_file(p("f")));
  EXPECT_EQ("after", read_file(p("g")));
}

TEST_F(RemountTest, ReadOnlyAndBackThroughMount8) {
  ASSERT_EQ(0, write_file(p("f"), "before"));
  auto r = mount8("-o remount,ro " + fs_->mnt());
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(read_only());
  EXPECT_EQ(EROFS, write_file(p("f"), "during"));
  EXPECT_EQ("before", read_file(p("f")));
  auto f = fsck_media();
  EXPECT_EQ(0, f.status) << f.output;

  r = mount8("-o remount,rw " + fs_->mnt());
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_FALSE(read_only());
  ASSERT_EQ(0, write_file(p("f"), "after"));
  // mount -t pmemfs names the helper directly.
  r = mount8("-t pmemfs -o remount,ro " + fs_->pool() + " " + fs_->mnt());
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(read_only());
  r = mount8("-t pmemfs -o remount,rw " + fs_->pool() + " " + fs_->mnt());
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_EQ(0, fs_->unmount());
  ASSERT_TRUE(fs_->mount(""));
  EXPECT_EQ("after", read_file(p("f")));
}

TEST_F(RemountTest, AnOptionThatCannotChangeIsRefusedWithOneLineAndChangesNothing) {
  auto r = helper("remount,ro,cache=none");
  EXPECT_NE(0, r.status);
  EXPECT_EQ(1u, count_lines(r.output)) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("cache=none")) << r.output;
  EXPECT_FALSE(read_only());
  EXPECT_EQ(0, write_file(p("f"), "still writable"));
  // What the mount already is, repeated as mount(8) does, is no change.
  r = helper("rw,nosuid,nodev,relatime,remount,user_id=0,group_id=0,default_permissions,"
             "allow_other,cache=writethrough,log_level=debug");
  EXPECT_EQ(0, r.status) << r.output;
  r = helper("remount,bogus");
  EXPECT_NE(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find("bogus")) << r.output;
}

TEST_F(RemountTest, ReadOnlyIsRefusedWhileAFileIsOpenForWriting) {
  Fd fd(::open(p("f").c_str(), O_CREAT | O_WRONLY, 0644));
  ASSERT_GE(fd, 0);
  auto r = helper("remount,ro");
  EXPECT_NE(0, r.status);
  EXPECT_NE(std::string::npos, r.output.find("busy")) << r.output;
  EXPECT_FALSE(read_only());
  EXPECT_EQ(1, ::write(fd, "x", 1));
}

TEST_F(RemountTest, AMountMadeReadOnlyBecomesWritable) {
  ASSERT_EQ(0, write_file(p("f"), "kept"));
  ASSERT_EQ(0, fs_->unmount());
  ASSERT_TRUE(fs_->mount("ro"));
  EXPECT_EQ(EROFS, write_file(p("g"), "x"));
  auto f = fsck_media();
  EXPECT_EQ(std::string::npos, f.output.find("not cleanly unmounted")) << f.output;
  auto r = helper("remount,rw");
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_EQ(0, write_file(p("g"), "new"));
  EXPECT_EQ("kept", read_file(p("f")));
}

// An unlinked file still open is freed once it is closed after going back
// to rw (the kernel refuses ro while it is open, so it is closed first and
// its FORGET may come while read-only).
TEST_F(RemountTest, SpaceOfFilesUnlinkedBeforeReadOnlyComesBack) {
  ASSERT_EQ(0, write_file(p("big"), pattern(8 * kMiB, 3)));
  ASSERT_EQ(0, unlink(p("big").c_str()));
  auto r = helper("remount,ro");
  ASSERT_EQ(0, r.status) << r.output;
  r = helper("remount,rw");
  ASSERT_EQ(0, r.status) << r.output;
  ASSERT_EQ(0, fs_->unmount());
  auto f = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, f.status) << f.output;
  ASSERT_TRUE(fs_->mount(""));
}

}  // namespace
}  // namespace pmemfs::test
