// What mkfs.pmemfs, fsck.pmemfs and the daemon say about sources they cannot
// or must not use (issue 9, item 7): always the reason, never destructive
// advice for a recognisable pmemfs pool, and mkfs.pmemfs refuses to
// overwrite what a source holds (a filesystem libblkid knows, a pmemfs pool)
// without -f. The built programs run as a user runs them.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace {

struct Outcome {
  int code;
  std::string output;  // stdout and stderr
};

Outcome run(const std::string& cmd) {
  // timeout: a daemon that wrongly mounts must not hang the suite.
  FILE* p = popen(("timeout 20 " + cmd + " 2>&1").c_str(), "r");
  Outcome r{-1, ""};
  if (p == nullptr) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// The built programs, or others named in the environment (to try the tests
// on an installed or an older build).
std::string program(const char* env, const char* built) {
  const char* p = getenv(env);
  return p && *p ? p : built;
}
const std::string kMkfs = program("PMEMFS_MKFS", MKFS_BINARY);
const std::string kFsck = program("PMEMFS_FSCK", FSCK_BINARY);
const std::string kDaemon = program("PMEMFS_DAEMON", DAEMON_BINARY);

class ToolMessagesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pmemfs-tool-messages-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl));
    dir_ = tmpl;
  }
  void TearDown() override {
    if (!dir_.empty()) run("rm -rf " + dir_);
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string dir_;
};

// "mkfs.pmemfs: /dev/null: " said nothing.
bool ends_in_colon(const std::string& out) {
  return out.find(": \n") != std::string::npos || out.find(":\n") != std::string::npos;
}

TEST_F(ToolMessagesTest, MkfsOnDevNullSaysWhy) {
  Outcome r = run(kMkfs + " /dev/null");
  EXPECT_EQ(1, r.code);
  EXPECT_FALSE(ends_in_colon(r.output)) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("not a device DAX")) << r.output;
}

TEST_F(ToolMessagesTest, FsckOnDevNullSaysWhy) {
  Outcome r = run(kFsck + " -n /dev/null");
  EXPECT_EQ(8, r.code);
  EXPECT_FALSE(ends_in_colon(r.output)) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("not a device DAX")) << r.output;
}

TEST_F(ToolMessagesTest, MkfsSizeZeroNamesTheMinimum) {
  for (const char* size : {"0", "1M"}) {
    Outcome r = run(kMkfs + " -s " + size + " " + path("pool.img"));
    EXPECT_EQ(1, r.code) << size;
    EXPECT_EQ(std::string::npos, r.output.find("give a size")) << r.output;
    EXPECT_NE(std::string::npos, r.output.find("too small")) << r.output;
    EXPECT_NE(std::string::npos, r.output.find("32 MiB")) << r.output;
    EXPECT_NE(0, access(path("pool.img").c_str(), F_OK));
  }
}

// fsck(8) passes -C FD to read progress, e2fsck's way: the lines reach the
// descriptor, the report stays on standard output, and a bad FD is a usage
// error naming it.
TEST_F(ToolMessagesTest, FsckProgressGoesToTheGivenDescriptor) {
  const std::string pool = path("pool.img"), lines = path("progress");
  ASSERT_EQ(0, run(kMkfs + " -s 64M " + pool).code);
  Outcome r = run(kFsck + " -n -C 3 " + pool + " 3>" + lines);
  EXPECT_EQ(0, r.code) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("clean")) << r.output;
  EXPECT_EQ(std::string::npos, r.output.find(" 1 1 ")) << "progress on stdout: " << r.output;
  std::ifstream in(lines);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(0u, text.find("1 0 1 " + pool + "\n")) << text;
  EXPECT_NE(std::string::npos, text.find("\n9 ")) << text;
  for (const char* bad : {"-C x", "-C -1", "-C"}) {
    Outcome u = run(kFsck + " -n " + bad + (std::string(bad) == "-C" ? "" : " " + pool));
    EXPECT_EQ(16, u.code) << bad << ": " << u.output;
    EXPECT_NE(std::string::npos, u.output.find("-C")) << u.output;
  }
}

// A pool cut short is a pmemfs pool that lost its tail, not a foreign file:
// never "format it", but what happened and how to get it back.
TEST_F(ToolMessagesTest, TruncatedPoolIsNotToldToBeFormatted) {
  const std::string pool = path("pool.img"), mnt = path("mnt");
  ASSERT_EQ(0, mkdir(mnt.c_str(), 0755));
  for (const char* cut : {"40M", "1M"}) {
    SCOPED_TRACE(cut);
    unlink(pool.c_str());
    ASSERT_EQ(0, run(kMkfs + " -s 64M " + pool).code);
    ASSERT_EQ(0, run("truncate -s " + std::string(cut) + " " + pool).code);
    Outcome d = run(kDaemon + " -f " + pool + " " + mnt);
    EXPECT_EQ(1, d.code) << d.output;
    EXPECT_EQ(std::string::npos, d.output.find("format it")) << d.output;
    EXPECT_EQ(std::string::npos, d.output.find("minimum")) << d.output;
    EXPECT_NE(std::string::npos, d.output.find("truncated")) << d.output;
    EXPECT_NE(std::string::npos, d.output.find("truncate -s 67108864")) << d.output;
    EXPECT_NE(std::string::npos, d.output.find("fsck.pmemfs")) << d.output;
    Outcome f = run(kFsck + " -n " + pool);
    EXPECT_EQ(4, f.code) << f.output;
    EXPECT_NE(std::string::npos, f.output.find("truncate -s 67108864")) << f.output;
  }
  run("umount " + mnt + " 2>/dev/null");
}

TEST_F(ToolMessagesTest, MkfsRefusesAnExt4ImageWithoutForce) {
  if (system("command -v mkfs.ext4 >/dev/null") != 0) GTEST_SKIP() << "no mkfs.ext4 (e2fsprogs)";
  const std::string img = path("ext4.img");
  ASSERT_EQ(0, run("mkfs.ext4 -q -F -L mydata " + img + " 64M").code);
  Outcome r = run(kMkfs + " " + img);
  EXPECT_EQ(1, r.code) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("contains an ext4 filesystem (label mydata)")) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("use -f")) << r.output;
  EXPECT_EQ(0, run("blkid -p " + img).code) << "the ext4 image was changed";

  Outcome f = run(kMkfs + " -f " + img);
  EXPECT_EQ(0, f.code) << f.output;
  // Its signatures are gone: nothing takes the pool for an ext4 any more.
  EXPECT_EQ(2, run("blkid -p " + img).code);
}

TEST_F(ToolMessagesTest, MkfsRefusesAnExistingPmemfsNamingItsLabel) {
  const std::string pool = path("pool.img");
  ASSERT_EQ(0, run(kMkfs + " -L keepme -s 64M " + pool).code);
  Outcome r = run(kMkfs + " " + pool);
  EXPECT_EQ(1, r.code) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("contains a pmemfs filesystem (label keepme); use -f"))
      << r.output;
  EXPECT_EQ(0, run(kMkfs + " -f " + pool).code);
}

// A sparse file (truncate -s) that mkfs formats is allocated in full, so
// that no store to it can meet a full filesystem later.
TEST_F(ToolMessagesTest, MkfsAllocatesASparseFileItFormats) {
  const std::string pool = path("pool.img");
  ASSERT_EQ(0, run("truncate -s 64M " + pool).code);
  Outcome r = run(kMkfs + " " + pool);
  ASSERT_EQ(0, r.code) << r.output;
  struct stat st {};
  ASSERT_EQ(0, stat(pool.c_str(), &st));
  EXPECT_GE(static_cast<uint64_t>(st.st_blocks) * 512, static_cast<uint64_t>(st.st_size));
}

// mkfs -C FD: e2fsck's "STAGE DONE TOTAL SOURCE" lines on FD, stage 1 (the
// pool file allocated, in MiB, a line per GiB) and stage 2 (the metadata,
// in four steps), each counting up to its end, in order.
TEST_F(ToolMessagesTest, MkfsDashCReportsBothStagesUpToTheirEnds) {
  const std::string pool = path("pool.img"), out = path("progress");
  Outcome r = run(kMkfs + " -C 3 -s 3G " + pool + " 3>" + out);
  ASSERT_EQ(0, r.code) << r.output;
  EXPECT_EQ(std::string::npos, r.output.find("allocating")) << "progress went to the terminal: " << r.output;
  FILE* f = fopen(out.c_str(), "r");
  ASSERT_NE(nullptr, f);
  std::vector<std::string> lines;
  char line[1024];
  while (fgets(line, sizeof line, f)) lines.emplace_back(line);
  fclose(f);
  std::vector<std::string> expected = {"1 0 3072 " + pool + "\n", "1 1024 3072 " + pool + "\n",
                                       "1 2048 3072 " + pool + "\n", "1 3072 3072 " + pool + "\n"};
  // A pool file made just now has no old format to clear (steps 1 and 2).
  for (int step : {0, 3, 4}) expected.push_back("2 " + std::to_string(step) + " 4 " + pool + "\n");
  EXPECT_EQ(expected, lines);
}

// On a terminal, a format that takes less than a second shows no progress
// line: the output is the summary alone.
TEST_F(ToolMessagesTest, MkfsOnATerminalShowsNoProgressForAQuickFormat) {
  const std::string pool = path("pool.img");
  Outcome r = run("script -qec '" + kMkfs + " -s 64M " + pool + "' /dev/null");
  ASSERT_EQ(0, r.code) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("pmemfs format version")) << r.output;
  EXPECT_EQ(std::string::npos, r.output.find("pass 1/2")) << r.output;
}

TEST_F(ToolMessagesTest, MkfsRefusesABadDashC) {
  Outcome r = run(kMkfs + " -C x -s 64M " + path("pool.img"));
  EXPECT_EQ(1, r.code);
  EXPECT_NE(std::string::npos, r.output.find("mkfs.pmemfs: invalid -C file descriptor 'x'")) << r.output;
}

}  // namespace
