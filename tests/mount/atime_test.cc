// The atime mount options, as on ext4: each mounts; relatime (the default)
// updates the access time on the first read after a change and not on the
// next; strictatime on every read; noatime never; nodiratime not for
// directories; /proc/mounts shows them; the time survives an unmount.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/mount/stats_json.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

// The options of mnt between commas, so that ",noatime," finds a whole word.
std::string comma_options_of(const std::string& mnt) { return "," + mount_options_of(mnt) + ","; }

int64_t atime_of(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return -1;
  return int64_t{st.st_atim.tv_sec} * 1000000000 + st.st_atim.tv_nsec;
}

void tick() { std::this_thread::sleep_for(std::chrono::milliseconds(20)); }

// open, read a little, close: what `cat` does.
void read_once(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY));
  char buf[16];
  ASSERT_GE(fd, 0);
  ASSERT_GE(::read(fd, buf, sizeof buf), 0);
}

void list_once(const std::string& path) {
  DIR* d = opendir(path.c_str());
  ASSERT_NE(nullptr, d);
  while (readdir(d) != nullptr) {}
  closedir(d);
}

uint64_t journal_commits(const std::string& mnt) {
  return stats_counter(stats_json(mnt), "journal_commits");
}

class AtimeTest : public MountTest {
 protected:
  void remount_with(const std::string& options) {
    ASSERT_EQ(0, fs_->unmount());
    ASSERT_TRUE(fs_->mount(options));
  }
};

TEST_F(AtimeTest, EachOptionMountsAndShowsInProcMounts) {
  struct Case {
    const char* option;
    const char* shown;      // must appear, "" for none
    const char* not_shown;  // must not appear
  };
  for (const Case& c : {Case{"relatime", ",relatime,", ",noatime,"},
                        Case{"norelatime", ",relatime,", ",noatime,"},
                        Case{"strictatime", "", ",relatime,"},
                        Case{"nostrictatime", ",relatime,", ",noatime,"},
                        Case{"noatime", ",noatime,", ",relatime,"},
                        Case{"atime", ",relatime,", ",noatime,"},
                        Case{"nodiratime", ",nodiratime,", ",noatime,"},
                        Case{"diratime", ",relatime,", ",nodiratime,"},
                        Case{"lazytime", ",lazytime,", ",noatime,"},
                        Case{"nolazytime", ",relatime,", ",lazytime,"}}) {
    SCOPED_TRACE(c.option);
    remount_with(c.option);
    const std::string opts = comma_options_of(fs_->mnt());
    if (*c.shown) {
      EXPECT_NE(std::string::npos, opts.find(c.shown)) << opts;
    }
    if (c.option == std::string("strictatime")) {
      EXPECT_EQ(std::string::npos, opts.find(",noatime,")) << opts;
    }
    EXPECT_EQ(std::string::npos, opts.find(c.not_shown)) << opts;
    EXPECT_EQ(0, write_file(p(std::string("f-") + c.option), "x"));
    EXPECT_EQ("x", read_file(p(std::string("f-") + c.option)));
  }
  // Through the helper as well.
  ASSERT_EQ(0, fs_->unmount());
  auto r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-o", "strictatime,nodiratime,lazytime"},
               {"PMEMFS_DAEMON=" + daemon_path()});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_NE(std::string::npos, comma_options_of(fs_->mnt()).find(",nodiratime,"));
  ASSERT_EQ(0, run({"umount", fs_->mnt()}).status);
  for (int i = 0; i < 300 && fs_->is_mounted(); ++i) tick();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // the daemon exits
  ASSERT_TRUE(fs_->mount(""));
}

TEST_F(AtimeTest, RelatimeByDefaultUpdatesOnTheFirstReadAfterAWriteOnly) {
  ASSERT_EQ(0, write_file(p("f"), "data"));
  const int64_t written = atime_of(p("f"));
  tick();
  read_once(p("f"));
  const int64_t first = atime_of(p("f"));
  EXPECT_GT(first, written);
  tick();
  read_once(p("f"));
  EXPECT_EQ(first, atime_of(p("f")));
  // A change makes the next read count again.
  tick();
  ASSERT_EQ(0, write_file(p("f"), "more data"));
  tick();
  read_once(p("f"));
  EXPECT_GT(atime_of(p("f")), first);
}

TEST_F(AtimeTest, StrictatimeUpdatesOnEveryReadWithoutAJournalCommit) {
  remount_with("strictatime");
  ASSERT_EQ(0, write_file(p("f"), "data"));
  int64_t last = atime_of(p("f"));
  const uint64_t commits = journal_commits(fs_->mnt());
  for (int i = 0; i < 5; ++i) {
    tick();
    read_once(p("f"));
    const int64_t now = atime_of(p("f"));
    EXPECT_GT(now, last) << "read " << i;
    last = now;
  }
  EXPECT_EQ(commits, journal_commits(fs_->mnt()));
  // Kept in memory, written by the unmount.
  ASSERT_TRUE(fs_->remount());
  EXPECT_EQ(last, atime_of(p("f")));
}

TEST_F(AtimeTest, NoatimeNeverUpdates) {
  remount_with("noatime");
  ASSERT_EQ(0, write_file(p("f"), "data"));
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  const int64_t file = atime_of(p("f")), dir = atime_of(p("d"));
  tick();
  read_once(p("f"));
  list_once(p("d"));
  EXPECT_EQ(file, atime_of(p("f")));
  EXPECT_EQ(dir, atime_of(p("d")));
}

TEST_F(AtimeTest, NodiratimeSparesDirectoriesOnly) {
  for (const char* opts : {"", "nodiratime"}) {
    SCOPED_TRACE(opts);
    remount_with(opts);
    const std::string d = p(std::string("d") + opts);
    ASSERT_EQ(0, mkdir(d.c_str(), 0755));
    ASSERT_EQ(0, write_file(d + "/f", "data"));  // the directory changes
    const int64_t dir = atime_of(d), file = atime_of(d + "/f");
    tick();
    list_once(d);
    read_once(d + "/f");
    if (*opts) EXPECT_EQ(dir, atime_of(d));
    else EXPECT_GT(atime_of(d), dir);
    EXPECT_GT(atime_of(d + "/f"), file);
  }
}

TEST_F(AtimeTest, RemountChangesThePolicy) {
  ASSERT_EQ(0, write_file(p("f"), "data"));
  auto r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-o", "remount,noatime"},
               {"PMEMFS_DAEMON=" + daemon_path()});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_NE(std::string::npos, comma_options_of(fs_->mnt()).find(",noatime,"));
  const int64_t before = atime_of(p("f"));
  tick();
  read_once(p("f"));
  EXPECT_EQ(before, atime_of(p("f")));
  r = run({mount_helper_path(), fs_->pool(), fs_->mnt(), "-o", "remount,strictatime"},
          {"PMEMFS_DAEMON=" + daemon_path()});
  ASSERT_EQ(0, r.status) << r.output;
  read_once(p("f"));
  EXPECT_GT(atime_of(p("f")), before);
}

}  // namespace
}  // namespace pmemfs::test
