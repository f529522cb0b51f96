// POSIX ACLs on a mount, as on ext4: setfacl/getfacl, enforcement by the
// kernel for other users, default ACLs inherited by new files and
// directories (the umask ignored there, and applied elsewhere), chmod keeping
// the mask in step, cp -a and tar --acls carrying them, and a remount.
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr uid_t kAclUser = 4321;
constexpr uid_t kAclStranger = 4322;

#ifndef CHILD_EXPECT  // as in permissions_test.cc, which a unity build may put first
#define CHILD_EXPECT(cond, code) \
  do {                           \
    if (!(cond)) return (code);  \
  } while (0)
#endif

class AclTest : public MountTest {
 protected:
  // setfacl/getfacl/cp/tar; fails the test with their output when they fail.
  ::testing::AssertionResult sh(const std::vector<std::string>& argv) {
    ProcResult r = run(argv);
    if (r.status == 0) return ::testing::AssertionSuccess();
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    return ::testing::AssertionFailure() << cmd << "exited " << r.status << ": " << r.output;
  }
  // The access (or default) ACL as getfacl prints it, without the header and
  // the effective-rights comments.
  std::string acl(const std::string& path, bool dflt = false) {
    std::vector<std::string> argv{"getfacl", "-p", "--omit-header", "-E"};
    argv.push_back(dflt ? "-d" : "-a");
    argv.push_back(path);
    ProcResult r = run(argv);
    EXPECT_EQ(0, r.status) << r.output;
    return r.output;
  }
  mode_t perms(const std::string& path) {
    struct stat st {};
    EXPECT_EQ(0, stat(path.c_str(), &st)) << path << ": " << strerror(errno);
    return st.st_mode & 07777;
  }
};

int can_open(const std::string& path, int flags) {
  int fd = open(path.c_str(), flags);
  if (fd < 0) return errno;
  close(fd);
  return 0;
}

TEST_F(AclTest, SetfaclLetsAnotherUserReadButNotWrite) {
  const std::string f = p("private");
  ASSERT_EQ(0, write_file(f, "secret", 0600));
  ASSERT_EQ(0, chmod(f.c_str(), 0600));
  ASSERT_EQ(0, run_as(kAclUser, kAclUser, [&] { return can_open(f, O_RDONLY) == EACCES ? 0 : 1; }));
  ASSERT_TRUE(sh({"setfacl", "-m", "u:4321:r", f}));
  EXPECT_EQ("user::rw-\nuser:4321:r--\ngroup::---\nmask::r--\nother::---\n\n", acl(f));
  EXPECT_EQ(0640u, perms(f));  // the group bits show the mask
  int rc = run_as(kAclUser, kAclUser, [&]() -> int {
    CHILD_EXPECT(read_file(f) == "secret", 1);
    CHILD_EXPECT(can_open(f, O_WRONLY) == EACCES, 2);
    CHILD_EXPECT(can_open(f, O_RDWR) == EACCES, 3);
    return 0;
  });
  EXPECT_EQ(0, rc) << "step " << rc << " failed for the named user";
  rc = run_as(kAclStranger, kAclStranger, [&] { return can_open(f, O_RDONLY) == EACCES ? 0 : 1; });
  EXPECT_EQ(0, rc) << "a user the ACL does not name could read";
  // setfacl -b drops it again; the mode keeps what the mask made it.
  ASSERT_TRUE(sh({"setfacl", "-b", f}));
  EXPECT_EQ("user::rw-\ngroup::---\nother::---\n\n", acl(f));
  EXPECT_EQ(ENODATA, getxattr(f.c_str(), "system.posix_acl_access", nullptr, 0) < 0 ? errno : 0);
  rc = run_as(kAclUser, kAclUser, [&] { return can_open(f, O_RDONLY) == EACCES ? 0 : 1; });
  EXPECT_EQ(0, rc);
}

TEST_F(AclTest, DefaultAclIsInheritedAndTheUmaskIgnored) {
  const std::string d = p("shared");
  ASSERT_EQ(0, mkdir(d.c_str(), 0755));
  ASSERT_TRUE(sh({"setfacl", "-d", "-m", "u::rwx,u:4321:rwx,g::r-x,o::---", d}));
  // Without a default ACL the umask applies (the kernel leaves it to us).
  ASSERT_EQ(0, mkdir(p("plain").c_str(), 0777));
  ASSERT_EQ(0, chmod(p("plain").c_str(), 0777));
  ASSERT_EQ(0, chmod(d.c_str(), 0777));
  const std::string plain = p("plain");
  int rc = run_as(
      kAclUser, kAclUser,
      [&]() -> int {
        CHILD_EXPECT(write_file(d + "/file", "x", 0666) == 0, 1);
        CHILD_EXPECT(mkdir((d + "/sub").c_str(), 0777) == 0, 2);
        CHILD_EXPECT(write_file(plain + "/file", "x", 0666) == 0, 3);
        CHILD_EXPECT(mkdir((plain + "/sub").c_str(), 0777) == 0, 4);
        return 0;
      },
      {}, 077);
  ASSERT_EQ(0, rc) << "step " << rc << " failed in the child";
  EXPECT_EQ(0600u, perms(plain + "/file"));
  EXPECT_EQ(0700u, perms(plain + "/sub"));
  EXPECT_EQ("user::rw-\ngroup::---\nother::---\n\n", acl(plain + "/file"));

  // A file: the default masked by the create mode 0666, umask 077 ignored.
  EXPECT_EQ(0660u, perms(d + "/file"));
  EXPECT_EQ("user::rw-\nuser:4321:rwx\ngroup::r-x\nmask::rw-\nother::---\n\n",
            acl(d + "/file"));
  EXPECT_EQ("", acl(d + "/file", true));
  // A directory: the default as its access ACL and as its default ACL.
  EXPECT_EQ(0770u, perms(d + "/sub"));
  EXPECT_EQ("user::rwx\nuser:4321:rwx\ngroup::r-x\nmask::rwx\nother::---\n\n", acl(d + "/sub"));
  EXPECT_EQ(acl(d, true), acl(d + "/sub", true));
  EXPECT_EQ("user::rwx\nuser:4321:rwx\ngroup::r-x\nmask::rwx\nother::---\n\n", acl(d, true));
  // The inherited ACL is enforced: a stranger is "other", and has nothing.
  const std::string f = d + "/file";
  rc = run_as(kAclStranger, kAclStranger, [&] { return can_open(f, O_RDONLY) == EACCES ? 0 : 1; });
  EXPECT_EQ(0, rc);
}

TEST_F(AclTest, ChmodUpdatesTheMask) {
  const std::string f = p("f");
  ASSERT_EQ(0, write_file(f, "data", 0640));
  ASSERT_EQ(0, chmod(f.c_str(), 0640));
  ASSERT_TRUE(sh({"setfacl", "-m", "u:4321:rw", f}));
  EXPECT_EQ(0660u, perms(f));
  ASSERT_EQ(0, run_as(kAclUser, kAclUser, [&] { return can_open(f, O_WRONLY); }));
  ASSERT_TRUE(sh({"chmod", "g-w", f}));
  EXPECT_EQ(0640u, perms(f));
  EXPECT_EQ("user::rw-\nuser:4321:rw-\ngroup::r--\nmask::r--\nother::---\n\n", acl(f));
  int rc = run_as(kAclUser, kAclUser, [&]() -> int {
    CHILD_EXPECT(can_open(f, O_RDONLY) == 0, 1);
    CHILD_EXPECT(can_open(f, O_WRONLY) == EACCES, 2);
    return 0;
  });
  EXPECT_EQ(0, rc) << "step " << rc << " failed in the child";
  ASSERT_EQ(0, chmod(f.c_str(), 0600));
  EXPECT_EQ("user::rw-\nuser:4321:rw-\ngroup::r--\nmask::---\nother::---\n\n", acl(f));
}

TEST_F(AclTest, CpAndTarKeepAclsAndARemountToo) {
  ASSERT_EQ(0, mkdir(p("src").c_str(), 0750));
  ASSERT_EQ(0, write_file(p("src/f"), "payload", 0640));
  ASSERT_TRUE(sh({"setfacl", "-m", "u:4321:r,g:4321:rw", p("src/f")}));
  ASSERT_TRUE(sh({"setfacl", "-d", "-m", "u:4321:rx", p("src")}));
  ASSERT_TRUE(sh({"setfacl", "-m", "u:4321:rx", p("src")}));
  const std::string f_acl = acl(p("src/f")), d_acl = acl(p("src")), d_def = acl(p("src"), true);
  ASSERT_NE(std::string::npos, f_acl.find("user:4321:r--")) << f_acl;
  ASSERT_NE(std::string::npos, d_def.find("user:4321:r-x")) << d_def;

  ASSERT_TRUE(sh({"cp", "-a", p("src"), p("copy")}));
  EXPECT_EQ(f_acl, acl(p("copy/f")));
  EXPECT_EQ(d_acl, acl(p("copy")));
  EXPECT_EQ(d_def, acl(p("copy"), true));

  const std::string archive = fs_->dir() + "/acls.tar";
  ASSERT_TRUE(sh({"tar", "--acls", "-C", p(""), "-cf", archive, "src"}));
  ASSERT_EQ(0, mkdir(p("untar").c_str(), 0755));
  ASSERT_TRUE(sh({"tar", "--acls", "-C", p("untar"), "-xpf", archive}));
  EXPECT_EQ(f_acl, acl(p("untar/src/f")));
  EXPECT_EQ(d_acl, acl(p("untar/src")));
  EXPECT_EQ(d_def, acl(p("untar/src"), true));

  ASSERT_TRUE(fs_->remount());
  for (const std::string dir : {"src", "copy", "untar/src"}) {
    EXPECT_EQ(f_acl, acl(p(dir + "/f"))) << dir;
    EXPECT_EQ(d_acl, acl(p(dir))) << dir;
    EXPECT_EQ(d_def, acl(p(dir), true)) << dir;
  }
  // ... and still enforced.
  const std::string f = p("copy/f");
  int rc = run_as(kAclUser, kAclUser, [&]() -> int {
    CHILD_EXPECT(read_file(f) == "payload", 1);
    CHILD_EXPECT(can_open(f, O_WRONLY) == EACCES, 2);
    return 0;
  });
  EXPECT_EQ(0, rc) << "step " << rc << " failed in the child";
}

}  // namespace
}  // namespace pmemfs::test
