// Setuid, setgid and file capabilities dropped on write, truncate and chown
// exactly as ext4 drops them, in every cache mode. pmemfs negotiates
// FUSE_HANDLE_KILLPRIV_V2 (pmemfs.8 "FEATURES"): the kernel then leaves the
// dropping to the daemon and no longer asks for security.capability before
// every write. The rules (the VFS's setattr_should_drop_suidgid, checked
// against tmpfs): a write or truncate by a caller without CAP_FSETID drops
// S_ISUID, and S_ISGID when the file is group-executable or the caller is
// not in its group; root's keeps both. A chown drops S_ISUID always and
// S_ISGID by the same group rule. security.capability goes on any write,
// truncate or chown, root's too.
#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr uid_t kUser = 4321;
constexpr gid_t kGroup = 4321;
constexpr gid_t kOtherGroup = 4242;

class KillPrivV2Test : public MountTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }

  // A file of 8 KiB with mode and owner; its path.
  std::string make(const std::string& name, mode_t mode, uid_t uid = 0, gid_t gid = 0) {
    const std::string f = p(name);
    EXPECT_EQ(0, write_file(f, std::string(8192, 'x')));
    EXPECT_EQ(0, chown(f.c_str(), uid, gid));
    EXPECT_EQ(0, chmod(f.c_str(), mode));
    return f;
  }

  // The mode as stat(2) sees it, and as the kernel holds it: statx asking
  // for the mode alone is answered from the kernel's cache when that is
  // still valid -- a bit the daemon dropped must not linger there (exec
  // would honour it).
  static std::string modes(const std::string& f) {
    struct statx cached {};
    if (statx(AT_FDCWD, f.c_str(), 0, STATX_MODE, &cached) != 0) return strerror(errno);
    struct stat st {};
    if (stat(f.c_str(), &st) != 0) return strerror(errno);
    char buf[64];
    snprintf(buf, sizeof buf, "%o/%o", cached.stx_mode & 07777u, st.st_mode & 07777u);
    return buf;
  }
  static std::string both(mode_t m) {
    char buf[64];
    snprintf(buf, sizeof buf, "%o/%o", m, m);
    return buf;
  }
};

int write_one(const std::string& f, int flags = 0) {
  int fd = open(f.c_str(), O_WRONLY | flags);
  if (fd < 0) return 1;
  void* buf = nullptr;
  if (posix_memalign(&buf, 4096, 4096) != 0) return 2;
  memset(buf, 'y', 4096);
  const ssize_t n = pwrite(fd, buf, 4096, 0);
  free(buf);
  close(fd);
  return n == 4096 ? 0 : 3;
}

struct Case {
  mode_t before;
  gid_t gid;     // the file's group (kGroup: the writer is in it)
  mode_t after;  // after a write or truncate by kUser
};
// As tmpfs (the VFS's rules) answers.
const Case kDataCases[] = {
    {S_ISUID | 0666, 0, 0666},
    {S_ISGID | 0666, 0, 0666},                // not in the group
    {S_ISGID | 0666, kGroup, S_ISGID | 0666}, // in the group, not group-executable
    {S_ISGID | 0676, kGroup, 0676},           // group-executable
    {S_ISUID | S_ISGID | 0676, 0, 0676},
    {S_ISUID | S_ISGID | 0777, 0, 0777},
};

TEST_P(KillPrivV2Test, AnotherUsersWriteDropsSetuidAndSetgid) {
  for (int direct = 0; direct < 2; ++direct) {
    for (const Case& c : kDataCases) {
      const std::string f = make("w" + std::to_string(direct) + "-" + std::to_string(c.before) +
                                     "-" + std::to_string(c.gid),
                                 c.before, 0, c.gid);
      ASSERT_EQ(0, run_as(kUser, kGroup, [&] { return write_one(f, direct ? O_DIRECT : 0); }));
      EXPECT_EQ(both(c.after), modes(f)) << (direct ? "O_DIRECT" : "buffered") << " write to a file of "
                                         << std::oct << c.before << " group " << std::dec << c.gid;
    }
  }
}

TEST_P(KillPrivV2Test, AnotherUsersTruncateDropsSetuidAndSetgid) {
  for (int how = 0; how < 3; ++how) {
    for (const Case& c : kDataCases) {
      const std::string f = make("t" + std::to_string(how) + "-" + std::to_string(c.before) + "-" +
                                     std::to_string(c.gid),
                                 c.before, 0, c.gid);
      ASSERT_EQ(0, run_as(kUser, kGroup, [&] {
        if (how == 0) return truncate(f.c_str(), 100) == 0 ? 0 : 1;
        int fd = open(f.c_str(), O_WRONLY | (how == 2 ? O_TRUNC : 0));
        if (fd < 0) return 2;
        const int r = how == 1 ? ftruncate(fd, 100) : 0;
        close(fd);
        return r == 0 ? 0 : 3;
      }));
      static const char* const kHow[] = {"truncate", "ftruncate", "O_TRUNC"};
      EXPECT_EQ(both(c.after), modes(f)) << kHow[how] << " of a file of " << std::oct << c.before
                                         << " group " << std::dec << c.gid;
    }
  }
}

TEST_P(KillPrivV2Test, TheOwnersOwnWriteDropsSetuid) {
  const std::string f = make("own", S_ISUID | S_ISGID | 0755, kUser, kGroup);
  ASSERT_EQ(0, run_as(kUser, kGroup, [&] { return write_one(f); }));
  EXPECT_EQ(both(0755), modes(f));
}

TEST_P(KillPrivV2Test, RootsWriteAndTruncateKeepSetuidAndSetgid) {
  // CAP_FSETID: nothing is dropped.
  const std::string f = make("root", S_ISUID | S_ISGID | 0777);
  ASSERT_EQ(0, write_one(f));
  ASSERT_EQ(0, write_one(f, O_DIRECT));
  ASSERT_EQ(0, truncate(f.c_str(), 100));
  EXPECT_EQ(both(S_ISUID | S_ISGID | 0777), modes(f));
}

TEST_P(KillPrivV2Test, ChownDropsSetuidAlwaysAndSetgidByTheGroupRule) {
  // Root: setuid goes, setgid of a file that is not group-executable stays.
  struct {
    mode_t before, after;
  } root_cases[] = {{S_ISUID | S_ISGID | 0755, 0755}, {S_ISGID | 0644, S_ISGID | 0644}, {S_ISUID | 0644, 0644}};
  for (const auto& c : root_cases) {
    const std::string f = make("chown" + std::to_string(c.before), c.before, kUser, kGroup);
    ASSERT_EQ(0, chown(f.c_str(), 0, 0));
    EXPECT_EQ(both(c.after), modes(f)) << "root's chown of " << std::oct << c.before;
  }
  // The owner's chgrp to another group of its own.
  struct {
    mode_t before, after;
  } owner_cases[] = {{S_ISUID | S_ISGID | 0755, 0755}, {S_ISGID | 0644, S_ISGID | 0644}, {S_ISGID | 0654, 0654}};
  for (const auto& c : owner_cases) {
    const std::string f = make("chgrp" + std::to_string(c.before), c.before, kUser, kGroup);
    ASSERT_EQ(0, run_as(kUser, kGroup, [&] { return chown(f.c_str(), -1, kOtherGroup) == 0 ? 0 : 1; },
                        {kOtherGroup}));
    EXPECT_EQ(both(c.after), modes(f)) << "the owner's chgrp of " << std::oct << c.before;
  }
}

// A file capability (VFS_CAP_REVISION_2: cap_net_raw permitted).
std::string capability() {
  struct {
    uint32_t magic_etc;
    uint32_t permitted[2], inheritable[2];
  } v{};
  static_assert(sizeof v == 20);
  v.magic_etc = 0x02000000;  // VFS_CAP_REVISION_2
  v.permitted[0] = 1u << CAP_NET_RAW;
  return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

bool has_capability(const std::string& f) {
  char buf[64];
  return getxattr(f.c_str(), "security.capability", buf, sizeof buf) > 0;
}

TEST_P(KillPrivV2Test, AnyWriteTruncateOrChownRemovesSecurityCapability) {
  const std::string cap = capability();
  auto capable_file = [&](const std::string& name) {
    const std::string f = make(name, 0777);
    EXPECT_EQ(0, setxattr(f.c_str(), "security.capability", cap.data(), cap.size(), 0)) << strerror(errno);
    EXPECT_TRUE(has_capability(f));
    return f;
  };
  std::string f = capable_file("root-write");
  ASSERT_EQ(0, write_one(f));
  EXPECT_FALSE(has_capability(f)) << "root's buffered write";
  f = capable_file("root-direct");
  ASSERT_EQ(0, write_one(f, O_DIRECT));
  EXPECT_FALSE(has_capability(f)) << "root's O_DIRECT write";
  f = capable_file("other-write");
  ASSERT_EQ(0, run_as(kUser, kGroup, [&] { return write_one(f, O_DIRECT); }));
  EXPECT_FALSE(has_capability(f)) << "another user's O_DIRECT write";
  f = capable_file("root-truncate");
  ASSERT_EQ(0, truncate(f.c_str(), 10));
  EXPECT_FALSE(has_capability(f)) << "root's truncate";
  f = capable_file("root-chown");
  ASSERT_EQ(0, chown(f.c_str(), kUser, kGroup));
  EXPECT_FALSE(has_capability(f)) << "root's chown";
}

INSTANTIATE_TEST_SUITE_P(CacheModes, KillPrivV2Test, kCacheModes, cache_mode_name);

}  // namespace
}  // namespace pmemfs::test
