// CRC-32C (Castagnoli), the checksum of every metadata record in layout.h.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pmemfs {

// Continues a running CRC; start with crc = 0.
uint32_t crc32c(const void* data, size_t len, uint32_t crc = 0);

// Checksum of a record whose last 4 or 8 bytes hold the checksum field:
// covers the bytes before the field at offset field_off.
inline uint32_t record_checksum(const void* rec, size_t field_off) {
  return crc32c(rec, field_off);
}

}  // namespace pmemfs
