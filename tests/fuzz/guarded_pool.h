// A Pool in DRAM for the parser targets, with an inaccessible page right
// after it: ASan does not watch mmap()ed memory, so without the guard a
// parser reading past the end of the pool could read a neighbouring mapping
// unnoticed instead of faulting.
#pragma once

#include <cstdint>
#include <memory>

#include "pmemfs/pool.h"

namespace pmemfs::fuzz {

class GuardedPool {
 public:
  // REQUIRES: size is a multiple of 4096. Aborts when memory is short.
  explicit GuardedPool(uint64_t size);
  ~GuardedPool();
  GuardedPool(const GuardedPool&) = delete;
  GuardedPool& operator=(const GuardedPool&) = delete;

  Pool& pool() { return *pool_; }
  // Zeroes the whole pool.
  void clear();

 private:
  std::unique_ptr<Pool> pool_;
  void* guard_ = nullptr;
};

}  // namespace pmemfs::fuzz
