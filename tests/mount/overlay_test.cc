// pmemfs as the upper layer of overlayfs. For a FUSE ("remote") upper the
// kernel insists on d_type, xattrs and RENAME_WHITEOUT, and refuses the mount
// otherwise ("upper fs missing required features"). The lower layer is a
// directory on tmpfs (/dev/shm); upper and work directories are on pmemfs.
// The overlay is always unmounted before the pmemfs mount, even when a test
// fails half way.
#include <linux/fs.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

bool overlay_available() {
  std::ifstream in("/proc/filesystems");
  std::string line;
  while (std::getline(in, line))
    if (line.find("\toverlay") != std::string::npos) return true;
  return run({"modprobe", "overlay"}).status == 0;
}

bool is_whiteout(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0 && S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0);
}

bool path_exists(const std::string& path) {
  struct stat st {};
  return lstat(path.c_str(), &st) == 0;
}

// An overlayfs mount, unmounted when it goes out of scope.
class Overlay {
 public:
  Overlay(const std::string& lower, const std::string& upper, const std::string& work,
          const std::string& merged, const std::string& extra)
      : merged_(merged) {
    std::string opts = "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work;
    if (!extra.empty()) opts += "," + extra;
    if (mount("overlay", merged.c_str(), "overlay", 0, opts.c_str()) == 0)
      mounted_ = true;
    else
      error_ = std::string("mount -t overlay -o ") + opts + ": " + strerror(errno) +
               " (see dmesg)";
  }
  ~Overlay() { unmount(); }
  Overlay(const Overlay&) = delete;
  Overlay& operator=(const Overlay&) = delete;

  ::testing::AssertionResult ok() const {
    return mounted_ ? ::testing::AssertionSuccess() : ::testing::AssertionFailure() << error_;
  }
  void unmount() {
    if (!mounted_) return;
    for (int i = 0; i < 50 && umount2(merged_.c_str(), 0) != 0 && errno == EBUSY; ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (umount2(merged_.c_str(), MNT_DETACH) != 0 && errno != EINVAL)
      ADD_FAILURE() << "umount " << merged_ << ": " << strerror(errno);
    mounted_ = false;
  }

 private:
  std::string merged_, error_;
  bool mounted_ = false;
};

class OverlayTest : public MountTest {
 protected:
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    if (!overlay_available()) {
      if (running_in_ci()) FAIL() << "no overlay filesystem in this kernel";
      GTEST_SKIP() << "no overlay filesystem in this kernel";
    }
    lower_ = fs_->dir() + "/lower";  // /dev/shm: tmpfs
    merged_ = fs_->dir() + "/merged";
    ASSERT_EQ(0, mkdir(lower_.c_str(), 0755));
    ASSERT_EQ(0, mkdir(merged_.c_str(), 0755));
    ASSERT_EQ(0, mkdir(p("upper").c_str(), 0755));
    ASSERT_EQ(0, mkdir(p("work").c_str(), 0755));
    ASSERT_EQ(0, write_file(lower_ + "/keep", "lower keep"));
    ASSERT_EQ(0, write_file(lower_ + "/doomed", "lower doomed"));
    ASSERT_EQ(0, write_file(lower_ + "/edit", "lower edit"));
    ASSERT_EQ(0, mkdir((lower_ + "/dir").c_str(), 0755));
    ASSERT_EQ(0, write_file(lower_ + "/dir/inner", "lower inner"));
  }
  // The overlay first: the pmemfs mount under it would be busy.
  void TearDown() override {
    ovl_.reset();
    MountTest::TearDown();
  }
  ::testing::AssertionResult mount_overlay(const std::string& extra) {
    ovl_.reset();
    ovl_ = std::make_unique<Overlay>(lower_, p("upper"), p("work"), merged_, extra);
    return ovl_->ok();
  }
  std::string m(const std::string& rel) const { return merged_ + "/" + rel; }
  std::string u(const std::string& rel) const { return p("upper/" + rel); }

  std::string lower_, merged_;
  std::unique_ptr<Overlay> ovl_;
};

TEST_F(OverlayTest, RenameWhiteoutLeavesACharacterDevice00) {
  ASSERT_EQ(0, write_file(p("f"), "data"));
  ASSERT_EQ(0, renameat2(AT_FDCWD, p("f").c_str(), AT_FDCWD, p("g").c_str(), RENAME_WHITEOUT))
      << strerror(errno);
  EXPECT_TRUE(is_whiteout(p("f")));
  EXPECT_EQ("data", read_file(p("g")));
  struct stat st {};
  ASSERT_EQ(0, lstat(p("f").c_str(), &st));
  EXPECT_EQ(static_cast<mode_t>(S_IFCHR), st.st_mode);
  EXPECT_EQ(-1, renameat2(AT_FDCWD, p("g").c_str(), AT_FDCWD, p("f").c_str(),
                          RENAME_WHITEOUT | RENAME_EXCHANGE));
  EXPECT_EQ(EINVAL, errno);
  ASSERT_TRUE(fs_->remount());
  EXPECT_TRUE(is_whiteout(p("f")));
  EXPECT_EQ(0, fs_->unmount());
  ProcResult r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

TEST_F(OverlayTest, MountsAndWorksWithRedirectDir) {
  ASSERT_TRUE(mount_overlay("redirect_dir=on"));
  // Reads come from the lower layer.
  EXPECT_EQ("lower keep", read_file(m("keep")));
  EXPECT_EQ("lower inner", read_file(m("dir/inner")));
  // A new file lands in the upper layer.
  ASSERT_EQ(0, write_file(m("new"), "fresh"));
  EXPECT_EQ("fresh", read_file(u("new")));
  // Deleting a lower file leaves a whiteout in the upper layer.
  ASSERT_EQ(0, unlink(m("doomed").c_str())) << strerror(errno);
  EXPECT_FALSE(path_exists(m("doomed")));
  EXPECT_TRUE(is_whiteout(u("doomed")));
  EXPECT_EQ("lower doomed", read_file(lower_ + "/doomed"));
  // Writing a lower file copies it up.
  ASSERT_EQ(0, write_file(m("edit"), "upper edit"));
  EXPECT_EQ("upper edit", read_file(m("edit")));
  EXPECT_EQ("upper edit", read_file(u("edit")));
  EXPECT_EQ("lower edit", read_file(lower_ + "/edit"));
  // Renaming a lower file: copied up to the new name, a whiteout at the old
  // one (RENAME_WHITEOUT on pmemfs).
  ASSERT_EQ(0, rename(m("keep").c_str(), m("kept").c_str())) << strerror(errno);
  EXPECT_EQ("lower keep", read_file(m("kept")));
  EXPECT_FALSE(path_exists(m("keep")));
  EXPECT_TRUE(is_whiteout(u("keep")));
  // Renaming a lower directory: with redirect_dir the kernel renames it in
  // place and records where it came from in trusted.overlay.redirect.
  ASSERT_EQ(0, rename(m("dir").c_str(), m("moved").c_str())) << strerror(errno);
  EXPECT_FALSE(path_exists(m("dir")));
  EXPECT_EQ("lower inner", read_file(m("moved/inner")));
  EXPECT_TRUE(is_whiteout(u("dir")));
  EXPECT_GT(getxattr(u("moved").c_str(), "trusted.overlay.redirect", nullptr, 0), 0)
      << strerror(errno);
  ASSERT_EQ(0, write_file(m("moved/added"), "added"));

  // All of it is pmemfs's: it survives the overlay and pmemfs remounting.
  ovl_.reset();
  ASSERT_TRUE(fs_->remount());
  ASSERT_TRUE(mount_overlay("redirect_dir=on"));
  EXPECT_EQ("fresh", read_file(m("new")));
  EXPECT_FALSE(path_exists(m("doomed")));
  EXPECT_FALSE(path_exists(m("keep")));
  EXPECT_EQ("lower keep", read_file(m("kept")));
  EXPECT_EQ("upper edit", read_file(m("edit")));
  EXPECT_FALSE(path_exists(m("dir")));
  EXPECT_EQ("lower inner", read_file(m("moved/inner")));
  EXPECT_EQ("added", read_file(m("moved/added")));
  ovl_.reset();
  EXPECT_EQ(0, fs_->unmount());
  ProcResult r = run({fsck_path(), "-n", fs_->pool()});
  EXPECT_EQ(0, r.status) << r.output;
}

TEST_F(OverlayTest, WithoutRedirectDirADirectoryRenameIsExdevAndMvCopies) {
  ASSERT_TRUE(mount_overlay("redirect_dir=off"));
  // What the kernel does for a merged or lower directory without
  // redirect_dir: EXDEV, so that mv(1) falls back to copy and delete.
  EXPECT_EQ(-1, rename(m("dir").c_str(), m("moved").c_str()));
  EXPECT_EQ(EXDEV, errno);
  ProcResult r = run({"mv", m("dir"), m("moved")});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_FALSE(path_exists(m("dir")));
  EXPECT_EQ("lower inner", read_file(m("moved/inner")));
  EXPECT_TRUE(is_whiteout(u("dir")));
  // A directory made in the overlay is pure upper: it renames in place.
  ASSERT_EQ(0, mkdir(m("mine").c_str(), 0755));
  ASSERT_EQ(0, rename(m("mine").c_str(), m("ours").c_str())) << strerror(errno);
  EXPECT_TRUE(path_exists(u("ours")));
}

}  // namespace
}  // namespace pmemfs::test
