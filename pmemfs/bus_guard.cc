#include "pmemfs/bus_guard.h"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include <spdlog/spdlog.h>

namespace pmemfs::bus_guard {
namespace {

// Everything the handler reads is a lock-free atomic or written before the
// atomic that publishes it: the handler may run on any thread at any time.
constexpr int kSlots = 32;
constexpr size_t kNameSize = 256;

struct Slot {
  std::atomic<bool> used{false};
  std::atomic<uintptr_t> base{0};  // 0: free; published last, with release
  std::atomic<size_t> len{0};
  std::atomic<uint64_t> failures{0};
  std::atomic<uint64_t> first_off{0};
  char name[kNameSize] = {};
};

Slot g_slots[kSlots];
std::atomic<uint64_t> g_failures{0};
// The first failure of the process, for the log line (copied, because the
// slot may be gone by the time someone logs).
std::atomic<bool> g_first_claimed{false};
std::atomic<bool> g_first_ready{false};
char g_first_name[kNameSize];
uint64_t g_first_off = 0;
std::atomic<bool> g_logged{false};

// initial-exec: no lazy TLS allocation, so the handler may touch it.
thread_local uint64_t t_failures __attribute__((tls_model("initial-exec"))) = 0;

uintptr_t g_page_size = 4096;
struct sigaction g_previous {};
std::once_flag g_installed;

static_assert(std::atomic<uintptr_t>::is_always_lock_free);
static_assert(std::atomic<uint64_t>::is_always_lock_free);

// Hands a SIGBUS that is not ours to whoever had it before, or lets it kill
// the process as it would have without us.
void not_ours(int sig, siginfo_t* si, void* uctx) {
  if (g_previous.sa_flags & SA_SIGINFO) {
    if (g_previous.sa_sigaction != nullptr) {
      g_previous.sa_sigaction(sig, si, uctx);
      return;
    }
  } else if (g_previous.sa_handler == SIG_IGN) {
    // A fault cannot be ignored (the kernel forces the default action on
    // the retry); a kill -BUS can, as before.
    if (si->si_code <= 0) return;
  } else if (g_previous.sa_handler != SIG_DFL) {
    g_previous.sa_handler(sig);
    return;
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(SIGBUS, &dfl, nullptr);
  // A fault happens again when we return and now kills with a core at the
  // faulting instruction; a sent signal must be raised again (it is blocked
  // in here and delivered on return).
  if (si->si_code <= 0) raise(SIGBUS);
}

void on_sigbus(int sig, siginfo_t* si, void* uctx) {
  const int saved_errno = errno;
  const auto addr = reinterpret_cast<uintptr_t>(si->si_addr);
  if (si->si_code > 0) {  // raised by the kernel for an access, not sent
    for (Slot& s : g_slots) {
      const uintptr_t base = s.base.load(std::memory_order_acquire);
      const size_t len = s.len.load(std::memory_order_relaxed);
      if (base == 0 || addr < base || addr - base >= len) continue;
      const uintptr_t page = addr & ~(g_page_size - 1);
      void* p = mmap(reinterpret_cast<void*>(page), g_page_size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
      if (p == MAP_FAILED) break;  // cannot patch it: die as we would have
      const uint64_t off = page - base;
      if (s.failures.fetch_add(1, std::memory_order_relaxed) == 0)
        s.first_off.store(off, std::memory_order_relaxed);
      if (!g_first_claimed.exchange(true)) {
        std::memcpy(g_first_name, s.name, kNameSize);
        g_first_off = off;
        g_first_ready.store(true, std::memory_order_release);
      }
      ++t_failures;
      g_failures.fetch_add(1, std::memory_order_release);
      errno = saved_errno;
      return;
    }
  }
  not_ours(sig, si, uctx);
  errno = saved_errno;
}

}  // namespace

void install() {
  std::call_once(g_installed, [] {
    long ps = sysconf(_SC_PAGESIZE);
    if (ps > 0) g_page_size = static_cast<uintptr_t>(ps);
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, &g_previous) != 0)
      spdlog::warn("cannot install the SIGBUS handler: {}", std::strerror(errno));
  });
}

Guard::Guard(const void* base, size_t len, const std::string& name) {
  install();
  for (int i = 0; i < kSlots; ++i) {
    Slot& s = g_slots[i];
    bool expected = false;
    if (!s.used.compare_exchange_strong(expected, true)) continue;
    std::memset(s.name, 0, kNameSize);
    std::memcpy(s.name, name.data(), std::min(name.size(), kNameSize - 1));
    s.failures.store(0, std::memory_order_relaxed);
    s.first_off.store(0, std::memory_order_relaxed);
    s.len.store(len, std::memory_order_relaxed);
    s.base.store(reinterpret_cast<uintptr_t>(base), std::memory_order_release);
    slot_ = i;
    return;
  }
  spdlog::warn("{}: more than {} pool mappings; a failure of this one will kill the process",
               name, kSlots);
}

Guard& Guard::operator=(Guard&& o) noexcept {
  if (this != &o) {
    reset();
    slot_ = o.slot_;
    o.slot_ = -1;
  }
  return *this;
}

void Guard::reset() {
  if (slot_ < 0) return;
  Slot& s = g_slots[slot_];
  s.base.store(0, std::memory_order_release);
  s.len.store(0, std::memory_order_relaxed);
  s.used.store(false, std::memory_order_release);
  slot_ = -1;
}

uint64_t Guard::failures() const {
  return slot_ < 0 ? 0 : g_slots[slot_].failures.load(std::memory_order_relaxed);
}

uint64_t Guard::first_failure_offset() const {
  return slot_ < 0 ? 0 : g_slots[slot_].first_off.load(std::memory_order_relaxed);
}

uint64_t failures() { return g_failures.load(std::memory_order_acquire); }

uint64_t thread_failures() { return t_failures; }

bool log_first_failure(const std::string& consequence) {
  if (failures() == 0 || !g_first_ready.load(std::memory_order_acquire)) return false;
  if (g_logged.exchange(true)) return false;
  spdlog::error("{}: I/O error at pool offset {}: the pool's backing store failed (the pool file "
                "was truncated, or its filesystem is full); {}",
                g_first_name, g_first_off, consequence);
  return true;
}

}  // namespace pmemfs::bus_guard
