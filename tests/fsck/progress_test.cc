// Progress of a check (tools/fsck/progress.h, pmemfs.8 "fsck.pmemfs -C"):
// e2fsck's "PASS CURRENT MAX DEVICE" lines, every pass in order, each
// counting up to its end; and the terminal line, which a report line clears
// first so that the two never share a line.
#include <unistd.h>

#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "tests/fsck/fsck_fixture.h"
#include "tools/fsck/progress.h"

namespace pmemfs::fsck {
namespace {

struct Line {
  int pass;
  unsigned long long done, max;
  std::string device;
};

std::vector<Line> parse(const std::string& text, std::string* bad) {
  std::vector<Line> lines;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    Line x{};
    char dev[512] = {};
    if (std::sscanf(l.c_str(), "%d %llu %llu %511s", &x.pass, &x.done, &x.max, dev) != 4) {
      *bad = l;
      return lines;
    }
    x.device = dev;
    lines.push_back(x);
  }
  return lines;
}

std::string read_all(FILE* f) {
  std::string s;
  rewind(f);
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
  return s;
}

using ProgressTest = FsckTest;

TEST_F(ProgressTest, FdLinesCoverEveryPassInOrderUpToItsEnd) {
  FILE* sink = tmpfile();
  ASSERT_NE(nullptr, sink);
  FdProgress progress(fileno(sink), path_);
  CheckOptions opts;
  opts.progress = &progress;
  std::ostringstream out;
  EXPECT_EQ(kExitClean, check_pool(path_, opts, out).exit_code) << out.str();

  std::string bad;
  const std::vector<Line> lines = parse(read_all(sink), &bad);
  fclose(sink);
  ASSERT_TRUE(bad.empty()) << "not PASS CURRENT MAX DEVICE: " << bad;
  ASSERT_FALSE(lines.empty());
  int pass = 0;
  unsigned long long last = 0, max = 0;
  std::vector<int> ended;
  for (const Line& x : lines) {
    EXPECT_EQ(path_, x.device);
    EXPECT_LE(x.done, x.max) << "pass " << x.pass;
    if (x.pass != pass) {
      EXPECT_EQ(pass + 1, x.pass) << "passes out of order";
      if (pass) {
        EXPECT_EQ(max, last) << "pass " << pass << " did not reach its end";
      }
      pass = x.pass;
      last = x.done;
      max = x.max;
      continue;
    }
    EXPECT_EQ(max, x.max) << "pass " << pass << " changed its size";
    EXPECT_GT(x.done, last) << "pass " << pass << " went back or repeated itself";
    last = x.done;
  }
  EXPECT_EQ(9, pass) << "not every pass reported";
  EXPECT_EQ(max, last) << "the last pass did not reach its end";
}

TEST_F(ProgressTest, TerminalLineIsClearedBeforeEachReportLineAndAtTheEnd) {
  FILE* term = tmpfile();
  ASSERT_NE(nullptr, term);
  // Damage to report: an inode bit cleared under a live file.
  const uint64_t byte_off = sb_.inode_bitmap_off + (f1_ - 1) / 8;
  uint8_t bits = read_at<uint8_t>(byte_off);
  bits &= static_cast<uint8_t>(~(1u << ((f1_ - 1) % 8)));
  write_at(byte_off, bits);

  TerminalProgress progress(term, "pool", std::chrono::milliseconds(0));
  CheckOptions opts;
  opts.progress = &progress;
  std::ostringstream report;
  const auto r = check_pool(path_, opts, report);
  EXPECT_EQ(kExitUncorrected, r.exit_code) << report.str();
  const std::string drawn = read_all(term);
  fclose(term);
  EXPECT_NE(std::string::npos, drawn.find("\rpool: pass 1/9 (superblocks)")) << drawn;
  EXPECT_NE(std::string::npos, drawn.find("\rpool: pass 9/9 (block bitmap) 100%")) << drawn;
  // One clear per report line (the report went elsewhere here) and one at
  // the end; the line is drawn again after each.
  size_t clears = 0;
  for (size_t at = drawn.find("\r\033[K"); at != std::string::npos; at = drawn.find("\r\033[K", at + 1))
    ++clears;
  size_t report_lines = 0;
  for (char c : report.str()) report_lines += c == '\n';
  EXPECT_GE(clears, 2u);
  EXPECT_LE(clears, report_lines + 1) << drawn;
  EXPECT_EQ(drawn.size() - 4, drawn.rfind("\r\033[K")) << "the line is left on the terminal";
}

}  // namespace
}  // namespace pmemfs::fsck
