// The transport layer below libfuse (fuse/transport.h), without a mount: its
// custom I/O callbacks run on one end of a SOCK_SEQPACKET socket pair (which
// keeps message boundaries, as /dev/fuse does) while the test plays the
// kernel on the other end.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fuse/kernel_abi.h"
#include "fuse/ops.h"
#include "fuse/transport.h"

namespace pmemfs::daemon {
namespace {

namespace k = kabi;

class TransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    kernel_ = sv[0];
    daemon_ = sv[1];
    ctx_.transport = &t_;
  }
  void TearDown() override {
    close(kernel_);
    close(daemon_);
  }

  // The kernel sends a request: header, then body.
  void send(uint32_t opcode, uint64_t unique, const void* body, size_t len) {
    k::fuse_in_header in{};
    in.len = static_cast<uint32_t>(sizeof in + len);
    in.opcode = opcode;
    in.unique = unique;
    in.nodeid = 1;
    struct iovec iov[2] = {{&in, sizeof in}, {const_cast<void*>(body), len}};
    ASSERT_EQ(static_cast<ssize_t>(in.len), writev(kernel_, iov, len ? 2 : 1));
  }
  // The kernel reads one reply.
  std::vector<char> receive() {
    std::vector<char> buf(1 << 16);
    ssize_t n = read(kernel_, buf.data(), buf.size());
    buf.resize(n > 0 ? static_cast<size_t>(n) : 0);
    return buf;
  }
  // libfuse asks for the next request.
  ssize_t lib_read(std::vector<char>& buf) {
    buf.resize(1 << 16);
    return io_.read(daemon_, buf.data(), buf.size(), &ctx_);
  }
  // libfuse replies.
  ssize_t lib_reply(uint64_t unique, int error, void* payload, size_t len) {
    k::fuse_out_header out{};
    out.len = static_cast<uint32_t>(sizeof out + len);
    out.error = -error;
    out.unique = unique;
    struct iovec iov[2] = {{&out, sizeof out}, {payload, len}};
    return io_.writev(daemon_, iov, len ? 2 : 1, &ctx_);
  }

  Transport t_;
  OpsContext ctx_;
  fuse_custom_io io_ = Transport::custom_io();
  int kernel_ = -1, daemon_ = -1;
};

TEST_F(TransportTest, InitAddsRequestedFlagsTheKernelOffersAndHidesOthersFromLibfuse) {
  t_.request_init_flags(k::FUSE_HANDLE_KILLPRIV_V2 | k::FUSE_DIRECT_IO_ALLOW_MMAP |
                        k::FUSE_PASSTHROUGH);
  t_.hide_init_flags(k::FUSE_POSIX_ACL);
  k::fuse_init_in in{};
  in.major = 7;
  in.minor = 45;
  const uint64_t offered = k::FUSE_ASYNC_READ | k::FUSE_POSIX_ACL | k::FUSE_HANDLE_KILLPRIV_V2 |
                           k::FUSE_INIT_EXT | k::FUSE_DIRECT_IO_ALLOW_MMAP;  // no PASSTHROUGH
  in.flags = static_cast<uint32_t>(offered);
  in.flags2 = static_cast<uint32_t>(offered >> 32);
  send(k::FUSE_INIT, 2, &in, sizeof in);

  std::vector<char> buf;
  ASSERT_EQ(static_cast<ssize_t>(sizeof(k::fuse_in_header) + sizeof in), lib_read(buf));
  k::fuse_init_in seen;
  std::memcpy(&seen, buf.data() + sizeof(k::fuse_in_header), sizeof seen);
  EXPECT_EQ(0u, seen.flags & k::FUSE_POSIX_ACL) << "libfuse must not see a hidden flag";
  EXPECT_NE(0u, seen.flags & k::FUSE_ASYNC_READ);
  EXPECT_EQ(offered, t_.kernel_init_flags());
  EXPECT_FALSE(t_.initialized());

  // libfuse's reply as 3.14 makes it: its own flags, INIT_EXT echoed.
  k::fuse_init_out out{};
  out.major = 7;
  out.minor = 38;
  out.flags = static_cast<uint32_t>(k::FUSE_ASYNC_READ | k::FUSE_INIT_EXT);
  ASSERT_GT(lib_reply(2, 0, &out, sizeof out), 0);
  std::vector<char> got = receive();
  ASSERT_EQ(sizeof(k::fuse_out_header) + sizeof out, got.size());
  k::fuse_init_out sent;
  std::memcpy(&sent, got.data() + sizeof(k::fuse_out_header), sizeof sent);
  const uint64_t flags = sent.flags | uint64_t{sent.flags2} << 32;
  EXPECT_EQ(k::FUSE_ASYNC_READ | k::FUSE_INIT_EXT | k::FUSE_HANDLE_KILLPRIV_V2 |
                k::FUSE_DIRECT_IO_ALLOW_MMAP,
            flags)
      << std::hex << flags;
  EXPECT_TRUE(t_.initialized());
  EXPECT_TRUE(t_.granted(k::FUSE_HANDLE_KILLPRIV_V2));
  EXPECT_FALSE(t_.granted(k::FUSE_PASSTHROUGH)) << "not offered, so not granted";
  EXPECT_EQ(1u, t_.stats().summary(k::FUSE_INIT).count);
  EXPECT_GT(t_.stats().summary(k::FUSE_INIT).max_us, 0);
}

TEST_F(TransportTest, HighFlagsNeedInitExtFromTheKernel) {
  t_.request_init_flags(k::FUSE_HANDLE_KILLPRIV_V2 | k::FUSE_DIRECT_IO_ALLOW_MMAP);
  k::fuse_init_in in{};
  in.major = 7;
  in.minor = 35;
  in.flags = static_cast<uint32_t>(k::FUSE_HANDLE_KILLPRIV_V2);  // an old kernel: no INIT_EXT
  in.flags2 = static_cast<uint32_t>(k::FUSE_DIRECT_IO_ALLOW_MMAP >> 32);  // to be ignored
  send(k::FUSE_INIT, 2, &in, sizeof in);
  std::vector<char> buf;
  ASSERT_GT(lib_read(buf), 0);
  k::fuse_init_out out{};
  ASSERT_GT(lib_reply(2, 0, &out, sizeof out), 0);
  std::vector<char> got = receive();
  k::fuse_init_out sent;
  std::memcpy(&sent, got.data() + sizeof(k::fuse_out_header), sizeof sent);
  EXPECT_EQ(static_cast<uint32_t>(k::FUSE_HANDLE_KILLPRIV_V2), sent.flags);
  EXPECT_EQ(0u, sent.flags2);
}

TEST_F(TransportTest, AHandledOpcodeIsAnsweredHereAndLibfuseGetsTheNextRequest) {
  int handled = 0;
  t_.add_handler(k::FUSE_TMPFILE, [&](const Transport::Request& r) {
    ++handled;
    EXPECT_EQ(sizeof(k::fuse_create_in) + 2, r.arg_len);
    k::fuse_open_out o{};
    o.fh = 77;
    struct iovec p = {&o, sizeof o};
    EXPECT_EQ(0, t_.reply(r, 0, &p, 1));
  });
  k::fuse_create_in c{};
  char body[sizeof c + 2] = {};
  std::memcpy(body, &c, sizeof c);
  body[sizeof c] = '/';
  send(k::FUSE_TMPFILE, 4, body, sizeof body);
  send(k::FUSE_GETATTR, 6, nullptr, 0);
  std::vector<char> buf;
  ASSERT_EQ(static_cast<ssize_t>(sizeof(k::fuse_in_header)), lib_read(buf));
  k::fuse_in_header in;
  std::memcpy(&in, buf.data(), sizeof in);
  EXPECT_EQ(k::FUSE_GETATTR, in.opcode) << "libfuse must not see the TMPFILE";
  EXPECT_EQ(1, handled);
  std::vector<char> got = receive();
  ASSERT_EQ(sizeof(k::fuse_out_header) + sizeof(k::fuse_open_out), got.size());
  k::fuse_out_header out;
  std::memcpy(&out, got.data(), sizeof out);
  EXPECT_EQ(4u, out.unique);
  EXPECT_EQ(0, out.error);
  EXPECT_EQ(got.size(), out.len);
  EXPECT_EQ(1u, t_.stats().summary(k::FUSE_TMPFILE).count);
  EXPECT_GT(t_.stats().summary(k::FUSE_TMPFILE).max_us, 0) << "its latency is recorded";
  EXPECT_EQ(1u, t_.stats().summary(k::FUSE_GETATTR).count);
}

TEST_F(TransportTest, OpenFlagsAreAddedToSuccessfulOpenAndCreateReplies) {
  t_.add_open_flags(k::FOPEN_PARALLEL_DIRECT_WRITES);
  std::vector<char> buf;
  send(k::FUSE_OPEN, 8, nullptr, 0);
  ASSERT_GT(lib_read(buf), 0);
  k::fuse_open_out o{};
  o.open_flags = k::FOPEN_KEEP_CACHE;
  ASSERT_GT(lib_reply(8, 0, &o, sizeof o), 0);
  std::vector<char> got = receive();
  std::memcpy(&o, got.data() + sizeof(k::fuse_out_header), sizeof o);
  EXPECT_EQ(k::FOPEN_KEEP_CACHE | k::FOPEN_PARALLEL_DIRECT_WRITES, o.open_flags);

  send(k::FUSE_CREATE, 10, nullptr, 0);
  ASSERT_GT(lib_read(buf), 0);
  char create[sizeof(k::fuse_entry_out) + sizeof(k::fuse_open_out)] = {};
  ASSERT_GT(lib_reply(10, 0, create, sizeof create), 0);
  got = receive();
  std::memcpy(&o, got.data() + sizeof(k::fuse_out_header) + sizeof(k::fuse_entry_out), sizeof o);
  EXPECT_EQ(k::FOPEN_PARALLEL_DIRECT_WRITES, o.open_flags);
  k::fuse_entry_out e;
  std::memcpy(&e, got.data() + sizeof(k::fuse_out_header), sizeof e);
  EXPECT_EQ(0u, e.nodeid) << "the entry is left alone";

  // A GETATTR reply whose payload happens to be 16 bytes is not touched.
  send(k::FUSE_GETATTR, 12, nullptr, 0);
  ASSERT_GT(lib_read(buf), 0);
  char sixteen[16] = {};
  ASSERT_GT(lib_reply(12, 0, sixteen, sizeof sixteen), 0);
  got = receive();
  EXPECT_EQ(0, std::memcmp(got.data() + sizeof(k::fuse_out_header), sixteen, sizeof sixteen));
}

// A notification (unique 0, its code where a reply has the error) passes
// through to the kernel and is counted by name; it finds no request.
TEST_F(TransportTest, NotificationsAreSentAndCountedByCode) {
  char body[16] = {};
  ASSERT_GT(lib_reply(0, -static_cast<int>(k::FUSE_NOTIFY_INVAL_INODE), body, sizeof body), 0);
  ASSERT_GT(lib_reply(0, -static_cast<int>(k::FUSE_NOTIFY_INVAL_INODE), body, sizeof body), 0);
  ASSERT_GT(lib_reply(0, -static_cast<int>(k::FUSE_NOTIFY_DELETE), body, sizeof body), 0);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(sizeof(k::fuse_out_header) + sizeof body, receive().size());
  const Json j = t_.stats_json_members();
  ASSERT_TRUE(j.contains("notifications"));
  EXPECT_EQ(2, j["notifications"]["inval_inode"].get<int>());
  EXPECT_EQ(1, j["notifications"]["delete"].get<int>());
  EXPECT_EQ(0, j["notifications"]["inval_entry"].get<int>());
  EXPECT_EQ(8u, j["notifications"].size()) << "every code, counted or not";
  EXPECT_EQ(0u, t_.stats().summary(0).count) << "no request counted";
}

// As fuse_session_loop_mt does: several threads read and reply at once.
// Every request is counted exactly once and every reply finds its request.
TEST_F(TransportTest, CountsAreExactWithManyThreads) {
  constexpr int kRequests = 20000, kThreads = 4;
  std::atomic<int> replied{0};
  std::vector<std::thread> workers;
  for (int i = 0; i < kThreads; ++i) {
    workers.emplace_back([&] {
      std::vector<char> buf;
      for (;;) {
        ssize_t n = lib_read(buf);
        if (n <= 0) return;
        k::fuse_in_header in;
        std::memcpy(&in, buf.data(), sizeof in);
        if (in.opcode == k::FUSE_DESTROY) return;
        char attr[104] = {};
        lib_reply(in.unique, 0, attr, sizeof attr);
        replied.fetch_add(1);
      }
    });
  }
  std::thread reader([&] {
    for (int i = 0; i < kRequests; ++i) receive();
  });
  for (int i = 0; i < kRequests; ++i)
    send(i % 2 ? k::FUSE_GETATTR : k::FUSE_LOOKUP, 2 * (i + 1), nullptr, 0);
  reader.join();
  for (int i = 0; i < kThreads; ++i) send(k::FUSE_DESTROY, 2 * (kRequests + 1 + i), nullptr, 0);
  for (auto& w : workers) w.join();
  EXPECT_EQ(kRequests, replied.load());
  EXPECT_EQ(kRequests / 2u, t_.stats().summary(k::FUSE_GETATTR).count);
  EXPECT_EQ(kRequests / 2u, t_.stats().summary(k::FUSE_LOOKUP).count);
  EXPECT_EQ(static_cast<uint64_t>(kThreads), t_.stats().summary(k::FUSE_DESTROY).count);
  const auto s = t_.stats().summary(k::FUSE_GETATTR);
  EXPECT_GT(s.p50_us, 0);
  EXPECT_LE(s.p50_us, s.p99_us);
  EXPECT_LE(s.p99_us, s.max_us);
}

TEST(RequestStats, JsonHasEveryOpcodeAndAFixedLength) {
  RequestStats s;
  const std::string empty = json_text_fixed_width(s.to_json());
  for (int i = 0; i < 1000; ++i) {
    s.count(k::FUSE_WRITE);
    s.record(k::FUSE_WRITE, 1000 + 37 * static_cast<uint64_t>(i));
  }
  s.count(4242);  // not an opcode
  const Json full = s.to_json();
  // The text keeps its length while the counts grow (the stats xattr's size probe).
  EXPECT_EQ(empty.size(), json_text_fixed_width(full).size());
  for (const char* key : {"lookup", "write", "tmpfile", "statx", "copy_file_range_64", "unknown"}) {
    ASSERT_TRUE(full.contains(key)) << key;
    for (const char* member : {"count", "p50_us", "p90_us", "p99_us", "max_us"})
      EXPECT_TRUE(full[key].contains(member)) << key << "." << member;
    EXPECT_TRUE(full[key]["count"].is_number_unsigned()) << key;
    EXPECT_TRUE(full[key]["p50_us"].is_number_float()) << key;
  }
  EXPECT_EQ(1000u, full["write"]["count"].get<uint64_t>());
  EXPECT_EQ(1u, full["unknown"]["count"].get<uint64_t>());
  EXPECT_EQ(0u, full["lookup"]["count"].get<uint64_t>());
  EXPECT_NEAR(38.0, full["write"]["max_us"].get<double>(), 0.05) << "in tenths of a microsecond";
  const auto w = s.summary(k::FUSE_WRITE);
  EXPECT_EQ(1000u, w.count);
  // 1..38 us, uniformly: the median near 19.5 us, within the factor of two
  // a log2 histogram allows.
  EXPECT_GT(w.p50_us, 19.5 / 2);
  EXPECT_LT(w.p50_us, 19.5 * 2);
  EXPECT_NEAR(38.0, w.max_us, 0.1);
  EXPECT_EQ(1u, s.summary(4242).count);
}

}  // namespace
}  // namespace pmemfs::daemon
