// Pool: the mapping of the device or pool file, and the only place in the
// library that makes stores durable. Everything that must survive a crash goes
// through persist()/flush()+drain() or the *_persist copies, so the power-fail
// simulation and the crash-point tests see every persist point.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "pmemfs/powerfail.h"
#include "pmemfs/result.h"

struct pmem2_map;
struct pmem2_source;

namespace pmemfs {

enum class Granularity { kByte, kCacheLine, kPage };
const char* to_string(Granularity g);

struct PoolOpenOptions {
  uint64_t create_size = 0;    // create the file with this size if it is missing
  int lock_wait_seconds = 0;   // wait for another process to release the pool
  bool read_only = false;
  // Stores go to a private working copy; only persisted lines reach the
  // file (see powerfail.h). Pool files only, not device DAX.
  PowerFailOptions powerfail;
};

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

  template <typename T>
  T* at(uint64_t off) const { return reinterpret_cast<T*>(base_ + off); }
  uint64_t offset_of(const void* p) const {
    return static_cast<uint64_t>(static_cast<const char*>(p) - base_);
  }

  // Flush + drain of [addr, addr+len).
  void persist(const void* addr, size_t len);
  // Starts write-back of a range; durable only after drain().
  void flush(const void* addr, size_t len);
  void drain();
  // Copies/fills and makes the destination durable (non-temporal where the
  // hardware has it). nodrain: caller drains later, batching several ranges.
  void memcpy_persist(void* dst, const void* src, size_t len, bool nodrain = false);
  void memset_persist(void* dst, int c, size_t len, bool nodrain = false);

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
  bool created_ = false;
  bool anonymous_ = false;
  int fd_ = -1;
  std::string path_;
  pmem2_map* map_ = nullptr;
  pmem2_source* source_ = nullptr;
  bool own_mapping_ = false;   // base_ is our own mmap() (sim, views), not pmem2's
  char* durable_ = nullptr;    // the file's shared mapping under powerfail_sim
  std::unique_ptr<PowerFailSim> sim_;
  void (*persist_fn_)(const void*, size_t) = nullptr;
  void (*flush_fn_)(const void*, size_t) = nullptr;
  void (*drain_fn_)() = nullptr;
};

}  // namespace pmemfs
