// Copies of file data between callers' buffers and pool pages.
//
// File data is memory that concurrent readers and writers of the same bytes
// may race on by design: POSIX leaves overlapping read(2)/write(2) unordered
// and the kernel's page cache copies without locks too. ThreadSanitizer would
// report those user-level races and drown the ones in our own metadata, so
// TSan builds copy with relaxed atomics; every other build uses memcpy.
#pragma once

#include <cstddef>
#include <cstring>

namespace pmemfs {

inline void copy_data(void* dst, const void* src, size_t n) {
#if defined(__SANITIZE_THREAD__)
  auto* d = static_cast<unsigned char*>(dst);
  const auto* s = static_cast<const unsigned char*>(src);
  for (size_t i = 0; i < n; ++i) __atomic_store_n(d + i, __atomic_load_n(s + i, __ATOMIC_RELAXED), __ATOMIC_RELAXED);
#else
  std::memcpy(dst, src, n);
#endif
}

}  // namespace pmemfs
