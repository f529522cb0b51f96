#include "tools/fsck/checker.h"

#include <sstream>

#include "tools/fsck/checker_impl.h"
#include "tools/fsck/image.h"
#include "tools/fsck/progress.h"
#include "tools/fsck/report.h"

namespace pmemfs::fsck {

// The passes that grow with the pool (the inode bitmap, the tree, the links,
// the block bitmap) report their steps; the others are a step each.
int Checker::run() {
  start_pass(1, "superblocks", 1);
  if (int code = check_superblocks()) return code;
  end_pass();
  owned_ = std::make_unique<BlockBits>(sb_.data_blocks);
  start_pass(2, "journal", 1);
  check_journal();
  end_pass();
  start_pass(3, "inodes", div_round_up(sb_.inode_count, 8));
  check_state_record();
  scan_inode_bitmap();
  end_pass();
  uint64_t dirs = 0;
  for (const auto& [ino, in] : inodes_) dirs += in.live() && in.is_dir();
  start_pass(4, "directory tree", dirs);
  walk_tree();
  end_pass();
  start_pass(5, "orphan table", 1);
  check_orphan_table();
  end_pass();
  start_pass(6, "unreachable inodes", 1);
  reconnect_unreachable();
  end_pass();
  start_pass(7, "blocks claimed twice", 1);
  resolve_double_claims();
  end_pass();
  start_pass(8, "link counts", inodes_.size());
  check_inode_links();
  end_pass();
  start_pass(9, "block bitmap", div_round_up(sb_.data_blocks, 8));
  check_block_bitmap();
  end_pass();
  return 0;
}

void Checker::start_pass(int pass, const char* name, uint64_t max) {
  if (opts_.progress) opts_.progress->start_pass(pass, kPasses, name, max);
}

void Checker::advance(uint64_t done) {
  if (opts_.progress) opts_.progress->advance(done);
}

void Checker::end_pass() {
  if (opts_.progress) opts_.progress->end_pass();
}

uint64_t Checker::live_inodes() const {
  uint64_t n = 0;
  for (const auto& [ino, in] : inodes_) n += in.live() && in.bit;
  return n;
}

namespace {

// What the report lines call an image checked in memory (check_image).
constexpr char kMemorySource[] = "in-memory image";

// Checks img and, with kRepair, repairs it. source names it in every line.
CheckResult check(Image& img, const std::string& source, const CheckOptions& opts,
                  std::ostream& out) {
  CheckResult res;
  const bool repair = opts.mode == CheckMode::kRepair;
  std::string error;
  Report rep(out, repair, opts.progress);
  Checker checker(img, rep, opts, out, source);
  const int code = checker.run();
  if (opts.progress) opts.progress->finish();
  if (img.failed()) {
    // Whatever was found, it was found in zeros standing in for lost pages.
    out << source << ": " << img.failure() << "; cannot check it, nothing was changed\n";
    res.exit_code = kExitOperational;
    return res;
  }
  res.problems = rep.problems();
  res.unrepairable = rep.unrepairable_count();
  if (code != 0) {
    res.exit_code = code;
    return res;
  }
  if (res.problems == 0) {
    out << source << ": clean, " << checker.live_inodes() << " inodes, " << checker.used_blocks()
        << " data blocks in use\n";
    return res;
  }
  const uint64_t fixable = res.problems - res.unrepairable;
  if (!repair) {
    out << source << ": " << res.problems << " problem(s) found, nothing changed";
    if (fixable > 0) out << " (run fsck.pmemfs -y to repair " << fixable << " of them)";
    out << '\n';
    res.exit_code = kExitUncorrected;
    return res;
  }
  if (res.unrepairable > 0) {
    out << source << ": " << res.problems << " problem(s) found, " << res.unrepairable
        << " of them cannot be repaired yet; nothing was changed\n";
    res.exit_code = kExitUncorrected;
    return res;
  }

  // Stage every repair, then check the staged image again before writing:
  // a repair that does not leave a clean pool is not written.
  img.set_epoch(3);
  rep.run_repairs(img);
  std::ostringstream recheck_out;
  Report recheck(recheck_out, false);
  CheckOptions recheck_opts = opts;
  recheck_opts.mode = CheckMode::kNoChanges;
  recheck_opts.progress = nullptr;  // the second look is the same check again
  Checker again(img, recheck, recheck_opts, recheck_out, source);
  if (again.run() != 0 || recheck.problems() != 0) {
    out << recheck_out.str();
    out << source << ": the repairs would not leave a clean pool (problems above); nothing was "
                     "changed\n";
    res.exit_code = kExitUncorrected;
    return res;
  }
  if (!img.commit(&error)) {
    out << source << ": " << error << '\n';
    res.exit_code = kExitOperational;
    return res;
  }
  res.repaired = true;
  out << source << ": " << res.problems << " problem(s) found and repaired\n";
  res.exit_code = kExitCorrected;
  return res;
}

}  // namespace

CheckResult check_pool(const std::string& source, const CheckOptions& opts, std::ostream& out) {
  Image::OpenError kind;
  std::string error;
  auto img = Image::open(source, opts.mode == CheckMode::kRepair, &kind, &error);
  if (!img) {
    out << source << (kind == Image::OpenError::kBusy ? " is " : ": ") << error << '\n';
    CheckResult res;
    res.exit_code = kExitOperational;
    return res;
  }
  return check(*img, source, opts, out);
}

CheckResult check_image(const char* base, uint64_t size, std::ostream& out) {
  std::string error;
  auto img = Image::from_memory(base, size, &error);
  if (!img) {
    out << kMemorySource << ": " << error << '\n';
    CheckResult res;
    res.exit_code = kExitOperational;
    return res;
  }
  // kNoChanges: replay and nothing else is staged, and only in the overlay.
  return check(*img, kMemorySource, CheckOptions{CheckMode::kNoChanges}, out);
}

}  // namespace pmemfs::fsck
