// Direct access for user processes (pmemfs.8, DIRECT ACCESS): real processes
// under pmemfs-run map files of a real mount straight from the pool, with
// Python's mmap module as a user's program would (dax_workload.py).
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "tests/mount/stats_json.h"
#include "tests/mount/test_util.h"

namespace pmemfs::test {
namespace {

constexpr uint64_t kMiB = 1 << 20;

std::string env_or_empty(const char* name) {
  const char* v = getenv(name);
  return v ? v : "";
}

// PMEMFS_RUN and PMEMFS_DAX_LIB: the built pmemfs-run and client library.
#define PMEMFS_REQUIRE_DAX_CLIENT()                                             \
  do {                                                                          \
    if (env_or_empty("PMEMFS_RUN").empty() || env_or_empty("PMEMFS_DAX_LIB").empty()) \
      FAIL() << "PMEMFS_RUN and PMEMFS_DAX_LIB must name the built client";     \
  } while (0)

std::string workload() { return env_or_empty("PMEMFS_TEST_SCRIPTS") + "/dax_workload.py"; }

// argv under pmemfs-run, with the client's debug output on.
ProcResult run_client(const std::vector<std::string>& args, const std::vector<std::string>& prefix = {}) {
  std::vector<std::string> argv = prefix;
  argv.insert(argv.end(), {"sh", env_or_empty("PMEMFS_RUN"), python(), workload()});
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {"PMEMFS_DAX_LIB=" + env_or_empty("PMEMFS_DAX_LIB"), "PMEMFS_DAX_DEBUG=1"});
}

bool contains(const std::string& s, const std::string& what) { return s.find(what) != std::string::npos; }

class DaxTest : public MountTest {
 protected:
  void SetUp() override {
    PMEMFS_REQUIRE_DAX_CLIENT();
    MountTest::SetUp();
  }
  std::string mount_options() const override { return "cache=writethrough"; }
  uint64_t pool_size() const override { return 2048 * kMiB; }
  // A file of `size` bytes, all hole.
  std::string sized(const std::string& name, uint64_t size) {
    const std::string path = p(name);
    EXPECT_EQ(0, truncate_file(path, size));
    return path;
  }
  static int truncate_file(const std::string& path, uint64_t size) {
    Fd fd(open(path.c_str(), O_RDWR | O_CREAT, 0666));
    if (fd < 0) return errno;
    return ftruncate(fd, static_cast<off_t>(size)) == 0 ? 0 : errno;
  }
  uint64_t data_blocks() { return stats_counter(stats_json(fs_->mnt()), "data_blocks"); }
  // A counter of the stats' "dax" object; ~0 when missing.
  uint64_t dax_counter(const std::string& key) {
    const auto s = stats_json(fs_->mnt());
    if (!s.is_object() || !s.contains("dax") || !s["dax"].contains(key)) return ~uint64_t{0};
    return s["dax"][key].get<uint64_t>();
  }
};

TEST_F(DaxTest, MappingsOfTheMountAreDirectAndTheMountSeesTheirStores) {
  const std::string f = sized("direct", 16 * kMiB);
  auto r = run_client({"pmd", f, std::to_string(16 * kMiB)});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "direct mapping of inode")) << r.output;
  EXPECT_EQ(8u, dax_counter("pmd_faults"));  // 16 MiB: one fault per 2 MiB extent
  EXPECT_GT(dax_counter("bytes_flushed"), 0u);  // the program's msync
  // Every page got a 1 from the client's stores; read(2) through the mount sees them.
  const std::string back = read_file(f);
  ASSERT_EQ(16 * kMiB, back.size());
  for (uint64_t off = 0; off < back.size(); off += 4096) ASSERT_EQ(1, back[off]) << off;
}

TEST_F(DaxTest, AMappedGigabyteHoleReadsAsZerosAndCostsNothing) {
  const std::string f = sized("hole", 1024 * kMiB);
  const uint64_t before = data_blocks();
  auto r = run_client({"hole", f, std::to_string(1024 * kMiB)});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "direct mapping of inode")) << r.output;
  EXPECT_TRUE(contains(r.output, "zeros rss_kb 0\n")) << r.output;  // the kernel's zero page: no memory
  EXPECT_EQ(before, data_blocks()) << "reading a hole allocated blocks";
}

// The seed's race across processes: a reader maps hole pages (the zero
// page), another process stores into them; once its stores returned, the
// reader must see them. PMEMFS_TEST_DAX_SKIP_REVOKE=1 makes the daemon skip
// revocations: then the reader keeps its zero pages, and this test's check
// fails (asserted in the second half, so the test proves it can fail).
TEST_F(DaxTest, NoProcessReadsAZeroPageAfterAnotherProcessStoreReturned) {
  for (const char* how : {"client", "write"}) {
    const std::string f = sized(std::string("race-") + how, 64 * kMiB);
    const uint64_t revoked = dax_counter("revocations");
    auto r = run_client({"race", f, "256", how});
    ASSERT_EQ(0, r.status) << r.output;
    EXPECT_TRUE(contains(r.output, "before 256 zero of 256 after 256 X of 256")) << how << ": " << r.output;
    // The reader was handed each 2 MiB range as one run of zero pages; the
    // first store into a range takes it back, whole.
    EXPECT_EQ(32u, dax_counter("revocations") - revoked) << how;
  }
  EXPECT_EQ(0u, dax_counter("clients")) << "the clients exited";
  EXPECT_GE(dax_counter("clients_total"), 3u);
  EXPECT_EQ(64u, dax_counter("hole_faults"));  // one per 2 MiB range, per run
  fs_.reset();
  setenv("PMEMFS_TEST_DAX_SKIP_REVOKE", "1", 1);
  fs_ = std::make_unique<MountedFs>(mount_options(), pool_size());
  unsetenv("PMEMFS_TEST_DAX_SKIP_REVOKE");
  ASSERT_TRUE(fs_->ok());
  const std::string f = sized("race-unrevoked", 64 * kMiB);
  auto r = run_client({"race", f, "256", "client"});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "after 0 X of 256")) << "without revocations the reader must go stale: "
                                                       << r.output;
}

TEST_F(DaxTest, TruncateWhileAnotherProcessMapsTheTailGivesItSigbus) {
  const std::string f = sized("tail", 4 * kMiB);
  auto r = run_client({"tail", f});
  EXPECT_EQ(128 + SIGBUS, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "touched T\ntruncated\n")) << r.output;
  EXPECT_FALSE(contains(r.output, "read after truncate")) << r.output;
}

// Real programs under pmemfs-run, checked afterwards through the kernel's
// path (a process without the client): what they stored directly is what
// the mount holds. The dax counters prove the mappings were direct.
uint64_t direct_faults(const nlohmann::json& stats) {
  uint64_t n = 0;
  for (const char* k : {"hole_faults", "pte_faults", "pmd_faults"})
    if (stats.contains("dax") && stats["dax"].contains(k)) n += stats["dax"][k].get<uint64_t>();
  return n;
}

TEST_F(DaxTest, FioMmapWritesVerifyUnderPmemfsRunAndThroughTheMount) {
  const std::vector<std::string> job = {"fio", "--name=dax", "--ioengine=mmap", "--rw=randwrite", "--bs=4k",
                                        "--size=32m", "--filename=" + p("fio.dat"), "--verify=crc32c",
                                        "--randseed=7", "--verify_state_save=0",
                                        "--output-format=terse"};
  const uint64_t before = direct_faults(stats_json(fs_->mnt()));
  std::vector<std::string> wrapped = {"sh", env_or_empty("PMEMFS_RUN")};
  wrapped.insert(wrapped.end(), job.begin(), job.end());
  auto r = run(wrapped, {"PMEMFS_DAX_LIB=" + env_or_empty("PMEMFS_DAX_LIB"), "PMEMFS_DAX_DEBUG=1"});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "direct mapping of inode")) << r.output;
  EXPECT_GT(direct_faults(stats_json(fs_->mnt())), before);
  std::vector<std::string> verify = job;
  verify.push_back("--verify_only");
  auto v = run(verify, {});
  EXPECT_EQ(0, v.status) << v.output;
}

TEST_F(DaxTest, LmdbUnderPmemfsRunSeesItsOwnWritesAndTheMountSeesItsStores) {
  const std::string dir = p("lmdb");
  ASSERT_EQ(0, mkdir(dir.c_str(), 0755));
  const uint64_t before = direct_faults(stats_json(fs_->mnt()));
  auto r = run_client({"lmdb", dir});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "lmdb ok")) << r.output;
  EXPECT_TRUE(contains(r.output, "direct mapping of inode")) << r.output;
  EXPECT_GT(direct_faults(stats_json(fs_->mnt())), before);
  auto c = run({python(), workload(), "lmdb", dir, "check"}, {});
  EXPECT_EQ(0, c.status) << c.output;
  EXPECT_TRUE(contains(c.output, "lmdb ok")) << c.output;
}

// mount -o remount,ro while a client maps a file writable is refused, as the
// kernel refuses it while a writable shared mapping exists (the client's
// mapping keeps the file open for writing, as a kernel mapping does, also
// after the program closed its descriptor); once unmapped it goes ahead.
// (Whatever read-only switch the kernel let through, the daemon still takes
// every client mapping back first: dax_fault_test.)
TEST_F(DaxTest, RemountReadOnlyIsRefusedWhileAClientMapsAFileWritable) {
  const std::string f = sized("ro", 4 * kMiB);
  auto r = run_client({"remount", f, mount_helper_path(), fs_->pool(), fs_->mnt(), "-o", "remount,ro"});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "remount mapped 32 ")) << r.output;
  EXPECT_TRUE(contains(r.output, "Device or resource busy")) << r.output;
  EXPECT_TRUE(contains(r.output, "reads A\n")) << r.output;
  EXPECT_TRUE(contains(r.output, "remount unmapped 0 ")) << r.output;
  EXPECT_EQ('B', read_file(f)[5 * 4096]);
  Fd fd(open(f.c_str(), O_WRONLY));
  EXPECT_EQ(EROFS, fd < 0 ? errno : 0);
}

// A client that cannot answer a revocation (stopped) holds up a change only
// for the revoke timeout; then it is killed, and the change goes ahead.
TEST_F(DaxTest, AStoppedClientDoesNotBlockOthersForEver) {
  const std::string f = sized("stopped", 4 * kMiB);
  const std::string out = p("stopped.out");
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(o, 2);
    setenv("PMEMFS_DAX_LIB", env_or_empty("PMEMFS_DAX_LIB").c_str(), 1);
    execlp("sh", "sh", env_or_empty("PMEMFS_RUN").c_str(), "python3", workload().c_str(), "stop", f.c_str(),
           static_cast<char*>(nullptr));
    _exit(127);
  }
  // Mapped and stopped.
  int status = 0;
  ASSERT_EQ(pid, waitpid(pid, &status, WUNTRACED));
  ASSERT_TRUE(WIFSTOPPED(status)) << read_file(out);
  ASSERT_TRUE(contains(read_file(out), "mapped 0")) << read_file(out);
  // A store over the hole it maps: the revocation waits for it in vain.
  Fd fd(open(f.c_str(), O_WRONLY));
  ASSERT_GE(fd, 0);
  ASSERT_EQ(1, pwrite(fd, "w", 1, 5 * 4096));
  ASSERT_EQ(pid, waitpid(pid, &status, 0));
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
  EXPECT_EQ('w', read_file(f)[5 * 4096]);
  EXPECT_TRUE(contains(fs_->daemon_log(), "did not give up its mapping within 2000 ms; killing it"))
      << fs_->daemon_log();
}

// munmap of the middle of a direct mapping leaves two that still work; the
// bytes stored through them reach the file.
TEST_F(DaxTest, UnmappingPartOfADirectMappingKeepsTheRest) {
  const std::string f = sized("split", 8 * kMiB);
  auto r = run_client({"split", f});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "kept abcfgh")) << r.output;
  const std::string back = read_file(f);
  for (int mib : {0, 1, 2, 5, 6, 7}) EXPECT_EQ('Z', back[(mib << 20) + 1]) << mib;
  for (int mib : {3, 4}) EXPECT_EQ('a' + mib, back[mib << 20]) << mib;
}

TEST_F(DaxTest, AForkedChildStoresThroughTheMappingItInherited) {
  const std::string f = sized("fork", 4 * kMiB);
  auto r = run_client({"fork", f});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "child 0 sees C D")) << r.output;
}

TEST_F(DaxTest, PrivateMappingsGoThroughTheKernel) {
  const std::string f = sized("private", 4 * kMiB);
  auto r = run_client({"private", f});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "private p")) << r.output;
  EXPECT_FALSE(contains(r.output, "direct mapping")) << r.output;
  EXPECT_EQ(std::string(4 * kMiB, '\0'), read_file(f)) << "a private store reached the file";
}

TEST_F(DaxTest, AProcessThatCannotOpenThePoolFallsBackAndSaysWhy) {
  const std::string f = sized("other-uid", 4 * kMiB);
  ASSERT_EQ(0, chmod(f.c_str(), 0666));
  ASSERT_EQ(0, chmod(fs_->mnt().c_str(), 0777));
  auto r = run_client({"hole", f, std::to_string(4 * kMiB)},
                      {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "cannot open the pool " + fs_->pool())) << r.output;
  EXPECT_TRUE(contains(r.output, "the kernel maps it")) << r.output;
  EXPECT_TRUE(contains(r.output, "zeros")) << r.output;
}

class DaxOffTest : public DaxTest {
 protected:
  std::string mount_options() const override { return "cache=writethrough,dax=off"; }
};

TEST_F(DaxOffTest, ADaemonWithDaxOffServesMappingsThroughTheKernel) {
  const std::string f = sized("off", 4 * kMiB);
  auto r = run_client({"pmd", f, std::to_string(4 * kMiB)});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "direct access is off: the daemon runs with -o dax=off")) << r.output;
  EXPECT_FALSE(contains(r.output, "direct mapping of inode")) << r.output;
  EXPECT_EQ(1, read_file(f)[4096]);
}

// On a pool in a tmpfs with huge=always, a 2 MiB extent is one PMD in the
// client's page table.
class DaxHugeTest : public DaxTest {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pmemfs-huge-XXXXXX";
    ASSERT_NE(nullptr, mkdtemp(tmpl));
    huge_ = tmpl;
    ASSERT_EQ(0, ::mount("tmpfs", huge_.c_str(), "tmpfs", 0, "huge=always,size=3G")) << strerror(errno);
    DaxTest::SetUp();
  }
  void TearDown() override {
    DaxTest::TearDown();
    if (!huge_.empty()) {
      umount2(huge_.c_str(), MNT_DETACH);
      rmdir(huge_.c_str());
    }
  }
  std::string pool_parent() const override { return huge_; }
  std::string huge_;
};

TEST_F(DaxHugeTest, TwoMegabyteExtentsArePmdMappedInTheClient) {
  const std::string f = sized("huge", 64 * kMiB);
  auto r = run_client({"pmd", f, std::to_string(64 * kMiB)});
  ASSERT_EQ(0, r.status) << r.output;
  EXPECT_TRUE(contains(r.output, "pmd_kb 65536\n")) << r.output;
}

}  // namespace
}  // namespace pmemfs::test
