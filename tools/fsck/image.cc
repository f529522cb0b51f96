#include "tools/fsck/image.h"

#include <fcntl.h>
#include <libpmem2.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "pmemfs/crc32c.h"
#include "pmemfs/pool.h"

namespace pmemfs::fsck {
namespace {

constexpr uint64_t kPage = 4096;
// Smaller than the two superblocks and the state record cannot be a pool;
// the superblock check reads the first two blocks unconditionally.
constexpr uint64_t kMinImage = 3 * kPage;

// pmem2 leaves its message empty for some errors (a /dev/null): never end a
// line in ": ".
std::string pmem2_error(const char* what, int rc) {
  std::string m = pmem2_errormsg();
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  if (m.empty()) m = rc < 0 && rc > -4096 ? std::strerror(-rc) : "libpmem2 error " + std::to_string(rc);
  return std::string(what) + ": " + m;
}

// A character device can be a pool only as a device DAX. False only when
// sysfs says it is something else.
bool maybe_device_dax(dev_t rdev) {
  const std::string sys = "/sys/dev/char/" + std::to_string(major(rdev)) + ":" +
                          std::to_string(minor(rdev)) + "/subsystem";
  char link[4096];
  ssize_t n = readlink(sys.c_str(), link, sizeof(link) - 1);
  if (n <= 0) return true;
  link[n] = '\0';
  const char* base = std::strrchr(link, '/');
  return std::strcmp(base ? base + 1 : link, "dax") == 0;
}

}  // namespace

std::unique_ptr<Image> Image::open(const std::string& path, bool writable, OpenError* err_kind,
                                   std::string* error) {
  *err_kind = OpenError::kOther;
  std::unique_ptr<Image> img(new Image());
  img->fd_ = ::open(path.c_str(), (writable ? O_RDWR : O_RDONLY) | O_CLOEXEC);
  if (img->fd_ < 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  struct stat st;
  if (fstat(img->fd_, &st) != 0) {
    *error = std::strerror(errno);
    return nullptr;
  }
  img->regular_ = S_ISREG(st.st_mode);
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode)) {
    *error = "not a pool file or a device DAX";
    return nullptr;
  }
  if (S_ISCHR(st.st_mode) && !maybe_device_dax(st.st_rdev)) {
    *error = "a character device, but not a device DAX (/dev/daxX.Y)";
    return nullptr;
  }
  // The daemon holds this lock for as long as the pool is mounted.
  if (flock(img->fd_, LOCK_EX | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      *err_kind = OpenError::kBusy;
      *error = "in use (mounted?)";
    } else {
      *error = std::string("cannot lock: ") + std::strerror(errno);
    }
    return nullptr;
  }
  if (int rc = pmem2_source_from_fd(&img->source_, img->fd_); rc != 0) {
    *error = pmem2_error("cannot use it", rc);
    return nullptr;
  }
  size_t size = 0;
  if (int rc = pmem2_source_size(img->source_, &size); rc != 0) {
    *error = pmem2_error("cannot get its size", rc);
    return nullptr;
  }
  img->size_ = size;
  if (size < kMinImage) {
    *error = "too small to be a pmemfs pool";
    return nullptr;
  }
  // Repairs store to the mapping: into a hole of a full filesystem that is
  // a SIGBUS. Allocate a sparse pool first, or refuse without a change.
  if (writable && img->regular_) {
    std::string why = allocate_pool_file(img->fd_, path, /*created=*/false);
    if (!why.empty()) {
      // The path is the caller's to print.
      *error = why.compare(0, path.size() + 2, path + ": ") == 0 ? why.substr(path.size() + 2) : why;
      return nullptr;
    }
  }
  pmem2_config* cfg = nullptr;
  if (pmem2_config_new(&cfg) != 0) {
    *error = pmem2_error("pmem2_config_new", -ENOMEM);
    return nullptr;
  }
  pmem2_config_set_required_store_granularity(cfg, PMEM2_GRANULARITY_PAGE);
  pmem2_config_set_protection(cfg, writable ? PMEM2_PROT_READ | PMEM2_PROT_WRITE
                                            : PMEM2_PROT_READ);
  int rc = pmem2_map_new(&img->map_, cfg, img->source_);
  pmem2_config_delete(&cfg);
  if (rc != 0) {
    *error = pmem2_error("cannot map it", rc);
    return nullptr;
  }
  img->media_ = static_cast<unsigned char*>(pmem2_map_get_address(img->map_));
  img->guard_ = bus_guard::Guard(img->media_, pmem2_map_get_size(img->map_), path);
  img->base_ = img->media_;
  if (!writable) img->media_ = nullptr;  // mapped PROT_READ: commit() must not try
  *err_kind = OpenError::kNone;
  return img;
}

std::unique_ptr<Image> Image::from_memory(const char* base, uint64_t size, std::string* error) {
  if (base == nullptr) {
    *error = "no image (null address)";
    return nullptr;
  }
  if (size < kMinImage) {
    *error = "too small to be a pmemfs pool";
    return nullptr;
  }
  std::unique_ptr<Image> img(new Image());
  img->base_ = reinterpret_cast<const unsigned char*>(base);
  img->size_ = size;
  return img;
}

Image::~Image() {
  guard_.reset();  // before the range is unmapped
  if (map_ != nullptr) pmem2_map_delete(&map_);
  if (source_ != nullptr) pmem2_source_delete(&source_);
  if (fd_ >= 0) ::close(fd_);  // drops the flock
}

const unsigned char* Image::page(uint64_t pno) const {
  if (!overlay_.empty()) {
    auto it = overlay_.find(pno);
    if (it != overlay_.end()) return it->second.data.get();
  }
  return base_ + pno * kPage;
}

void Image::read(uint64_t off, void* dst, size_t len) const {
  auto* out = static_cast<unsigned char*>(dst);
  while (len > 0) {
    uint64_t in = off % kPage;
    size_t n = std::min<uint64_t>(len, kPage - in);
    std::memcpy(out, page(off / kPage) + in, n);
    out += n;
    off += n;
    len -= n;
  }
}

uint32_t Image::crc(uint64_t off, uint64_t len, uint32_t c) const {
  while (len > 0) {
    uint64_t in = off % kPage;
    uint64_t n = std::min<uint64_t>(len, kPage - in);
    c = crc32c(page(off / kPage) + in, n, c);
    off += n;
    len -= n;
  }
  return c;
}

void Image::write(uint64_t off, const void* src, size_t len) {
  const auto* in = static_cast<const unsigned char*>(src);
  while (len > 0) {
    uint64_t pno = off / kPage;
    uint64_t at = off % kPage;
    size_t n = std::min<uint64_t>(len, kPage - at);
    auto it = overlay_.find(pno);
    if (it == overlay_.end()) {
      Page p{epoch_, std::make_unique<unsigned char[]>(kPage)};
      // The last page of an odd-sized file is partial; the rest stays zero.
      uint64_t valid = std::min<uint64_t>(kPage, size_ - pno * kPage);
      std::memcpy(p.data.get(), base_ + pno * kPage, valid);
      it = overlay_.emplace(pno, std::move(p)).first;
    }
    std::memcpy(it->second.data.get() + at, in, n);
    in += n;
    off += n;
    len -= n;
  }
}

bool Image::commit(std::string* error) {
  if (media_ == nullptr) {
    *error = "opened read-only";
    return false;
  }
  if (failed()) {
    *error = failure() + "; nothing was written";
    return false;
  }
  pmem2_persist_fn persist = pmem2_get_persist_fn(map_);
  std::set<int> epochs;
  for (auto& [pno, p] : overlay_) epochs.insert(p.epoch);
  for (int e : epochs) {
    for (auto& [pno, p] : overlay_) {
      if (p.epoch != e) continue;
      uint64_t len = std::min<uint64_t>(kPage, size_ - pno * kPage);
      unsigned char* dst = media_ + pno * kPage;
      if (std::memcmp(dst, p.data.get(), len) == 0) continue;
      std::memcpy(dst, p.data.get(), len);
      persist(dst, len);  // page granularity: msync; device DAX: flush + drain
    }
  }
  overlay_.clear();
  if (failed()) {
    *error = failure() + " while writing the repairs; run fsck.pmemfs again";
    return false;
  }
  // persist() reports no error; a pool file's write-back errors surface here.
  if (regular_ && fdatasync(fd_) != 0) {
    *error = std::string("cannot write back: ") + std::strerror(errno);
    return false;
  }
  return true;
}

std::string Image::failure() const {
  if (!failed()) return {};
  return "I/O error at offset " + std::to_string(guard_.first_failure_offset()) +
         ": the pool's backing store failed (the pool file was truncated, or its filesystem is "
         "full)";
}

}  // namespace pmemfs::fsck
