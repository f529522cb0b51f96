#include "fuse/session.h"

#include "fuse/bdi.h"
#include "fuse/mountinfo.h"
#include "fuse/uring_setup.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>
#include <vector>

namespace pmemfs::daemon {
namespace {

// SIGUSR1 knocks the loop thread out of sem_wait/read after
// fuse_session_exit; SIGUSR2 tells the main thread the loop has ended.
constexpr int kWakeLoop = SIGUSR1;
constexpr int kLoopEnded = SIGUSR2;

sigset_t termination_set() {
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGTERM);
  sigaddset(&s, SIGINT);
  sigaddset(&s, SIGHUP);
  sigaddset(&s, kWakeLoop);
  sigaddset(&s, kLoopEnded);
  return s;
}

void no_op_handler(int) {}

}  // namespace

void block_termination_signals() {
  sigset_t s = termination_set();
  pthread_sigmask(SIG_BLOCK, &s, nullptr);
  // A reader that went away must not kill the daemon; write() reports EPIPE.
  signal(SIGPIPE, SIG_IGN);
}

Session::Session(Filesystem& fs, const Options& opts) : fs_(fs), opts_(opts) {
  ctx_.fs = &fs_;
  ctx_.cache = opts.cache;
  ctx_.max_read = opts.max_read;
  ctx_.single_thread = opts.single_thread;
  ctx_.powerfail = powerfail_options(opts);
  ctx_.cut_after_syncs = opts.powerfail_cut_after;
  ctx_.transport = &transport_;
}

Session::~Session() {
  if (uring_) uring_->stop();
  unmount();
  if (se_) fuse_session_destroy(se_);
  // No request runs any more. Clients lose the daemon (their next fault gets
  // SIGBUS); the library frees blocks from now on without asking anyone.
  fs_.set_dax_revoker(nullptr);
  if (dax_) dax_->stop();
}

// Direct access for client processes, unless the options rule it out; the
// reason goes to the kDaxXattr that clients read (PMEMFS_DAX_DEBUG prints it).
void Session::set_up_dax() {
  if (!opts_.dax) {
    ctx_.dax_off = "the daemon runs with -o dax=off";
    return;
  }
  if (opts_.powerfail_sim) {
    ctx_.dax_off = "the daemon runs with -o powerfail_sim, whose working copy clients cannot map";
    return;
  }
  if (opts_.read_only) {
    ctx_.dax_off = "the mount is read-only";
    return;
  }
  struct stat st {};
  if (stat(opts_.source.c_str(), &st) != 0) {
    ctx_.dax_off = "cannot stat the pool " + opts_.source + ": " + strerror(errno);
    return;
  }
  if (S_ISCHR(st.st_mode)) {
    // Device DAX maps only whole 2 MiB pages: a 4 KiB block could not be
    // mapped alone without its neighbours, other files' data.
    ctx_.dax_off = "the pool is a DAX device, which maps only 2 MiB at a time";
    return;
  }
  DaxServer::Config c;
  c.pool_path = opts_.source;
  c.pool_dev = st.st_dev;
  c.pool_ino = st.st_ino;
  c.pool_size = static_cast<uint64_t>(st.st_size);
  if (const char* skip = getenv("PMEMFS_TEST_DAX_SKIP_REVOKE"); skip && std::strcmp(skip, "1") == 0) {
    spdlog::warn("PMEMFS_TEST_DAX_SKIP_REVOKE=1: direct mappings are never revoked (a test seam; "
                 "clients may read stale data)");
    c.skip_revoke = true;
  }
  auto server = std::make_unique<DaxServer>(fs_, c);
  // The kernel's pages of a file cached before it was mapped directly would
  // hide what clients store from read(2); opens from now on bypass the cache
  // (set_open_flags).
  server->set_on_first_map([this](uint64_t ino) {
    if (se_ && !opts_.single_thread) fuse_lowlevel_notify_inval_inode(se_, ino, 0, 0);
  });
  if (std::string why = server->start(); !why.empty()) {
    spdlog::warn("direct access off: {}", why);
    ctx_.dax_off = why;
    return;
  }
  dax_ = std::move(server);
  ctx_.dax = dax_.get();
  fs_.set_dax_revoker(dax_.get());
}

std::string Session::set_up_transport() {
  UringDecision d = decide_uring(opts_.io_uring, opts_.io_uring_enable_module, opts_.single_thread);
  if (d.use) {
    UringTransport::Config cfg;
    cfg.queues = uring_queue_count();
    // The kernel's payload: max(8192, max_write, max_pages pages), and
    // libfuse derives max_pages from max_write.
    cfg.capacity = std::max<size_t>(8192, kMaxWrite);
    cfg.required = opts_.io_uring == UringMode::kOn;
    cfg.poll_ns = uint64_t{opts_.io_uring_poll_us} * 1000;
    uring_ = std::make_unique<UringTransport>(transport_, cfg);
    if (std::string why = uring_->prepare(se_); !why.empty()) {
      uring_.reset();
      d = {false, why};
    }
  }
  if (!d.use) {
    if (opts_.io_uring == UringMode::kOn) return "io_uring=on, but " + d.why;
    spdlog::info("transport: {} (io_uring={}{}{})", Transport::kName,
                 uring_mode_name(opts_.io_uring), d.why.empty() ? "" : ": ", d.why);
    return {};
  }
  // INIT comes over /dev/fuse; its reply asks for the rings (where the
  // kernel offers them), and once the kernel has it, the entries go in.
  transport_.set_source(uring_.get());
  transport_.request_init_flags(kabi::FUSE_OVER_IO_URING);
  spdlog::info("io_uring={}: {}; {} ring queues set up, to be registered after INIT",
               uring_mode_name(opts_.io_uring), d.why, uring_queue_count());
  return {};
}

std::string Session::mount(const std::string& mountpoint) {
  mountpoint_ = mountpoint;
  set_up_dax();
  std::vector<std::string> words = {"pmemfs"};
  auto add_opt = [&](const std::string& o) {
    words.push_back("-o");
    words.push_back(o);
  };
  // The kernel checks permissions from mode and owner; the library does not.
  add_opt("default_permissions");
  add_opt("subtype=pmemfs");  // shows as fuse.pmemfs in /proc/mounts and df -T
  {
    // fsname is the source, so `mount`, `df` and `findmnt` name the pool.
    // Commas in the path would split the option list: escape them.
    char* escaped = nullptr;
    if (fuse_opt_add_opt_escaped(&escaped, opts_.source.c_str()) != 0) return "out of memory";
    add_opt(std::string("fsname=") + escaped);
    free(escaped);
  }
  for (const std::string& o : opts_.fuse_opts) add_opt(o);
  if (opts_.debug) words.push_back("-d");

  std::vector<char*> argv;
  for (std::string& w : words) argv.push_back(w.data());
  fuse_args args = FUSE_ARGS_INIT(static_cast<int>(argv.size()), argv.data());
  se_ = fuse_session_new(&args, &lowlevel_ops(), sizeof(fuse_lowlevel_ops), &ctx_);
  fuse_opt_free_args(&args);
  if (!se_) return "cannot create the FUSE session (bad FUSE option?)";
  ctx_.se = se_;
  // Before the mount: the kernel decides what INIT offers when it mounts,
  // and io_uring=on must fail with no mount left behind.
  if (std::string why = set_up_transport(); !why.empty()) return why;

  if (fuse_session_mount(se_, mountpoint_.c_str()) != 0) {
    // libfuse has logged the kernel's reason (through our logger).
    return "cannot mount on " + mountpoint_ + " (is /dev/fuse available and the mount point usable?)";
  }
  mounted_ = true;
  // From here on libfuse reads and writes /dev/fuse through the transport
  // layer, which sees every request and answers what libfuse cannot.
  add_transport_ops(transport_, ctx_);
  if (int rc = transport_.attach(se_); rc != 0)
    return std::string("cannot set up the FUSE transport: ") + strerror(-rc);
  if (opts_.powerfail_sim) {
    // A power cut aborts this connection; find it now, while nothing can
    // have moved the mount.
    const std::string dev = device_of(mountpoint_);
    const size_t colon = dev.find(':');
    if (colon != std::string::npos) ctx_.fuse_connection = dev.substr(colon + 1);
    else spdlog::warn("cannot find {} in /proc/self/mountinfo; powercut will be refused", mountpoint_);
  }
  return {};
}

void Session::unmount() {
  if (!mounted_) return;
  fuse_session_unmount(se_);
  mounted_ = false;
}

void Session::stop_after_signal(int sig) {
  spdlog::info("{}: writing back cached data and unmounting {}", strsignal(sig), mountpoint_);
  // With the writeback cache the kernel holds written data the daemon has
  // not seen; it is dropped with the connection. syncfs makes the kernel
  // send it now, while the loop still serves requests.
  int fd = ::open(mountpoint_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    if (syncfs(fd) != 0) spdlog::warn("syncfs {}: {}", mountpoint_, strerror(errno));
    ::close(fd);
  }
  // A plain umount ends the connection the way `umount` does, and the loop
  // returns by itself. It fails with EBUSY while files are open; then the
  // loop is stopped and the mount detached after it.
  if (umount2(mountpoint_.c_str(), UMOUNT_NOFOLLOW) == 0) return;
  spdlog::info("umount {}: {}; detaching instead", mountpoint_, strerror(errno));
  fuse_session_exit(se_);
}

int Session::run() {
  // The loop runs in its own thread so that this one can wait for signals
  // with sigwait and do the flushing above while requests are still served.
  struct sigaction sa {};
  sa.sa_handler = no_op_handler;  // no SA_RESTART: the point is the EINTR
  sigemptyset(&sa.sa_mask);
  sigaction(kWakeLoop, &sa, nullptr);

  const pthread_t main_thread = pthread_self();
  std::atomic<bool> loop_done{false};
  int loop_rc = 0;
  std::thread loop([&] {
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, kWakeLoop);
    pthread_sigmask(SIG_UNBLOCK, &wake, nullptr);
    if (opts_.single_thread) {
      loop_rc = fuse_session_loop(se_);
    } else {
      fuse_loop_config* cfg = fuse_loop_cfg_create();
      loop_rc = fuse_session_loop_mt(se_, cfg);
      fuse_loop_cfg_destroy(cfg);
    }
    loop_done = true;
    pthread_kill(main_thread, kLoopEnded);
  });

  sigset_t wait_set = termination_set();
  sigdelset(&wait_set, kWakeLoop);
  bool stopping = false;
  // Device tuning must follow the INIT reply, which caps read-ahead to what
  // the kernel offered at mount time: wait one tick after init has run.
  bool tune_pending = geteuid() == 0;
  bool init_seen = false;
  while (!loop_done) {
    // After a stop request the loop thread may sit in sem_wait having missed
    // the first wake-up (it checks the exit flag, then sleeps): knock again.
    timespec tick{0, 20 * 1000 * 1000};
    siginfo_t si{};
    int sig = (stopping || tune_pending) ? sigtimedwait(&wait_set, &si, &tick)
                                         : sigwaitinfo(&wait_set, &si);
    if (tune_pending && init_seen) {
      tune_bdi(mountpoint_, {opts_.max_dirty_ratio, opts_.read_ahead_kb});
      tune_pending = false;
    }
    init_seen = ctx_.initialized;
    if (sig == kLoopEnded) break;
    if (sig == SIGTERM || sig == SIGINT || sig == SIGHUP) {
      if (!stopping) {
        stopping = true;
        stop_after_signal(sig);
      }
    }
    if (stopping && !loop_done && fuse_session_exited(se_)) pthread_kill(loop.native_handle(), kWakeLoop);
  }
  loop.join();
  // The rings' threads end with the connection; after a stop that detached
  // a busy mount the connection lives on, and stop() ends them.
  if (uring_) uring_->stop();
  // The connection may have ended by umount; unmounting again is harmless.
  unmount();
  if (loop_rc != 0 && !stopping) {
    spdlog::error("request loop ended with error {}", loop_rc);
    return 1;
  }
  if (uring_ && uring_->failed()) return 1;  // io_uring=on without io_uring
  return 0;
}

}  // namespace pmemfs::daemon
