// Going to the background the way mount(8) needs it: the process that the
// user (or mount(8), or systemd) started must exit only once the file system
// is mounted and usable, with status 0, or with a message and non-zero if
// mounting failed. A pipe carries the verdict from the daemon to it.
#pragma once

#include <string>

namespace pmemfs::daemon {

class Daemonizer {
 public:
  // foreground: nothing happens. Otherwise forks; the original process waits
  // on the pipe and never returns from here (it _exits with the verdict), the
  // child continues in a new session with / as its working directory.
  explicit Daemonizer(bool foreground);
  Daemonizer(const Daemonizer&) = delete;
  Daemonizer& operator=(const Daemonizer&) = delete;
  ~Daemonizer();

  // The mount works: releases the waiting parent with status 0 and detaches
  // stdin/stdout/stderr from the terminal.
  void succeeded();
  // Before succeeded(): prints "pmemfs: msg" on the user's terminal (through
  // the parent when daemonised) and exits with code.
  [[noreturn]] void fail(const std::string& msg, int code = 1);

  bool foreground() const { return pipe_fd_ < 0; }

 private:
  int pipe_fd_ = -1;  // write end, held by the daemonised child until the verdict
};

}  // namespace pmemfs::daemon
