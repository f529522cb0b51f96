// Pool: the mapping of the device or pool file, and the only place in the
// library that makes stores durable. Everything that must survive a crash goes
// through persist()/flush()+drain() or the *_persist copies, so the power-fail
// simulation and the crash-point tests see every persist point.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pmemfs/bus_guard.h"
#include "pmemfs/persist_mode.h"
#include "pmemfs/powerfail.h"
#include "pmemfs/result.h"

struct pmem2_map;
struct pmem2_source;

namespace pmemfs {

enum class Granularity { kByte, kCacheLine, kPage };
const char* to_string(Granularity g);


// Progress of long work: done of total units, called as the work advances.
using ProgressFn = std::function<void(uint64_t done, uint64_t total)>;

struct PoolOpenOptions {
  uint64_t create_size = 0;    // create the file with this size if it is missing
  // Allocating a created (or sparse) pool file, in bytes: for mkfs's
  // progress line (a pool of a few TiB takes minutes on some filesystems).
  ProgressFn allocate_progress;
  int lock_wait_seconds = 0;   // wait for another process to release the pool
  bool read_only = false;
  PersistMode persist = PersistMode::kCpu;  // pools of page granularity only
  // Stores go to a private working copy; only persisted lines reach the
  // file (see powerfail.h). Pool files only, not device DAX.
  PowerFailOptions powerfail;
};

// Makes every byte of the regular file fd (named path) allocated, so that
// no store to its mapping can fail for want of space (a store to a hole of
// a full filesystem is a SIGBUS). Asks the filesystem for the space first and
// refuses without changing anything when it has too little. Returns "" or
// one line saying what is wrong (bytes needed, bytes free). A filesystem
// without fallocate(2) is accepted with a warning (logged). created: the file
// was made for this pool just now (the message says nothing was created).
// progress, if set, hears of each 1 GiB allocated.
std::string allocate_pool_file(int fd, const std::string& path, bool created,
                               const ProgressFn& progress = {});

// What to say about a file that holds a pmemfs superblock for a pool of
// fs_size bytes but is only file_size bytes long.
std::string truncated_pool_message(const std::string& path, uint64_t fs_size, uint64_t file_size);

class Pool {
 public:
  // Maps a device or file, locked against every other pmemfs process.
  static Result<std::unique_ptr<Pool>> open(const std::string& path, const PoolOpenOptions& o);
  // A pool in anonymous memory for unit tests and benchmarks (byte granularity).
  static std::unique_ptr<Pool> in_memory(uint64_t size);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  char* base() const { return base_; }
  uint64_t size() const { return size_; }
  Granularity granularity() const { return granularity_; }
  // True when the file was created by open() (its contents are known zero).
  bool created() const { return created_; }
  const std::string& path() const { return path_; }

  // True once the backing store failed under the mapping (bus_guard.h): the
  // file was truncated, its filesystem ran out of space, or the device hit a
  // bad block. The failing pages now read as zeros and what is stored to
  // them is lost: nothing the pool says can be trusted any more.
  bool failed() const { return guard_.failures() + durable_guard_.failures() > 0; }

  template <typename T>
  T* at(uint64_t off) const { return reinterpret_cast<T*>(base_ + off); }
  uint64_t offset_of(const void* p) const {
    return static_cast<uint64_t>(static_cast<const char*>(p) - base_);
  }

  // How persist points reach the media: "cpu" or "msync" (page
  // granularity, PersistMode), "pmem" (cache lines of real or DAX memory),
  // "simulated" (powerfail_sim), "memory" (in_memory pools).
  const char* persist_method() const;
  // With PersistMode::kCpu on a pool of page granularity: writes back what
  // the host's page cache holds of the pool (msync of the whole mapping), so
  // that a crash of the host loses nothing persisted so far. Otherwise
  // nothing to do. 0 or the errno of msync.
  Status write_back();

  // Flush + drain of [addr, addr+len).
  void persist(const void* addr, size_t len);
  // Starts write-back of a range; durable only after drain().
  void flush(const void* addr, size_t len);
  void drain();
  // How many drains (persist barriers) the pool has done: the cost a
  // metadata operation pays beyond the flushes themselves.
  uint64_t drains() const { return drains_.load(std::memory_order_relaxed); }
  // Copies/fills and makes the destination durable (non-temporal where the
  // hardware has it). nodrain: caller drains later, batching several ranges.
  void memcpy_persist(void* dst, const void* src, size_t len, bool nodrain = false);
  void memset_persist(void* dst, int c, size_t len, bool nodrain = false);

  // The parts of [off, off + len) that may hold anything but zeros, in
  // order, as (offset, length). A pool file mapped shared is asked with
  // SEEK_DATA/SEEK_HOLE, so its holes and unwritten extents (a sparse or
  // fallocated file never written there) are left out without a page of
  // them being touched; every other pool answers the whole range. For
  // mount-time scans of the bitmaps, whose cost must follow what is stored.
  std::vector<std::pair<uint64_t, uint64_t>> data_ranges(uint64_t off, uint64_t len) const;

  // The power-fail simulator, or nullptr when the pool was opened without it.
  PowerFailSim* powerfail() const { return sim_.get(); }
  // What a power cut right now would leave behind, as a new pool: the file
  // as it is durable, mapped privately so that recovering from it (journal
  // replay, orphans) never touches the durable image. Byte granularity,
  // persists are no-ops. REQUIRES: powerfail() != nullptr.
  Result<std::unique_ptr<Pool>> durable_view() const;

 private:
  Pool() = default;
  Status map_simulated(const PowerFailOptions& o);
  char* base_ = nullptr;
  uint64_t size_ = 0;
  Granularity granularity_ = Granularity::kByte;
  // Page granularity persisted by cache-line flushes: write_back() has work.
  bool cpu_persisted_pages_ = false;
  bool created_ = false;
  bool anonymous_ = false;
  int fd_ = -1;
  std::string path_;
  pmem2_map* map_ = nullptr;
  pmem2_source* source_ = nullptr;
  bool plain_file_ = false;    // a regular file mapped MAP_SHARED: it is what the mapping reads
  bool own_mapping_ = false;   // base_ is our own mmap() (sim, views), not pmem2's
  char* durable_ = nullptr;    // the file's shared mapping under powerfail_sim
  std::unique_ptr<PowerFailSim> sim_;
  // The mapping (base_) and, under powerfail_sim, the durable one.
  bus_guard::Guard guard_, durable_guard_;
  void (*persist_fn_)(const void*, size_t) = nullptr;
  void (*flush_fn_)(const void*, size_t) = nullptr;
  void (*drain_fn_)() = nullptr;
  std::atomic<uint64_t> drains_{0};
};

}  // namespace pmemfs
