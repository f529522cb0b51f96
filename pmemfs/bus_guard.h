// BusGuard: a pool mapping whose backing store fails must not kill the
// process. A store or load on a mapped pool file raises SIGBUS when the page
// cannot be had: the file was truncated under us, or it is sparse and its
// filesystem is full (tmpfs, ext4), or device DAX hit a poisoned block. The
// handler installed here checks that the address lies in a registered pool
// mapping, maps anonymous zero memory over the failing page (MAP_FIXED) so
// that the faulting instruction completes, and counts the failure -- for the
// mapping, for the process and for the calling thread. Callers then report
// EIO: a request compares thread_failures() before and after its work, and
// the owner of the mapping stops trusting it once failures() is non-zero.
// A SIGBUS outside every registered mapping goes to the handler installed
// before ours, or kills the process as it would have without us.
//
// Nothing here unwinds (no siglongjmp): the interrupted code runs on with a
// page of zeros, locks and all, and the error is noticed when it returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pmemfs::bus_guard {

// A registered range; unregisters itself. Register only ranges that stay
// mapped for the guard's lifetime. Move-only.
class Guard {
 public:
  Guard() = default;
  // name (a pool's path) is for log lines; it is copied.
  Guard(const void* base, size_t len, const std::string& name);
  ~Guard() { reset(); }
  Guard(Guard&& o) noexcept : slot_(o.slot_) { o.slot_ = -1; }
  Guard& operator=(Guard&& o) noexcept;
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  void reset();
  bool active() const { return slot_ >= 0; }
  // Pages of this range replaced by zero memory since registration.
  uint64_t failures() const;
  // Offset in the range of the first page that failed (valid if failures()).
  uint64_t first_failure_offset() const;

 private:
  int slot_ = -1;
};

// Installs the SIGBUS handler (once per process; thread safe). Guard does it.
void install();

// Failures in every guarded range of this process, ever.
uint64_t failures();
// Failures taken by the calling thread, ever; compare before and after.
uint64_t thread_failures();

// Logs, once per process and only if a failure happened, one error line
// naming the range and the offset, ending in consequence (what happens now,
// what to do). Returns true if it logged. Not from the signal handler: call
// it after the work that may have faulted.
bool log_first_failure(const std::string& consequence);

}  // namespace pmemfs::bus_guard
