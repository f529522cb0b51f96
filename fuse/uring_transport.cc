// The life of a worker (uring_transport.h), on its own thread:
//   setup   pin to the queue's CPU, create the ring (it must be the thread
//           that submits: SINGLE_ISSUER) and the entry; report to prepare().
//   ready   wait for INIT's reply: the kernel refuses entries before it.
//   go      REGISTER the entry and arm the eventfd read; then, for ever:
//           submit what is pending and wait for a completion; a request in
//           the entry is served and its reply committed (with the fetch of
//           the next request) by the next submit.
//   end     on stop(), or when the kernel ends the connection (umount,
//           abort: the command completes with -ENOTCONN).
#include "fuse/uring_transport.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

namespace pmemfs::daemon {

namespace k = kabi;

namespace {

// user_data of the two kinds of SQE a ring ever has.
constexpr uint64_t kFuseCmd = 1;
constexpr uint64_t kWakeRead = 2;

// Results with which the kernel says the connection is over.
bool connection_ended(int res) {
  return res == -ENOTCONN || res == -ECONNABORTED || res == -ENODEV || res == -ECANCELED;
}

}  // namespace

struct UringTransport::Worker {
  unsigned qid = 0;
  std::thread thread;
  io_uring ring{};
  bool ring_ok = false;
  std::unique_ptr<RingEntry> entry;  // freed with the worker, after its thread ended
  int wake_fd = -1;                  // eventfd: stop(), or a reply from another thread
  uint64_t wake_value = 0;           // the eventfd read's buffer
  Phase phase = kSetup;              // guarded by UringTransport::mu_
  std::string setup_error;           // guarded by UringTransport::mu_
  bool registering = false;          // owner thread: the command in flight is a REGISTER
  // The request the entry holds while libfuse has it, for take_reply.
  std::atomic<uint64_t> unique{0};
  std::atomic<int> state{kIdle};
};

thread_local UringTransport::Worker* UringTransport::t_serving = nullptr;

UringTransport::UringTransport(Transport& t, const Config& c) : transport_(t), cfg_(c) {}

UringTransport::~UringTransport() {
  stop();
  for (auto& w : workers_) {
    if (w->wake_fd >= 0) ::close(w->wake_fd);
  }
}

std::string UringTransport::prepare(struct fuse_session* se) {
  se_ = se;
  per_queue_.assign(cfg_.queues, 0);
  for (unsigned q = 0; q < cfg_.queues; ++q) {
    for (unsigned i = 0; i < kThreadsPerQueue; ++i) {
      auto w = std::make_unique<Worker>();
      w->qid = q;
      w->wake_fd = eventfd(0, EFD_CLOEXEC);
      if (w->wake_fd < 0) {
        stop();
        return std::string("eventfd: ") + strerror(errno);
      }
      Worker* raw = w.get();
      workers_.push_back(std::move(w));
      // std::thread throws on failure; this runs before any request.
      try {
        raw->thread = std::thread([this, raw] { run(*raw); });
      } catch (const std::exception& e) {
        stop();
        return std::string("cannot start a ring thread: ") + e.what();
      }
    }
  }
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] {
    for (auto& w : workers_)
      if (w->phase == kSetup) return false;
    return true;
  });
  for (auto& w : workers_) {
    if (w->phase == kFailed) {
      const std::string why = w->setup_error;
      lock.unlock();
      stop();
      return why;
    }
  }
  return {};
}

void UringTransport::stop() {
  {
    std::lock_guard<std::mutex> g(mu_);
    stopping_ = true;
    for (auto& w : workers_)
      if (w->phase == kReady || w->phase == kSetup) w->phase = kStop;
  }
  cv_.notify_all();
  for (auto& w : workers_) {
    if (w->wake_fd >= 0) {
      const uint64_t one = 1;
      (void)!::write(w->wake_fd, &one, sizeof one);
    }
  }
  for (auto& w : workers_)
    if (w->thread.joinable()) w->thread.join();
}

// ---- the worker thread -----------------------------------------------------

bool UringTransport::setup(Worker& w) {
  // Requests of CPU qid are served on CPU qid. A CPU that is possible but
  // offline cannot be pinned to; its queue gets no requests anyway.
  cpu_set_t cpus;
  CPU_ZERO(&cpus);
  CPU_SET(w.qid, &cpus);
  if (int e = pthread_setaffinity_np(pthread_self(), sizeof cpus, &cpus); e != 0)
    spdlog::debug("io_uring queue {}: cannot pin its thread to CPU {}: {}", w.qid, w.qid, strerror(e));
  io_uring_params p{};
  p.flags = kRingFlags;
  if (int rc = io_uring_queue_init_params(kRingDepth, &w.ring, &p); rc < 0) {
    w.setup_error = std::string("cannot create an io_uring: ") + strerror(-rc);
    return false;
  }
  w.ring_ok = true;
  w.entry = RingEntry::create(cfg_.capacity);
  if (!w.entry) {
    w.setup_error = "cannot map a ring entry of " + std::to_string(cfg_.capacity) + " bytes";
    return false;
  }
  return true;
}

void UringTransport::run(Worker& w) {
  const bool ok = setup(w);
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (w.phase == kSetup) w.phase = ok ? kReady : kFailed;
    cv_.notify_all();
    cv_.wait(lock, [&] { return w.phase != kReady; });
  }
  if (w.phase == kGo) {
    arm_wake(w);
    prep_cmd(w, k::FUSE_IO_URING_CMD_REGISTER, 0);
    // A REGISTER the kernel refuses completes at once; one it accepts stays
    // in the kernel until a request arrives.
    int rc = io_uring_submit(&w.ring);
    io_uring_cqe* cqe = nullptr;
    int result = rc < 0 ? rc : 0;
    if (rc >= 0 && io_uring_peek_cqe(&w.ring, &cqe) == 0 && cqe->user_data == kFuseCmd &&
        cqe->res < 0) {
      result = cqe->res;
      io_uring_cqe_seen(&w.ring, cqe);
    }
    registered(w, result);
    bool running = result == 0;
    while (running && !stopping_) {
      rc = wait_for_work(w);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) {
        spdlog::error("io_uring queue {}: io_uring_enter: {}", w.qid, strerror(-rc));
        break;
      }
      unsigned head, seen = 0;
      io_uring_for_each_cqe(&w.ring, head, cqe) {
        ++seen;
        if (cqe->user_data == kWakeRead) {
          if (stopping_) running = false;
          int expected = kReplied;  // a reply from another thread is in the entry
          if (w.state.compare_exchange_strong(expected, kCommitting)) commit(w);
          if (running) arm_wake(w);
          continue;
        }
        if (cqe->res == 0) {
          w.registering = false;
          serve(w);
        } else if (connection_ended(cqe->res)) {
          running = false;
        } else if (w.registering) {
          spdlog::error("io_uring queue {}: REGISTER: {}", w.qid, strerror(-cqe->res));
          running = false;
        } else {
          // The kernel no longer waits for the request just committed (it
          // timed out or was ended) and left the entry out of its queue:
          // hand the entry in again.
          spdlog::debug("io_uring queue {}: COMMIT_AND_FETCH: {}; registering the entry again",
                        w.qid, strerror(-cqe->res));
          prep_cmd(w, k::FUSE_IO_URING_CMD_REGISTER, 0);
        }
      }
      io_uring_cq_advance(&w.ring, seen);
    }
  }
  w.unique = 0;
  // Closing the ring cancels the command the kernel still holds.
  if (w.ring_ok) io_uring_queue_exit(&w.ring);
  w.ring_ok = false;
}

// Submits what is pending and waits for a completion: first polling for
// Config::poll_ns, then asleep.
int UringTransport::wait_for_work(Worker& w) {
  if (const uint64_t poll_ns = cfg_.poll_ns) {
    int rc = io_uring_submit(&w.ring);
    if (rc < 0) return rc;
    const auto until = std::chrono::steady_clock::now() + std::chrono::nanoseconds(poll_ns);
    do {
      // DEFER_TASKRUN: completions are task work that runs only inside
      // io_uring_enter(GETEVENTS); this one does not sleep.
      rc = io_uring_get_events(&w.ring);
      if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY) return rc;
      if (io_uring_cq_ready(&w.ring)) return 0;
    } while (std::chrono::steady_clock::now() < until && !stopping_);
  }
  return io_uring_submit_and_wait(&w.ring, 1);
}

void UringTransport::arm_wake(Worker& w) {
  io_uring_sqe* sqe = io_uring_get_sqe(&w.ring);
  if (!sqe) return;  // never: at most two SQEs are outstanding
  io_uring_prep_read(sqe, w.wake_fd, &w.wake_value, sizeof w.wake_value, 0);
  io_uring_sqe_set_data64(sqe, kWakeRead);
}

void UringTransport::prep_cmd(Worker& w, uint32_t op, uint64_t commit_id) {
  io_uring_sqe* sqe = io_uring_get_sqe(&w.ring);
  if (!sqe) return;
  std::memset(sqe, 0, 2 * sizeof *sqe);  // SQE128: the command area is the second half
  sqe->opcode = IORING_OP_URING_CMD;
  sqe->fd = fuse_fd_;
  sqe->cmd_op = op;
  sqe->addr = reinterpret_cast<uintptr_t>(w.entry->iov());
  sqe->len = 2;
  k::fuse_uring_cmd_req req{};
  req.commit_id = commit_id;
  req.qid = static_cast<uint16_t>(w.qid);
  std::memcpy(sqe->cmd, &req, sizeof req);
  io_uring_sqe_set_data64(sqe, kFuseCmd);
  w.registering = op == k::FUSE_IO_URING_CMD_REGISTER;
}

void UringTransport::serve(Worker& w) {
  const uint64_t unique = w.entry->commit_id();
  char* start = nullptr;
  const ssize_t len = w.entry->rebuild_request(&start);
  if (len < 0) {
    spdlog::error("io_uring queue {}: request {} (opcode {}) does not add up; answering EIO", w.qid,
                  unique, w.entry->opcode());
    w.entry->store_error(unique, EIO);
    w.state = kCommitting;
    commit(w);
    return;
  }
  w.unique = unique;
  w.state = kInDaemon;
  t_serving = &w;
  if (transport_.accept_request(fuse_fd_, start, static_cast<size_t>(len))) {
    fuse_buf buf{};
    buf.mem = start;
    buf.size = static_cast<size_t>(len);
    fuse_session_process_buf(se_, &buf);
  }
  t_serving = nullptr;
  // Replied here: commit() has run. Replied from another thread already:
  // commit now. Not yet: the eventfd says when.
  int expected = kReplied;
  if (w.state.compare_exchange_strong(expected, kCommitting)) commit(w);
}

void UringTransport::commit(Worker& w) {
  const uint64_t unique = w.entry->commit_id();
  w.unique = 0;
  prep_cmd(w, k::FUSE_IO_URING_CMD_COMMIT_AND_FETCH, unique);
  w.state = kIdle;
}

// ---- replies -----------------------------------------------------------------

bool UringTransport::take_reply(uint64_t unique, const struct iovec* iov, int count,
                                ssize_t& rc) noexcept {
  Worker* own = t_serving;
  if (own && own->unique.load(std::memory_order_relaxed) == unique) {
    int expected = kInDaemon;
    if (own->state.compare_exchange_strong(expected, kCopying)) {
      rc = own->entry->store_reply(iov, count);
      if (rc < 0) {
        errno = static_cast<int>(-rc);
        rc = -1;
      }
      own->state = kCommitting;
      commit(*own);  // submitted when the thread waits again, after libfuse returns
      return true;
    }
  }
  for (auto& w : workers_) {
    if (w.get() == own || w->unique.load(std::memory_order_acquire) != unique) continue;
    int expected = kInDaemon;
    if (!w->state.compare_exchange_strong(expected, kCopying)) continue;
    // The owner does not touch the entry before it sees kReplied.
    rc = w->entry->store_reply(iov, count);
    if (rc < 0) {
      errno = static_cast<int>(-rc);
      rc = -1;
    }
    w->state.store(kReplied, std::memory_order_release);
    const uint64_t one = 1;
    (void)!::write(w->wake_fd, &one, sizeof one);
    return true;
  }
  return false;
}

// ---- INIT and registration ----------------------------------------------------

void UringTransport::init_replied(const kabi::fuse_init_out& o) noexcept {
  uint64_t flags = o.flags;
  if (o.flags & k::FUSE_INIT_EXT) flags |= uint64_t{o.flags2} << 32;
  std::string why;
  if (!(flags & k::FUSE_OVER_IO_URING)) {
    why = "the kernel did not offer FUSE_OVER_IO_URING in INIT";
  } else {
    // The kernel's payload size for this connection; max_pages counts only
    // with FUSE_MAX_PAGES (otherwise the kernel's default, 32, applies).
    const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t pages = (flags & k::FUSE_MAX_PAGES) ? o.max_pages : 32;
    const size_t need = std::max<size_t>({8192, o.max_write, pages * page});
    // Then the entries go in anyway and the kernel refuses them (-EINVAL),
    // which is what makes it fall back to /dev/fuse: with INIT granting
    // io_uring it holds every request until the ring is ready.
    if (need > cfg_.capacity)
      spdlog::warn("io_uring: the kernel's payload of {} bytes exceeds the entries' {}", need,
                   cfg_.capacity);
  }
  if (!why.empty() && !(flags & k::FUSE_OVER_IO_URING)) {
    // Nothing to fall back from: the kernel stays on /dev/fuse.
    give_up(why);
    std::lock_guard<std::mutex> g(mu_);
    for (auto& w : workers_)
      if (w->phase == kReady) w->phase = kStop;
    cv_.notify_all();
    return;
  }
  fuse_fd_ = fuse_session_fd(se_);
  // Said before the entries go in: the kernel serves nothing until every
  // queue has one, and then serves it over the rings, so no request can
  // see the old name. A refusal says so below and names /dev/fuse again.
  transport_.set_name(kName);
  spdlog::info("transport: {} ({} queues, one per CPU, {} threads each pinned to its CPU; "
               "INIT, FORGET and INTERRUPT still come over /dev/fuse)",
               kName, cfg_.queues, kThreadsPerQueue);
  std::lock_guard<std::mutex> g(mu_);
  for (auto& w : workers_)
    if (w->phase == kReady) w->phase = kGo;
  cv_.notify_all();
}

void UringTransport::registered(Worker& w, int result) {
  std::lock_guard<std::mutex> g(mu_);
  ++reported_;
  if (result == 0) ++per_queue_[w.qid];
  else if (first_error_.empty()) first_error_ = strerror(-result);
  if (reported_ != workers_.size()) return;
  bool ready = true;
  for (unsigned n : per_queue_) ready = ready && n > 0;
  if (ready) {
    // Each queue has an entry: the kernel has switched to the rings.
    if (!first_error_.empty())
      spdlog::warn("io_uring: some entries were refused ({}); fewer threads serve", first_error_);
    return;
  }
  // A refused REGISTER made the kernel go back to /dev/fuse.
  transport_.set_name(Transport::kName);
  give_up("the kernel refused the ring entries: " + first_error_);
}

void UringTransport::give_up(const std::string& why) {
  if (cfg_.required) {
    failed_ = true;
    spdlog::error("io_uring=on, but {}; unmounting", why);
    // The way out that writes back and unmounts (Session::run).
    kill(getpid(), SIGTERM);
    return;
  }
  spdlog::info("transport: {} (io_uring=auto, but {})", Transport::kName, why);
}

}  // namespace pmemfs::daemon
