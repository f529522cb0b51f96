// Birth times through statx(2) (pmemfs.8, "STANDARDS"): the kernel asks the
// daemon with FUSE_STATX, answered in the transport layer, so statx and
// stat(1) report when a file was made -- not changed by later writes, mode
// changes or renames, and the same after a remount, since it is in the
// inode record.
#include <sys/stat.h>

#include <cstdio>
#include <ctime>
#include <string>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

struct Birth {
  bool reported = false;
  struct statx_timestamp t {};
};

Birth birth_of(const std::string& path) {
  struct statx sx {};
  Birth b;
  if (statx(AT_FDCWD, path.c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &sx) != 0) return b;
  b.reported = (sx.stx_mask & STATX_BTIME) != 0;
  b.t = sx.stx_btime;
  return b;
}

bool same(const struct statx_timestamp& a, const struct statx_timestamp& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

class StatxTest : public MountTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }
};

TEST_P(StatxTest, BirthTimeIsWhenTheFileWasMadeAndStays) {
  struct timespec before {};
  clock_gettime(CLOCK_REALTIME, &before);
  ASSERT_EQ(0, write_file(p("f"), "first"));
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  struct timespec after {};
  clock_gettime(CLOCK_REALTIME, &after);

  for (const char* name : {"f", "d"}) {
    const Birth b = birth_of(p(name));
    ASSERT_TRUE(b.reported) << name << ": statx reports no birth time";
    const double t = static_cast<double>(b.t.tv_sec) + b.t.tv_nsec * 1e-9;
    EXPECT_GE(t, static_cast<double>(before.tv_sec) - 1) << name;
    EXPECT_LE(t, static_cast<double>(after.tv_sec) + 1) << name;
  }
  const Birth born = birth_of(p("f"));

  // Changes of data, mode and name leave it.
  ASSERT_EQ(0, write_file(p("f"), "second, longer"));
  ASSERT_EQ(0, chmod(p("f").c_str(), 0600));
  ASSERT_EQ(0, rename(p("f").c_str(), p("g").c_str()));
  Birth now = birth_of(p("g"));
  ASSERT_TRUE(now.reported);
  EXPECT_TRUE(same(born.t, now.t)) << "the birth time changed";
  // The basic stats come with it, as stat(2) has them.
  struct statx sx {};
  ASSERT_EQ(0, statx(AT_FDCWD, p("g").c_str(), 0, STATX_BASIC_STATS | STATX_BTIME, &sx));
  EXPECT_EQ(14u, sx.stx_size);
  EXPECT_EQ(0600u, sx.stx_mode & 07777);
  EXPECT_TRUE(S_ISREG(sx.stx_mode));

  // Kept on media.
  ASSERT_TRUE(fs_->remount());
  now = birth_of(p("g"));
  ASSERT_TRUE(now.reported) << "no birth time after a remount";
  EXPECT_TRUE(same(born.t, now.t)) << "the birth time changed across a remount";
}

// What a user sees: stat(1)'s "Birth:" line has a date, not "-".
TEST_P(StatxTest, StatCommandShowsTheBirthTime) {
  ASSERT_EQ(0, write_file(p("f"), "x"));
  auto r = run({"stat", "-c", "%w", p("f")});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_NE("-\n", r.output);
  EXPECT_NE(std::string::npos, r.output.find(':')) << r.output;
}

INSTANTIATE_TEST_SUITE_P(CacheModes, StatxTest, kCacheModes, cache_mode_name);

}  // namespace
}  // namespace pmemfs::test
