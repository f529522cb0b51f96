// Ownership and permissions as the kernel enforces them on a pmemfs mount
// (default_permissions) and as the daemon assigns them to new nodes.
#include <dirent.h>
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include <cerrno>
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr uid_t kUser = 65534;  // nobody
constexpr gid_t kGroup = 65534;
constexpr gid_t kOtherGroup = 4242;

// Child-side checks return distinct codes so a failure names the step.
#define CHILD_EXPECT(cond, code) \
  do {                           \
    if (!(cond)) return (code);  \
  } while (0)

class PermissionsTest : public MountTest {};

TEST_F(PermissionsTest, OtherUsersGetEaccesWhereModesSaySo) {
  ASSERT_EQ(0, mkdir(p("private").c_str(), 0700));
  ASSERT_EQ(0, write_file(p("private/secret"), "s", 0644));
  ASSERT_EQ(0, write_file(p("readonly"), "r", 0644));
  const std::string priv = p("private"), secret = p("private/secret"), ro = p("readonly"),
                    root = p("");
  int rc = run_as(kUser, kGroup, [&]() -> int {
    errno = 0;
    CHILD_EXPECT(open(secret.c_str(), O_RDONLY) < 0 && errno == EACCES, 1);
    CHILD_EXPECT(opendir(priv.c_str()) == nullptr && errno == EACCES, 2);
    CHILD_EXPECT(open(ro.c_str(), O_WRONLY) < 0 && errno == EACCES, 3);
    CHILD_EXPECT(read_file(ro) == "r", 4);
    CHILD_EXPECT(mkdir((root + "/mine").c_str(), 0755) < 0 && errno == EACCES, 5);
    CHILD_EXPECT(unlink(ro.c_str()) < 0 && errno == EACCES, 6);
    CHILD_EXPECT(chmod(ro.c_str(), 0666) < 0 && errno == EPERM, 7);
    CHILD_EXPECT(chown(ro.c_str(), kUser, kGroup) < 0 && errno == EPERM, 8);
    return 0;
  });
  EXPECT_EQ(0, rc) << "step " << rc << " failed in the child";
}

TEST_F(PermissionsTest, NewNodesBelongToTheCallerAndHonourItsUmask) {
  ASSERT_EQ(0, mkdir(p("shared").c_str(), 0777));
  ASSERT_EQ(0, chmod(p("shared").c_str(), 0777));  // past the test's own umask
  const std::string dir = p("shared");
  int rc = run_as(
      kUser, kGroup,
      [&]() -> int {
        CHILD_EXPECT(write_file(dir + "/file", "mine", 0666) == 0, 1);
        CHILD_EXPECT(mkdir((dir + "/sub").c_str(), 0777) == 0, 2);
        CHILD_EXPECT(mkfifo((dir + "/fifo").c_str(), 0666) == 0, 3);
        CHILD_EXPECT(symlink("file", (dir + "/link").c_str()) == 0, 4);
        // The owner may chmod and may chgrp to a group it belongs to.
        CHILD_EXPECT(chmod((dir + "/file").c_str(), 0600) == 0, 5);
        CHILD_EXPECT(chown((dir + "/sub").c_str(), -1, kOtherGroup) == 0, 6);
        return 0;
      },
      {kOtherGroup}, 027);
  ASSERT_EQ(0, rc) << "step " << rc << " failed in the child";
  struct stat st {};
  ASSERT_EQ(0, stat(p("shared/file").c_str(), &st));
  EXPECT_EQ(kUser, st.st_uid);
  EXPECT_EQ(kGroup, st.st_gid);
  EXPECT_EQ(0600u, st.st_mode & 07777);
  ASSERT_EQ(0, stat(p("shared/sub").c_str(), &st));
  EXPECT_EQ(kUser, st.st_uid);
  EXPECT_EQ(kOtherGroup, st.st_gid);
  EXPECT_EQ(0750u, st.st_mode & 07777);  // 0777 & ~027
  ASSERT_EQ(0, stat(p("shared/fifo").c_str(), &st));
  EXPECT_EQ(0640u, st.st_mode & 07777);
  ASSERT_EQ(0, lstat(p("shared/link").c_str(), &st));
  EXPECT_EQ(kUser, st.st_uid);
  ASSERT_TRUE(fs_->remount());
  ASSERT_EQ(0, stat(p("shared/file").c_str(), &st));
  EXPECT_EQ(kUser, st.st_uid);
  EXPECT_EQ(0600u, st.st_mode & 07777);
}

TEST_F(PermissionsTest, SetgidDirectoriesPassTheirGroupOn) {
  ASSERT_EQ(0, mkdir(p("proj").c_str(), 0777));
  ASSERT_EQ(0, chown(p("proj").c_str(), 0, kOtherGroup));
  ASSERT_EQ(0, chmod(p("proj").c_str(), 02777));
  const std::string dir = p("proj");
  // A member of another primary group creates inside: the directory's group
  // wins, and new directories stay setgid.
  int rc = run_as(
      kUser, kGroup,
      [&]() -> int {
        CHILD_EXPECT(write_file(dir + "/f", "x", 0664) == 0, 1);
        CHILD_EXPECT(mkdir((dir + "/d").c_str(), 0775) == 0, 2);
        CHILD_EXPECT(mkdir((dir + "/d/deeper").c_str(), 0775) == 0, 3);
        return 0;
      },
      {kOtherGroup}, 022);
  ASSERT_EQ(0, rc) << "step " << rc << " failed in the child";
  struct stat st {};
  ASSERT_EQ(0, stat(p("proj/f").c_str(), &st));
  EXPECT_EQ(kOtherGroup, st.st_gid);
  EXPECT_EQ(0u, st.st_mode & S_ISGID);
  ASSERT_EQ(0, stat(p("proj/d").c_str(), &st));
  EXPECT_EQ(kOtherGroup, st.st_gid);
  EXPECT_NE(0u, st.st_mode & S_ISGID);
  ASSERT_EQ(0, stat(p("proj/d/deeper").c_str(), &st));
  EXPECT_EQ(kOtherGroup, st.st_gid);
  EXPECT_NE(0u, st.st_mode & S_ISGID);
  // Outside a setgid directory the caller's group applies.
  ASSERT_EQ(0, mkdir(p("plain").c_str(), 0777));
  ASSERT_EQ(0, chmod(p("plain").c_str(), 0777));
  const std::string plain = p("plain");
  rc = run_as(kUser, kGroup, [&]() -> int { return write_file(plain + "/f", "x") == 0 ? 0 : 1; },
              {kOtherGroup});
  ASSERT_EQ(0, rc);
  ASSERT_EQ(0, stat(p("plain/f").c_str(), &st));
  EXPECT_EQ(kGroup, st.st_gid);
}

TEST_F(PermissionsTest, WriteByOtherUserClearsSetuid) {
  ASSERT_EQ(0, write_file(p("suid"), "x", 0777));
  ASSERT_EQ(0, chmod(p("suid").c_str(), 04777));
  const std::string f = p("suid");
  int rc = run_as(kUser, kGroup, [&]() -> int {
    int fd = open(f.c_str(), O_WRONLY);
    if (fd < 0) return 1;
    if (write(fd, "y", 1) != 1) return 2;
    close(fd);
    return 0;
  });
  ASSERT_EQ(0, rc);
  struct stat st {};
  ASSERT_EQ(0, stat(f.c_str(), &st));
  EXPECT_EQ(0u, st.st_mode & S_ISUID);
}

// The VFS refuses trusted.* values to callers without CAP_SYS_ADMIN; their
// names must not be listed to them either (as on ext4 and tmpfs).
std::string xattr_names(const std::string& path) {
  char buf[4096];
  ssize_t n = listxattr(path.c_str(), buf, sizeof buf);
  if (n < 0 || listxattr(path.c_str(), nullptr, 0) != n) return "error";
  return std::string(buf, static_cast<size_t>(n));
}

// Clears CAP_SYS_ADMIN from the calling process's effective and permitted sets.
bool drop_cap_sys_admin() {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  data[0].effective &= ~(1u << CAP_SYS_ADMIN);
  data[0].permitted &= ~(1u << CAP_SYS_ADMIN);
  return syscall(SYS_capset, &hdr, data) == 0;
}

TEST_F(PermissionsTest, TrustedXattrNamesAreListedOnlyToCapSysAdmin) {
  const std::string f = p("f"), t = p("only-trusted");
  ASSERT_EQ(0, write_file(f, "x", 0644));
  ASSERT_EQ(0, write_file(t, "x", 0644));
  ASSERT_EQ(0, setxattr(f.c_str(), "trusted.secret", "v", 1, 0));
  ASSERT_EQ(0, setxattr(f.c_str(), "user.plain", "w", 1, 0));
  ASSERT_EQ(0, setxattr(t.c_str(), "trusted.secret", "v", 1, 0));
  const std::string both = xattr_names(f);
  EXPECT_TRUE(both == std::string("user.plain\0trusted.secret\0", 26) ||
              both == std::string("trusted.secret\0user.plain\0", 26))
      << both;
  EXPECT_EQ(std::string("trusted.secret\0", 15), xattr_names(t));
  auto unprivileged_view = [&]() -> int {
    CHILD_EXPECT(xattr_names(f) == std::string("user.plain\0", 11), 1);
    CHILD_EXPECT(xattr_names(t).empty(), 2);
    char v[8];
    errno = 0;
    CHILD_EXPECT(getxattr(f.c_str(), "trusted.secret", v, sizeof v) < 0 && errno == ENODATA, 3);
    return 0;
  };
  int rc = run_as(kUser, kGroup, unprivileged_view);
  EXPECT_EQ(0, rc) << "as nobody: step " << rc << " failed in the child";
  // Root without CAP_SYS_ADMIN is no more privileged than nobody.
  rc = run_as(0, 0, [&]() -> int { return drop_cap_sys_admin() ? unprivileged_view() : 10; });
  EXPECT_EQ(0, rc) << "as root without CAP_SYS_ADMIN: step " << rc << " failed in the child";
}

}  // namespace
}  // namespace pmemfs::test
