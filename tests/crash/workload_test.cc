// The workload generator's suite (workload.h, workload_harness.h): every
// workload of one and two steps and a seeded sample of three, each crashed
// at every persist point and checked against pmemfs.8's promises; the
// regression workloads of bugs found; and self-tests that prove the harness
// can fail.
//
//   workload_test [--seed=N] [--three=N] [--evictions=N] [--shard=K/N] [--deep] [gtest flags]
//
// --seed defaults to a fixed value, so a CI failure replays exactly; the seed
// is printed either way. --shard=K/N runs every N-th workload from the K-th
// (0-based), so that N processes share the cores. --deep walks every pair
// and triple of steps (days).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "pmemfs/fs_impl.h"
#include "workload.h"
#include "workload_harness.h"

namespace pmemfs::crash {
namespace {

struct SuiteOptions {
  uint64_t seed = 20261202;
  size_t three = 1400;  // sampled three-step workloads
  int evictions = 2;
  size_t shard = 0, shards = 1;
  bool deep = false;
};
SuiteOptions g_opts;

const Op& op(const std::string& name) {
  for (const Op& o : all_ops())
    if (o.name == name) return o;
  ADD_FAILURE() << "no op " << name;
  return all_ops().front();
}

struct Totals {
  uint64_t workloads = 0, points = 0, states = 0, violations = 0;
  void add(const WorkloadReport& r) {
    ++workloads;
    points += r.persist_points;
    states += r.crash_states;
    violations += r.violations.size();
  }
};

// Runs each workload, reports every violation (the first few in full).
Totals run_all(WorkloadRunner& runner, const std::vector<Workload>& ws, int evictions) {
  Totals t;
  int shown = 0;
  for (size_t i = 0; i < ws.size(); ++i) {
    WorkloadOptions o;
    o.eviction_subsets = evictions;
    o.seed = g_opts.seed + i;
    WorkloadReport r = runner.run(ws[i], o);
    if (!r.error.empty()) {
      ADD_FAILURE() << "[" << describe(ws[i]) << "] harness error: " << r.error;
      continue;
    }
    t.add(r);
    for (const auto& v : r.violations)
      if (shown++ < 20) ADD_FAILURE() << v;
  }
  return t;
}

TEST(Workloads, EveryOneAndTwoStepWorkloadAndASampleOfThreeKeepEveryPromise) {
  WorkloadRunner runner;
  ASSERT_EQ("", runner.error());
  std::mt19937_64 rng(g_opts.seed);
  const auto all = generate(rng, g_opts.three, g_opts.deep);
  std::vector<Workload> ws;
  for (size_t i = g_opts.shard; i < all.size(); i += g_opts.shards) ws.push_back(all[i]);
  const auto t0 = std::chrono::steady_clock::now();
  const Totals t = run_all(runner, ws, g_opts.evictions);
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf(
      "workload crash suite: seed %llu, shard %zu/%zu: %llu workloads (%zu ops, %zu steps; all of 1 "
      "and 2 ops, %s of 3), %llu persist points, %llu crash states checked, %llu violations, %.0f s\n"
      "replay: %s --seed=%llu --three=%zu --evictions=%d --shard=%zu/%zu%s\n",
      static_cast<unsigned long long>(g_opts.seed), g_opts.shard, g_opts.shards,
      static_cast<unsigned long long>(t.workloads),
      all_ops().size(), all_steps().size(), g_opts.deep ? "all" : std::to_string(g_opts.three).c_str(),
      static_cast<unsigned long long>(t.points), static_cast<unsigned long long>(t.states),
      static_cast<unsigned long long>(t.violations), secs, ::testing::internal::GetArgvs()[0].c_str(),
      static_cast<unsigned long long>(g_opts.seed), g_opts.three, g_opts.evictions, g_opts.shard,
      g_opts.shards, g_opts.deep ? " --deep" : "");
  EXPECT_EQ(ws.size(), t.workloads);
}

// ---- regressions: the minimal workload of each bug found ------------------

struct Regression {
  const char* name;
  const char* bug;
  std::vector<std::pair<const char*, Sync>> steps;
};

const Regression kRegressions[] = {
    // Issue 9 item 1 (SQLite's WAL checkpoint): a truncate evicted the PMD
    // entry and dropped the dirty marks of pages it kept; fsync flushed
    // nothing.
    {"StoresInA2MExtentThenTruncateToTheSameSizeThenFsync", "truncate dropped dirty marks",
     {{"mapped-store-pmd-at-eof", Sync::kNone}, {"truncate-same-size", Sync::kFsync}}},
    {"StoresInA2MExtentThenShrinkThenFsync", "truncate dropped dirty marks",
     {{"mapped-store-pmd", Sync::kNone}, {"truncate-shrink-in-pmd", Sync::kFsync}}},
    {"StoresInA2MExtentThenPunchOnePageThenFsync", "punch dropped dirty marks",
     {{"mapped-store-pmd", Sync::kNone}, {"punch-hole-in-pmd", Sync::kFdatasync}}},
    // Issue 9 item 2: sync(2) made nothing durable, since the kernel does not
    // forward it and write() did not persist.
    {"WriteThenSync", "write() was not durable when answered",
     {{"write-in-2m-extent", Sync::kSync}}},
    {"ExtendingWriteThenSyncThenRename", "write() was not durable when answered",
     {{"write-extending", Sync::kSync}, {"rename", Sync::kFsyncDir}}},
};

void PrintTo(const Regression& r, std::ostream* os) { *os << r.name; }

class WorkloadRegression : public ::testing::TestWithParam<Regression> {};

TEST_P(WorkloadRegression, Holds) {
  WorkloadRunner runner;
  ASSERT_EQ("", runner.error());
  Workload w;
  for (const auto& [name, sync] : GetParam().steps) w.push_back({&op(name), sync});
  WorkloadOptions o;
  o.eviction_subsets = 8;
  WorkloadReport r = runner.run(w, o);
  ASSERT_EQ("", r.error);
  EXPECT_GT(r.crash_states, 0u);
  for (const auto& v : r.violations) ADD_FAILURE() << GetParam().bug << ": " << v;
}

INSTANTIATE_TEST_SUITE_P(Bugs, WorkloadRegression, ::testing::ValuesIn(kRegressions),
                         [](const ::testing::TestParamInfo<Regression>& i) { return i.param.name; });

// ---- the harness can fail -------------------------------------------------

WorkloadReport run_one(const Op& broken, Sync sync = Sync::kNone) {
  WorkloadRunner runner;
  WorkloadOptions o;
  o.eviction_subsets = 1;
  return runner.run({{&broken, sync}}, o);
}

bool any_violation_says(const WorkloadReport& r, const std::string& what) {
  for (const auto& v : r.violations)
    if (v.find(what) != std::string::npos) return true;
  return false;
}

TEST(WorkloadHarness, CatchesARenameThatIsNotAtomic) {
  const Op link_then_unlink{"link-then-unlink", "/d1/c2", DataEffect::kNone, [](Filesystem& fs) -> Status {
                              auto a = fs.link(path_ino(fs, "/d1/c"), path_ino(fs, "/d1"), "c2");
                              if (!a.ok()) return err(a.error());
                              return fs.unlink(path_ino(fs, "/d1"), "c");
                            }};
  WorkloadReport r = run_one(link_then_unlink);
  ASSERT_EQ("", r.error);
  EXPECT_TRUE(any_violation_says(r, "tree neither before nor after"));
}

TEST(WorkloadHarness, CatchesDataThatIsNotDurableWhenPromised) {
  // Stores that never get flushed, claimed to be durable at return.
  Op unflushed = op("mapped-store-pmd");
  unflushed.effect = DataEffect::kPersisted;
  WorkloadReport r = run_one(unflushed);
  ASSERT_EQ("", r.error);
  EXPECT_TRUE(any_violation_says(r, "durable data lost")) << r.violations.size() << " violations, "
                                                          << r.crash_states << " states";
  // And an msync that flushes nothing.
  Op mapped = op("mapped-store-pmd");
  WorkloadReport r2 = run_one(mapped, Sync::kMsync);
  ASSERT_EQ("", r2.error);
  EXPECT_TRUE(r2.violations.empty()) << r2.violations.front();
}

TEST(WorkloadHarness, CatchesBytesTheFileNeverHeld) {
  const Op two_writes{"two-writes", "/d1/c", DataEffect::kPersisted, [](Filesystem& fs) -> Status {
                        const uint64_t c = path_ino(fs, "/d1/c");
                        PMEMFS_TRY(fs.write(c, 0, std::string(100, 'A').data(), 100).ok() ? Status{} : err(EIO));
                        return fs.write(c, 0, std::string(100, 'B').data(), 100).ok() ? Status{} : err(EIO);
                      }};
  WorkloadReport r = run_one(two_writes);
  ASSERT_EQ("", r.error);
  EXPECT_TRUE(any_violation_says(r, "which the file never held"));
}

TEST(WorkloadHarness, CatchesACorruptPool) {
  const Op stray_bit{"stray-bitmap-bit", "/d1/c", DataEffect::kNone, [](Filesystem& fs) -> Status {
                       // A block free in the bitmap (which blocks are used
                       // depends on the allocating thread's shard) marked used.
                       Pool& pool = static_cast<FsImpl&>(fs).pool();
                       const auto* sb = pool.at<layout::Superblock>(0);
                       for (uint64_t w = sb->data_blocks / 64; w-- > 0;) {
                         auto* word = pool.at<uint64_t>(sb->block_bitmap_off + w * 8);
                         if (~*word == 0) continue;
                         *word |= uint64_t{1} << __builtin_ctzll(~*word);
                         pool.persist(word, sizeof(*word));
                         return {};
                       }
                       return err(ENOSPC);
                     }};
  WorkloadReport r = run_one(stray_bit);
  ASSERT_EQ("", r.error);
  EXPECT_TRUE(any_violation_says(r, "fsck exit"));
}

}  // namespace
}  // namespace pmemfs::crash

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  auto& o = pmemfs::crash::g_opts;
  if (const char* s = std::getenv("PMEMFS_CRASH_SEED")) o.seed = std::strtoull(s, nullptr, 0);
  if (const char* s = std::getenv("PMEMFS_CRASH_THREE")) o.three = std::strtoull(s, nullptr, 0);
  if (const char* s = std::getenv("PMEMFS_CRASH_EVICTIONS")) o.evictions = std::atoi(s);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](const char* flag) { return a.substr(std::strlen(flag)); };
    if (a.rfind("--seed=", 0) == 0) o.seed = std::strtoull(value("--seed=").c_str(), nullptr, 0);
    else if (a.rfind("--three=", 0) == 0) o.three = std::strtoull(value("--three=").c_str(), nullptr, 0);
    else if (a.rfind("--evictions=", 0) == 0) o.evictions = std::atoi(value("--evictions=").c_str());
    else if (a.rfind("--shard=", 0) == 0) {
      if (std::sscanf(a.c_str(), "--shard=%zu/%zu", &o.shard, &o.shards) != 2 || o.shards == 0 ||
          o.shard >= o.shards) {
        std::fprintf(stderr, "workload_test: --shard=K/N needs 0 <= K < N, not %s\n", a.c_str() + 8);
        return 2;
      }
    } else if (a == "--deep") o.deep = true;
    else {
      std::fprintf(stderr, "workload_test: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  // Every workload ends in a power cut, which the library logs as a warning.
  spdlog::set_level(spdlog::level::err);
  return RUN_ALL_TESTS();
}
