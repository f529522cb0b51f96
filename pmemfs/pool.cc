#include "pmemfs/pool.h"

#include <fcntl.h>
#include <libpmem2.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

#include <spdlog/spdlog.h>

#include "pmemfs/layout.h"

namespace pmemfs {

const char* to_string(Granularity g) {
  switch (g) {
    case Granularity::kByte: return "byte";
    case Granularity::kCacheLine: return "cache line";
    case Granularity::kPage: return "page";
  }
  return "?";
}

namespace {

// flock() is per open file description, so a second open in this process is
// refused as well: a pool must never be mapped twice for writing.
Status lock_pool(int fd, const std::string& path, int wait_seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(wait_seconds);
  while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    if (errno != EWOULDBLOCK) return err(errno);
    if (std::chrono::steady_clock::now() >= deadline) {
      spdlog::error("{}: pool is in use by another pmemfs process (mounted?)", path);
      return err(EBUSY);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  return {};
}

}  // namespace

Result<std::unique_ptr<Pool>> Pool::open(const std::string& path, const PoolOpenOptions& o) {
  std::unique_ptr<Pool> pool(new Pool());
  pool->path_ = path;
  int flags = (o.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0 && errno == ENOENT && o.create_size > 0) {
    fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      if (ftruncate(fd, static_cast<off_t>(o.create_size)) != 0) {
        int e = errno;
        ::close(fd);
        ::unlink(path.c_str());
        spdlog::error("{}: cannot size the pool file: {}", path, strerror(e));
        return err(e);
      }
      pool->created_ = true;
    }
  }
  if (fd < 0) {
    int e = errno;
    spdlog::error("{}: {}", path, e == ENOENT ? "no such pool file or device (give a size to create one)"
                                              : strerror(e));
    return err(e);
  }
  pool->fd_ = fd;
  struct stat st {};
  if (fstat(fd, &st) != 0) return err(errno);
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
    spdlog::error("{}: not a regular file or a DAX character device", path);
    return err(EINVAL);
  }
  PMEMFS_TRY(lock_pool(fd, path, o.lock_wait_seconds));

  if (o.powerfail.enabled) {
    if (!S_ISREG(st.st_mode)) {
      spdlog::error("{}: powerfail_sim needs a pool file, not a device", path);
      return err(EINVAL);
    }
    if (o.read_only) {
      spdlog::error("{}: powerfail_sim cannot be read-only", path);
      return err(EINVAL);
    }
    if (static_cast<uint64_t>(st.st_size) < layout::kMinPoolSize) {
      spdlog::error("{}: pool is {} bytes; the minimum is {} MiB", path, st.st_size,
                    layout::kMinPoolSize >> 20);
      return err(ENOSPC);
    }
    pool->size_ = static_cast<uint64_t>(st.st_size);
    PMEMFS_TRY(pool->map_simulated(o.powerfail));
    return pool;
  }

  if (pmem2_source_from_fd(&pool->source_, fd) != 0) {
    spdlog::error("{}: {}", path, pmem2_errormsg());
    return err(EINVAL);
  }
  size_t size = 0;
  if (pmem2_source_size(pool->source_, &size) != 0) return err(EINVAL);
  if (size < layout::kMinPoolSize) {
    spdlog::error("{}: pool is {} bytes; the minimum is {} MiB", path, size,
                  layout::kMinPoolSize >> 20);
    return err(ENOSPC);
  }
  pmem2_config* cfg = nullptr;
  if (pmem2_config_new(&cfg) != 0) return err(ENOMEM);
  // Page granularity is the weakest: accept every source and learn what it is.
  pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
  if (o.read_only) pmem2_config_set_protection(cfg, PMEM2_PROT_READ);
  int rc = pmem2_map_new(&pool->map_, cfg, pool->source_);
  pmem2_config_delete(&cfg);
  if (rc != 0) {
    spdlog::error("{}: cannot map the pool: {}", path, pmem2_errormsg());
    return err(rc == -ENOMEM ? ENOMEM : EINVAL);
  }
  pool->base_ = static_cast<char*>(pmem2_map_get_address(pool->map_));
  pool->size_ = pmem2_map_get_size(pool->map_);
  switch (pmem2_map_get_store_granularity(pool->map_)) {
    case PMEM2_GRANULARITY_BYTE: pool->granularity_ = Granularity::kByte; break;
    case PMEM2_GRANULARITY_CACHE_LINE: pool->granularity_ = Granularity::kCacheLine; break;
    default: pool->granularity_ = Granularity::kPage; break;
  }
  pool->persist_fn_ = pmem2_get_persist_fn(pool->map_);
  pool->flush_fn_ = pmem2_get_flush_fn(pool->map_);
  pool->drain_fn_ = pmem2_get_drain_fn(pool->map_);
  return pool;
}

std::unique_ptr<Pool> Pool::in_memory(uint64_t size) {
  std::unique_ptr<Pool> pool(new Pool());
  void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return nullptr;
  pool->base_ = static_cast<char*>(p);
  pool->size_ = size;
  pool->anonymous_ = true;
  pool->created_ = true;
  pool->path_ = "(memory)";
  return pool;
}

// Two mappings of one file: the file itself (MAP_SHARED, the durable image)
// and a private copy-on-write view of it that every store of the filesystem
// goes to. Pages never stored to cost no memory in the working copy.
Status Pool::map_simulated(const PowerFailOptions& o) {
  void* durable = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
  if (durable == MAP_FAILED) {
    int e = errno;  // before logging can change it
    spdlog::error("{}: cannot map the pool: {}", path_, strerror(e));
    return err(e);
  }
  void* working = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd_, 0);
  if (working == MAP_FAILED) {
    int e = errno;
    munmap(durable, size_);
    spdlog::error("{}: cannot map the working copy: {}", path_, strerror(e));
    return err(e);
  }
  durable_ = static_cast<char*>(durable);
  base_ = static_cast<char*>(working);
  own_mapping_ = true;
  // What the simulator models: a CPU cache in front of byte-addressable
  // media, made durable line by line.
  granularity_ = Granularity::kCacheLine;
  sim_ = std::make_unique<PowerFailSim>(base_, durable_, size_, o, /*working_is_private_file=*/true);
  return {};
}

Result<std::unique_ptr<Pool>> Pool::durable_view() const {
  std::unique_ptr<Pool> view(new Pool());
  void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_NORESERVE, fd_, 0);
  if (p == MAP_FAILED) return err(errno);
  view->base_ = static_cast<char*>(p);
  view->size_ = size_;
  view->own_mapping_ = true;
  view->path_ = path_ + " (durable view)";
  return view;
}

Pool::~Pool() {
  if (anonymous_ || own_mapping_) {
    munmap(base_, size_);
  } else {
    if (map_) pmem2_map_delete(&map_);
    if (source_) pmem2_source_delete(&source_);
  }
  if (durable_) {
    // The durable image is all that survives; hand it to the file's media.
    msync(durable_, size_, MS_SYNC);
    munmap(durable_, size_);
  }
  if (fd_ >= 0) ::close(fd_);  // drops the flock
}

void Pool::flush(const void* addr, size_t len) {
  if (sim_) {
    sim_->flush(addr, len);
    return;
  }
  if (flush_fn_) flush_fn_(addr, len);
}

void Pool::drain() {
  if (sim_) {
    sim_->drain();
    return;
  }
  if (drain_fn_) drain_fn_();
}

void Pool::persist(const void* addr, size_t len) {
  flush(addr, len);
  drain();
}

void Pool::memcpy_persist(void* dst, const void* src, size_t len, bool nodrain) {
  std::memcpy(dst, src, len);
  flush(dst, len);
  if (!nodrain) drain();
}

void Pool::memset_persist(void* dst, int c, size_t len, bool nodrain) {
  std::memset(dst, c, len);
  flush(dst, len);
  if (!nodrain) drain();
}

}  // namespace pmemfs
