#include "crash_harness.h"

#include "recovery.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include <spdlog/spdlog.h>

#include "pmemfs/fs_impl.h"
#include "pmemfs/pool.h"

#include "tree_dump.h"

namespace pmemfs::crash {

namespace {

// The byte-wise rule of data operations: every byte old, new or zero; the
// length old or new.
std::string check_data(const TreeDump& got, const TreeDump& before, const TreeDump& after) {
  const std::string& c = got.data;
  const std::string& b = before.data;
  const std::string& a = after.data;
  if (got.data_present != before.data_present && got.data_present != after.data_present)
    return "data file present=" + std::to_string(got.data_present) + " in neither state";
  if (c.size() != b.size() && c.size() != a.size())
    return "data file length " + std::to_string(c.size()) + ", neither old " +
           std::to_string(b.size()) + " nor new " + std::to_string(a.size());
  // A block at a time that is wholly old, new or zero (nearly all of them),
  // byte by byte only where it is none of those: files of tens of MiB are
  // checked at hundreds of crash states.
  constexpr size_t kChunk = 4096;
  static const std::string zeros(kChunk, '\0');
  auto same = [](const std::string& s, const char* p, size_t at, size_t n) {
    return at + n <= s.size() && std::memcmp(s.data() + at, p, n) == 0;
  };
  for (size_t at = 0; at < c.size(); at += kChunk) {
    const size_t n = std::min(kChunk, c.size() - at);
    const char* p = c.data() + at;
    if (std::memcmp(p, zeros.data(), n) == 0 || same(b, p, at, n) || same(a, p, at, n)) continue;
    for (size_t i = at; i < at + n; ++i) {
      if (c[i] == 0 || (i < b.size() && c[i] == b[i]) || (i < a.size() && c[i] == a[i])) continue;
      return "data byte " + std::to_string(i) + " is " + std::to_string(static_cast<int>(c[i])) +
             ": neither old, new nor zero";
    }
  }
  return "";
}

class Enumerator {
 public:
  Enumerator(const CrashCase& c, const HarnessOptions& o, const TreeDump& before,
             const TreeDump& after, Pool& live, CaseReport& report)
      : c_(c), o_(o), before_(before), after_(after), live_(live), report_(report),
        rng_(o.seed) {}

  // Just before a fence: the lines in flight and every line stored but not
  // persisted may or may not have landed — random subsets of them.
  void before_persist_point() {
    evictions("before point " + std::to_string(report_.persist_points + 1));
  }

  // Just after a fence: the state exactly as durable, then eviction subsets.
  void at_persist_point() {
    ++report_.persist_points;
    const std::string where = "point " + std::to_string(report_.persist_points);
    check_state(nullptr, where);
    evictions(where);
  }

 private:
  void evictions(const std::string& where) {
    if (o_.eviction_subsets <= 0) return;
    const auto lines = live_.powerfail()->unpersisted_lines();
    if (lines.empty()) return;
    for (int k = 0; k < o_.eviction_subsets; ++k) {
      std::vector<uint64_t> survivors;
      std::bernoulli_distribution survives(0.5);
      for (uint64_t l : lines)
        if (survives(rng_)) survivors.push_back(l);
      check_state(&survivors, where + " eviction " + std::to_string(k) + " (" +
                                  std::to_string(survivors.size()) + "/" +
                                  std::to_string(lines.size()) + " lines)");
    }
  }

  void violation(const std::string& where, const std::string& what) {
    if (report_.violations.size() < 20)
      report_.violations.push_back(c_.name + " " + where + ": " + what);
  }

  void check_state(const std::vector<uint64_t>* survivors, const std::string& where) {
    ++report_.crash_states;
    std::string problems = recover_and_check(live_, survivors, [&](Filesystem& fs) -> std::string {
      auto got = dump_tree(fs, c_.data_path);
      if (!got.ok()) return "walking the tree failed: errno " + std::to_string(got.error()) + "\n";
      std::string what;
      if (!(*got == before_) && !(*got == after_)) {
        what += "neither before nor after; against before:\n" + describe_difference(before_, *got) +
                " against after:\n" + describe_difference(after_, *got);
      }
      if (!c_.data_path.empty()) {
        if (std::string bad = check_data(*got, before_, after_); !bad.empty()) what += bad + "\n";
      }
      return what;
    });
    if (!problems.empty()) violation(where, problems);
  }

  const CrashCase& c_;
  const HarnessOptions& o_;
  const TreeDump& before_;
  const TreeDump& after_;
  Pool& live_;
  CaseReport& report_;
  std::mt19937_64 rng_;
};

}  // namespace

CaseReport run_crash_case(const CrashCase& c, const HarnessOptions& o) {
  CaseReport report;
  RemoveOnExit pool{temp_pool_path("sim")}, dry{temp_pool_path("dry")};
  FormatOptions fo;
  fo.source = pool.path;
  fo.size = o.pool_size;
  if (!Filesystem::format(fo).ok()) {
    report.error = "format failed";
    return report;
  }
  {
    auto fs = mount_path(pool.path, false);
    if (!fs.ok()) {
      report.error = "setup mount failed";
      return report;
    }
    if (c.setup) c.setup(**fs);
    if (!(*fs)->unmount().ok()) {
      report.error = "setup unmount failed";
      return report;
    }
  }
  // A dry run on a copy tells what "after" is.
  std::filesystem::copy_file(pool.path, dry.path);
  TreeDump before, after;
  {
    auto fs = mount_path(dry.path, false);
    if (!fs.ok()) {
      report.error = "dry-run mount failed";
      return report;
    }
    Status st = c.prepare ? c.prepare(**fs) : Status{};
    auto b = dump_tree(**fs, c.data_path);
    if (st.ok()) st = c.op(**fs);
    auto a = dump_tree(**fs, c.data_path);
    if (!b.ok() || !a.ok() || !st.ok()) {
      report.error = "dry run failed: op errno " + std::to_string(st.ok() ? 0 : st.error());
      return report;
    }
    before = std::move(*b);
    after = std::move(*a);
  }
  auto fs = mount_path(pool.path, true);
  if (!fs.ok()) {
    report.error = "simulated mount failed";
    return report;
  }
  if (c.prepare && !c.prepare(**fs).ok()) {
    report.error = "prepare failed under the simulator";
    return report;
  }
  Pool& live = static_cast<FsImpl&>(**fs).pool();
  Enumerator e(c, o, before, after, live, report);
  live.powerfail()->set_drain_observer([&](PowerFailSim::DrainPhase phase) {
    if (phase == PowerFailSim::DrainPhase::kBefore)
      e.before_persist_point();
    else
      e.at_persist_point();
  });
  Status st = c.op(**fs);
  live.powerfail()->set_drain_observer(nullptr);
  if (!st.ok()) report.error = "op failed under the simulator: errno " + std::to_string(st.error());
  auto end = dump_tree(**fs, c.data_path);
  if (!end.ok() || !(*end == after) || end->data != after.data)
    report.error += " the op did not end as in the dry run";
  (void)(*fs)->power_cut();
  return report;
}

}  // namespace pmemfs::crash
