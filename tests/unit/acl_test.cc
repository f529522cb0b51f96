// POSIX ACLs through the library API, as the FUSE daemon hands them over with
// FUSE_CAP_POSIX_ACL: the system.posix_acl_access / system.posix_acl_default
// xattrs in the kernel's format (linux/posix_acl_xattr.h), validated when
// stored, kept in step with the mode (setting an access ACL sets the mode,
// chmod sets the ACL's mask), and inherited on create and mkdir as the
// kernel's posix_acl_create does it.
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <sys/xattr.h>

#include <cstring>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "test_pool.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kRoot = 1;
constexpr const char* kAccess = "system.posix_acl_access";
constexpr const char* kDefault = "system.posix_acl_default";
constexpr uint32_t kNoId = static_cast<uint32_t>(ACL_UNDEFINED_ID);

using Entry = std::tuple<uint16_t, uint16_t, uint32_t>;  // tag, perm, id

std::string xattr_of(const std::vector<Entry>& entries, uint32_t version = POSIX_ACL_XATTR_VERSION) {
  std::string out(sizeof(posix_acl_xattr_header) + entries.size() * sizeof(posix_acl_xattr_entry),
                  '\0');
  posix_acl_xattr_header h{version};
  std::memcpy(out.data(), &h, sizeof(h));
  size_t off = sizeof(h);
  for (auto [tag, perm, id] : entries) {
    posix_acl_xattr_entry e{tag, perm, id};
    std::memcpy(out.data() + off, &e, sizeof(e));
    off += sizeof(e);
  }
  return out;
}

std::vector<Entry> entries_of(const std::string& x) {
  std::vector<Entry> out;
  for (size_t off = sizeof(posix_acl_xattr_header); off + sizeof(posix_acl_xattr_entry) <= x.size();
       off += sizeof(posix_acl_xattr_entry)) {
    posix_acl_xattr_entry e;
    std::memcpy(&e, x.data() + off, sizeof(e));
    out.emplace_back(e.e_tag, e.e_perm, e.e_id);
  }
  return out;
}

// u::rwx u:4321:r-x g::r-x g:99:rwx m::rwx o::---
std::vector<Entry> rich_acl() {
  return {{ACL_USER_OBJ, 7, kNoId}, {ACL_USER, 5, 4321},  {ACL_GROUP_OBJ, 5, kNoId},
          {ACL_GROUP, 7, 99},       {ACL_MASK, 7, kNoId}, {ACL_OTHER, 0, kNoId}};
}

Attr mkfile(Filesystem& fs, uint64_t parent, std::string_view name, mode_t mode,
            mode_t umask = 022) {
  auto a = fs.mknod(parent, name, S_IFREG | mode, 0, Caller{0, 0, umask});
  EXPECT_TRUE(a.ok()) << "mknod " << name << ": " << a.error();
  return a.ok() ? *a : Attr{};
}

Attr mkdir_(Filesystem& fs, uint64_t parent, std::string_view name, mode_t mode,
            mode_t umask = 022) {
  auto a = fs.mkdir(parent, name, mode, Caller{0, 0, umask});
  EXPECT_TRUE(a.ok()) << "mkdir " << name << ": " << a.error();
  return a.ok() ? *a : Attr{};
}

mode_t perms(Filesystem& fs, uint64_t ino) { return fs.getattr(ino)->mode & 07777; }

Status chmod_(Filesystem& fs, uint64_t ino, mode_t mode) {
  SetAttr s;
  s.valid = SetAttr::kMode;
  s.mode = mode;
  auto r = fs.setattr(ino, s);
  return r.ok() ? Status{} : err(r.error());
}

TEST(Acl, StoredAndReadBackInTheKernelFormat) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f", 0600);
  const std::string acl = xattr_of(rich_acl());
  ASSERT_TRUE(fs->setxattr(f.ino, kAccess, acl, 0).ok());
  EXPECT_EQ(*fs->getxattr(f.ino, kAccess), acl);
  // The mode follows the ACL: owner from u::, group from the mask, other from o::.
  EXPECT_EQ(perms(*fs, f.ino), 0770u);
  ASSERT_TRUE(fs->removexattr(f.ino, kAccess).ok());
  EXPECT_EQ(fs->getxattr(f.ino, kAccess).error(), ENODATA);
  EXPECT_EQ(perms(*fs, f.ino), 0770u);  // removing keeps the mode, as on ext4
}

TEST(Acl, MalformedIsEinval) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f", 0644);
  Attr d = mkdir_(*fs, kRoot, "d", 0755);
  const std::string good = xattr_of(rich_acl());
  std::vector<std::string> bad = {
      "",                                         // no header
      good.substr(0, 3),                          // short header
      good.substr(0, good.size() - 1),            // a partial entry
      xattr_of({}),                               // no entries
      xattr_of(rich_acl(), 1),                    // wrong version
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_OTHER, 0, kNoId}}),  // no group
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_GROUP_OBJ, 5, kNoId}}),  // no other
      xattr_of({{ACL_USER_OBJ, 8, kNoId}, {ACL_GROUP_OBJ, 5, kNoId}, {ACL_OTHER, 0, kNoId}}),
      // out of order
      xattr_of({{ACL_GROUP_OBJ, 5, kNoId}, {ACL_USER_OBJ, 7, kNoId}, {ACL_OTHER, 0, kNoId}}),
      // a named user needs a mask
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_USER, 5, 4321}, {ACL_GROUP_OBJ, 5, kNoId},
                {ACL_OTHER, 0, kNoId}}),
      // a named user without an id
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_USER, 5, kNoId}, {ACL_GROUP_OBJ, 5, kNoId},
                {ACL_MASK, 7, kNoId}, {ACL_OTHER, 0, kNoId}}),
      // a mask out of place, an entry after other::
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_MASK, 7, kNoId}, {ACL_GROUP_OBJ, 5, kNoId},
                {ACL_OTHER, 0, kNoId}}),
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_GROUP_OBJ, 5, kNoId}, {ACL_OTHER, 0, kNoId},
                {ACL_OTHER, 0, kNoId}}),
      // two owners, an unknown tag
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_USER_OBJ, 7, kNoId}, {ACL_GROUP_OBJ, 5, kNoId},
                {ACL_OTHER, 0, kNoId}}),
      xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_GROUP_OBJ, 5, kNoId}, {0x40, 1, kNoId},
                {ACL_OTHER, 0, kNoId}}),
  };
  for (size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(fs->setxattr(f.ino, kAccess, bad[i], 0).error(), EINVAL) << "case " << i;
    EXPECT_EQ(fs->setxattr(d.ino, kDefault, bad[i], 0).error(), EINVAL) << "case " << i;
  }
  EXPECT_EQ(fs->getxattr(f.ino, kAccess).error(), ENODATA);
  EXPECT_EQ(fs->getxattr(d.ino, kDefault).error(), ENODATA);
  EXPECT_EQ(perms(*fs, f.ino), 0644u);
  // Only directories have a default ACL; other system.* names are unknown.
  EXPECT_EQ(fs->setxattr(f.ino, kDefault, good, 0).error(), EACCES);
  EXPECT_EQ(fs->setxattr(f.ino, "system.other", good, 0).error(), EOPNOTSUPP);
}

TEST(Acl, AnAclTheModeSaysAllOfIsNotStored) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f", 0600);
  ASSERT_TRUE(fs->setxattr(f.ino, kAccess, xattr_of(rich_acl()), 0).ok());
  // setfacl -m u::rw-,g::r--,o::r-- after removing the extended entries.
  ASSERT_TRUE(fs->setxattr(f.ino, kAccess,
                           xattr_of({{ACL_USER_OBJ, 6, kNoId}, {ACL_GROUP_OBJ, 4, kNoId},
                                     {ACL_OTHER, 4, kNoId}}),
                           0)
                  .ok());
  EXPECT_EQ(fs->getxattr(f.ino, kAccess).error(), ENODATA);
  EXPECT_EQ(perms(*fs, f.ino), 0644u);
}

TEST(Acl, ChmodKeepsTheMaskInStep) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr f = mkfile(*fs, kRoot, "f", 0600);
  ASSERT_TRUE(fs->setxattr(f.ino, kAccess, xattr_of(rich_acl()), 0).ok());
  ASSERT_TRUE(chmod_(*fs, f.ino, 0754).ok());
  EXPECT_EQ(perms(*fs, f.ino), 0754u);
  // u:: and o:: follow the owner and other bits, the mask the group bits;
  // the named entries and g:: stay.
  EXPECT_EQ(entries_of(*fs->getxattr(f.ino, kAccess)),
            (std::vector<Entry>{{ACL_USER_OBJ, 7, kNoId}, {ACL_USER, 5, 4321},
                                {ACL_GROUP_OBJ, 5, kNoId}, {ACL_GROUP, 7, 99},
                                {ACL_MASK, 5, kNoId}, {ACL_OTHER, 4, kNoId}}));
  // A file without an ACL just changes its mode.
  Attr g = mkfile(*fs, kRoot, "g", 0600);
  ASSERT_TRUE(chmod_(*fs, g.ino, 0640).ok());
  EXPECT_EQ(fs->getxattr(g.ino, kAccess).error(), ENODATA);
  EXPECT_EQ(perms(*fs, g.ino), 0640u);
}

TEST(Acl, DefaultAclIsInheritedOnCreateAndMkdir) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr d = mkdir_(*fs, kRoot, "d", 0755);
  const std::string def = xattr_of(rich_acl());
  ASSERT_TRUE(fs->setxattr(d.ino, kDefault, def, 0).ok());
  EXPECT_EQ(*fs->getxattr(d.ino, kDefault), def);
  EXPECT_EQ(perms(*fs, d.ino), 0755u);  // a default ACL leaves the mode alone

  // A file: its access ACL is the default masked by the create mode; the
  // umask (077 here) is ignored.
  Attr f = mkfile(*fs, d.ino, "f", 0664, 077);
  EXPECT_EQ(perms(*fs, f.ino), 0660u);
  EXPECT_EQ(entries_of(*fs->getxattr(f.ino, kAccess)),
            (std::vector<Entry>{{ACL_USER_OBJ, 6, kNoId}, {ACL_USER, 5, 4321},
                                {ACL_GROUP_OBJ, 5, kNoId}, {ACL_GROUP, 7, 99},
                                {ACL_MASK, 6, kNoId}, {ACL_OTHER, 0, kNoId}}));
  EXPECT_EQ(fs->getxattr(f.ino, kDefault).error(), ENODATA);

  // A directory: the default as its default and (masked) its access ACL.
  Attr s = mkdir_(*fs, d.ino, "s", 0750, 077);
  EXPECT_EQ(perms(*fs, s.ino), 0750u);
  EXPECT_EQ(*fs->getxattr(s.ino, kDefault), def);
  EXPECT_EQ(entries_of(*fs->getxattr(s.ino, kAccess)),
            (std::vector<Entry>{{ACL_USER_OBJ, 7, kNoId}, {ACL_USER, 5, 4321},
                                {ACL_GROUP_OBJ, 5, kNoId}, {ACL_GROUP, 7, 99},
                                {ACL_MASK, 5, kNoId}, {ACL_OTHER, 0, kNoId}}));
  // ... and passes it on.
  Attr ss = mkdir_(*fs, s.ino, "ss", 0700);
  EXPECT_EQ(*fs->getxattr(ss.ino, kDefault), def);
  EXPECT_EQ(perms(*fs, ss.ino), 0700u);

  // Symlinks take no ACL; device nodes and fifos do.
  ASSERT_TRUE(fs->symlink(d.ino, "l", "f", root_caller()).ok());
  auto l = fs->lookup(d.ino, "l");
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->mode & 07777, 0777u);
  EXPECT_EQ(fs->getxattr(l->ino, kAccess).error(), ENODATA);
  auto p = fs->mknod(d.ino, "p", S_IFIFO | 0666, 0, Caller{0, 0, 022});
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->mode & 07777, 0660u);
  EXPECT_TRUE(fs->getxattr(p->ino, kAccess).ok());
}

TEST(Acl, AMinimalDefaultAclMasksTheModeInsteadOfTheUmask) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr d = mkdir_(*fs, kRoot, "d", 0755);
  ASSERT_TRUE(fs->setxattr(d.ino, kDefault,
                           xattr_of({{ACL_USER_OBJ, 7, kNoId}, {ACL_GROUP_OBJ, 5, kNoId},
                                     {ACL_OTHER, 4, kNoId}}),
                           0)
                  .ok());
  Attr f = mkfile(*fs, d.ino, "f", 0666, 077);
  EXPECT_EQ(perms(*fs, f.ino), 0644u);
  EXPECT_EQ(fs->getxattr(f.ino, kAccess).error(), ENODATA);  // the mode says it all
  Attr s = mkdir_(*fs, d.ino, "s", 0777, 077);
  EXPECT_EQ(perms(*fs, s.ino), 0754u);
  EXPECT_EQ(fs->getxattr(s.ino, kAccess).error(), ENODATA);
  EXPECT_TRUE(fs->getxattr(s.ino, kDefault).ok());
}

TEST(Acl, WithoutADefaultAclTheUmaskApplies) {
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr d = mkdir_(*fs, kRoot, "d", 0777, 022);
  EXPECT_EQ(perms(*fs, d.ino), 0755u);
  Attr f = mkfile(*fs, d.ino, "f", 0666, 027);
  EXPECT_EQ(perms(*fs, f.ino), 0640u);
  EXPECT_EQ(fs->getxattr(f.ino, kAccess).error(), ENODATA);
  // Removing the default ACL brings the umask back.
  ASSERT_TRUE(fs->setxattr(d.ino, kDefault, xattr_of(rich_acl()), 0).ok());
  Attr g = mkfile(*fs, d.ino, "g", 0666, 027);
  EXPECT_EQ(perms(*fs, g.ino), 0660u);
  ASSERT_TRUE(fs->removexattr(d.ino, kDefault).ok());
  Attr h = mkfile(*fs, d.ino, "h", 0666, 027);
  EXPECT_EQ(perms(*fs, h.ino), 0640u);
}

TEST(Acl, SurviveARemount) {
  TempPool pool(64 << 20);
  uint64_t d_ino, f_ino;
  const std::string def = xattr_of(rich_acl());
  {
    auto fs = pool.mount();
    ASSERT_TRUE(fs);
    Attr d = mkdir_(*fs, kRoot, "d", 0755);
    ASSERT_TRUE(fs->setxattr(d.ino, kDefault, def, 0).ok());
    ASSERT_TRUE(fs->setxattr(d.ino, "user.other", "x", 0).ok());
    Attr f = mkfile(*fs, d.ino, "f", 0640);
    d_ino = d.ino;
    f_ino = f.ino;
    ASSERT_TRUE(chmod_(*fs, f.ino, 0600).ok());
    ASSERT_TRUE(fs->unmount().ok());
  }
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  EXPECT_EQ(*fs->getxattr(d_ino, kDefault), def);
  EXPECT_EQ(*fs->getxattr(d_ino, "user.other"), "x");
  EXPECT_EQ(perms(*fs, f_ino), 0600u);
  EXPECT_EQ(entries_of(*fs->getxattr(f_ino, kAccess)),
            (std::vector<Entry>{{ACL_USER_OBJ, 6, kNoId}, {ACL_USER, 5, 4321},
                                {ACL_GROUP_OBJ, 5, kNoId}, {ACL_GROUP, 7, 99},
                                {ACL_MASK, 0, kNoId}, {ACL_OTHER, 0, kNoId}}));
}

}  // namespace
}  // namespace pmemfs::test
