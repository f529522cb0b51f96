// Checksums and small predicates over the records of pmemfs/layout.h, in the
// one form fsck (and its tests, which plant damage with valid checksums) use.
#pragma once

#include <sys/stat.h>
#include <dirent.h>

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "pmemfs/crc32c.h"
#include "pmemfs/layout.h"

namespace pmemfs::fsck {

namespace L = ::pmemfs::layout;

// Each record's checksum covers the bytes before its checksum field
// (ExtentBlock: its 28-byte header), except DirentSlot, whose checksum covers
// the whole slot with the field zeroed.
inline uint32_t expected_checksum(const L::Superblock& r) {
  return crc32c(&r, offsetof(L::Superblock, checksum));
}
inline uint32_t expected_checksum(const L::StateRecord& r) {
  return crc32c(&r, offsetof(L::StateRecord, checksum));
}
inline uint32_t expected_checksum(const L::InodeRecord& r) {
  return crc32c(&r, offsetof(L::InodeRecord, checksum));
}
inline uint32_t expected_checksum(const L::Extent& r) {
  return crc32c(&r, offsetof(L::Extent, checksum));
}
inline uint32_t expected_checksum(const L::ExtentBlock& r) {
  return crc32c(&r, offsetof(L::ExtentBlock, checksum));
}
inline uint32_t expected_checksum(const L::XattrHeader& r) {
  return crc32c(&r, offsetof(L::XattrHeader, checksum));
}
inline uint32_t expected_checksum(const L::LaneHeader& r) {
  return crc32c(&r, offsetof(L::LaneHeader, checksum));
}
inline uint32_t expected_checksum(const L::DirentSlot& r) {
  L::DirentSlot c = r;
  c.checksum = 0;
  return crc32c(&c, sizeof(c));
}

// An OrphanBlock's checksum covers its 16 header bytes only (the slots
// change one by one), taken with the checksum field zero.
inline uint32_t orphan_block_checksum(const L::OrphanBlock& r) {
  unsigned char h[offsetof(L::OrphanBlock, inos)];
  std::memcpy(h, &r, sizeof(h));
  std::memset(h + offsetof(L::OrphanBlock, checksum), 0, sizeof(r.checksum));
  return crc32c(h, sizeof(h));
}

template <typename T>
bool checksum_ok(const T& r) {
  return r.checksum == expected_checksum(r);
}

// Sets r's checksum so that checksum_ok(r) holds.
template <typename T>
void seal(T& r) {
  r.checksum = expected_checksum(r);
}

inline bool all_zero(const void* p, size_t n) {
  const auto* b = static_cast<const unsigned char*>(p);
  for (size_t i = 0; i < n; ++i)
    if (b[i] != 0) return false;
  return true;
}

template <typename T>
bool all_zero(const T& r) {
  return all_zero(&r, sizeof(r));
}

// DT_* of an inode mode; DT_UNKNOWN for a type pmemfs does not store.
inline uint8_t dtype_of_mode(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return DT_REG;
    case S_IFDIR: return DT_DIR;
    case S_IFLNK: return DT_LNK;
    case S_IFCHR: return DT_CHR;
    case S_IFBLK: return DT_BLK;
    case S_IFIFO: return DT_FIFO;
    case S_IFSOCK: return DT_SOCK;
    default: return DT_UNKNOWN;
  }
}

inline const char* type_name(uint32_t mode) {
  switch (mode & S_IFMT) {
    case S_IFREG: return "regular file";
    case S_IFDIR: return "directory";
    case S_IFLNK: return "symlink";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    case S_IFIFO: return "fifo";
    case S_IFSOCK: return "socket";
    default: return "unknown type";
  }
}

inline uint64_t div_round_up(uint64_t v, uint64_t d) { return v / d + (v % d != 0); }

}  // namespace pmemfs::fsck
