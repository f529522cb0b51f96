// The calls the client takes over: mmap, munmap, msync, mremap and madvise
// of direct mappings; fork (pthread_atfork) so that a child gets its own.
// Anything that is not a MAP_SHARED mapping of a regular file on a pmemfs
// mount with direct access goes to the kernel unchanged.
// Both names are defined here: without this, the headers would make mmap
// an alias of mmap64 (_FILE_OFFSET_BITS=64 is the build's default).
#undef _FILE_OFFSET_BITS
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <string>

#include "dax/client/client.h"
#include "dax/protocol.h"

#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif

namespace pmemfs::dax::client {
namespace {

bool overlaps(const Region& r, uintptr_t a, size_t len) { return a < r.base + r.len && r.base < a + len; }

std::atomic<uint64_t>* new_bitmap(size_t words) {
  void* p = raw_mmap(nullptr, words * sizeof(uint64_t), PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? nullptr : static_cast<std::atomic<uint64_t>*>(p);
}

// A direct mapping: the reservation, and the region that faults fill.
// REQUIRES: g_regions_mu.
Region* add_region(uintptr_t base, size_t len, uint64_t file_off, uint64_t ino, int prot, int fd,
                   Link* l) {
  for (Region& r : g_regions) {
    if (r.used.load(std::memory_order_relaxed)) continue;
    const size_t words = (len / kPage + 63) / 64;
    auto* bits = new_bitmap(words);
    const int dup = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (!bits || dup < 0) {
      if (bits) raw_munmap(bits, words * sizeof(uint64_t));
      if (dup >= 0) ::close(dup);
      return nullptr;
    }
    r.base = base;
    r.len = len;
    r.file_off = file_off;
    r.ino = ino;
    r.prot = prot;
    r.file_fd = dup;
    r.link = l;
    r.written = bits;
    r.written_words = words;
    r.used.store(true, std::memory_order_release);
    return &r;
  }
  return nullptr;
}


// Whether a page (relative to r.base) was mapped writable.
bool written(const Region& r, uint64_t p) {
  return r.written[p / 64].load(std::memory_order_relaxed) >> (p % 64) & 1;
}

void* direct_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off, bool& taken) {
  taken = false;
  const int type = flags & MAP_TYPE;
  if ((type != MAP_SHARED && type != MAP_SHARED_VALIDATE) || (flags & MAP_ANONYMOUS) || fd < 0 ||
      len == 0)
    return nullptr;
  struct stat st {};
  struct statfs sf {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || fstatfs(fd, &sf) != 0 ||
      sf.f_type != FUSE_SUPER_MAGIC)
    return nullptr;
  std::string why;
  Link* l = link_for(fd, st.st_dev, why);
  if (!l) {
    debug("fd %d (inode %llu): %s; the kernel maps it", fd, static_cast<unsigned long long>(st.st_ino),
          why.c_str());
    return nullptr;
  }
  taken = true;
  // The kernel's own checks of a shared file mapping.
  const int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
  if (off < 0 || off % static_cast<off_t>(kPage) != 0) {
    errno = EINVAL;
    return MAP_FAILED;
  }
  if (acc == O_WRONLY || ((prot & PROT_WRITE) && acc != O_RDWR)) {
    errno = EACCES;
    return MAP_FAILED;
  }
  len = (len + kPage - 1) / kPage * kPage;
  // x86 page tables cannot map write-only: PROT_WRITE reads too, as the
  // kernel's mappings do (fio's mmap engine asks for PROT_WRITE alone).
  if (prot & PROT_WRITE) prot |= PROT_READ;
  const bool fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE);
  uintptr_t base;
  if (fixed) {
    void* p = raw_mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE |
                                                 (flags & (MAP_FIXED | MAP_FIXED_NOREPLACE)), -1, 0);
    if (p == MAP_FAILED) return MAP_FAILED;
    base = reinterpret_cast<uintptr_t>(p);
  } else {
    // File page r0 of every 2 MiB range at a 2 MiB-aligned address, so that
    // a PMD entry can be one PMD in the page table.
    void* p = raw_mmap(nullptr, len + kHuge, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return MAP_FAILED;
    const uintptr_t raw = reinterpret_cast<uintptr_t>(p);
    base = (raw + kHuge - 1) / kHuge * kHuge + static_cast<uint64_t>(off) % kHuge;
    if (base >= raw + kHuge) base -= kHuge;
    if (base > raw) raw_munmap(p, base - raw);
    if (raw + len + kHuge > base + len) raw_munmap(reinterpret_cast<void*>(base + len), raw + len + kHuge - base - len);
  }
  std::lock_guard<std::mutex> g(g_regions_mu);
  if (!add_region(base, len, static_cast<uint64_t>(off), st.st_ino, prot, fd, l)) {
    raw_munmap(reinterpret_cast<void*>(base), len);
    errno = ENOMEM;
    return MAP_FAILED;
  }
  debug("direct mapping of inode %llu: %zu bytes from offset %lld at %p", static_cast<unsigned long long>(st.st_ino),
        len, static_cast<long long>(off), reinterpret_cast<void*>(base));
  return reinterpret_cast<void*>(base);
}

}  // namespace
}  // namespace pmemfs::dax::client

using namespace pmemfs::dax::client;
using pmemfs::dax::Message;
using pmemfs::dax::kFlushed;

extern "C" {

void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  bool taken = false;
  void* p = direct_mmap(addr, len, prot, flags, fd, off, taken);
  return taken ? p : raw_mmap(addr, len, prot, flags, fd, off);
}
void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off64_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

int munmap(void* addr, size_t len) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  len = (len + kPage - 1) / kPage * kPage;
  {
    std::lock_guard<std::mutex> g(g_regions_mu);
    for (Region& r : g_regions) {
      if (!r.used.load(std::memory_order_relaxed) || !overlaps(r, a, len)) continue;
      const uintptr_t end = r.base + r.len, cut_end = a + len;
      const bool keeps_front = a > r.base, keeps_back = cut_end < end;
      // What stays is a region of its own (or two), with the bits it had.
      // They are added while r is still in use, so that neither takes r's
      // slot; then r goes.
      auto keep = [&](uintptr_t from, uintptr_t to) {
        Region* n = add_region(from, to - from, r.file_off + (from - r.base), r.ino, r.prot, r.file_fd, r.link);
        if (!n) return;
        for (uint64_t p = 0; p < (to - from) / kPage; ++p) {
          const uint64_t q = (from - r.base) / kPage + p;
          if (written(r, q)) n->written[p / 64].fetch_or(uint64_t{1} << (p % 64), std::memory_order_relaxed);
        }
      };
      if (keeps_front) keep(r.base, a);
      if (keeps_back) keep(cut_end, end);
      r.used.store(false, std::memory_order_release);
      auto* old_bits = r.written;
      const size_t old_words = r.written_words;
      r.written = nullptr;
      ::close(r.file_fd);
      raw_munmap(old_bits, old_words * sizeof(uint64_t));
    }
  }
  return raw_munmap(addr, len);
}

int msync(void* addr, size_t len, int flags) {
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr) / kPage * kPage;
  const uintptr_t end = reinterpret_cast<uintptr_t>(addr) + len;
  uint64_t flushed = 0;
  Link* link = nullptr;
  for (Region& r : g_regions) {
    if (!r.used.load(std::memory_order_acquire) || !overlaps(r, a, end - a)) continue;
    // The pages stored into from the pool, line by line: the stores are in
    // the CPU's caches until flushed, as on pmem.
    r.link->lock();
    const uintptr_t lo = a > r.base ? a : r.base, hi = end < r.base + r.len ? end : r.base + r.len;
    for (uintptr_t p = lo; p < hi; p += kPage) {
      if (!written(r, (p - r.base) / kPage)) continue;
      for (uintptr_t line = p; line < p + kPage; line += 64)
        __builtin_ia32_clflush(reinterpret_cast<const void*>(line));
      flushed += kPage;
    }
    r.link->unlock();
    link = r.link;
  }
  if (flushed) {
    __builtin_ia32_sfence();
    Message m;
    m.kind = kFlushed;
    m.pid = flushed;
    (void)::send(link->control_fd, &m, sizeof m, MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  // And the pool file's own pages, for a pool on a disk filesystem.
  return static_cast<int>(syscall(SYS_msync, addr, len, flags));
}

void* mremap(void* old, size_t old_len, size_t new_len, int flags, ...) {
  void* new_addr = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list ap;
    va_start(ap, flags);
    new_addr = va_arg(ap, void*);
    va_end(ap);
  }
  if (region_at(reinterpret_cast<uintptr_t>(old))) {
    // Moving a direct mapping would take its pages out of the daemon's view.
    debug("mremap of a direct mapping at %p refused (EINVAL)", old);
    errno = EINVAL;
    return MAP_FAILED;
  }
  return reinterpret_cast<void*>(syscall(SYS_mremap, old, old_len, new_len, flags, new_addr));
}

int madvise(void* addr, size_t len, int advice) {
  Region* r = region_at(reinterpret_cast<uintptr_t>(addr));
  if (r && advice == MADV_REMOVE) {
    // Through the file, as the kernel's MADV_REMOVE punches the file's range.
    const off_t off = static_cast<off_t>(r->file_off + (reinterpret_cast<uintptr_t>(addr) - r->base));
    return fallocate(r->file_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, static_cast<off_t>(len));
  }
  return static_cast<int>(syscall(SYS_madvise, addr, len, advice));
}

}  // extern "C"

namespace {

void before_fork() {
  g_regions_mu.lock();
  for (Link& l : g_links)
    if (l.used.load(std::memory_order_relaxed)) l.lock();
}
void after_fork_parent() {
  for (Link& l : g_links)
    if (l.used.load(std::memory_order_relaxed)) l.unlock();
  g_regions_mu.unlock();
}
void after_fork_child() {
  reset_after_fork();
  g_regions_mu.unlock();
}

__attribute__((constructor)) void start_client() {
  install_fault_handler();
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
}

}  // namespace
