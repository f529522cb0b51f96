// libpmemfs-dax.so: the direct-access client (dax/protocol.h). Preloaded by
// pmemfs-run, it takes over MAP_SHARED mappings of regular files on pmemfs
// mounts that offer direct access: such a mapping becomes a reservation of
// address space that faults are filled into straight from the pool --
// HOLE runs as read-only zero pages, PTEs and PMDs as shared mappings of the
// pool file at 2 MiB-aligned addresses. Everything else goes to the kernel.
//
// Locks: Link::map_lock (a spin lock: the fault handler takes it) guards the
// installing and revoking of mappings of one mount; g_regions_mu guards the
// region table's changes (mmap, munmap; never taken in the handler, which
// reads the table without it). Order: g_regions_mu -> map_lock.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>

namespace pmemfs::dax::client {

inline constexpr uint64_t kPage = 4096;
inline constexpr uint64_t kHuge = 2 << 20;

// Debug output on stderr when PMEMFS_DAX_DEBUG=1 (async-signal-safe).
void debug(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The direct-access connection to one mount's daemon.
struct Link {
  std::atomic<bool> used{false};
  dev_t dev = 0;               // the mount's st_dev
  char address[108] = {};      // the daemon's socket (abstract: leading '@')
  int pool_fd = -1;            // the client's own descriptor of the pool
  uint64_t client_id = 0;
  int control_fd = -1;
  // The daemon closed the control connection (it ended): no new mapping
  // uses this link, and its slot is taken again once no region needs it.
  std::atomic<bool> dead{false};
  // Bumped by every revocation before it unmaps: a fault whose entry was
  // asked for before a revocation maps nothing (the entry may be stale).
  std::atomic<uint64_t> generation{0};
  std::atomic_flag map_lock = ATOMIC_FLAG_INIT;
  void lock() {
    while (map_lock.test_and_set(std::memory_order_acquire)) __builtin_ia32_pause();
  }
  void unlock() { map_lock.clear(std::memory_order_release); }
};

// One direct mapping of a program.
struct Region {
  std::atomic<bool> used{false};
  uintptr_t base = 0;   // page aligned
  size_t len = 0;       // page multiple
  uint64_t file_off = 0;
  uint64_t ino = 0;
  int prot = 0;
  int file_fd = -1;     // a duplicate: keeps the file open, as a kernel mapping does
  Link* link = nullptr;
  // One bit per page mapped writable from the pool: what msync flushes.
  std::atomic<uint64_t>* written = nullptr;
  size_t written_words = 0;
};

inline constexpr size_t kMaxRegions = 1024;
inline constexpr size_t kMaxLinks = 16;
extern Region g_regions[kMaxRegions];
extern Link g_links[kMaxLinks];
extern std::mutex g_regions_mu;

// The region holding addr, or nullptr. Safe in the fault handler.
Region* region_at(uintptr_t addr);

// The link to the daemon of the mount holding fd (a regular file), set up
// on first use; nullptr and why when there is no direct access.
Link* link_for(int fd, dev_t dev, std::string& why);

// A connected SOCK_SEQPACKET socket to a daemon's address, or -1.
// Async-signal-safe.
int connect_to(const char* address);

// Whether a region maps through l. REQUIRES: g_regions_mu (or a single thread).
bool has_regions(const Link& l);

// Replaces [va, va+len) of a region by an inaccessible reservation.
void reserve(uintptr_t va, size_t len);

// Raw system calls: the interposed names must not call themselves.
void* raw_mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off);
int raw_munmap(void* addr, size_t len);

// The fault handler (fault.cc); installed by the library's constructor.
void install_fault_handler();
// After fork, in the child: drop every direct mapping (they belong to the
// parent's client) and connect anew.
void reset_after_fork();

}  // namespace pmemfs::dax::client
