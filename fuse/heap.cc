#include "fuse/heap.h"

#include <malloc.h>

#include <atomic>
#include <chrono>
#include <cstdio>

#ifdef PMEMFS_MIMALLOC
#include <mimalloc.h>
#endif

namespace pmemfs::daemon {

namespace {
#ifdef PMEMFS_MIMALLOC
// Give the pages of freed objects back, not only whole segments.
[[maybe_unused]] const bool g_page_reset = [] {
  mi_option_set(mi_option_page_reset, 1);
  return true;
}();
#endif
}  // namespace

const char* heap_name() {
#ifdef PMEMFS_MIMALLOC
  static char name[32];
  const int v = mi_version();  // e.g. 209
  std::snprintf(name, sizeof(name), "mimalloc %d.%d.%d", v / 100, v / 10 % 10, v % 10);
  return name;
#else
  return "glibc malloc";
#endif
}

void heap_trim() {
  static std::atomic<int64_t> last{0};
  const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t prev = last.load(std::memory_order_relaxed);
  if (now - prev < 100 || !last.compare_exchange_strong(prev, now)) return;
#ifdef PMEMFS_MIMALLOC
  mi_collect(true);
#else
  malloc_trim(0);
#endif
}

}  // namespace pmemfs::daemon
