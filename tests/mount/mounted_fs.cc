#include "tests/mount/mounted_fs.h"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "pmemfs/filesystem.h"

namespace pmemfs::test {
namespace {

using Clock = std::chrono::steady_clock;

int decode_status(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return -1;
}

dev_t dev_of(const std::string& p) {
  struct stat st {};
  return stat(p.c_str(), &st) == 0 ? st.st_dev : 0;
}

std::string env_or_die(const char* name) {
  const char* v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "%s is not set; run the mount tests through `meson test`\n", name);
    abort();
  }
  return v;
}

}  // namespace

std::string test_mount_options() {
  const char* v = getenv("PMEMFS_TEST_MOUNT_OPTIONS");
  return v ? v : "";
}

namespace {
constexpr const char* kEnableUring = "/sys/module/fuse/parameters/enable_uring";
}  // namespace

std::string enable_uring_param() {
  std::ifstream in(kEnableUring);
  std::string v;
  in >> v;
  return v;
}

bool set_enable_uring_param(const std::string& value) {
  std::ofstream out(kEnableUring);
  out << value;
  out.flush();
  return static_cast<bool>(out);
}

namespace {

// The fuse module's enable_uring is system-wide, and daemons started with
// -o io_uring_enable_module (the io_uring run of the suite) set it to Y:
// the binary puts back what it found, so that the next run, and every other
// FUSE mount on the machine, sees the machine as it was.
class RestoreEnableUring : public ::testing::Environment {
 public:
  void SetUp() override { saved_ = enable_uring_param(); }
  void TearDown() override {
    if (!saved_.empty() && enable_uring_param() != saved_) set_enable_uring_param(saved_);
  }

 private:
  std::string saved_;
};

[[maybe_unused]] ::testing::Environment* const g_restore_enable_uring =
    ::testing::AddGlobalTestEnvironment(new RestoreEnableUring);

}  // namespace

bool running_in_ci() {
  const char* ci = getenv("CI");
  return ci && std::string(ci) == "true";
}

std::string fuse_unavailable_reason() {
  if (access("/dev/fuse", R_OK | W_OK) != 0)
    return std::string("/dev/fuse is not usable: ") + strerror(errno);
  // Mounting with allow_other, acting as other users and umount2 need root.
  if (geteuid() != 0) return "the mount tests must run as root";
  return {};
}

std::string daemon_path() { return env_or_die("PMEMFS_DAEMON"); }
std::string mount_helper_path() { return env_or_die("PMEMFS_MOUNT_HELPER"); }
std::string ctl_path() { return env_or_die("PMEMFS_CTL"); }
std::string fsck_path() { return env_or_die("PMEMFS_FSCK"); }

ProcResult run(const std::vector<std::string>& argv, const std::vector<std::string>& extra_env) {
  ProcResult r;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return r;
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    for (const std::string& e : extra_env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> a;
    for (const std::string& s : argv) a.push_back(const_cast<char*>(s.c_str()));
    a.push_back(nullptr);
    execvp(a[0], a.data());
    fprintf(stderr, "exec %s: %s\n", a[0], strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) r.output.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  r.status = decode_status(status);
  return r;
}

int run_as(uid_t uid, gid_t gid, const std::function<int()>& fn,
           const std::vector<gid_t>& extra_groups, mode_t umask_value) {
  pid_t pid = fork();
  if (pid == 0) {
    std::vector<gid_t> groups = {gid};
    groups.insert(groups.end(), extra_groups.begin(), extra_groups.end());
    if (setgroups(groups.size(), groups.data()) != 0 || setresgid(gid, gid, gid) != 0 ||
        setresuid(uid, uid, uid) != 0)
      _exit(201);
    umask(umask_value);
    _exit(fn());
  }
  int st = wait_exit(pid, 30000);
  return st < 0 ? 202 : st;
}

int wait_exit(pid_t pid, int timeout_ms) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return decode_status(status);
    if (r < 0 && errno != EINTR) return -1;
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
}

bool wait_for_mount(const std::string& path, pid_t pid, int timeout_ms) {
  const dev_t parent = dev_of(std::filesystem::path(path).parent_path());
  auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock::now() < deadline) {
    dev_t d = dev_of(path);
    if (d != 0 && d != parent) return true;
    siginfo_t si{};
    if (pid > 0 && waitid(P_PID, pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0 && si.si_pid == pid)
      return false;  // the daemon died; the caller reaps it
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return false;
}

MountedFs::MountedFs(const std::string& options, uint64_t pool_size, const std::string& parent)
    : options_(options) {
  std::string tmpl = parent + "/pmemfs-mount-test-XXXXXX";
  if (!mkdtemp(tmpl.data())) {
    setup_ = ::testing::AssertionFailure() << "mkdtemp in " << parent << ": " << strerror(errno);
    return;
  }
  dir_ = tmpl;
  pool_ = dir_ + "/pool.img";
  mnt_ = dir_ + "/mnt";
  log_ = dir_ + "/daemon.log";
  mkdir(mnt_.c_str(), 0755);
  // Let other users reach the mount point (permission tests run as nobody).
  chmod(dir_.c_str(), 0755);

  FormatOptions fo;
  fo.source = pool_;
  fo.size = pool_size;
  fo.label = "mount-test";
  auto f = Filesystem::format(fo);
  if (!f) {
    setup_ = ::testing::AssertionFailure()
             << "format " << pool_ << ": " << strerror(f.error());
    return;
  }
  setup_ = mount(options);
}

MountedFs::~MountedFs() {
  if (pid_ > 0 || is_mounted()) {
    int st = unmount();
    if (st != 0)
      ADD_FAILURE() << "daemon exit status " << st << " at teardown; its log:\n" << daemon_log();
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
}

std::string MountedFs::daemon_log() const {
  std::ifstream in(log_);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool MountedFs::is_mounted() const {
  if (mnt_.empty()) return false;
  dev_t d = dev_of(mnt_);
  return d != 0 && d != dev_of(dir_);
}

::testing::AssertionResult MountedFs::mount(const std::string& options, bool with_test_options) {
  options_ = options;
  with_test_options_ = with_test_options;
  std::string opts = "allow_other";
  // First, so that a test's own words win (the last word of a kind counts).
  if (const std::string extra = test_mount_options(); with_test_options && !extra.empty())
    opts += "," + extra;
  if (!options.empty()) opts += "," + options;
  const std::string daemon = daemon_path();
  pid_ = fork();
  if (pid_ == 0) {
    int fd = open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    execl(daemon.c_str(), daemon.c_str(), "-f", "-o", opts.c_str(), pool_.c_str(), mnt_.c_str(),
          nullptr);
    _exit(127);
  }
  if (pid_ < 0) return ::testing::AssertionFailure() << "fork: " << strerror(errno);
  if (!wait_for_mount(mnt_, pid_, 15000)) {
    int st = wait_exit(pid_, 100);
    if (st < 0) {
      kill(pid_, SIGKILL);
      wait_exit(pid_, 5000);
    }
    pid_ = -1;
    return ::testing::AssertionFailure() << "daemon did not mount " << mnt_ << " (exit status "
                                         << st << "); its log:\n"
                                         << daemon_log();
  }
  return ::testing::AssertionSuccess();
}

int MountedFs::unmount() {
  auto deadline = Clock::now() + std::chrono::seconds(3);
  while (is_mounted()) {
    if (umount2(mnt_.c_str(), 0) == 0) break;
    if (errno != EBUSY || Clock::now() >= deadline) {
      umount2(mnt_.c_str(), MNT_DETACH);
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (pid_ <= 0) return 0;
  int st = wait_exit(pid_, 15000);
  if (st < 0) {
    kill(pid_, SIGKILL);
    wait_exit(pid_, 5000);
  }
  pid_ = -1;
  return st;
}

::testing::AssertionResult MountedFs::remount() {
  int st = unmount();
  if (st != 0)
    return ::testing::AssertionFailure() << "daemon exited with " << st << " on umount; its log:\n"
                                         << daemon_log();
  return mount(options_, with_test_options_);
}

int MountedFs::terminate() {
  if (pid_ <= 0) return -1;
  kill(pid_, SIGTERM);
  return wait_daemon();
}

int MountedFs::wait_daemon(int timeout_ms) {
  if (pid_ <= 0) return -1;
  int st = wait_exit(pid_, timeout_ms);
  if (st < 0) {
    kill(pid_, SIGKILL);
    wait_exit(pid_, 5000);
  }
  pid_ = -1;
  return st;
}

}  // namespace pmemfs::test
