// FUSE over io_uring: the kernel hands requests to ring entries the daemon
// registered, one queue per CPU, instead of queueing them for read(2) on
// /dev/fuse; a request goes to the queue of the CPU its task runs on and is
// served by a thread pinned to that CPU. libfuse 3.14 knows nothing of it:
// each request is rebuilt as read(2) would have returned it (uring_entry.h)
// and passed to fuse_session_process_buf; libfuse's reply comes back through
// the transport layer's writev callback (Transport::write_reply, which asks
// this class first), lands in the entry, and goes to the kernel with the
// fetch of the next request in one command (COMMIT_AND_FETCH).
//
// INIT still arrives over /dev/fuse, and so do FORGET and INTERRUPT after
// it; libfuse's loop keeps serving them. The kernel takes the ring into use
// only once every queue has an entry, and holds requests back until then.
//
// Threads: kThreadsPerQueue per queue, each with an io_uring of its own and
// one entry (SINGLE_ISSUER: only the thread that made a ring submits to it;
// DEFER_TASKRUN: the kernel copies requests into the entry only while that
// thread waits for completions, never while libfuse reads the entry). A
// busy thread has no entry on offer, so the kernel gives the next request of
// its CPU to the queue's other thread, as libfuse's loop would start one:
// a handler that waits for another request (the cache invalidation after an
// O_DIRECT write waits for a READ) does not stall its CPU's queue.
//
// Replies from another thread (the remount worker replies later, from a
// thread of its own) are copied into the entry and handed to its thread
// through an eventfd the thread also waits on.
#pragma once

#include <fuse_lowlevel.h>
#include <liburing.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fuse/transport.h"
#include "fuse/uring_entry.h"

namespace pmemfs::daemon {

class UringTransport final : public RequestSource {
 public:
  static constexpr const char* kName = "io_uring";
  // SQE128: the command (fuse_uring_cmd_req) lives in the big SQE's tail.
  static constexpr unsigned kRingFlags =
      IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  // At most two SQEs are ever outstanding per ring: the entry's command and
  // the eventfd read.
  static constexpr unsigned kRingDepth = 4;
  static constexpr unsigned kThreadsPerQueue = 2;
  static constexpr unsigned kDefaultPollUs = 50;

  struct Config {
    unsigned queues = 1;       // uring_queue_count()
    size_t capacity = 0;       // payload bytes per entry: at least the kernel's max payload
    bool required = false;     // io_uring=on: a failure after INIT ends the daemon
    // How long a ring thread that just served a request polls its ring before
    // it sleeps in io_uring_enter (-o io_uring_poll_us). A sleeping thread
    // costs a wake-up per request, and on a virtual CPU with no halt polling
    // an idle CPU's wake-up is tens of microseconds: polling tripled 4 KiB
    // IOPS of one job here. Threads that see no request for this long sleep,
    // so an idle mount costs no CPU.
    uint64_t poll_ns = kDefaultPollUs * 1000;
  };

  UringTransport(Transport& t, const Config& c);
  ~UringTransport();  // stop()
  UringTransport(const UringTransport&) = delete;
  UringTransport& operator=(const UringTransport&) = delete;

  // Before the mount: starts the threads, each pinned to its queue's CPU,
  // with its ring and entry ready, waiting for INIT. "" or why not.
  std::string prepare(struct fuse_session* se);
  // Ends the threads (idempotent). The kernel cancels what they had
  // registered when their rings close.
  void stop();

  // Whether io_uring=on could not take over after INIT (the daemon then
  // stops as after SIGTERM and exits non-zero).
  bool failed() const { return failed_.load(); }

  // RequestSource
  bool take_reply(uint64_t unique, const struct iovec* iov, int count,
                  ssize_t& rc) noexcept override;
  void init_replied(const kabi::fuse_init_out& reply) noexcept override;

 private:
  struct Worker;
  // Where a worker is between start and end (Worker::phase).
  enum Phase { kSetup, kReady, kGo, kStop, kFailed };
  // Its entry (Worker::state): written by the owner thread and, for a reply
  // from elsewhere, by the replying thread (kInDaemon -> kCopying -> kReplied).
  enum EntryState { kIdle, kInDaemon, kCopying, kReplied, kCommitting };

  // The worker whose request the calling thread is serving, if any.
  static thread_local Worker* t_serving;

  void run(Worker& w);
  bool setup(Worker& w);
  void serve(Worker& w);
  void commit(Worker& w);
  void prep_cmd(Worker& w, uint32_t op, uint64_t commit_id);
  void arm_wake(Worker& w);
  int wait_for_work(Worker& w);
  void registered(Worker& w, int result);
  void give_up(const std::string& why);

  Transport& transport_;
  const Config cfg_;
  struct fuse_session* se_ = nullptr;
  int fuse_fd_ = -1;
  std::vector<std::unique_ptr<Worker>> workers_;  // fixed once prepare() returns
  // Guards the workers' phases and the registration tally below. Taken at
  // setup, at INIT's reply and once per worker at registration, never while
  // a request is served; nothing else is locked under it.
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> failed_{false};
  unsigned reported_ = 0;         // guarded by mu_: workers that tried to register
  std::vector<unsigned> per_queue_;  // guarded by mu_: entries registered per queue
  std::string first_error_;       // guarded by mu_
};

}  // namespace pmemfs::daemon
