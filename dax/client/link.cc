// The client's connections to daemons (dax/protocol.h): the control
// connection of each mount, and its thread that answers revocations.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "dax/client/client.h"
#include "dax/protocol.h"

namespace pmemfs::dax::client {

Region g_regions[kMaxRegions];
Link g_links[kMaxLinks];
std::mutex g_regions_mu;

namespace {

std::mutex g_links_mu;  // guards setting up links (never in the handler)

bool debug_on() {
  static const bool on = [] {
    const char* e = getenv("PMEMFS_DAX_DEBUG");
    return e && *e && std::strcmp(e, "0") != 0;
  }();
  return on;
}

}  // namespace

void debug(const char* fmt, ...) {
  if (!debug_on()) return;
  char buf[512];
  int n = std::snprintf(buf, sizeof buf, "pmemfs-dax[%d]: ", static_cast<int>(getpid()));
  va_list ap;
  va_start(ap, fmt);
  n += std::vsnprintf(buf + n, sizeof buf - static_cast<size_t>(n), fmt, ap);
  va_end(ap);
  if (n > static_cast<int>(sizeof buf) - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  (void)!::write(2, buf, static_cast<size_t>(n));
}

void* raw_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return reinterpret_cast<void*>(syscall(SYS_mmap, addr, len, prot, flags, fd, off));
}

int raw_munmap(void* addr, size_t len) { return static_cast<int>(syscall(SYS_munmap, addr, len)); }

void reserve(uintptr_t va, size_t len) {
  raw_mmap(reinterpret_cast<void*>(va), len, PROT_NONE,
           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

Region* region_at(uintptr_t addr) {
  for (Region& r : g_regions)
    if (r.used.load(std::memory_order_acquire) && addr >= r.base && addr - r.base < r.len) return &r;
  return nullptr;
}

int connect_to(const char* address) {
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const size_t n = std::strlen(address);  // "@name": abstract
  std::memcpy(a.sun_path + 1, address + 1, n - 1);
  const socklen_t len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + n);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), len) < 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

namespace {

// Answers the daemon's revocations: every mapping of the pages goes before
// the answer (dax/protocol.h).
void* control_thread(void* arg) {
  Link* l = static_cast<Link*>(arg);
  const int fd = l->control_fd;
  Message m;
  while (::recv(fd, &m, sizeof m, 0) == static_cast<ssize_t>(sizeof m)) {
    if (m.kind != kRevoke) continue;
    l->lock();
    l->generation.fetch_add(1, std::memory_order_acq_rel);
    for (Region& r : g_regions) {
      if (!r.used.load(std::memory_order_acquire) || r.link != l || r.ino != m.ino) continue;
      // The region's file range [file_off, file_off + len) against the
      // revoked pages.
      const uint64_t from = m.page * kPage;
      const uint64_t to = m.last >= UINT64_MAX / kPage ? UINT64_MAX : (m.last + 1) * kPage;
      const uint64_t lo = from > r.file_off ? from : r.file_off;
      const uint64_t hi = to < r.file_off + r.len ? to : r.file_off + r.len;
      if (lo >= hi) continue;
      reserve(r.base + (lo - r.file_off), hi - lo);
      for (uint64_t p = (lo - r.file_off) / kPage; p < (hi - r.file_off) / kPage; ++p)
        r.written[p / 64].fetch_and(~(uint64_t{1} << (p % 64)), std::memory_order_relaxed);
    }
    l->unlock();
    Message a;
    a.kind = kRevoked;
    a.id = m.id;
    (void)::send(fd, &a, sizeof a, MSG_NOSIGNAL);
  }
  if (l->control_fd == fd) l->dead.store(true, std::memory_order_release);
  return nullptr;
}

// Connects l: the hello with the pool descriptor, then the control thread.
bool connect_link(Link& l, std::string& why) {
  const int fd = connect_to(l.address);
  if (fd < 0) {
    why = std::string("cannot connect to the daemon at ") + l.address + ": " + strerror(errno);
    return false;
  }
  Message m;
  m.kind = kHello;
  m.version = kProtocolVersion;
  m.pid = static_cast<uint64_t>(getpid());
  char control[CMSG_SPACE(sizeof(int))] = {};
  iovec iov{&m, sizeof m};
  msghdr h{};
  h.msg_iov = &iov;
  h.msg_iovlen = 1;
  h.msg_control = control;
  h.msg_controllen = sizeof control;
  cmsghdr* c = CMSG_FIRSTHDR(&h);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &l.pool_fd, sizeof(int));
  Message w;
  if (::sendmsg(fd, &h, MSG_NOSIGNAL) != static_cast<ssize_t>(sizeof m) ||
      ::recv(fd, &w, sizeof w, 0) != static_cast<ssize_t>(sizeof w) || w.kind != kWelcome) {
    why = "the daemon did not answer the hello";
    ::close(fd);
    return false;
  }
  if (w.status != 0) {
    why = std::string("the daemon refused the client: ") + strerror(static_cast<int>(w.status));
    ::close(fd);
    return false;
  }
  l.client_id = w.id;
  l.control_fd = fd;
  // Signals go to the program's threads, never to this one.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t t;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  const int e = pthread_create(&t, &attr, control_thread, &l);
  pthread_attr_destroy(&attr);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  if (e != 0) {
    why = std::string("cannot start the control thread: ") + strerror(e);
    ::close(fd);
    l.control_fd = -1;
    return false;
  }
  return true;
}

}  // namespace

Link* link_for(int fd, dev_t dev, std::string& why) {
  std::lock_guard<std::mutex> g(g_links_mu);
  char value[4096];
  const ssize_t n = fgetxattr(fd, kDaxXattr, value, sizeof value - 1);
  if (n < 0) {
    why = std::string("the mount gives no direct access (") + strerror(errno) + ")";
    return nullptr;
  }
  value[n] = 0;
  char* nl = std::strchr(value, '\n');
  if (!nl) {
    why = "the daemon's direct-access attribute makes no sense";
    return nullptr;
  }
  *nl = 0;
  const char* pool = nl + 1;
  if (char* end = std::strchr(const_cast<char*>(pool), '\n')) *end = 0;
  if (std::strcmp(value, "off") == 0) {
    why = std::string("direct access is off: ") + pool;
    return nullptr;
  }
  if (value[0] != '@' || std::strlen(value) >= sizeof(Link::address)) {
    why = "the daemon's socket address makes no sense";
    return nullptr;
  }
  // By the daemon's address, not the mount's device number: a mount that
  // replaced an unmounted one may get its number.
  for (Link& l : g_links)
    if (l.used.load(std::memory_order_acquire) && !l.dead.load(std::memory_order_acquire) &&
        l.dev == dev && std::strcmp(l.address, value) == 0)
      return &l;
  Link* free_link = nullptr;
  for (Link& l : g_links)
    if (!l.used.load(std::memory_order_relaxed) || (l.dead.load(std::memory_order_acquire) && !has_regions(l))) {
      free_link = &l;
      break;
    }
  if (free_link && free_link->used.load(std::memory_order_relaxed)) {  // a dead one, taken again
    free_link->used.store(false, std::memory_order_relaxed);
    if (free_link->pool_fd >= 0) ::close(free_link->pool_fd);
    if (free_link->control_fd >= 0) ::close(free_link->control_fd);
    free_link->pool_fd = free_link->control_fd = -1;
    free_link->dead.store(false, std::memory_order_relaxed);
  }
  if (!free_link) {
    why = "too many pmemfs mounts in one process";
    return nullptr;
  }
  // The trust model: only a process that may open the pool maps it.
  const int pool_fd = ::open(pool, O_RDWR | O_CLOEXEC);
  if (pool_fd < 0) {
    why = std::string("cannot open the pool ") + pool + ": " + strerror(errno);
    return nullptr;
  }
  Link& l = *free_link;
  l.dev = dev;
  std::strcpy(l.address, value);
  l.pool_fd = pool_fd;
  if (!connect_link(l, why)) {
    ::close(pool_fd);
    l.pool_fd = -1;
    return nullptr;
  }
  l.used.store(true, std::memory_order_release);
  debug("connected to the daemon at %s (client %llu, pool %s)", l.address,
        static_cast<unsigned long long>(l.client_id), pool);
  return &l;
}

bool has_regions(const Link& l) {
  for (const Region& r : g_regions)
    if (r.used.load(std::memory_order_acquire) && r.link == &l) return true;
  return false;
}

void reset_after_fork() {
  // The child inherited the parent's mappings but not its client: they go,
  // and the child's accesses fault them in again through its own.
  for (Region& r : g_regions)
    if (r.used.load(std::memory_order_relaxed)) {
      reserve(r.base, r.len);
      for (size_t w = 0; w < r.written_words; ++w) r.written[w].store(0, std::memory_order_relaxed);
    }
  for (Link& l : g_links) {
    if (!l.used.load(std::memory_order_relaxed)) continue;
    l.map_lock.clear();
    // A link no mapping uses (a child about to exec, most often) is not
    // worth a connection: it is dropped, and set up again if mapped.
    if (!has_regions(l) || l.dead.load(std::memory_order_relaxed)) {
      if (l.control_fd >= 0) ::close(l.control_fd);
      l.control_fd = -1;
      l.dead.store(true, std::memory_order_relaxed);
      continue;
    }
    if (l.control_fd >= 0) ::close(l.control_fd);
    l.control_fd = -1;
    l.generation.fetch_add(1);
    std::string why;
    if (!connect_link(l, why)) debug("after fork: %s; direct mappings will fault with SIGBUS", why.c_str());
  }
}

}  // namespace pmemfs::dax::client
