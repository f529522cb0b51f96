// How a request travels (see transport.h): libfuse calls read_cb for the
// next request; the layer reads it from /dev/fuse, counts it, notes when it
// arrived, edits it if it is INIT, and either hands it to libfuse or, for an
// opcode with a Handler, answers it itself and reads again. Every reply,
// libfuse's or a Handler's, goes out through write_reply, which finds the
// request by unique, edits INIT and open replies, and records the latency.
#include "fuse/transport.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "fuse/request_note.h"

namespace pmemfs::daemon {

namespace k = kabi;

namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// Requests the kernel expects no reply to: they never enter the in-flight
// table (an INTERRUPT may be answered with EAGAIN; that reply is simply not
// timed).
bool expects_reply(uint32_t opcode) {
  return opcode != k::FUSE_FORGET && opcode != k::FUSE_BATCH_FORGET &&
         opcode != k::FUSE_INTERRUPT && opcode != k::FUSE_NOTIFY_REPLY;
}

int log2_floor(uint64_t v) { return 63 - __builtin_clzll(v | 1); }

}  // namespace

// ---- RequestStats -----------------------------------------------------------

void RequestStats::count(uint32_t opcode) {
  ops_[slot(opcode)].count.fetch_add(1, std::memory_order_relaxed);
}

void RequestStats::record(uint32_t opcode, uint64_t ns) {
  PerOp& p = ops_[slot(opcode)];
  p.buckets[std::min(log2_floor(ns), kBuckets - 1)].fetch_add(1, std::memory_order_relaxed);
  uint64_t max = p.max_ns.load(std::memory_order_relaxed);
  while (ns > max && !p.max_ns.compare_exchange_weak(max, ns, std::memory_order_relaxed)) {
  }
}

RequestStats::Summary RequestStats::summary(uint32_t opcode) const {
  const PerOp& p = ops_[slot(opcode)];
  Summary s;
  s.count = p.count.load(std::memory_order_relaxed);
  std::array<uint64_t, kBuckets> b;
  uint64_t total = 0;
  for (int i = 0; i < kBuckets; ++i) total += b[i] = p.buckets[i].load(std::memory_order_relaxed);
  if (total == 0) return s;
  const double max_ns = static_cast<double>(p.max_ns.load(std::memory_order_relaxed));
  // The q-quantile, interpolated linearly inside its bucket [2^i, 2^(i+1)).
  auto quantile = [&](double q) {
    const double rank = std::max(1.0, q * static_cast<double>(total));
    double below = 0;
    for (int i = 0; i < kBuckets; ++i) {
      if (b[i] == 0) continue;
      if (below + static_cast<double>(b[i]) >= rank) {
        const double lo = i == 0 ? 0 : static_cast<double>(uint64_t{1} << i);
        const double hi = static_cast<double>(uint64_t{1} << (i + 1));
        const double v = lo + (hi - lo) * (rank - below) / static_cast<double>(b[i]);
        return std::min(v, max_ns) / 1000.0;
      }
      below += static_cast<double>(b[i]);
    }
    return max_ns / 1000.0;
  };
  s.p50_us = quantile(0.50);
  s.p90_us = quantile(0.90);
  s.p99_us = quantile(0.99);
  s.max_us = max_ns / 1000.0;
  return s;
}

Json RequestStats::to_json() const {
  // Tenths of a microsecond: the histogram is good to a factor of two anyway.
  auto tenths = [](double us) { return std::round(us * 10) / 10; };
  Json out = Json::object();
  auto add = [&](std::string_view name, uint32_t op) {
    const Summary s = summary(op);
    out[std::string(name)] = Json{{"count", s.count},
                                  {"p50_us", tenths(s.p50_us)},
                                  {"p90_us", tenths(s.p90_us)},
                                  {"p99_us", tenths(s.p99_us)},
                                  {"max_us", tenths(s.max_us)}};
  };
  for (uint32_t op = 1; op < k::kOpcodeLimit; ++op)
    if (!k::opcode_name(op).empty()) add(k::opcode_name(op), op);
  add("unknown", 0);  // opcodes this header does not know
  return out;
}

// ---- Transport: configuration ------------------------------------------------

void Transport::add_handler(uint32_t opcode, Handler h) {
  if (opcode < k::kOpcodeLimit) handlers_[opcode] = std::move(h);
}

fuse_custom_io Transport::custom_io() {
  fuse_custom_io io{};
  io.read = read_cb;
  io.writev = writev_cb;
  // No splice: libfuse then reads whole requests into its buffer, where the
  // layer can see them (pmemfs does not splice anyway, see pm_init).
  return io;
}

int Transport::attach(struct fuse_session* se) {
  const fuse_custom_io io = custom_io();
  // fuse_session_mount opened /dev/fuse and mounted; the fd stays libfuse's
  // (fuse_session_unmount and _destroy close it), only its I/O is ours.
  const int fd = fuse_session_fd(se);
  const int rc = fuse_session_custom_io(se, &io, fd);
  if (rc != 0) return rc;
  std::string answered;
  for (uint32_t op = 0; op < k::kOpcodeLimit; ++op)
    if (handlers_[op]) answered += (answered.empty() ? "" : ", ") + std::string(k::opcode_name(op));
  spdlog::info("transport layer on {} below libfuse {}: requests counted per opcode; answered "
               "here: {}",
               kName, fuse_pkgversion(), answered.empty() ? "none" : answered);
  return 0;
}

// ---- the request path ----------------------------------------------------------

ssize_t Transport::read_cb(int fd, void* buf, size_t len, void* userdata) {
  return static_cast<TransportHost*>(userdata)->transport->read_request(fd, buf, len);
}

ssize_t Transport::writev_cb(int fd, struct iovec* iov, int count, void* userdata) {
  return static_cast<TransportHost*>(userdata)->transport->write_reply(fd, iov, count);
}

void Transport::started(uint64_t unique, uint32_t opcode, uint64_t now) {
  constexpr uint64_t kClaiming = ~uint64_t{0};
  InFlight& s = inflight_[(unique >> 1) % kInFlight];  // uniques step by 2
  uint64_t expected = 0;
  if (!s.unique.compare_exchange_strong(expected, kClaiming, std::memory_order_acquire)) return;
  s.start_ns.store(now, std::memory_order_relaxed);
  s.opcode.store(opcode, std::memory_order_relaxed);
  s.unique.store(unique, std::memory_order_release);
}

bool Transport::finished(uint64_t unique, uint32_t& opcode, uint64_t& start) {
  InFlight& s = inflight_[(unique >> 1) % kInFlight];
  uint64_t u = s.unique.load(std::memory_order_acquire);
  if (u != unique) return false;
  opcode = s.opcode.load(std::memory_order_relaxed);
  start = s.start_ns.load(std::memory_order_relaxed);
  // Only the one reply to unique gets here; the exchange frees the slot.
  return s.unique.compare_exchange_strong(u, 0, std::memory_order_release);
}

ssize_t Transport::read_request(int fd, void* buf, size_t len) {
  for (;;) {
    const ssize_t n = ::read(fd, buf, len);
    if (n < 0 && errno == ECONNABORTED) {
      // The connection ended (umount aborts it too) while this read held a
      // request it had just taken off the queue: the kernel fails that one
      // and the read with ECONNABORTED instead of the ENODEV every other
      // reader gets. Either way there is nothing left to serve; say ENODEV,
      // on which libfuse ends the loop as the end of the mount, not as a
      // device error.
      errno = ENODEV;
      return -1;
    }
    // Other errors (ENODEV, EINTR, ENOENT) and short reads are libfuse's to
    // report, errno untouched.
    if (n < static_cast<ssize_t>(sizeof(k::fuse_in_header))) return n;
    uint32_t opcode;
    std::memcpy(&opcode, static_cast<char*>(buf) + offsetof(k::fuse_in_header, opcode), sizeof opcode);
    if (opcode == k::FUSE_INIT) edit_init_request(static_cast<char*>(buf), static_cast<size_t>(n));
    // libfuse lets a thread be cancelled only while it waits for a request;
    // a handler answering it here runs filesystem code and must finish.
    int cancel_state;
    pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cancel_state);
    const bool for_libfuse = accept_request(fd, static_cast<char*>(buf), static_cast<size_t>(n));
    pthread_setcancelstate(cancel_state, nullptr);
    if (for_libfuse) return n;
  }
}

// What every request goes through once read, from /dev/fuse (read_request)
// or from a RequestSource (the io_uring queues): counted, timed, noted for
// its callback, and answered here if a Handler takes its opcode.
bool Transport::accept_request(int fd, char* buf, size_t len) {
  if (len < sizeof(k::fuse_in_header)) return true;  // libfuse reports it
  k::fuse_in_header in;
  std::memcpy(&in, buf, sizeof in);
  stats_.count(in.opcode);
  if (expects_reply(in.opcode)) started(in.unique, in.opcode, now_ns());
  // For the callback libfuse runs for it on this thread (request_note.h).
  note_request(buf, len);
  if (in.opcode >= k::kOpcodeLimit || !handlers_[in.opcode]) return true;
  const Request r{fd, in, buf + sizeof in, len - sizeof in};
  handlers_[in.opcode](r);
  return false;
}

ssize_t Transport::write_reply(int fd, struct iovec* iov, int count) {
  bool timed = false;
  uint32_t opcode = 0;
  uint64_t start = 0;
  uint64_t unique = 0;
  if (count >= 1 && iov[0].iov_len >= sizeof(k::fuse_out_header)) {
    k::fuse_out_header out;
    std::memcpy(&out, iov[0].iov_base, sizeof out);
    unique = out.unique;
    // unique 0: a notification, no reply to anything.
    if (out.unique == 0) {
      const auto code = static_cast<uint32_t>(out.error);
      notifications_[code < kabi::kNotifyCodeLimit ? code : 0].fetch_add(1, std::memory_order_relaxed);
    } else if (finished(out.unique, opcode, start)) {
      timed = true;
      if (out.error == 0) {
        if (opcode == k::FUSE_INIT) edit_init_reply(iov, count);
        else if ((opcode == k::FUSE_OPEN || opcode == k::FUSE_CREATE) && open_flags_)
          edit_open_reply(iov, count);
      }
    }
  }
  ssize_t rc = 0;
  if (!source_ || unique == 0 || !source_->take_reply(unique, iov, count, rc))
    rc = ::writev(fd, iov, count);
  const int saved = errno;
  if (timed) stats_.record(opcode, now_ns() - start);
  if (timed && opcode == k::FUSE_INIT && rc >= 0 && source_ && count >= 2) {
    // The reply as edited above; the kernel has applied it by now.
    k::fuse_init_out o{};
    std::memcpy(&o, iov[1].iov_base, std::min(sizeof o, iov[1].iov_len));
    source_->init_replied(o);
  }
  errno = saved;
  return rc;
}

int Transport::reply(const Request& r, int error, const struct iovec* payload, int count) {
  constexpr int kMaxPieces = 8;
  if (count < 0 || count > kMaxPieces - 1) return -EINVAL;
  k::fuse_out_header out{};
  struct iovec iov[kMaxPieces];
  iov[0] = {&out, sizeof out};
  size_t len = sizeof out;
  if (error == 0) {
    for (int i = 0; i < count; ++i) {
      iov[1 + i] = payload[i];
      len += payload[i].iov_len;
    }
  } else {
    count = 0;
  }
  out.len = static_cast<uint32_t>(len);
  out.error = -error;
  out.unique = r.in.unique;
  if (write_reply(r.fd, iov, 1 + count) < 0) return -errno;
  return 0;
}

// ---- INIT and open replies ----------------------------------------------------

void Transport::edit_init_request(char* buf, size_t len) {
  if (len < sizeof(k::fuse_in_header) + offsetof(k::fuse_init_in, flags2)) return;
  k::fuse_init_in in{};
  const size_t body = std::min(sizeof in, len - sizeof(k::fuse_in_header));
  std::memcpy(&in, buf + sizeof(k::fuse_in_header), body);
  const bool ext = in.flags & k::FUSE_INIT_EXT;
  const bool has_flags2 = body >= offsetof(k::fuse_init_in, flags2) + sizeof in.flags2;
  uint64_t flags = in.flags;
  if (ext && has_flags2) flags |= uint64_t{in.flags2} << 32;
  kernel_flags_.store(flags, std::memory_order_release);
  kernel_minor_.store(in.minor, std::memory_order_release);
  if (hidden_ == 0) return;
  in.flags &= ~static_cast<uint32_t>(hidden_);
  if (ext && has_flags2) in.flags2 &= ~static_cast<uint32_t>(hidden_ >> 32);
  std::memcpy(buf + sizeof(k::fuse_in_header), &in, body);
}

void Transport::edit_init_reply(struct iovec* iov, int count) {
  if (count < 2 || iov[1].iov_len < offsetof(k::fuse_init_out, max_background)) return;
  k::fuse_init_out o{};
  const size_t len = std::min(sizeof o, iov[1].iov_len);
  std::memcpy(&o, iov[1].iov_base, len);
  const uint64_t kernel = kernel_flags_.load(std::memory_order_acquire);
  const bool has_flags2 = len >= offsetof(k::fuse_init_out, flags2) + sizeof o.flags2;
  uint64_t out = o.flags;
  if ((o.flags & k::FUSE_INIT_EXT) && has_flags2) out |= uint64_t{o.flags2} << 32;
  uint64_t added = requested_ & kernel & ~out;
  // Bits 32-63 need FUSE_INIT_EXT, which the kernel must have offered.
  if (!(kernel & k::FUSE_INIT_EXT) || !has_flags2) added &= 0xffffffffull;
  out |= added;
  if (out >> 32) out |= k::FUSE_INIT_EXT;
  o.flags = static_cast<uint32_t>(out);
  if (has_flags2) o.flags2 = static_cast<uint32_t>(out >> 32);
  std::memcpy(iov[1].iov_base, &o, len);
  granted_.store(out, std::memory_order_release);
  init_done_.store(true, std::memory_order_release);
  spdlog::info("transport: INIT: kernel 7.{} offers flags {:#x}; the reply (protocol 7.{}) "
               "carries {:#x}, {:#x} of it added below libfuse",
               kernel_minor_.load(), kernel, o.minor, out, added);
  if (const uint64_t refused = requested_ & ~kernel)
    spdlog::info("transport: INIT: flags {:#x} asked for but not offered by this kernel", refused);
}

void Transport::edit_open_reply(struct iovec* iov, int count) {
  // OPEN's payload is a fuse_open_out, CREATE's a fuse_entry_out and then a
  // fuse_open_out; libfuse sends either as the one iovec after the header.
  if (count < 2) return;
  struct iovec& last = iov[count - 1];
  if (last.iov_len < sizeof(k::fuse_open_out)) return;
  char* at = static_cast<char*>(last.iov_base) + last.iov_len - sizeof(k::fuse_open_out);
  k::fuse_open_out o;
  std::memcpy(&o, at, sizeof o);
  o.open_flags |= open_flags_;
  std::memcpy(at, &o, sizeof o);
}

Json Transport::stats_json_members() const {
  Json sent = Json::object();
  for (uint32_t code = 1; code < kabi::kNotifyCodeLimit; ++code)
    sent[std::string(kabi::notify_code_name(code))] = notifications_[code].load(std::memory_order_relaxed);
  return Json{{"transport", name()}, {"requests", stats_.to_json()}, {"notifications", std::move(sent)}};
}

}  // namespace pmemfs::daemon
