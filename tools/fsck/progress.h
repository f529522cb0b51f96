// Progress of a check, for fsck(8)'s -C and for a person at a terminal.
//
// A check is a fixed list of passes (checker.cc, Checker::run); each starts
// with a known amount of work (inodes, directories, bitmap bytes) and
// advances through it. Progress turns that into
//   - e2fsck's -C FD protocol: lines "PASS CURRENT MAX DEVICE" on FD, which
//     fsck(8) and front ends read to draw their own bar (FdProgress);
//   - a line on a terminal rewritten in place, "SOURCE: pass 3/9 (directory
//     tree) 42%", shown only once the check has run for a second, so that
//     the usual sub-second check prints nothing extra (TerminalProgress).
// Updates are rate-limited to one per thousandth of a pass, whatever the
// caller's step, so reporting costs nothing measurable.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace pmemfs::fsck {

class Progress {
 public:
  virtual ~Progress() = default;

  // A new pass (1-based, of passes in all) with max units of work (>= 1).
  void start_pass(int pass, int passes, const char* name, uint64_t max);
  // done units of the current pass are finished (monotonic, <= max).
  void advance(uint64_t done);
  // The current pass is finished.
  void end_pass() { advance(max_); }
  // A line of the report is about to be written to the same terminal.
  virtual void before_line() {}
  // The check is over (clears a terminal line).
  virtual void finish() {}

 protected:
  virtual void show(int pass, int passes, const char* name, uint64_t done, uint64_t max) = 0;

 private:
  int pass_ = 0, passes_ = 0;
  const char* name_ = "";
  uint64_t max_ = 1;
  uint64_t shown_permille_ = UINT64_MAX;
};

// e2fsck's format on a file descriptor (fsck -C FD with FD > 0).
class FdProgress final : public Progress {
 public:
  FdProgress(int fd, std::string device) : fd_(fd), device_(std::move(device)) {}

 private:
  void show(int pass, int passes, const char* name, uint64_t done, uint64_t max) override;
  int fd_;
  std::string device_;
};

// A line on a terminal (fsck -C 0 with stdout a terminal), after a second.
class TerminalProgress final : public Progress {
 public:
  // delay: how long a check runs before the line appears.
  TerminalProgress(std::FILE* out, std::string source,
                   std::chrono::milliseconds delay = std::chrono::seconds(1))
      : out_(out), source_(std::move(source)), shown_from_(Clock::now() + delay) {}
  void before_line() override { finish(); }
  void finish() override;

 private:
  using Clock = std::chrono::steady_clock;
  void show(int pass, int passes, const char* name, uint64_t done, uint64_t max) override;
  std::FILE* out_;
  std::string source_;
  Clock::time_point shown_from_;
  bool drawn_ = false;    // shown at least once: the second has passed
  bool on_line_ = false;  // the line is on the terminal now
};

}  // namespace pmemfs::fsck
