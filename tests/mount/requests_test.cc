// Request counting in the transport layer (fuse/transport.h, pmemfs.8
// "STATISTICS"): every request the kernel sends is counted per opcode, and
// the counts are exact, so that tests can pin down how many round trips an
// operation costs -- the same over /dev/fuse and over io_uring (the suite
// runs on both: mount and mount_uring). The stats come from the control xattr user.pmemfs.stats
// and from `pmemfs-ctl stats`.
#include <sys/xattr.h>

#include <cstdlib>
#include <cstring>
#include <map>
#include <sstream>
#include <string>

#include "tests/mount/stats_json.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

using nlohmann::json;

// requests.<op> of the stats, e.g. {"count": 3, "p50_us": 12.0, ...}; null when missing.
json request_object(const json& stats, const std::string& op) {
  if (!stats.is_object() || !stats.contains("requests") || !stats["requests"].contains(op)) return nullptr;
  return stats["requests"][op];
}

// A number member of an object; -1 when missing.
double field(const json& obj, const std::string& name) {
  if (!obj.is_object() || !obj.contains(name) || !obj[name].is_number()) return -1;
  return obj[name].get<double>();
}

// requests.<op>.count; -1 when missing.
long long count_of(const json& stats, const std::string& op) {
  const json obj = request_object(stats, op);
  return obj.is_null() ? -1 : static_cast<long long>(field(obj, "count"));
}

// The transport the daemon runs on in this run of the suite: what
// PMEMFS_TEST_MOUNT_OPTIONS asks for, else what io_uring=auto finds (the
// kernel's io_uring when its enable_uring parameter is Y).
std::string expected_transport() {
  const std::string o = "," + test_mount_options() + ",";
  if (o.find(",io_uring=on,") != std::string::npos) return "io_uring";
  if (o.find(",io_uring=off,") != std::string::npos) return "/dev/fuse";
  if (o.find(",io_uring_enable_module,") != std::string::npos) return "io_uring";
  return enable_uring_param() == "Y" ? "io_uring" : "/dev/fuse";
}

class RequestsTest : public MountTest {
 protected:
  std::string mount_options() const override { return "cache=none"; }
};

TEST_F(RequestsTest, StatsNameTheTransportAndCountRequestsByOpcode) {
  const json json = stats_json(fs_->mnt());
  EXPECT_EQ(expected_transport(), json.value("transport", "")) << json;
  EXPECT_TRUE(json.contains("requests") && json["requests"].is_object()) << json;
  // The mount itself: INIT once, then at least the lookups and getattrs of
  // the test's own setup; and this getxattr is already counted.
  EXPECT_EQ(1, count_of(json, "init")) << json;
  EXPECT_GE(count_of(json, "getxattr"), 1) << json;
  // Every opcode has its key, counted or not.
  for (const char* op : {"lookup", "write", "read", "create", "tmpfile", "statx", "forget"})
    EXPECT_GE(count_of(json, op), 0) << op << " missing in " << json;
  // The fault-path counters are still there.
  EXPECT_TRUE(json.contains("pte_faults") && json["pte_faults"].is_number_unsigned()) << json;
}

TEST_F(RequestsTest, HundredDirectWritesSendExactlyHundredWritesAndNoGetxattr) {
  Fd fd(open(p("f").c_str(), O_RDWR | O_CREAT, 0644));
  ASSERT_GE(fd, 0);
  const std::string block = pattern(4096, 3);
  const json before = stats_json(fs_->mnt());
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(4096, pwrite(fd, block.data(), block.size(), static_cast<off_t>(i) * 4096));
  const json after = stats_json(fs_->mnt());
  EXPECT_EQ(100, count_of(after, "write") - count_of(before, "write")) << after;
  // The second stats read is the only getxattr in between: no
  // security.capability asked before a write (HANDLE_KILLPRIV_V2).
  EXPECT_EQ(1, count_of(after, "getxattr") - count_of(before, "getxattr")) << after;
  // A latency distribution for them, in microseconds.
  const json w = request_object(after, "write");
  const double p50 = field(w, "p50_us"), p99 = field(w, "p99_us");
  EXPECT_GT(p50, 0) << w;
  EXPECT_GE(p99, p50) << w;
}

TEST_F(RequestsTest, HundredDirectReadsSendExactlyHundredReads) {
  ASSERT_EQ(0, write_file(p("f"), pattern(100 * 4096, 5)));
  Fd fd(open(p("f").c_str(), O_RDONLY));
  ASSERT_GE(fd, 0);
  char buf[4096];
  const json before = stats_json(fs_->mnt());
  for (int i = 0; i < 100; ++i)
    ASSERT_EQ(4096, pread(fd, buf, sizeof buf, static_cast<off_t>(i) * 4096));
  const json after = stats_json(fs_->mnt());
  EXPECT_EQ(100, count_of(after, "read") - count_of(before, "read")) << after;
}

TEST_F(RequestsTest, EachStatsReadIsOneGetxattr) {
  const std::string a = stats_text(fs_->mnt());
  const std::string b = stats_text(fs_->mnt());
  EXPECT_EQ(1, count_of(stats_json(fs_->mnt()), "getxattr") - count_of(json::parse(b), "getxattr")) << b;
  ASSERT_EQ(0, write_file(p("f"), pattern(100 * 4096, 5)));  // counts grow
  const std::string c = stats_text(fs_->mnt());
  EXPECT_GT(count_of(json::parse(c), "write"), count_of(json::parse(a), "write")) << c;
  EXPECT_GT(stats_counter(json::parse(c), "journal_commits"), stats_counter(json::parse(a), "journal_commits"));
  // The value's length does not change from one read to the next, so that
  // getxattr(2)'s size probe stays right for the read that follows it.
  EXPECT_EQ(a.size(), b.size());
  EXPECT_EQ(a.size(), c.size());
}

TEST_F(RequestsTest, CtlStatsShowsRequestsAndTransport) {
  auto r = run({ctl_path(), "stats", fs_->mnt()});
  ASSERT_EQ(0, r.status) << r.output;
  // One line of JSON, without the daemon's padding.
  ASSERT_EQ('\n', r.output.back()) << r.output;
  EXPECT_EQ(std::string::npos, r.output.find("  ")) << r.output;
  const json out = json::parse(r.output, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << r.output;
  EXPECT_EQ(expected_transport(), out.value("transport", "")) << r.output;
  EXPECT_GE(count_of(out, "getxattr"), 1) << r.output;
  EXPECT_EQ(1, count_of(out, "init")) << r.output;
}

TEST_F(RequestsTest, TheLogSaysWhichTransportRuns) {
  EXPECT_NE(std::string::npos, fs_->daemon_log().find("transport: " + expected_transport() + " ("))
      << fs_->daemon_log();
}

// ---- the fewest round trips, counted exactly, in every cache mode ----------
// (pmemfs.8 "STATISTICS" lists these costs.) Each test reads the stats
// before and after one operation and compares every opcode's count: what is
// not listed must not have been sent. The stats read itself is one GETXATTR,
// subtracted; FORGET, which has no reply and comes when the kernel evicts an
// inode, is left out.

using Counts = std::map<std::string, long long>;

// requests.<op>.count of every opcode with a count.
Counts counts_of(const json& stats) {
  Counts c;
  if (!stats.is_object() || !stats.contains("requests")) return c;
  for (const auto& [op, obj] : stats["requests"].items())
    c[op] = static_cast<long long>(field(obj, "count"));
  return c;
}

// after - before, zero counts dropped, the stats reads (stats_reads of them
// up to and including after) and FORGETs left out; and the daemon's own
// counters (stats' top level) as "#name".
Counts delta(const json& before, const json& after, int stats_reads = 1) {
  const Counts a = counts_of(before), b = counts_of(after);
  Counts d;
  for (const auto& [op, n] : b) {
    long long v = n - (a.count(op) ? a.at(op) : 0);
    if (op == "getxattr") v -= stats_reads;
    if (op == "forget" || op == "batch_forget") continue;
    if (v != 0) d[op] = v;
  }
  for (const char* k : {"journal_commits", "persists"}) {
    const double x = field(after, k), y = field(before, k);  // top-level keys, once each
    if (x >= 0 && x != y) d[std::string("#") + k] = static_cast<long long>(x - y);
  }
  // Notifications the daemon sent, as "#inval_inode" etc.
  if (after.contains("notifications") && before.contains("notifications"))
    for (const auto& [code, n] : after["notifications"].items()) {
      const double x = n.get<double>(), y = field(before["notifications"], code);
      if (x != y) d["#" + code] = static_cast<long long>(x - y);
    }
  return d;
}

std::string show(const Counts& c) {
  std::ostringstream o;
  o << "{";
  for (const auto& [op, n] : c) o << (o.tellp() > 1 ? ", " : "") << op << ": " << n;
  o << "}";
  return o.str();
}

// Only the requests: the daemon's counters (#...) dropped.
Counts requests(Counts c) {
  std::erase_if(c, [](const auto& kv) { return kv.first[0] == '#'; });
  return c;
}

long long at(const Counts& c, const std::string& k) { return c.count(k) ? c.at(k) : 0; }

class RequestCountsTest : public MountTest, public ::testing::WithParamInterface<const char*> {
 protected:
  std::string mount_options() const override { return GetParam(); }
  bool writeback() const { return std::string(GetParam()) == "cache=writeback"; }
  bool none() const { return std::string(GetParam()) == "cache=none"; }
  void SetUp() override {
    MountTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    // With the writeback cache the kernel sends FLUSH on close until the
    // daemon has once answered ENOSYS: one close per mount, done here.
    ASSERT_EQ(0, write_file(p("warm"), "w"));
  }
  // The requests (and daemon counters) that fn costs.
  template <typename F>
  Counts cost(F&& fn) {
    // The setup's own RELEASEs may still be on their way: start from counts
    // that stand still.
    const json before = settled_stats(stats_json(fs_->mnt()), nullptr);
    fn();
    int reads = 1;
    const json after = settled_stats(stats_json(fs_->mnt()), &reads);
    return delta(before, after, reads);
  }
  // RELEASE goes out after close(2) has returned (the kernel sends it in the
  // background): reads the stats again until the counts stand still, from
  // `stats` on, and returns the last read; *reads counts the reads after
  // the first.
  json settled_stats(json stats, int* reads) {
    for (int i = 0; i < 100; ++i) {
      usleep(10 * 1000);
      json again = stats_json(fs_->mnt());
      const bool still = requests(delta(stats, again)).empty();
      stats = std::move(again);  // the last read, its own GETXATTR counted
      if (reads) *reads += 1;
      if (still) break;
    }
    return stats;
  }
  static void close_fd(int fd) { ASSERT_EQ(0, close(fd)); }
};

TEST_P(RequestCountsTest, HundredDirectWritesAreHundredWrites) {
  ASSERT_EQ(0, write_file(p("f"), std::string(101 * 4096, 'a')));
  Fd fd(open(p("f").c_str(), O_WRONLY | O_DIRECT));
  ASSERT_GE(fd, 0);
  void* buf = nullptr;
  ASSERT_EQ(0, posix_memalign(&buf, 4096, 4096));
  memset(buf, 'b', 4096);
  ASSERT_EQ(4096, pwrite(fd, buf, 4096, 100 * 4096));
  const Counts c = cost([&] {
    for (int i = 0; i < 100; ++i) ASSERT_EQ(4096, pwrite(fd, buf, 4096, off_t{i} * 4096));
  });
  free(buf);
  // In every cache mode: an O_DIRECT open is a FOPEN_DIRECT_IO file, whose
  // writes go around the writeback cache's write path (which would fetch
  // size and mode before each write, and with them clear S_NOSEC, so that
  // the kernel asked for security.capability again: 3 requests a write).
  EXPECT_EQ(show({{"write", 100}}), show(requests(c)));
  // Overwrites of allocated blocks: no journal commit. And no notification:
  // the kernel cached nothing of the file since the first direct write
  // (which dropped what the buffered writes of write_file left).
  EXPECT_EQ(0, at(c, "#journal_commits")) << show(c);
  EXPECT_EQ(0, at(c, "#inval_inode")) << show(c);
}

// A direct write must drop pages a buffered read may have cached meanwhile
// (semantics_test's DirectAioTest shows why), and only then: one inode
// invalidation after a buffered read, none after a direct write alone.
TEST_P(RequestCountsTest, ADirectWriteInvalidatesTheFileOnlyAfterABufferedRead) {
  ASSERT_EQ(0, write_file(p("f"), std::string(8 * 4096, 'a')));
  Fd direct(open(p("f").c_str(), O_WRONLY | O_DIRECT));
  Fd buffered(open(p("f").c_str(), O_RDONLY));
  ASSERT_GE(direct, 0);
  ASSERT_GE(buffered, 0);
  void* buf = nullptr;
  ASSERT_EQ(0, posix_memalign(&buf, 4096, 4096));
  memset(buf, 'b', 4096);
  ASSERT_EQ(4096, pwrite(direct, buf, 4096, 0));  // takes write_file's note
  const Counts alone = cost([&] { ASSERT_EQ(4096, pwrite(direct, buf, 4096, 4096)); });
  char got[4096];
  const Counts after_read = cost([&] {
    ASSERT_EQ(4096, pread(buffered, got, 4096, 6 * 4096));
    ASSERT_EQ(4096, pwrite(direct, buf, 4096, 2 * 4096));
    ASSERT_EQ(4096, pwrite(direct, buf, 4096, 3 * 4096));
  });
  free(buf);
  EXPECT_EQ(0, at(alone, "#inval_inode")) << show(alone);
  // cache=none: the kernel caches no page, the daemon never asks.
  EXPECT_EQ(none() ? 0 : 1, at(after_read, "#inval_inode")) << show(after_read);
  // And the read page is gone: reading it again is a READ (not in cache=none
  // either, where every read is one).
  const Counts reread = cost([&] { ASSERT_EQ(4096, pread(buffered, got, 4096, 6 * 4096)); });
  EXPECT_EQ(1, at(reread, "read")) << show(reread);
}

// Without the writeback cache, a WRITE each; with it, none until writeback
// (the pages were cached by the file's first write).
TEST_P(RequestCountsTest, HundredBufferedWritesAreHundredWritesOrNoneInTheWritebackCache) {
  ASSERT_EQ(0, write_file(p("f"), std::string(100 * 4096, 'a')));
  Fd fd(open(p("f").c_str(), O_WRONLY));
  ASSERT_GE(fd, 0);
  const std::string block(4096, 'b');
  // The first write after the kernel loaded the inode's attributes asks for
  // security.capability once (then the kernel marks the inode S_NOSEC).
  ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, 0));
  const Counts c = cost([&] {
    for (int i = 0; i < 100; ++i) ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, off_t{i} * 4096));
  });
  EXPECT_EQ(writeback() ? show({}) : show({{"write", 100}}), show(requests(c)));
}

TEST_P(RequestCountsTest, CreateAndCloseAreLookupCreateRelease) {
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  struct stat st {};
  ASSERT_EQ(0, stat(p("d").c_str(), &st));  // the kernel holds d's attributes
  const Counts first = cost([&] { close_fd(open(p("d/a").c_str(), O_CREAT | O_WRONLY, 0644)); });
  EXPECT_EQ(show({{"create", 1}, {"lookup", 1}, {"release", 1}}), show(requests(first)));
  // One journal commit, and its four persist barriers (redo records, commit
  // header, applied records, retired lane) plus one for the new inode's
  // directory entry slot.
  EXPECT_EQ(1, at(first, "#journal_commits")) << show(first);
  EXPECT_LE(at(first, "#persists"), 4 * at(first, "#journal_commits") + 1) << show(first);
  // A create changes the directory, and the kernel then drops the
  // directory's attributes (fuse_dir_changed): the next permission check in
  // it fetches them again, whatever the daemon does.
  const Counts next = cost([&] { close_fd(open(p("d/b").c_str(), O_CREAT | O_WRONLY, 0644)); });
  EXPECT_EQ(show({{"create", 1}, {"getattr", 1}, {"lookup", 1}, {"release", 1}}), show(requests(next)));
}

TEST_P(RequestCountsTest, AStatAfterCloseIsAnsweredFromTheKernelsCache) {
  close_fd(open(p("a").c_str(), O_CREAT | O_WRONLY, 0644));
  struct stat st {};
  const Counts c = cost([&] { ASSERT_EQ(0, stat(p("a").c_str(), &st)); });
  // The writeback cache drops st_blocks at every close (fuse_flush): the
  // kernel's page cache may hold data the daemon has not allocated yet.
  if (writeback()) EXPECT_EQ(show({{"getattr", 1}}), show(requests(c)));
  else EXPECT_EQ(show({}), show(requests(c)));
  // Opening and closing without a write changes nothing either.
  const Counts reopen = cost([&] {
    close_fd(open(p("a").c_str(), O_RDONLY));
    ASSERT_EQ(0, stat(p("a").c_str(), &st));
  });
  if (writeback()) EXPECT_EQ(show({{"getattr", 1}, {"open", 1}, {"release", 1}}), show(requests(reopen)));
  else EXPECT_EQ(show({{"open", 1}, {"release", 1}}), show(requests(reopen)));
}

TEST_P(RequestCountsTest, AFailedLookupIsCachedAsANegativeEntry) {
  struct stat st {};
  const Counts c = cost([&] {
    for (int i = 0; i < 3; ++i) ASSERT_NE(0, stat(p("missing").c_str(), &st));
  });
  EXPECT_EQ(show({{"lookup", 1}}), show(requests(c)));
  // Creating the name through the kernel replaces the negative entry.
  ASSERT_EQ(0, write_file(p("missing"), "x"));
  EXPECT_EQ(0, stat(p("missing").c_str(), &st));
}

TEST_P(RequestCountsTest, WriteAndFsyncAreAWriteAndAnFsync) {
  ASSERT_EQ(0, write_file(p("f"), std::string(8192, 'a')));
  Fd fd(open(p("f").c_str(), O_WRONLY));
  ASSERT_GE(fd, 0);
  const std::string block(4096, 'b');
  ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, 4096));
  const Counts c = cost([&] {
    ASSERT_EQ(4096, pwrite(fd, block.data(), 4096, 0));
    ASSERT_EQ(0, fsync(fd));
  });
  Counts r = requests(c);
  if (writeback() && at(r, "setattr") == 1) {
    // With the writeback cache the kernel keeps the times the write changed
    // and sends them as a SETATTR when it writes the inode back: at this
    // fsync, unless its flusher got there first. The kernel's choice.
    r.erase("setattr");
  }
  EXPECT_EQ(show({{"fsync", 1}, {"write", 1}}), show(r));
  // The data was durable when the WRITE was answered; fsync commits the
  // changed times: one journal commit.
  EXPECT_EQ(1, at(c, "#journal_commits")) << show(c);
  // The data's one barrier at the WRITE, the commit's four at the FSYNC.
  EXPECT_LE(at(c, "#persists"), 1 + 4 * at(c, "#journal_commits")) << show(c);
  const Counts d = cost([&] { ASSERT_EQ(0, fdatasync(fd)); });
  EXPECT_EQ(show({{"fsync", 1}}), show(requests(d)));
  EXPECT_EQ(0, d.count("#journal_commits")) << show(d);
}

TEST_P(RequestCountsTest, UnlinkIsOneUnlink) {
  ASSERT_EQ(0, mkdir(p("d").c_str(), 0755));
  close_fd(open(p("d/a").c_str(), O_CREAT | O_WRONLY, 0644));
  struct stat st {};
  ASSERT_EQ(0, stat(p("d").c_str(), &st));
  const long long forgets = count_of(stats_json(fs_->mnt()), "forget");
  int polls = 0;
  Counts c = cost([&] {
    ASSERT_EQ(0, unlink(p("d/a").c_str()));
    // The kernel's FORGET of the unlinked inode, on which the daemon frees
    // it, comes when the kernel evicts it (each look is a stats read).
    while (polls < 200 && (++polls, count_of(stats_json(fs_->mnt()), "forget") == forgets))
      usleep(5 * 1000);
  });
  if ((c["getxattr"] -= polls) == 0) c.erase("getxattr");
  // With the writeback cache the kernel keeps ctime itself and writes the
  // unlinked inode's back (fuse_update_ctime): a SETATTR.
  if (writeback()) EXPECT_EQ(show({{"setattr", 1}, {"unlink", 1}}), show(requests(c)));
  else EXPECT_EQ(show({{"unlink", 1}}), show(requests(c)));
  // One commit for the name, one for freeing the inode at the FORGET (an
  // empty file frees no data in between); the writeback cache's SETATTR
  // is one more.
  EXPECT_EQ(writeback() ? 3 : 2, at(c, "#journal_commits")) << show(c);
  EXPECT_LE(at(c, "#persists"), 4 * at(c, "#journal_commits")) << show(c);
}

INSTANTIATE_TEST_SUITE_P(CacheModes, RequestCountsTest, kCacheModes, cache_mode_name);

}  // namespace
}  // namespace pmemfs::test
