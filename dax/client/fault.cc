// The fault handler: a touch of a direct mapping that is not mapped (yet, or
// any more) asks the daemon for the entry covering the page and maps it
// (dax/protocol.h). Every SIGSEGV that is not ours goes to the program's own
// handler, kept here because sigaction() and signal() are interposed.
#include <dlfcn.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <ctime>
#include <cstring>

#include "dax/client/client.h"
#include "dax/protocol.h"

namespace pmemfs::dax::client {

namespace {

using SigactionFn = int (*)(int, const struct sigaction*, struct sigaction*);
using SignalFn = sighandler_t (*)(int, sighandler_t);
SigactionFn real_sigaction = nullptr;
SignalFn real_signal = nullptr;
bool g_installed = false;
struct sigaction g_program_action {};  // what the program asked for SIGSEGV

// Per thread and link: the fault connection (fd + 1; 0: none) and the client
// it was attached for (a fork makes a new client).
constexpr long kFaultPollNs = 50 * 1000;

thread_local int t_fault_fd[kMaxLinks];
thread_local uint64_t t_fault_client[kMaxLinks];

void deliver_sigbus(uintptr_t addr) {
  siginfo_t info{};
  info.si_signo = SIGBUS;
  info.si_code = BUS_ADRERR;
  info.si_addr = reinterpret_cast<void*>(addr);
  syscall(SYS_rt_tgsigqueueinfo, getpid(), syscall(SYS_gettid), SIGBUS, &info);
}

// What the kernel does without us: the program's handler, or death.
void chain(int sig, siginfo_t* si, void* uc) {
  const struct sigaction a = g_program_action;
  if (a.sa_flags & SA_SIGINFO) {
    a.sa_sigaction(sig, si, uc);
  } else if (a.sa_handler == SIG_DFL || a.sa_handler == SIG_IGN) {
    struct sigaction d {};
    d.sa_handler = SIG_DFL;
    real_sigaction(sig, &d, nullptr);  // the access happens again, and kills
  } else {
    a.sa_handler(sig);
  }
}

bool ask(Link& l, size_t idx, uint64_t ino, uint64_t page, bool write, Message& reply) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (t_fault_fd[idx] == 0 || t_fault_client[idx] != l.client_id) {
      if (t_fault_fd[idx]) ::close(t_fault_fd[idx] - 1);
      t_fault_fd[idx] = 0;
      const int fd = connect_to(l.address);
      if (fd < 0) return false;
      Message a;
      a.kind = kAttach;
      a.id = l.client_id;
      if (::send(fd, &a, sizeof a, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof a)) {
        ::close(fd);
        return false;
      }
      t_fault_fd[idx] = fd + 1;
      t_fault_client[idx] = l.client_id;
    }
    const int fd = t_fault_fd[idx] - 1;
    Message m;
    m.kind = kFault;
    m.ino = ino;
    m.page = page;
    m.write = write;
    if (::send(fd, &m, sizeof m, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof m)) {
      // Polled for a while before sleeping: a sleeping thread pays a wake-up
      // per fault, tens of microseconds on a virtual CPU that halts when
      // idle (pmemfs.8, io_uring_poll_us). clock_gettime is
      // async-signal-safe.
      ssize_t n = -1;
      timespec t0{}, now{};
      clock_gettime(CLOCK_MONOTONIC, &t0);
      for (;;) {
        n = ::recv(fd, &reply, sizeof reply, MSG_DONTWAIT);
        if (n >= 0 || (errno != EAGAIN && errno != EINTR)) break;
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - t0.tv_sec) * 1000000000L + (now.tv_nsec - t0.tv_nsec) > kFaultPollNs) break;
      }
      while (n < 0 && (errno == EAGAIN || errno == EINTR)) n = ::recv(fd, &reply, sizeof reply, 0);
      if (n == static_cast<ssize_t>(sizeof reply) && reply.kind == kEntry) return true;
    }
    ::close(fd);
    t_fault_fd[idx] = 0;
  }
  return false;
}

// Maps the entry's pages that lie in r. REQUIRES: r.link->map_lock.
void install(Region& r, const Message& e, bool write) {
  const uint64_t first = e.page * kPage, end = (e.page + e.last) * kPage;
  const uint64_t lo = first > r.file_off ? first : r.file_off;
  const uint64_t hi = end < r.file_off + r.len ? end : r.file_off + r.len;
  if (lo >= hi) return;
  void* va = reinterpret_cast<void*>(r.base + (lo - r.file_off));
  if (e.write == kWireHole) {
    // Read only, anonymous: reads find the kernel's zero page and cost no
    // memory; a store traps and comes back as a write fault.
    raw_mmap(va, hi - lo, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    return;
  }
  // A read fault maps read only: the first store faults again, so the daemon
  // learns of it (times, fsync) as the kernel's pfn_mkwrite does.
  const int prot = write ? r.prot : (r.prot & ~PROT_WRITE);
  raw_mmap(va, hi - lo, prot, MAP_SHARED | MAP_FIXED, r.link->pool_fd,
           static_cast<off_t>(e.pool_off + (lo - first)));
  if (write)
    for (uint64_t p = (lo - r.file_off) / kPage; p < (hi - r.file_off) / kPage; ++p)
      r.written[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
}

void on_segv(int sig, siginfo_t* si, void* ucv) {
  const int saved_errno = errno;
  const uintptr_t addr = reinterpret_cast<uintptr_t>(si->si_addr);
  Region* r = si->si_code > 0 ? region_at(addr) : nullptr;
  const auto* uc = static_cast<ucontext_t*>(ucv);
  const bool write = uc->uc_mcontext.gregs[REG_ERR] & 2;  // x86: the page fault's W bit
  if (!r || (write && !(r->prot & PROT_WRITE)) || !(r->prot & PROT_READ)) {
    chain(sig, si, ucv);  // not ours, or what the program's protection forbids
    errno = saved_errno;
    return;
  }
  Link& l = *r->link;
  const size_t idx = static_cast<size_t>(&l - g_links);
  const uint64_t page = (addr - r->base + r->file_off) / kPage;
  for (;;) {
    const uint64_t gen = l.generation.load(std::memory_order_acquire);
    Message e;
    if (!ask(l, idx, r->ino, page, write, e) || e.status != 0) {
      // Past EOF (ENXIO), or no daemon: what the kernel gives a mapping of a
      // truncated file.
      deliver_sigbus(addr);
      break;
    }
    l.lock();
    // A revocation since the question: the entry may be stale; ask again.
    const bool current = l.generation.load(std::memory_order_acquire) == gen;
    if (current) install(*r, e, write);
    l.unlock();
    if (current) break;
  }
  errno = saved_errno;
}

}  // namespace

void install_fault_handler() {
  real_sigaction = reinterpret_cast<SigactionFn>(dlsym(RTLD_NEXT, "sigaction"));
  real_signal = reinterpret_cast<SignalFn>(dlsym(RTLD_NEXT, "signal"));
  if (!real_sigaction || !real_signal) return;
  struct sigaction a {};
  a.sa_sigaction = on_segv;
  a.sa_flags = SA_SIGINFO | SA_RESTART | SA_ONSTACK;
  sigemptyset(&a.sa_mask);
  if (real_sigaction(SIGSEGV, &a, &g_program_action) == 0) g_installed = true;
}

}  // namespace pmemfs::dax::client

using namespace pmemfs::dax::client;

// The program's SIGSEGV handler is kept, and called for every fault that is
// not a direct mapping's; ours stays installed.
extern "C" int sigaction(int sig, const struct sigaction* act, struct sigaction* old) {
  if (!real_sigaction) install_fault_handler();
  if (sig != SIGSEGV || !g_installed) return real_sigaction(sig, act, old);
  if (old) *old = g_program_action;
  if (act) g_program_action = *act;
  return 0;
}

extern "C" sighandler_t signal(int sig, sighandler_t handler) {
  if (!real_signal) install_fault_handler();
  if (sig != SIGSEGV || !g_installed) return real_signal(sig, handler);
  const sighandler_t old = (g_program_action.sa_flags & SA_SIGINFO) ? SIG_DFL : g_program_action.sa_handler;
  g_program_action = {};
  g_program_action.sa_handler = handler;
  g_program_action.sa_flags = SA_RESTART;
  return old;
}
