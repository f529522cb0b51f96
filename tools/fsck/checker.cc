#include "tools/fsck/checker.h"

#include <sstream>

#include "tools/fsck/checker_impl.h"
#include "tools/fsck/image.h"
#include "tools/fsck/report.h"

namespace pmemfs::fsck {

int Checker::run() {
  if (int code = check_superblocks()) return code;
  owned_ = std::make_unique<BlockBits>(sb_.data_blocks);
  check_journal();
  check_state_record();
  scan_inode_bitmap();
  walk_tree();
  check_orphan_table();
  reconnect_unreachable();
  resolve_double_claims();
  check_inode_links();
  check_block_bitmap();
  return 0;
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
  Report rep(out, repair);
  Checker checker(img, rep, opts, out, source);
  const int code = checker.run();
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
