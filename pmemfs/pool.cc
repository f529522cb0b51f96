#include "pmemfs/pool.h"

#include <fcntl.h>
#include <libpmem.h>
#include <libpmem2.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <chrono>
#include <climits>
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

// 1073741824 bytes (1.0 GiB): exact, and readable at a glance.
std::string bytes_text(uint64_t n) {
  static const char* const kUnits[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::string s = std::to_string(n) + " bytes";
  if (n < 1024) return s;
  double v = static_cast<double>(n);
  int u = -1;
  while (v >= 1024 && u < 5) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), " (%.1f %s)", v, kUnits[u]);
  return s + buf;
}

// Bytes the filesystem holding fd can still give to this process.
uint64_t free_bytes(int fd) {
  struct statvfs vfs {};
  if (fstatvfs(fd, &vfs) != 0) return UINT64_MAX;  // unknown: let fallocate decide
  const uint64_t blocks = geteuid() == 0 ? vfs.f_bfree : vfs.f_bavail;
  return blocks * vfs.f_frsize;
}

// A character device is a pool only if it is a device DAX (/dev/daxX.Y).
// Returns false only when sysfs says it is something else.
bool maybe_device_dax(dev_t rdev) {
  char link[PATH_MAX];
  const std::string sys = "/sys/dev/char/" + std::to_string(major(rdev)) + ":" +
                          std::to_string(minor(rdev)) + "/subsystem";
  ssize_t n = readlink(sys.c_str(), link, sizeof(link) - 1);
  if (n <= 0) return true;  // no sysfs: let libpmem2 judge
  link[n] = '\0';
  const char* base = std::strrchr(link, '/');
  return std::strcmp(base ? base + 1 : link, "dax") == 0;
}

// pmem2 leaves its message empty for some errors; never print "path: ".
std::string pmem2_reason(int rc) {
  std::string m = pmem2_errormsg();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  if (!m.empty()) return m;
  return rc < 0 && rc > -4096 ? strerror(-rc) : "libpmem2 error " + std::to_string(rc);
}

// A file too short to be a pool may still be a pmemfs pool cut short: say so
// rather than call it foreign. Returns "" when block 0 holds no pmemfs magic.
std::string describe_short_pool(int fd, const std::string& path, uint64_t size) {
  layout::Superblock sb{};
  if (pread(fd, &sb, sizeof(sb), 0) != static_cast<ssize_t>(sizeof(sb))) return {};
  if (std::memcmp(sb.magic, layout::kMagic, sizeof(layout::kMagic)) != 0) return {};
  return truncated_pool_message(path, sb.pool_size, size);
}

}  // namespace

std::string truncated_pool_message(const std::string& path, uint64_t fs_size, uint64_t file_size) {
  return path + ": holds a pmemfs filesystem of " + std::to_string(fs_size) +
         " bytes but is only " + std::to_string(file_size) +
         " bytes long (truncated?); restore it from a backup, or extend it back (truncate -s " +
         std::to_string(fs_size) + ") and check it with fsck.pmemfs";
}

std::string allocate_pool_file(int fd, const std::string& path, bool created,
                               const ProgressFn& progress) {
  struct stat st {};
  if (fstat(fd, &st) != 0) return path + ": " + strerror(errno);
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  const uint64_t allocated = std::min<uint64_t>(size, static_cast<uint64_t>(st.st_blocks) * 512);
  if (allocated >= size) return {};
  const uint64_t needed = size - allocated;
  auto refusal = [&](uint64_t free) {
    if (created)
      return path + ": not enough space: a pool of " + bytes_text(size) +
             " needs that much and its filesystem has " + bytes_text(free) +
             " free; nothing was created";
    return path + ": the pool file is sparse and its filesystem cannot fill it: " +
           bytes_text(needed) + " of its " + bytes_text(size) + " are not allocated, " +
           bytes_text(free) + " are free; free space there or move the pool (it is unchanged)";
  };
  // Ask first: a filesystem may allocate part of a request it cannot meet
  // and keep it.
  if (uint64_t free = free_bytes(fd); free < needed) return refusal(free);
  // fallocate(2), not posix_fallocate: where the filesystem cannot, glibc
  // would emulate it with a write per block, minutes for a large pool.
  // In pieces of 1 GiB, so that mkfs can show how far it is.
  constexpr uint64_t kPiece = uint64_t{1} << 30;
  for (uint64_t off = 0; off < size; off += kPiece) {
    const uint64_t len = std::min(kPiece, size - off);
    if (fallocate(fd, 0, static_cast<off_t>(off), static_cast<off_t>(len)) != 0) {
      const int e = errno;
      if (e == ENOSPC || e == EDQUOT) return refusal(free_bytes(fd));
      if (e == EOPNOTSUPP || e == EINVAL) {
        spdlog::warn("{}: cannot allocate the pool file ({}); if its filesystem runs full, requests "
                     "to the pool will fail with EIO",
                     path, strerror(e));
        return {};
      }
      return path + ": cannot allocate the pool file: " + strerror(e);
    }
    if (progress) progress(off + len, size);
  }
  return {};
}

Result<std::unique_ptr<Pool>> Pool::open(const std::string& path, const PoolOpenOptions& o) {
  std::unique_ptr<Pool> pool(new Pool());
  pool->path_ = path;
  int flags = (o.read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC;
  int fd = ::open(path.c_str(), flags);
  if (fd < 0 && errno == ENOENT && o.create_size > 0) {
    fd = ::open(path.c_str(), flags | O_CREAT | O_EXCL, 0600);
    if (fd >= 0) {
      // Every byte allocated now: a store into a hole of a full filesystem
      // would be a SIGBUS later. On failure nothing is left behind.
      std::string why;
      if (ftruncate(fd, static_cast<off_t>(o.create_size)) != 0)
        why = path + ": cannot size the pool file: " + strerror(errno);
      else
        why = allocate_pool_file(fd, path, /*created=*/true, o.allocate_progress);
      if (!why.empty()) {
        ::close(fd);
        ::unlink(path.c_str());
        spdlog::error("{}", why);
        return err(why.find("not enough space") != std::string::npos ? ENOSPC : EIO);
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
  if (S_ISCHR(st.st_mode) && !maybe_device_dax(st.st_rdev)) {
    spdlog::error("{}: a character device, but not a device DAX (/dev/daxX.Y)", path);
    return err(ENODEV);
  }
  PMEMFS_TRY(lock_pool(fd, path, o.lock_wait_seconds));
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (S_ISREG(st.st_mode) && file_size < layout::kMinPoolSize) {
    std::string why = describe_short_pool(fd, path, file_size);
    if (why.empty())
      why = path + ": pool is " + std::to_string(file_size) + " bytes; the minimum is " +
            std::to_string(layout::kMinPoolSize >> 20) + " MiB";
    spdlog::error("{}", why);
    return err(ENOSPC);
  }
  // A sparse pool (an older mkfs, truncate -s, cp) gets its space now or is
  // refused; a read-only one is only read, and reading a hole costs nothing.
  if (S_ISREG(st.st_mode) && !o.read_only && !pool->created_) {
    if (std::string why = allocate_pool_file(fd, path, /*created=*/false, o.allocate_progress);
        !why.empty()) {
      spdlog::error("{}", why);
      return err(ENOSPC);
    }
  }

  if (o.powerfail.enabled) {
    if (!S_ISREG(st.st_mode)) {
      spdlog::error("{}: powerfail_sim needs a pool file, not a device", path);
      return err(EINVAL);
    }
    if (o.read_only) {
      spdlog::error("{}: powerfail_sim cannot be read-only", path);
      return err(EINVAL);
    }
    pool->size_ = file_size;
    PMEMFS_TRY(pool->map_simulated(o.powerfail));
    return pool;
  }

  pool->plain_file_ = S_ISREG(st.st_mode);
  if (int rc = pmem2_source_from_fd(&pool->source_, fd); rc != 0) {
    spdlog::error("{}: cannot use it as a pool: {}", path, pmem2_reason(rc));
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
    spdlog::error("{}: cannot map the pool: {}", path, pmem2_reason(rc));
    return err(rc == -ENOMEM ? ENOMEM : EINVAL);
  }
  pool->base_ = static_cast<char*>(pmem2_map_get_address(pool->map_));
  pool->size_ = pmem2_map_get_size(pool->map_);
  pool->guard_ = bus_guard::Guard(pool->base_, pool->size_, path);
  switch (pmem2_map_get_store_granularity(pool->map_)) {
    case PMEM2_GRANULARITY_BYTE: pool->granularity_ = Granularity::kByte; break;
    case PMEM2_GRANULARITY_CACHE_LINE: pool->granularity_ = Granularity::kCacheLine; break;
    default: pool->granularity_ = Granularity::kPage; break;
  }
  pool->persist_fn_ = pmem2_get_persist_fn(pool->map_);
  pool->flush_fn_ = pmem2_get_flush_fn(pool->map_);
  pool->drain_fn_ = pmem2_get_drain_fn(pool->map_);
  if (pool->granularity_ == Granularity::kPage && o.persist == PersistMode::kCpu && !o.read_only) {
    // pmem2's functions for page granularity are msync(2); libpmem's are the
    // CPU's flush (CLWB, CLFLUSHOPT or CLFLUSH, chosen at run time) and
    // SFENCE, whatever the memory is.
    pool->persist_fn_ = pmem_persist;
    pool->flush_fn_ = pmem_flush;
    pool->drain_fn_ = pmem_drain;
    pool->cpu_persisted_pages_ = true;
  }
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
  // Both fault on a truncated file: the working copy where no page was
  // copied yet, the durable image wherever a persist copies to it.
  guard_ = bus_guard::Guard(base_, size_, path_);
  durable_guard_ = bus_guard::Guard(durable_, size_, path_);
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
  view->guard_ = bus_guard::Guard(view->base_, size_, view->path_);
  return view;
}

const char* to_string(PersistMode m) { return m == PersistMode::kMsync ? "msync" : "cpu"; }

const char* Pool::persist_method() const {
  if (sim_) return "simulated";
  if (anonymous_) return "memory";
  if (granularity_ != Granularity::kPage) return "pmem";
  return cpu_persisted_pages_ ? "cpu" : "msync";
}

std::vector<std::pair<uint64_t, uint64_t>> Pool::data_ranges(uint64_t off, uint64_t len) const {
  std::vector<std::pair<uint64_t, uint64_t>> out;
  if (!plain_file_ || fd_ < 0) {
    out.emplace_back(off, len);
    return out;
  }
  const uint64_t end = off + len;
  uint64_t at = off;
  while (at < end) {
    const off_t data = lseek(fd_, static_cast<off_t>(at), SEEK_DATA);
    if (data < 0) {
      if (errno == ENXIO) break;  // nothing but holes from here on
      out.emplace_back(at, end - at);  // cannot tell: all of it
      break;
    }
    if (static_cast<uint64_t>(data) >= end) break;
    off_t hole = lseek(fd_, data, SEEK_HOLE);
    const uint64_t stop = hole < 0 ? end : std::min<uint64_t>(end, static_cast<uint64_t>(hole));
    out.emplace_back(static_cast<uint64_t>(data), stop - static_cast<uint64_t>(data));
    at = stop;
  }
  return out;
}

Status Pool::write_back() {
  if (!cpu_persisted_pages_) return {};
  if (msync(base_, size_, MS_SYNC) != 0) {
    const int e = errno;
    spdlog::error("{}: writing the pool back to its file failed: {}", path_, strerror(e));
    return err(e);
  }
  return {};
}

Pool::~Pool() {
  // What persist points left in the host's page cache goes to the file's
  // media before the pool is let go (persist=cpu): an unmounted pool
  // survives a crash of the host.
  (void)write_back();
  // Before the ranges are unmapped (and their addresses reused).
  guard_.reset();
  durable_guard_.reset();
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
  drains_.fetch_add(1, std::memory_order_relaxed);
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
