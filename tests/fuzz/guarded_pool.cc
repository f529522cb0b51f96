#include "guarded_pool.h"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace pmemfs::fuzz {

GuardedPool::GuardedPool(uint64_t size) {
  // Reserve the pool's range and the guard page after it, then give the
  // range back: the kernel places new mappings top down, at the top of the
  // highest gap that fits, which is that range unless some higher gap fits
  // the pool but not the guard. Then the pool in the way is kept (so the next
  // try lands elsewhere) and we try again.
  std::vector<std::unique_ptr<Pool>> in_the_way;
  for (int attempt = 0; attempt < 16; ++attempt) {
    void* r = mmap(nullptr, size + 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) break;
    char* guard = static_cast<char*>(r) + size;
    munmap(r, size);
    auto pool = Pool::in_memory(size);
    if (pool && pool->base() + size == guard) {
      pool_ = std::move(pool);
      guard_ = guard;
      return;
    }
    munmap(guard, 4096);
    if (pool) in_the_way.push_back(std::move(pool));
  }
  std::fprintf(stderr, "fuzz: cannot map a guarded pool of %llu bytes\n",
               static_cast<unsigned long long>(size));
  std::abort();
}

GuardedPool::~GuardedPool() {
  if (guard_) munmap(guard_, 4096);
}

void GuardedPool::clear() { std::memset(pool_->base(), 0, pool_->size()); }

}  // namespace pmemfs::fuzz
