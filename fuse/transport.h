// The kernel-protocol layer below libfuse: the /dev/fuse transport, taken
// over through fuse_session_custom_io(). libfuse 3.14 still parses and
// dispatches requests; every request and reply passes through here first,
// which lets the daemon
//   - count requests per opcode, with their latency from the read of the
//     request to the writev of its reply (RequestStats);
//   - negotiate INIT flags libfuse 3.14 cannot ask for, by editing the INIT
//     request the kernel sends (hide_init_flags) and the reply libfuse
//     writes (request_init_flags), and add FOPEN_* flags to open replies;
//   - answer opcodes libfuse 3.14 does not dispatch (FUSE_TMPFILE; FUSE_STATX
//     goes the same way): a Handler replies on the fd and the layer reads
//     the next request, so libfuse never sees them.
//
// Thread safety: fuse_session_loop_mt calls the read and writev callbacks
// from several threads at once. Configuration (add_handler, the flag
// requests) happens before attach() and is read-only afterwards; everything
// that changes while requests flow is atomic.
#pragma once

#include <fuse_lowlevel.h>
#include <sys/uio.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "fuse/kernel_abi.h"
#include "pmemfs/json_text.h"

namespace pmemfs::daemon {

// Per-opcode request counts and latency histograms, lock-free. Latencies go
// into fixed log2 buckets of nanoseconds: bucket b holds [2^b, 2^(b+1)).
class RequestStats {
 public:
  static constexpr int kBuckets = 48;  // up to 2^48 ns: 78 hours

  void count(uint32_t opcode);
  void record(uint32_t opcode, uint64_t ns);

  struct Summary {
    uint64_t count = 0;
    double p50_us = 0, p90_us = 0, p99_us = 0, max_us = 0;  // 0 without a sample
  };
  Summary summary(uint32_t opcode) const;

  // {"lookup": {"count": ..., "p50_us": ..., ...}, ...}: every opcode of the
  // protocol, counted or not (so that the keys, and with
  // json_text_fixed_width the length of the text, stay put while the counts
  // grow); latencies in tenths of a microsecond.
  Json to_json() const;

 private:
  struct PerOp {
    std::atomic<uint64_t> count{0};
    std::atomic<uint64_t> max_ns{0};
    std::array<std::atomic<uint64_t>, kBuckets> buckets{};
  };
  // Slot 0 takes opcodes the protocol does not define.
  static uint32_t slot(uint32_t opcode) { return opcode < kabi::kOpcodeLimit ? opcode : 0; }
  std::array<PerOp, kabi::kOpcodeLimit> ops_{};
};

// A second way for requests to reach the daemon besides read(2) on
// /dev/fuse: FUSE over io_uring (uring_transport.h). Its requests enter the
// layer through Transport::accept_request; replies to them leave through the
// source instead of writev(2) on /dev/fuse.
class RequestSource {
 public:
  // Called by write_reply for every reply to a request (unique != 0). True
  // when unique is one of the source's requests: the reply (iov[0] is the
  // fuse_out_header) is then on its way and rc says what writev would have
  // (its length, or -1 with errno). False: not the source's; it goes to
  // /dev/fuse. Any thread.
  virtual bool take_reply(uint64_t unique, const struct iovec* iov, int count,
                          ssize_t& rc) noexcept = 0;
  // After the INIT reply reached the kernel (the connection is initialized,
  // so ring entries may now be registered); reply as the kernel got it.
  virtual void init_replied(const kabi::fuse_init_out& reply) noexcept = 0;

 protected:
  ~RequestSource() = default;
};

class Transport;

// What the session's userdata must be (or derive from, first): libfuse hands
// the transport's callbacks only the userdata, and this is how they find the
// layer. The daemon's OpsContext is one; so is the null filesystem's
// (bench/null_fs.cc), which runs on the same layer.
struct TransportHost {
  Transport* transport = nullptr;
};

class Transport {
 public:
  // A request answered in the layer. arg points just past the header (the
  // request body, arg_len bytes), valid until the handler returns.
  struct Request {
    int fd;
    const kabi::fuse_in_header& in;
    const char* arg;
    size_t arg_len;
  };
  // Must call reply() exactly once. Runs on a loop thread with cancellation
  // disabled; must not block on other requests.
  using Handler = std::function<void(const Request&)>;

  Transport() = default;
  Transport(const Transport&) = delete;
  Transport& operator=(const Transport&) = delete;

  // ---- configuration: before attach() ----
  // Answers opcode here instead of passing it to libfuse.
  void add_handler(uint32_t opcode, Handler h);
  // INIT flags (kabi::FUSE_*, 64-bit) to add to libfuse's INIT reply where
  // the kernel offers them.
  void request_init_flags(uint64_t flags) { requested_ |= flags; }
  // INIT flags to remove from the kernel's INIT request before libfuse sees
  // it, so that libfuse neither reports nor asks for them.
  void hide_init_flags(uint64_t flags) { hidden_ |= flags & ~kabi::FUSE_INIT_EXT; }
  // FOPEN_* flags to add to every successful OPEN and CREATE reply.
  void add_open_flags(uint32_t fopen_flags) { open_flags_ |= fopen_flags; }
  // Another source of requests, whose replies go back its way.
  void set_source(RequestSource* s) { source_ = s; }

  // Takes over the I/O of a mounted session: its /dev/fuse fd stays, and
  // libfuse reads and writes through this layer from now on. The session's
  // userdata must be a TransportHost whose transport is this. 0 or -errno.
  int attach(struct fuse_session* se);

  // ---- after INIT ----
  bool initialized() const { return init_done_.load(std::memory_order_acquire); }
  uint64_t kernel_init_flags() const { return kernel_flags_.load(std::memory_order_acquire); }
  // What the INIT reply carried (libfuse's flags and the layer's).
  uint64_t granted_init_flags() const { return granted_.load(std::memory_order_acquire); }
  bool granted(uint64_t flag) const { return (granted_init_flags() & flag) == flag; }
  uint32_t open_flags() const { return open_flags_; }

  // Replies to a request a Handler took: the header and payload in one
  // writev on r.fd. 0, or -errno (-ENOENT: the request was interrupted and
  // the kernel no longer waits for it).
  int reply(const Request& r, int error, const struct iovec* payload, int count);
  int reply_error(const Request& r, int error) { return reply(r, error, nullptr, 0); }

  // A request a RequestSource received (buf: the fuse_in_header, the
  // arguments and the payload, len bytes, as read(2) would have returned
  // it): counted and timed as read_request does, and answered here when
  // a Handler takes its opcode. True when libfuse is to process it.
  bool accept_request(int fd, char* buf, size_t len);

  // The callbacks attach() installs; userdata is the session's OpsContext.
  // (Tests drive them on a socket pair standing in for /dev/fuse.)
  static fuse_custom_io custom_io();

  static constexpr const char* kName = "/dev/fuse";
  // What the stats call the transport: kName, or the RequestSource's name
  // once it carries the requests (a string literal; any thread).
  void set_name(const char* name) { name_.store(name, std::memory_order_release); }
  const char* name() const { return name_.load(std::memory_order_acquire); }
  const RequestStats& stats() const { return stats_; }
  // {"transport": "/dev/fuse", "requests": {...}, "notifications":
  // {"inval_inode": N, ...}}: the members the stats object of the control
  // xattr gains from the transport. Every notification the protocol defines
  // is a key, counted or not (fixed keys, as for requests).
  Json stats_json_members() const;

 private:
  static ssize_t read_cb(int fd, void* buf, size_t len, void* userdata);
  static ssize_t writev_cb(int fd, struct iovec* iov, int count, void* userdata);
  ssize_t read_request(int fd, void* buf, size_t len);
  ssize_t write_reply(int fd, struct iovec* iov, int count);
  void edit_init_request(char* buf, size_t len);
  void edit_init_reply(struct iovec* iov, int count);
  void edit_open_reply(struct iovec* iov, int count);

  // Requests on their way through the daemon, by unique: when each was read
  // and its opcode, for the latency and the reply edits. A fixed table
  // indexed by unique; a request that finds its slot taken (thousands in
  // flight) goes without a latency sample, and is still counted.
  struct InFlight {
    std::atomic<uint64_t> unique{0};  // 0: free
    std::atomic<uint64_t> start_ns{0};
    std::atomic<uint32_t> opcode{0};
  };
  static constexpr size_t kInFlight = 4096;
  void started(uint64_t unique, uint32_t opcode, uint64_t now);
  // The opcode and start of unique, freeing its slot; false if not found.
  bool finished(uint64_t unique, uint32_t& opcode, uint64_t& start);

  std::array<Handler, kabi::kOpcodeLimit> handlers_{};
  uint64_t requested_ = 0, hidden_ = 0;
  uint32_t open_flags_ = 0;
  std::atomic<uint64_t> kernel_flags_{0}, granted_{0};
  std::atomic<uint32_t> kernel_minor_{0};
  std::atomic<bool> init_done_{false};
  RequestSource* source_ = nullptr;
  std::atomic<const char*> name_{kName};
  RequestStats stats_;
  // Notifications sent, by code (slot 0: a code the protocol lacks).
  std::array<std::atomic<uint64_t>, kabi::kNotifyCodeLimit> notifications_{};
  std::array<InFlight, kInFlight> inflight_{};
};

}  // namespace pmemfs::daemon
