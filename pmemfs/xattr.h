// Extended attributes of one inode: each in its own run of blocks (an
// XattrHeader, the name, the value), chained from InodeRecord::xattr_head.
// The chain is read into DRAM on first use; values are at most 64 KiB.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pmemfs/result.h"

namespace pmemfs {

class Allocator;
class Pool;

struct XattrEntry {
  std::string name;
  std::string value;
  uint64_t block;   // pool block of the run (its XattrHeader)
  uint32_t nblocks;
};

// Reads the chain starting at head; EUCLEAN when a header or its data is
// damaged, or a run leaves the data area of alloc (which frees the runs).
Result<std::vector<XattrEntry>> load_xattrs(const Pool& pool, const Allocator& alloc, uint64_t head,
                                            uint64_t ino);
// Checks the namespace and sizes of a name/value as Linux does.
Status check_xattr(std::string_view name, size_t value_len);

}  // namespace pmemfs
