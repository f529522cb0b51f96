// The choice of transport (fuse/uring_setup.h, pmemfs.8 "-o io_uring"):
// io_uring=on runs over FUSE's io_uring rings and says so in the stats and
// the log, or refuses to mount with one clear message; io_uring=auto without
// the kernel's io_uring stays on /dev/fuse and says why. The rest of the
// suite runs over both transports (the mount and mount_uring tests).
//
// These tests set the fuse module's enable_uring parameter themselves and
// put back what they found (EnableUring below); they start the daemon
// without PMEMFS_TEST_MOUNT_OPTIONS, whose words they would contradict.
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/mount/stats_json.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

// Without the parameter (a kernel before 6.14, or one built without
// CONFIG_FUSE_IO_URING) there is no io_uring to test; under CI that is a
// broken runner, as for /dev/fuse.
#define PMEMFS_REQUIRE_FUSE_URING()                                                      \
  do {                                                                                   \
    if (enable_uring_param().empty()) {                                                  \
      const char* why_ = "this kernel has no /sys/module/fuse/parameters/enable_uring";  \
      if (running_in_ci()) FAIL() << why_;                                               \
      GTEST_SKIP() << why_;                                                              \
    }                                                                                    \
  } while (0)

// Sets enable_uring for the test's duration.
class EnableUring {
 public:
  explicit EnableUring(const std::string& value) : saved_(enable_uring_param()) {
    ok_ = set_enable_uring_param(value) && enable_uring_param() == value;
  }
  ~EnableUring() {
    if (!saved_.empty()) set_enable_uring_param(saved_);
  }
  bool ok() const { return ok_; }

 private:
  std::string saved_;
  bool ok_ = false;
};

// What the stats call the transport (stats_json.h).
std::string transport_of(const std::string& mnt) {
  const nlohmann::json s = stats_json(mnt);
  if (!s.is_object() || !s.contains("transport")) return "(no transport in " + s.dump() + ")";
  return s["transport"].is_string() ? s["transport"].get<std::string>() : s["transport"].dump();
}

// User plus system CPU time of a process so far, in clock ticks.
long cpu_ticks(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return -1;
  // Fields after the command's closing parenthesis: state is field 3,
  // utime and stime are 14 and 15.
  std::istringstream rest(line.substr(line.rfind(')') + 2));
  std::string field;
  long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stol(field);
    if (i == 15) stime = std::stol(field);
  }
  return utime + stime;
}

// The fixture's own mount is undone at once: each test mounts the way it
// tests, and reads only what that daemon logged (the log file is shared).
class UringTest : public MountTest {
 protected:
  void SetUp() override {
    PMEMFS_REQUIRE_FUSE();
    PMEMFS_REQUIRE_FUSE_URING();
    MountTest::SetUp();
    if (HasFatalFailure()) return;
    ASSERT_EQ(0, fs_->unmount());
    log_from_ = fs_->daemon_log().size();
  }
  std::string log() const { return fs_->daemon_log().substr(log_from_); }

  size_t log_from_ = 0;
};

TEST_F(UringTest, OnRunsOverIoUringAndTheStatsAndTheLogSaySo) {
  EnableUring param("N");
  ASSERT_TRUE(param.ok());
  // The daemon may turn the kernel's io_uring on only when told to.
  ASSERT_TRUE(fs_->mount("io_uring=on,io_uring_enable_module,cache=none", false));
  EXPECT_EQ("Y", enable_uring_param());
  const std::string log = this->log();
  EXPECT_NE(std::string::npos, log.find("wrote Y to /sys/module/fuse/parameters/enable_uring")) << log;
  EXPECT_NE(std::string::npos, log.find("transport: io_uring (")) << log;
  EXPECT_EQ("io_uring", transport_of(fs_->mnt()));
  // Requests flow: a file written and read back directly, and a FUSE_TMPFILE,
  // which the transport layer answers itself, over the ring too.
  ASSERT_EQ(0, write_file(p("f"), pattern(3 * 4096 + 17, 9)));
  EXPECT_EQ(pattern(3 * 4096 + 17, 9), read_file(p("f")));
  Fd t(open(fs_->mnt().c_str(), O_TMPFILE | O_RDWR, 0600));
  ASSERT_GE(t, 0) << strerror(errno);
  ASSERT_EQ(5, pwrite(t, "tmpf!", 5, 0));
  char back[5];
  ASSERT_EQ(5, pread(t, back, 5, 0));
  EXPECT_EQ(0, std::memcmp(back, "tmpf!", 5));
}

TEST_F(UringTest, OnWithoutTheKernelsIoUringFailsTheMountWithOneMessage) {
  EnableUring param("N");
  ASSERT_TRUE(param.ok());
  auto r = run({daemon_path(), "-f", "-o", "io_uring=on", fs_->pool(), fs_->mnt()});
  EXPECT_NE(0, r.status) << r.output;
  EXPECT_NE(std::string::npos,
            r.output.find("pmemfs: io_uring=on, but the kernel's FUSE io_uring is off "
                          "(/sys/module/fuse/parameters/enable_uring is N; -o "
                          "io_uring_enable_module lets the daemon set it to Y)"))
      << r.output;
  EXPECT_FALSE(fs_->is_mounted()) << "no mount may be left behind";
  EXPECT_EQ("N", enable_uring_param()) << "changed without io_uring_enable_module";
}

TEST_F(UringTest, AutoWithoutTheKernelsIoUringUsesDevFuseAndSaysWhy) {
  EnableUring param("N");
  ASSERT_TRUE(param.ok());
  ASSERT_TRUE(fs_->mount("", false));
  const std::string log = this->log();
  EXPECT_NE(std::string::npos,
            log.find("transport: /dev/fuse (io_uring=auto: the kernel's FUSE io_uring is off"))
      << log;
  EXPECT_EQ(std::string::npos, log.find("transport: io_uring")) << log;
  EXPECT_EQ("/dev/fuse", transport_of(fs_->mnt()));
}

TEST_F(UringTest, AutoUsesIoUringWhenTheKernelOffersIt) {
  EnableUring param("Y");
  ASSERT_TRUE(param.ok());
  ASSERT_TRUE(fs_->mount("", false));
  EXPECT_EQ("io_uring", transport_of(fs_->mnt()))
      << fs_->daemon_log();
}

// Ring threads poll for the next request after serving one
// (-o io_uring_poll_us), and sleep once none came: an idle mount uses no
// CPU, even with the longest poll, where threads that never slept would
// use a CPU each.
TEST_F(UringTest, RingThreadsThatSeeNoRequestsSleep) {
  EnableUring param("Y");
  ASSERT_TRUE(param.ok());
  ASSERT_TRUE(fs_->mount("io_uring=on,io_uring_poll_us=10000", false));
  ASSERT_EQ("io_uring", transport_of(fs_->mnt()));
  for (int i = 0; i < 200; ++i)
    ASSERT_EQ(0, write_file(p("f" + std::to_string(i % 7)), pattern(4096, i)));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  const long before = cpu_ticks(fs_->daemon_pid());
  ASSERT_GE(before, 0) << "no /proc/" << fs_->daemon_pid() << "/stat";
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const long used = cpu_ticks(fs_->daemon_pid()) - before;
  const long hz = sysconf(_SC_CLK_TCK);
  EXPECT_LT(used, hz / 10) << "the idle daemon used " << used << " of " << hz
                           << " ticks in a second";
}

TEST_F(UringTest, OffStaysOnDevFuse) {
  EnableUring param("Y");
  ASSERT_TRUE(param.ok());
  ASSERT_TRUE(fs_->mount("io_uring=off", false));
  EXPECT_NE(std::string::npos, log().find("transport: /dev/fuse (io_uring=off)")) << log();
  EXPECT_EQ("/dev/fuse", transport_of(fs_->mnt()));
}

}  // namespace
}  // namespace pmemfs::test
