#include "workload_harness.h"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <random>

#include "pmemfs/fs_impl.h"
#include "pmemfs/pool.h"
#include "pmemfs/powerfail.h"
#include "recovery.h"
#include "tree_dump.h"

namespace pmemfs::crash {
namespace {

// What a crash may show of one file (by inode number): one of `contents`
// byte by byte, or zero; exactly contents[0] when `exact` (it is durable).
struct FileExpectation {
  std::vector<const std::string*> contents;
  bool exact = false;
};

// What a crash during one step (or after the last) may show.
struct StepExpectation {
  const TreeDump* before;  // the tree may be this...
  const TreeDump* after;   // ...or this
  std::map<uint64_t, FileExpectation> files;
};

// The data rule for one file; "" when it holds.
std::string check_file(uint64_t ino, const std::string& got, const FileExpectation& e) {
  for (const std::string* c : e.contents)
    if (got == *c) return "";
  if (e.exact) {
    const std::string& want = *e.contents[0];
    size_t at = 0;
    while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
    return "inode " + std::to_string(ino) + ": durable data lost: " + std::to_string(got.size()) +
           " bytes where " + std::to_string(want.size()) + " were synced, first difference at " +
           std::to_string(at) + " (" + std::to_string(static_cast<int>(at < got.size() ? got[at] : -1)) +
           " for " + std::to_string(static_cast<int>(at < want.size() ? want[at] : -1)) + ")";
  }
  // Page by page, then line by line (the simulator persists and evicts
  // whole cache lines, so a line is usually all of one content), byte by
  // byte where neither holds.
  constexpr size_t kPage = 4096;
  static const char zeros[kPage] = {};
  auto whole_of_one = [&](size_t off, size_t n) {
    if (std::memcmp(got.data() + off, zeros, n) == 0) return true;
    for (const std::string* c : e.contents)
      if (off + n <= c->size() && std::memcmp(got.data() + off, c->data() + off, n) == 0) return true;
    return false;
  };
  for (size_t line = 0; line < got.size(); line += kCacheLine) {
    if (line % kPage == 0 && whole_of_one(line, std::min(kPage, got.size() - line))) {
      line += kPage - kCacheLine;
      continue;
    }
    const size_t n = std::min<size_t>(kCacheLine, got.size() - line);
    if (whole_of_one(line, n)) continue;
    for (size_t i = line; i < line + n; ++i) {
      if (got[i] == 0) continue;
      bool ok = false;
      for (const std::string* c : e.contents) ok = ok || (i < c->size() && (*c)[i] == got[i]);
      if (!ok)
        return "inode " + std::to_string(ino) + ": byte " + std::to_string(i) + " is " +
               std::to_string(static_cast<int>(got[i])) + ", which the file never held";
    }
  }
  return "";
}

std::string check_against(const TreeDump& got, const StepExpectation& e) {
  std::string what;
  if (!(got == *e.before) && !(got == *e.after)) {
    what += "tree neither before nor after the step; against before:\n" +
            describe_difference(*e.before, got) + " against after:\n" +
            describe_difference(*e.after, got);
  }
  for (const auto& [ino, content] : got.files) {
    auto it = e.files.find(ino);
    if (it == e.files.end()) continue;  // a file in neither tree: reported above
    if (std::string bad = check_file(ino, content, it->second); !bad.empty()) what += bad + "\n";
  }
  return what;
}

// From the dry run's trees, what a crash during each step may show.
// pending[ino] holds the contents since the file was last durable.
std::vector<StepExpectation> build_oracle(const Workload& w, const std::vector<TreeDump>& trees,
                                          const std::vector<uint64_t>& synced_file) {
  std::vector<StepExpectation> out;
  std::map<uint64_t, std::vector<const std::string*>> pending;
  for (const auto& [ino, c] : trees[0].files) pending[ino] = {&c};
  for (size_t k = 1; k <= w.size(); ++k) {
    const TreeDump& before = trees[k - 1];
    const TreeDump& after = trees[k];
    StepExpectation e{&before, &after, {}};
    for (const auto& [ino, c] : after.files) {
      auto& p = pending[ino];  // a file new in this step starts empty
      const auto b = before.files.find(ino);
      const bool touched = b == before.files.end() || b->second != c;
      FileExpectation fe{p, !touched && p.size() == 1};
      if (touched) fe.contents.push_back(&c);
      e.files[ino] = fe;
    }
    out.push_back(e);
    // What is durable once the step is done.
    const Step& st = w[k - 1];
    for (const auto& [ino, c] : after.files) {
      auto& p = pending[ino];
      const auto b = before.files.find(ino);
      const bool touched = b == before.files.end() || b->second != c;
      const bool file_synced = synced_file[k - 1] == ino;
      if (file_synced || (touched && st.op->effect == DataEffect::kPersisted && p.size() <= 1))
        p = {&c};
      else if (touched)
        p.push_back(&c);
    }
  }
  // After the last step: the last tree, and what is durable by then.
  StepExpectation end{&trees.back(), &trees.back(), {}};
  for (const auto& [ino, c] : trees.back().files) end.files[ino] = {pending[ino], pending[ino].size() == 1};
  out.push_back(end);
  return out;
}

// Runs a step's sync call; returns the file it synced (0 for none).
uint64_t run_sync(Filesystem& fs, Sync s, uint64_t file, uint64_t dir) {
  switch (s) {
    case Sync::kFsync:
    case Sync::kMsync:  // msync(MS_SYNC) of a mapping reaches the daemon as an fsync
      if (file && fs.fsync(file, false).ok()) return file;
      return 0;
    case Sync::kFdatasync:
      if (file && fs.fsync(file, true).ok()) return file;
      return 0;
    case Sync::kFsyncDir:
      if (dir) (void)fs.fsync(dir, false);
      return 0;
    case Sync::kSync:  // nothing reaches a /dev/fuse daemon (workload.h)
    case Sync::kNone:
      return 0;
  }
  return 0;
}

struct StepTargets {
  uint64_t file = 0, dir = 0;
};

StepTargets targets_of(Filesystem& fs, const Op& op, uint64_t before) {
  StepTargets t;
  t.file = path_ino(fs, op.target);
  if (!t.file) t.file = before;  // gone with the step (unlink, rename away)
  t.dir = path_ino(fs, parent_of(op.target));
  return t;
}

}  // namespace

WorkloadRunner::WorkloadRunner(uint64_t pool_size)
    : base_(temp_pool_path("base")), dry_(temp_pool_path("dry")), sim_(temp_pool_path("sim")) {
  FormatOptions fo;
  fo.source = base_;
  fo.size = pool_size;
  if (!Filesystem::format(fo).ok()) {
    error_ = "format failed";
    return;
  }
  auto fs = mount_path(base_, false);
  if (!fs.ok()) {
    error_ = "mount of the base pool failed";
    return;
  }
  starting_tree(**fs);
  if (!(*fs)->unmount().ok()) error_ = "unmount of the base pool failed";
}

WorkloadRunner::~WorkloadRunner() {
  for (const auto& p : {base_, dry_, sim_}) unlink(p.c_str());
}

WorkloadReport WorkloadRunner::run(const Workload& w, const WorkloadOptions& o) {
  WorkloadReport report;
  if (!error_.empty()) {
    report.error = error_;
    return report;
  }
  const auto copy = std::filesystem::copy_options::overwrite_existing;
  std::filesystem::copy_file(base_, dry_, copy);
  std::filesystem::copy_file(base_, sim_, copy);

  // The dry run: the tree after every step, and what each step returned.
  std::vector<TreeDump> trees;
  std::vector<int> results;
  std::vector<uint64_t> synced;
  {
    auto fs = mount_path(dry_, false);
    if (!fs.ok()) {
      report.error = "dry-run mount failed";
      return report;
    }
    auto dump = [&]() -> bool {
      auto d = dump_tree(**fs, "", true);
      if (d.ok()) trees.push_back(std::move(*d));
      return d.ok();
    };
    if (!dump()) {
      report.error = "dry run: dumping the starting tree failed";
      return report;
    }
    for (const Step& st : w) {
      const uint64_t before = path_ino(**fs, st.op->target);
      Status r = st.op->apply(**fs);
      results.push_back(r.ok() ? 0 : r.error());
      const StepTargets t = targets_of(**fs, *st.op, before);
      synced.push_back(r.ok() ? run_sync(**fs, st.sync, t.file, t.dir) : 0);
      if (!dump()) {
        report.error = "dry run: dumping the tree after " + st.op->name + " failed";
        return report;
      }
    }
  }
  const std::vector<StepExpectation> oracle = build_oracle(w, trees, synced);

  auto fs = mount_path(sim_, true);
  if (!fs.ok()) {
    report.error = "simulated mount failed";
    return report;
  }
  Pool& live = static_cast<FsImpl&>(**fs).pool();
  std::mt19937_64 rng(o.seed);
  size_t step = 0;  // index into oracle: the step running now
  auto where = [&](const std::string& at) {
    return "[" + describe(w) + "] " +
           (step < w.size() ? "step " + std::to_string(step + 1) + " (" + w[step].op->name + ")"
                            : std::string("after the last step")) +
           ", " + at;
  };
  auto check = [&](const std::vector<uint64_t>* survivors, const std::string& at) {
    ++report.crash_states;
    std::string problems = recover_and_check(live, survivors, [&](Filesystem& rfs) -> std::string {
      auto got = dump_tree(rfs, "", true);
      if (!got.ok()) return "walking the tree failed: errno " + std::to_string(got.error()) + "\n";
      return check_against(*got, oracle[step]);
    });
    if (!problems.empty() && report.violations.size() < 10) report.violations.push_back(where(at) + ": " + problems);
  };
  auto evictions = [&](const std::string& at) {
    if (o.eviction_subsets <= 0) return;
    const auto lines = live.powerfail()->unpersisted_lines();
    if (lines.empty()) return;
    std::bernoulli_distribution survives(0.5);
    for (int k = 0; k < o.eviction_subsets; ++k) {
      std::vector<uint64_t> survivors;
      for (uint64_t l : lines)
        if (survives(rng)) survivors.push_back(l);
      check(&survivors, at + " with " + std::to_string(survivors.size()) + "/" +
                            std::to_string(lines.size()) + " unpersisted lines");
    }
  };
  live.powerfail()->set_drain_observer([&](PowerFailSim::DrainPhase phase) {
    if (phase == PowerFailSim::DrainPhase::kBefore) {
      evictions("before persist point " + std::to_string(report.persist_points + 1));
    } else {
      ++report.persist_points;
      const std::string at = "persist point " + std::to_string(report.persist_points);
      check(nullptr, at);
      evictions(at);
    }
  });
  for (step = 0; step < w.size(); ++step) {
    const Step& st = w[step];
    const uint64_t before = path_ino(**fs, st.op->target);
    Status r = st.op->apply(**fs);
    if ((r.ok() ? 0 : r.error()) != results[step]) {
      report.error = where("") + "returned errno " + std::to_string(r.ok() ? 0 : r.error()) +
                     " under the simulator, " + std::to_string(results[step]) + " in the dry run";
      break;
    }
    const StepTargets t = targets_of(**fs, *st.op, before);
    if (r.ok()) run_sync(**fs, st.sync, t.file, t.dir);
  }
  if (report.error.empty()) {
    check(nullptr, "the end");  // a crash after the workload returned
    evictions("the end");
  }
  live.powerfail()->set_drain_observer(nullptr);
  (void)(*fs)->power_cut();
  return report;
}

}  // namespace pmemfs::crash
