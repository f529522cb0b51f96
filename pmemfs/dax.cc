#include "pmemfs/dax.h"

#include "pmemfs/layout.h"

namespace pmemfs {

void dax_revoke_range(DaxRevoker* r, uint64_t ino, uint64_t first_page, uint64_t last_page) {
  if (!r || first_page > last_page) return;
  constexpr uint64_t kHuge = layout::kBlocksPerHuge;  // a power of two
  const uint64_t first = first_page - first_page % kHuge;
  const uint64_t last = last_page | (kHuge - 1);  // saturates: UINT64_MAX stays
  r->revoke(ino, first, last);
}

}  // namespace pmemfs
