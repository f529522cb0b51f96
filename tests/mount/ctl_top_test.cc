// pmemfs-ctl top (pmemfs.8): the once-a-second view of a mount. With
// --once --json an interval's requests are counted exactly (its own reads of
// the stats left out); on a terminal the view refreshes in place and q quits,
// leaving the terminal as it was.
#include <poll.h>
#include <pty.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <termios.h>

#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

using json = nlohmann::json;

class TopTest : public MountTest {
 protected:
  std::string mount_options() const override { return "cache=none"; }
};

TEST_F(TopTest, OnceJsonCountsTheIntervalsRequestsAndNothingOfItsOwn) {
  const std::string f = p("f");
  ASSERT_EQ(0, write_file(f, std::string(64 * 4096, 'x')));
  Fd fd(open(f.c_str(), O_WRONLY));
  ASSERT_GE(fd, 0);
  // Writes (one WRITE each with cache=none) all through the interval.
  std::atomic<bool> stop{false};
  std::atomic<long> writes{0};
  std::thread writer([&] {
    const std::string block(4096, 'w');
    for (long i = 0; !stop; ++i)
      if (pwrite(fd, block.data(), block.size(), (i % 64) * 4096) == 4096) ++writes;
  });
  auto r = run({ctl_path(), "top", fs_->mnt(), "--once", "--json", "--interval", "0.5"});
  stop = true;
  writer.join();
  ASSERT_EQ(0, r.status) << r.output;
  const json v = json::parse(r.output, nullptr, false);
  ASSERT_FALSE(v.is_discarded()) << r.output;

  ASSERT_TRUE(v["requests"].is_object()) << r.output;
  // Only the writer's requests: not top's GETXATTRs of the stats, nor its statfs.
  EXPECT_EQ(1u, v["requests"].size()) << v["requests"].dump();
  const json& w = v["requests"]["write"];
  ASSERT_TRUE(w.is_object()) << r.output;
  const uint64_t n = w["count"].get<uint64_t>();
  EXPECT_GT(n, 0u);
  EXPECT_LE(static_cast<long>(n), writes.load());
  const double secs = v["interval_s"].get<double>();
  EXPECT_GE(secs, 0.5);
  EXPECT_NEAR(static_cast<double>(n) / secs, w["per_s"].get<double>(), 0.01 * w["per_s"].get<double>() + 1);
  EXPECT_GT(w["p99_us"].get<double>(), 0.0);
  EXPECT_EQ(0.0, v["journal_commits_per_s"].get<double>()) << "overwrites commit nothing";

  struct statvfs sv {};
  ASSERT_EQ(0, statvfs(fs_->mnt().c_str(), &sv));
  EXPECT_EQ(static_cast<uint64_t>(sv.f_blocks) * sv.f_frsize, v["space"]["total_bytes"].get<uint64_t>());
  const double whole = v["space"]["free_in_whole_2mib_regions"].get<double>();
  EXPECT_GT(whole, 0.5) << "a nearly empty pool is mostly whole free regions";
  EXPECT_LE(whole, 1.0);
  const std::string transport = v["transport"].get<std::string>();
  EXPECT_TRUE(transport == "/dev/fuse" || transport == "io_uring") << r.output;
}

// Reads the pty until want appears or timeout_ms passes; everything read.
std::string read_until(int master, const std::string& want, int timeout_ms) {
  std::string got;
  for (int waited = 0; waited < timeout_ms && got.find(want) == std::string::npos; waited += 50) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, 50) == 1) {
      char buf[4096];
      const ssize_t n = read(master, buf, sizeof buf);
      if (n <= 0) break;
      got.append(buf, static_cast<size_t>(n));
    }
  }
  return got;
}

TEST_F(TopTest, OnATerminalTheViewRefreshesAndQQuits) {
  int master = -1;
  const std::string ctl = ctl_path(), mnt = fs_->mnt();
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  ASSERT_GE(pid, 0) << strerror(errno);
  if (pid == 0) {
    execl(ctl.c_str(), ctl.c_str(), "top", mnt.c_str(), "--interval", "0.2", nullptr);
    _exit(127);
  }
  // Two refreshes: the screen is cleared and drawn again.
  std::string screen = read_until(master, "requests/s", 10000);
  screen += read_until(master, "\033[H\033[2J", 10000);
  EXPECT_NE(std::string::npos, screen.find("(q quits)")) << screen;
  EXPECT_NE(std::string::npos, screen.find("space ")) << screen;
  size_t draws = 0;
  for (size_t at = screen.find("\033[H\033[2J"); at != std::string::npos; at = screen.find("\033[H\033[2J", at + 1))
    ++draws;
  EXPECT_GE(draws, 2u) << screen;

  ASSERT_EQ(1, write(master, "q", 1));
  const int status = wait_exit(pid, 10000);
  EXPECT_EQ(0, status) << "q did not end top";
  termios t{};
  if (tcgetattr(master, &t) == 0) {
    EXPECT_TRUE(t.c_lflag & ICANON) << "the terminal was left in single-key mode";
    EXPECT_TRUE(t.c_lflag & ECHO) << "the terminal was left without echo";
  }
  close(master);
  if (status == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, nullptr, 0);
  }
}

TEST_F(TopTest, BadUsageAndOtherFilesystemsAreRefusedInOneLine) {
  auto r = run({ctl_path(), "top"});
  EXPECT_EQ(2, r.status) << r.output;
  r = run({ctl_path(), "top", fs_->mnt(), "--json"});
  EXPECT_EQ(2, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("--once")) << r.output;
  r = run({ctl_path(), "top", fs_->mnt(), "--interval", "0"});
  EXPECT_EQ(2, r.status) << r.output;
  r = run({ctl_path(), "top", "/tmp", "--once"});
  EXPECT_EQ(1, r.status) << r.output;
  EXPECT_NE(std::string::npos, r.output.find("/tmp")) << r.output;
}

}  // namespace
}  // namespace pmemfs::test
