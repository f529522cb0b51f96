#include "fuse/daemonize.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace pmemfs::daemon {
namespace {

// Verdict bytes on the pipe: kOk, or kError followed by the message.
constexpr char kOk = '0';
constexpr char kError = 'E';

void write_all(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;  // the parent is gone; nobody left to tell
    p += w;
    n -= static_cast<size_t>(w);
  }
}

// The original process: wait for the verdict, relay it, exit.
[[noreturn]] void parent_wait(int read_fd, pid_t child) {
  std::string msg;
  char buf[512];
  for (;;) {
    ssize_t n = ::read(read_fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    msg.append(buf, static_cast<size_t>(n));
    if (msg[0] == kOk) _exit(0);  // don't wait for EOF: the daemon keeps the pipe until stdio is detached
  }
  if (!msg.empty() && msg[0] == kError) {
    fprintf(stderr, "pmemfs: %s\n", msg.c_str() + 1);
    int status = 0;
    int code = 1;
    if (waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) != 0)
      code = WEXITSTATUS(status);
    _exit(code);
  }
  // The child died without a verdict (a crash, or killed).
  int status = 0;
  waitpid(child, &status, 0);
  if (WIFSIGNALED(status))
    fprintf(stderr, "pmemfs: daemon killed by signal %d before the mount completed\n",
            WTERMSIG(status));
  else
    fprintf(stderr, "pmemfs: daemon exited (status %d) before the mount completed\n",
            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  _exit(1);
}

}  // namespace

Daemonizer::Daemonizer(bool foreground) {
  if (foreground) return;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    fprintf(stderr, "pmemfs: pipe: %s\n", strerror(errno));
    _exit(1);
  }
  fflush(nullptr);
  pid_t pid = fork();
  if (pid < 0) {
    fprintf(stderr, "pmemfs: fork: %s\n", strerror(errno));
    _exit(1);
  }
  if (pid > 0) {
    ::close(fds[1]);
    parent_wait(fds[0], pid);
  }
  ::close(fds[0]);
  pipe_fd_ = fds[1];
  // Leave the terminal's session so its hangup and job control don't reach
  // the daemon, and leave the cwd so we don't pin a file system.
  setsid();
  if (chdir("/") != 0) { /* "/" always exists; nothing sensible to do */ }
}

Daemonizer::~Daemonizer() {
  if (pipe_fd_ >= 0) ::close(pipe_fd_);
}

void Daemonizer::succeeded() {
  if (pipe_fd_ < 0) return;
  // Detach stdio first: once the parent exits, mount(8) or a shell pipeline
  // may be waiting for EOF on our inherited stdout/stderr.
  int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);
    dup2(null, STDERR_FILENO);
    ::close(null);
  }
  write_all(pipe_fd_, &kOk, 1);
  ::close(pipe_fd_);
  pipe_fd_ = -1;
}

void Daemonizer::fail(const std::string& msg, int code) {
  if (pipe_fd_ < 0) {
    fprintf(stderr, "pmemfs: %s\n", msg.c_str());
  } else {
    spdlog::error("{}", msg);  // syslog keeps it too
    std::string out = kError + msg;
    write_all(pipe_fd_, out.data(), out.size());
    ::close(pipe_fd_);
    pipe_fd_ = -1;
  }
  spdlog::shutdown();
  _exit(code);
}

}  // namespace pmemfs::daemon
