// Report: the problems one fsck run finds, one line each, and the repairs
// staged for them. A repair is a function run against the Image overlay after
// the whole check, so every repair sees the complete picture and none runs
// when some other problem cannot be repaired.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "tools/fsck/image.h"

namespace pmemfs::fsck {

class Progress;  // progress.h

class Report {
 public:
  using Repair = std::function<void(Image&)>;

  // repairing: the repairs will run if nothing unrepairable turns up.
  // progress: a progress display that shares out's terminal (told before
  // each line), or null.
  Report(std::ostream& out, bool repairing, Progress* progress = nullptr)
      : out_(out), repairing_(repairing), progress_(progress) {}

  // A problem fsck can repair, written "what is wrong; what the repair does".
  // Without repairing the action is shown as "[-y: action]". repair may be
  // empty when the overlay already holds the fix (journal replay).
  void repairable(const std::string& line, Repair repair = {});
  // A problem no repair exists for (yet).
  void unrepairable(const std::string& line);
  // Not a problem: a fact worth a line (e.g. not cleanly unmounted).
  void note(const std::string& line);

  uint64_t problems() const { return problems_; }
  uint64_t unrepairable_count() const { return unrepairable_; }

  // Runs every staged repair, in the order the problems were found.
  void run_repairs(Image& img);

 private:
  void begin_line();

  std::ostream& out_;
  const bool repairing_;
  Progress* const progress_;
  uint64_t problems_ = 0;
  uint64_t unrepairable_ = 0;
  std::vector<Repair> repairs_;
};

}  // namespace pmemfs::fsck
