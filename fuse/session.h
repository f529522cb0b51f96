// One FUSE mount served from one Filesystem: creating the libfuse session,
// mounting, running the request loop, and ending it cleanly on umount or on
// SIGTERM/SIGINT/SIGHUP.
#pragma once

#include <memory>
#include <string>

#include "fuse/dax_server.h"
#include "fuse/ops.h"
#include "fuse/options.h"
#include "fuse/transport.h"
#include "fuse/uring_transport.h"

namespace pmemfs::daemon {

// Blocks the termination signals in the calling thread; every thread created
// afterwards (the library's, libfuse's) inherits the mask, so only
// Session::run ever sees them. Call before Filesystem::mount.
void block_termination_signals();

class Session {
 public:
  Session(Filesystem& fs, const Options& opts);
  ~Session();  // unmounts if still mounted
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Creates the session and mounts it on mountpoint (an absolute path).
  // Returns an empty string on success, else a message for the user.
  std::string mount(const std::string& mountpoint);

  // Serves requests until the kernel unmounts the file system or a
  // termination signal arrives. On a signal the kernel is first made to write
  // back its dirty pages (they would be lost with the connection), then the
  // mount goes away. Returns 0 on a clean end.
  int run();

  // Ends the kernel side of the mount (idempotent).
  void unmount();

  // Whether `pmemfs-ctl powercut` cut the power during run(): the pool then
  // holds what was durable at the cut, and must not be synced or called clean.
  bool power_was_cut() const { return ctx_.power_cut.load(); }

 private:
  // Ends the loop from the outside: asks the kernel to flush and unmount,
  // falling back to stopping the loop when the mount is busy.
  void stop_after_signal(int sig);
  // Chooses the transport before the kernel sends INIT; "" or, with
  // io_uring=on, why the mount cannot go ahead.
  std::string set_up_transport();
  void set_up_dax();

  Filesystem& fs_;
  const Options& opts_;
  Transport transport_;  // before ctx_ and uring_, which point at it
  // FUSE over io_uring when the mount uses it; stopped before the session
  // is destroyed (its threads call into it).
  std::unique_ptr<UringTransport> uring_;
  std::unique_ptr<DaxServer> dax_;  // direct access; stopped after the loop
  OpsContext ctx_;
  struct fuse_session* se_ = nullptr;
  std::string mountpoint_;
  bool mounted_ = false;
  bool handlers_set_ = false;
};

}  // namespace pmemfs::daemon
