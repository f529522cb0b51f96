// The picture of the pool (usage.h): the allocator's classes of 2 MiB cells,
// with those that are one 2 MiB extent of a file told apart by the files'
// maps.
#include <algorithm>

#include "pmemfs/fs_impl.h"

namespace pmemfs {

using layout::kHugeSize;

std::vector<uint64_t> FsImpl::huge_cells() {
  std::vector<uint64_t> out;
  for (uint64_t ino : inodes_->used_numbers()) {
    bool regular = false;
    {
      auto inode = get(ino);
      if (!inode.ok()) continue;
      regular = (*inode)->type() == S_IFREG;
    }
    if (regular) {
      auto m = map(ino);
      if (m.ok())
        for (const ExtentInfo& e : *m)
          if (e.huge)
            for (uint64_t off = e.pool_offset; off < e.pool_offset + e.length; off += kHugeSize)
              out.push_back((off - sb_.data_off) / kHugeSize);
    }
    // Loaded only to be looked at: let it go unless someone holds it.
    inodes_->evict(ino);
  }
  std::sort(out.begin(), out.end());
  return out;
}

Result<UsageSummary> FsImpl::usage() {
  const std::vector<uint64_t> huge = huge_cells();
  const Allocator::CellCounts c = alloc_->cell_counts();
  UsageSummary s;
  s.cells = alloc_->cells();
  s.free = c.free;
  s.partial = c.partial;
  s.huge = std::min<uint64_t>(huge.size(), s.cells - c.free - c.partial);
  s.full = s.cells - c.free - c.partial - s.huge;
  s.free_blocks = alloc_->free_blocks();
  s.free_whole_blocks = c.free * layout::kBlocksPerHuge;
  return s;
}

Result<std::string> FsImpl::usage_cells(uint64_t from, size_t max) {
  std::string cells = alloc_->cells_of(from, max);
  const std::vector<uint64_t> huge = huge_cells();
  for (auto it = std::lower_bound(huge.begin(), huge.end(), from);
       it != huge.end() && *it < from + cells.size(); ++it)
    if (cells[*it - from] == static_cast<char>(Cell::kFull)) cells[*it - from] = static_cast<char>(Cell::kHuge);
  return cells;
}

}  // namespace pmemfs
