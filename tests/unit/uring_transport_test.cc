// FUSE over io_uring without a mount: a ring entry's request rebuilt as
// libfuse parses it and a reply put where the kernel reads it
// (fuse/uring_entry.h); the transport layer routing a second source's
// requests and replies (fuse/transport.h, RequestSource); the choice of
// transport from the fuse module's parameter (fuse/uring_setup.h); and the
// options that ask for it.
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fuse/kernel_abi.h"
#include "fuse/ops.h"
#include "fuse/options.h"
#include "fuse/transport.h"
#include "fuse/uring_entry.h"
#include "fuse/uring_setup.h"
#include "fuse/uring_transport.h"

namespace pmemfs::daemon {
namespace {

namespace k = kabi;

// What the kernel writes into an entry: the header, the first argument in
// op_in, the rest in the payload.
void kernel_puts(RingEntry& e, uint32_t opcode, uint64_t unique, const void* op, size_t op_len,
                 const void* rest, size_t rest_len) {
  k::fuse_in_header in{};
  in.len = static_cast<uint32_t>(sizeof in + op_len + rest_len);
  in.opcode = opcode;
  in.unique = unique;
  in.nodeid = 7;
  std::memcpy(e.header()->in_out, &in, sizeof in);
  // memcpy with a null source is undefined even for 0 bytes (a request
  // with no first argument passes none).
  if (op_len) std::memcpy(e.header()->op_in, op, op_len);
  if (rest_len) std::memcpy(e.payload(), rest, rest_len);
  k::fuse_uring_ent_in_out io{};
  io.commit_id = unique;
  io.payload_sz = static_cast<uint32_t>(rest_len);
  std::memcpy(&e.header()->ring_ent_in_out, &io, sizeof io);
}

TEST(RingEntry, RegistersAHeaderAndAPayloadOfAtLeastTheCapacity) {
  auto e = RingEntry::create(1 << 20);
  ASSERT_TRUE(e);
  EXPECT_EQ(static_cast<void*>(e->header()), e->iov()[0].iov_base);
  EXPECT_EQ(sizeof(k::fuse_uring_req_header), e->iov()[0].iov_len);
  EXPECT_EQ(static_cast<void*>(e->payload()), e->iov()[1].iov_base);
  EXPECT_GE(e->iov()[1].iov_len, size_t{1} << 20);
}

TEST(RingEntry, AWriteIsRebuiltInFrontOfItsDataWithoutCopyingIt) {
  auto e = RingEntry::create(1 << 20);
  ASSERT_TRUE(e);
  char write_in[40];  // fuse_write_in
  for (size_t i = 0; i < sizeof write_in; ++i) write_in[i] = static_cast<char>(i + 1);
  std::vector<char> data(4096);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
  kernel_puts(*e, k::FUSE_WRITE, 42, write_in, sizeof write_in, data.data(), data.size());

  char* start = nullptr;
  ASSERT_EQ(static_cast<ssize_t>(40 + 40 + 4096), e->rebuild_request(&start));
  EXPECT_EQ(e->payload(), start + 40 + 40) << "the data stays where the kernel put it";
  k::fuse_in_header in;
  std::memcpy(&in, start, sizeof in);
  EXPECT_EQ(k::FUSE_WRITE, in.opcode);
  EXPECT_EQ(42u, in.unique);
  EXPECT_EQ(7u, in.nodeid);
  EXPECT_EQ(0, std::memcmp(start + 40, write_in, sizeof write_in));
  EXPECT_EQ(0, std::memcmp(start + 80, data.data(), data.size()));
  EXPECT_EQ(42u, e->commit_id());
  EXPECT_EQ(k::FUSE_WRITE, e->opcode());
}

TEST(RingEntry, ALookupHasNoFirstArgumentAndItsNameInThePayload) {
  auto e = RingEntry::create(8192);
  ASSERT_TRUE(e);
  kernel_puts(*e, k::FUSE_LOOKUP, 4, nullptr, 0, "name", 5);
  char* start = nullptr;
  ASSERT_EQ(static_cast<ssize_t>(40 + 5), e->rebuild_request(&start));
  EXPECT_STREQ("name", start + 40);
}

TEST(RingEntry, SizesThatDoNotAddUpAreRefused) {
  auto e = RingEntry::create(8192);
  ASSERT_TRUE(e);
  char* start = nullptr;
  char big[200] = {};
  // A first argument larger than op_in can hold.
  k::fuse_in_header in{};
  in.len = 40 + 200;
  std::memcpy(e->header()->in_out, &in, sizeof in);
  k::fuse_uring_ent_in_out io{};
  std::memcpy(&e->header()->ring_ent_in_out, &io, sizeof io);
  EXPECT_EQ(-EPROTO, e->rebuild_request(&start));
  // A payload larger than the request.
  kernel_puts(*e, k::FUSE_WRITE, 6, big, 40, big, 100);
  io.payload_sz = 500;
  std::memcpy(&e->header()->ring_ent_in_out, &io, sizeof io);
  EXPECT_EQ(-EPROTO, e->rebuild_request(&start));
}

TEST(RingEntry, AReplyGoesToTheHeaderAndThePayloadWithItsSize) {
  auto e = RingEntry::create(8192);
  ASSERT_TRUE(e);
  kernel_puts(*e, k::FUSE_READ, 10, "12345678", 8, nullptr, 0);
  k::fuse_out_header out{};
  out.unique = 10;
  const char a[] = "abc", b[] = "defgh";
  struct iovec iov[3] = {{&out, sizeof out}, {const_cast<char*>(a), 3}, {const_cast<char*>(b), 5}};
  EXPECT_EQ(static_cast<ssize_t>(16 + 8), e->store_reply(iov, 3));
  k::fuse_out_header got;
  std::memcpy(&got, e->header()->in_out, sizeof got);
  EXPECT_EQ(10u, got.unique);
  EXPECT_EQ(0, got.error);
  EXPECT_EQ(24u, got.len);
  EXPECT_EQ(0, std::memcmp(e->payload(), "abcdefgh", 8));
  k::fuse_uring_ent_in_out io;
  std::memcpy(&io, &e->header()->ring_ent_in_out, sizeof io);
  EXPECT_EQ(8u, io.payload_sz) << "the payload size counts no header";
  EXPECT_EQ(10u, io.commit_id) << "left as the kernel wrote it";
}

TEST(RingEntry, AnErrorReplyHasNoPayloadAndATooLargeReplyBecomesEio) {
  auto e = RingEntry::create(8192);
  ASSERT_TRUE(e);
  k::fuse_out_header out{};
  out.unique = 12;
  out.error = -ENOENT;
  struct iovec one = {&out, sizeof out};
  EXPECT_EQ(16, e->store_reply(&one, 1));
  k::fuse_uring_ent_in_out io;
  std::memcpy(&io, &e->header()->ring_ent_in_out, sizeof io);
  EXPECT_EQ(0u, io.payload_sz);

  std::vector<char> huge(e->capacity() + 1);
  out.error = 0;
  struct iovec two[2] = {{&out, sizeof out}, {huge.data(), huge.size()}};
  EXPECT_EQ(-EMSGSIZE, e->store_reply(two, 2));
  k::fuse_out_header got;
  std::memcpy(&got, e->header()->in_out, sizeof got);
  EXPECT_EQ(12u, got.unique);
  EXPECT_EQ(-EIO, got.error);
  std::memcpy(&io, &e->header()->ring_ent_in_out, sizeof io);
  EXPECT_EQ(0u, io.payload_sz);
}

// ---- the transport layer with a second source ---------------------------------

// Stands in for the io_uring rings: owns the uniques it is given.
class FakeSource : public RequestSource {
 public:
  bool take_reply(uint64_t unique, const struct iovec* iov, int count,
                  ssize_t& rc) noexcept override {
    if (!mine.count(unique)) return false;
    size_t n = 0;
    for (int i = 0; i < count; ++i) n += iov[i].iov_len;
    taken.push_back(unique);
    rc = static_cast<ssize_t>(n);
    return true;
  }
  void init_replied(const k::fuse_init_out& o) noexcept override {
    ++inits;
    init_flags = o.flags | uint64_t{o.flags2} << 32;
  }
  std::set<uint64_t> mine;
  std::vector<uint64_t> taken;
  int inits = 0;
  uint64_t init_flags = 0;
};

class SourceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    int sv[2];
    ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv));
    kernel_ = sv[0];
    daemon_ = sv[1];
    ctx_.transport = &t_;
    t_.set_source(&src_);
  }
  void TearDown() override {
    close(kernel_);
    close(daemon_);
  }
  std::vector<char> request(uint32_t opcode, uint64_t unique, const void* body, size_t len) {
    k::fuse_in_header in{};
    in.len = static_cast<uint32_t>(sizeof in + len);
    in.opcode = opcode;
    in.unique = unique;
    std::vector<char> b(sizeof in + len);
    std::memcpy(b.data(), &in, sizeof in);
    if (len) std::memcpy(b.data() + sizeof in, body, len);
    return b;
  }
  ssize_t lib_reply(uint64_t unique, void* payload, size_t len) {
    k::fuse_out_header out{};
    out.len = static_cast<uint32_t>(sizeof out + len);
    out.unique = unique;
    struct iovec iov[2] = {{&out, sizeof out}, {payload, len}};
    return io_.writev(daemon_, iov, len ? 2 : 1, &ctx_);
  }
  // Whether the kernel end has a message waiting.
  bool kernel_got_something() {
    char buf[256];
    return recv(kernel_, buf, sizeof buf, MSG_DONTWAIT) > 0;
  }

  Transport t_;
  FakeSource src_;
  OpsContext ctx_;
  fuse_custom_io io_ = Transport::custom_io();
  int kernel_ = -1, daemon_ = -1;
};

TEST_F(SourceTest, TheInitReplyAsTheKernelGotItIsPassedOnAfterTheWrite) {
  t_.request_init_flags(k::FUSE_OVER_IO_URING);
  k::fuse_init_in in{};
  in.major = 7;
  in.minor = 45;
  const uint64_t offered = k::FUSE_INIT_EXT | k::FUSE_OVER_IO_URING;
  in.flags = static_cast<uint32_t>(offered);
  in.flags2 = static_cast<uint32_t>(offered >> 32);
  std::vector<char> req = request(k::FUSE_INIT, 2, &in, sizeof in);
  ASSERT_EQ(static_cast<ssize_t>(req.size()), write(kernel_, req.data(), req.size()));
  std::vector<char> buf(1 << 16);
  ASSERT_GT(io_.read(daemon_, buf.data(), buf.size(), &ctx_), 0);
  k::fuse_init_out out{};
  out.major = 7;
  out.minor = 38;
  out.flags = static_cast<uint32_t>(k::FUSE_INIT_EXT);
  ASSERT_GT(lib_reply(2, &out, sizeof out), 0);
  EXPECT_TRUE(kernel_got_something()) << "INIT is answered over /dev/fuse";
  EXPECT_EQ(1, src_.inits);
  EXPECT_NE(0u, src_.init_flags & k::FUSE_OVER_IO_URING) << std::hex << src_.init_flags;
}

TEST_F(SourceTest, ASourcesRequestIsCountedAndItsReplyGoesBackToTheSource) {
  src_.mine = {10};
  std::vector<char> req = request(k::FUSE_GETATTR, 10, nullptr, 0);
  EXPECT_TRUE(t_.accept_request(daemon_, req.data(), req.size())) << "libfuse is to parse it";
  EXPECT_EQ(1u, t_.stats().summary(k::FUSE_GETATTR).count);
  char attr[104] = {};
  EXPECT_EQ(static_cast<ssize_t>(16 + sizeof attr), lib_reply(10, attr, sizeof attr));
  EXPECT_EQ(std::vector<uint64_t>{10}, src_.taken);
  EXPECT_FALSE(kernel_got_something());
  EXPECT_GT(t_.stats().summary(k::FUSE_GETATTR).max_us, 0) << "timed as over /dev/fuse";
  // A request of /dev/fuse still gets its reply there, and a notification
  // (unique 0) always does.
  EXPECT_GT(lib_reply(12, nullptr, 0), 0);
  EXPECT_TRUE(kernel_got_something());
  src_.mine.insert(0);
  EXPECT_GT(lib_reply(0, nullptr, 0), 0);
  EXPECT_TRUE(kernel_got_something());
  EXPECT_EQ(std::vector<uint64_t>{10}, src_.taken);
}

TEST_F(SourceTest, AHandledOpcodeFromTheSourceIsAnsweredHereAndBackThroughTheSource) {
  src_.mine = {14};
  int handled = 0;
  t_.add_handler(k::FUSE_TMPFILE, [&](const Transport::Request& r) {
    ++handled;
    EXPECT_EQ(3u, r.arg_len);
    k::fuse_open_out o{};
    struct iovec p = {&o, sizeof o};
    EXPECT_EQ(0, t_.reply(r, 0, &p, 1));
  });
  std::vector<char> req = request(k::FUSE_TMPFILE, 14, "abc", 3);
  EXPECT_FALSE(t_.accept_request(daemon_, req.data(), req.size())) << "not for libfuse";
  EXPECT_EQ(1, handled);
  EXPECT_EQ(std::vector<uint64_t>{14}, src_.taken);
  EXPECT_EQ(1u, t_.stats().summary(k::FUSE_TMPFILE).count);
}

TEST_F(SourceTest, TheStatsNameTheTransportThatCarriesTheRequests) {
  EXPECT_EQ("/dev/fuse", t_.stats_json_members()["transport"]);
  t_.set_name("io_uring");
  EXPECT_EQ("io_uring", t_.stats_json_members()["transport"]);
  EXPECT_TRUE(t_.stats_json_members()["requests"].is_object());
}

// ---- the choice of transport ------------------------------------------------------

class DecideTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pmemfs-uring-param-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl));
    dir_ = tmpl;
    param_ = dir_ + "/enable_uring";
  }
  void TearDown() override {
    unlink(param_.c_str());
    rmdir(dir_.c_str());
  }
  void set(const std::string& v) { std::ofstream(param_) << v << "\n"; }
  std::string get() {
    std::ifstream in(param_);
    std::string v;
    in >> v;
    return v;
  }
  std::string dir_, param_;
};

TEST_F(DecideTest, OffAndSingleThreadedNeverUseIoUring) {
  set("Y");
  EXPECT_FALSE(decide_uring(UringMode::kOff, true, false, param_).use);
  UringDecision d = decide_uring(UringMode::kAuto, false, true, param_);
  EXPECT_FALSE(d.use);
  EXPECT_NE(std::string::npos, d.why.find("-s")) << d.why;
}

TEST_F(DecideTest, WithoutTheParameterTheKernelHasNoFuseIoUring) {
  UringDecision d = decide_uring(UringMode::kAuto, true, false, param_);
  EXPECT_FALSE(d.use);
  EXPECT_NE(std::string::npos, d.why.find("this kernel has no FUSE io_uring")) << d.why;
}

TEST_F(DecideTest, AnOffParameterIsLeftAloneWithoutPermission) {
  set("N");
  UringDecision d = decide_uring(UringMode::kOn, false, false, param_);
  EXPECT_FALSE(d.use);
  EXPECT_NE(std::string::npos, d.why.find("is N; -o io_uring_enable_module")) << d.why;
  EXPECT_EQ("N", get());
}

TEST_F(DecideTest, WithPermissionTheDaemonTurnsTheParameterOn) {
  set("N");
  UringDecision d = decide_uring(UringMode::kAuto, true, false, param_);
  EXPECT_EQ("Y", get());
  // Whether a ring can be made here decides the rest (an unprivileged
  // sandbox may forbid io_uring altogether).
  const std::string probe = probe_ring();
  EXPECT_EQ(probe.empty(), d.use) << d.why;
  if (probe.empty()) EXPECT_NE(std::string::npos, d.why.find("the daemon set")) << d.why;
  else EXPECT_EQ(probe, d.why);
}

TEST(UringQueues, OnePerPossibleCpu) {
  EXPECT_GE(uring_queue_count(), 1u);
  EXPECT_GE(uring_queue_count(), static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN)));
}

// ---- the options --------------------------------------------------------------------

ParsedArgs parse(std::vector<const char*> words) {
  words.insert(words.begin(), "pmemfs");
  words.push_back("pool");
  words.push_back("/mnt");
  return parse_args(static_cast<int>(words.size()), words.data());
}

TEST(UringOptions, AutoByDefaultAndEachModeByName) {
  EXPECT_EQ(UringMode::kAuto, parse({}).opts.io_uring);
  EXPECT_FALSE(parse({}).opts.io_uring_enable_module);
  EXPECT_EQ(UringMode::kOn, parse({"-o", "io_uring=on"}).opts.io_uring);
  EXPECT_EQ(UringMode::kOff, parse({"-o", "io_uring=off"}).opts.io_uring);
  ParsedArgs p = parse({"-o", "io_uring=auto,io_uring_enable_module"});
  EXPECT_TRUE(p.errors.empty());
  EXPECT_TRUE(p.opts.io_uring_enable_module);
}

TEST(UringOptions, RingThreadsPollFiftyMicrosecondsUnlessToldOtherwise) {
  EXPECT_EQ(50u, parse({}).opts.io_uring_poll_us);
  EXPECT_EQ(uint64_t{UringTransport::kDefaultPollUs} * 1000, UringTransport::Config{}.poll_ns);
  EXPECT_EQ(50u, UringTransport::kDefaultPollUs);
  EXPECT_EQ(0u, parse({"-o", "io_uring_poll_us=0"}).opts.io_uring_poll_us);
  EXPECT_EQ(10000u, parse({"-o", "io_uring_poll_us=10000"}).opts.io_uring_poll_us);
  ParsedArgs p = parse({"-o", "io_uring_poll_us=10001"});
  ASSERT_EQ(1u, p.errors.size());
  EXPECT_NE(std::string::npos, p.errors[0].find("io_uring_poll_us=MICROSECONDS (0-10000)")) << p.errors[0];
}

TEST(UringOptions, ContradictionsAreRefusedByName) {
  ParsedArgs p = parse({"-o", "io_uring=maybe"});
  ASSERT_EQ(1u, p.errors.size());
  EXPECT_NE(std::string::npos, p.errors[0].find("io_uring=auto|on|off")) << p.errors[0];
  p = parse({"-o", "io_uring=off,io_uring_enable_module"});
  ASSERT_EQ(1u, p.errors.size());
  EXPECT_NE(std::string::npos, p.errors[0].find("io_uring_enable_module needs")) << p.errors[0];
  p = parse({"-s", "-o", "io_uring=on"});
  ASSERT_EQ(1u, p.errors.size());
  EXPECT_NE(std::string::npos, p.errors[0].find("cannot be used with -s")) << p.errors[0];
}

}  // namespace
}  // namespace pmemfs::daemon
