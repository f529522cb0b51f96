// Image: the pool as fsck sees it. The device or file is mapped (read-only
// unless opened for repair) and locked like the daemon locks it; every change
// fsck makes goes to a copy-on-write overlay of 4 KiB pages in DRAM, so
// checking a replayed journal or a planned repair never touches the media.
// commit() writes the overlay back, epoch by epoch (see set_epoch), each
// epoch durable before the next one starts.
//
// An Image can also view bytes someone else owns (from_memory): a pool the
// caller has mapped. Such an Image never writes to them; commit() refuses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "pmemfs/bus_guard.h"

struct pmem2_map;
struct pmem2_source;

namespace pmemfs::fsck {

class Image {
 public:
  enum class OpenError { kNone, kBusy, kOther };
  // Opens and locks path (O_RDWR when writable). On failure returns null,
  // sets *err_kind and *error to one line (without the path for kBusy).
  static std::unique_ptr<Image> open(const std::string& path, bool writable, OpenError* err_kind,
                                     std::string* error);
  // A read-only view of size bytes at base, which the caller owns, keeps
  // unchanged and valid for the Image's lifetime. Nothing is opened or
  // locked. Returns null with *error set when it cannot be a pool.
  static std::unique_ptr<Image> from_memory(const char* base, uint64_t size, std::string* error);
  ~Image();
  Image(const Image&) = delete;
  Image& operator=(const Image&) = delete;

  uint64_t size() const { return size_; }
  bool contains(uint64_t off, uint64_t len) const { return off <= size_ && len <= size_ - off; }

  // Reads through the overlay. REQUIRES: contains(off, len).
  void read(uint64_t off, void* dst, size_t len) const;
  template <typename T>
  T get(uint64_t off) const {
    T v;
    read(off, &v, sizeof(v));
    return v;
  }
  // crc32c of [off, off+len), continuing crc. REQUIRES: contains(off, len).
  uint32_t crc(uint64_t off, uint64_t len, uint32_t crc = 0) const;

  // Stages a write in the overlay. REQUIRES: contains(off, len).
  void write(uint64_t off, const void* src, size_t len);
  template <typename T>
  void put(uint64_t off, const T& v) {
    write(off, &v, sizeof(v));
  }

  // Pages first staged while epoch e is current are written back with every
  // other page of epoch e, after all pages of smaller epochs are durable.
  void set_epoch(int e) { epoch_ = e; }
  size_t staged_pages() const { return overlay_.size(); }

  // True once reading or writing the media hit a failed backing store (a
  // SIGBUS survived, see pmemfs/bus_guard.h): what was read there is zeros,
  // so nothing the check found can be trusted. failure() says where.
  bool failed() const { return guard_.failures() > 0; }
  std::string failure() const;

  // Writes the overlay to the media and makes it durable. Returns false with
  // *error set on failure, or when not opened writable (from_memory never is).
  bool commit(std::string* error);

 private:
  Image() = default;
  const unsigned char* page(uint64_t pno) const;

  struct Page {
    int epoch;
    std::unique_ptr<unsigned char[]> data;
  };
  int fd_ = -1;
  bool regular_ = false;  // a pool file (else a device DAX)
  pmem2_source* source_ = nullptr;
  pmem2_map* map_ = nullptr;
  const unsigned char* base_ = nullptr;   // what reads see under the overlay
  unsigned char* media_ = nullptr;        // the same bytes when writable, else null
  uint64_t size_ = 0;
  std::map<uint64_t, Page> overlay_;  // page number -> staged content
  bus_guard::Guard guard_;            // the mapping, when opened from a path
  int epoch_ = 0;
};

}  // namespace pmemfs::fsck
