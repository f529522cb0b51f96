#include "pmemfs/crc32c.h"

#include <isa-l/crc.h>

#include <climits>

namespace pmemfs {

// ISA-L's crc32_iscsi is CRC-32C (iSCSI's checksum, RFC 3720) and picks the
// CPU's crc32 instruction (SSE4.2, with its carry-less multiply folding)
// at run time, with a portable fallback on machines without it: the same
// checksums either way, so a pool checked by fsck on another machine reads
// the same. It takes the running value without the pre- and post-inversion
// that crc32c() applies, and an int length.
uint32_t crc32c(const void* data, size_t len, uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint32_t state = ~crc;
  while (len > 0) {
    const int n = len > INT_MAX ? INT_MAX : static_cast<int>(len);
    state = crc32_iscsi(const_cast<unsigned char*>(p), n, state);
    p += n;
    len -= static_cast<size_t>(n);
  }
  return ~state;
}

}  // namespace pmemfs
