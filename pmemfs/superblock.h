// Reading and validating the superblock and the state record.
#pragma once

#include <string>

#include "pmemfs/layout.h"
#include "pmemfs/result.h"

namespace pmemfs {

class Pool;

void seal(layout::Superblock& sb);
void seal(layout::StateRecord& st);
// Empty when sb is a valid superblock for a pool of pool_size bytes, else
// what is wrong with it.
std::string superblock_problem(const layout::Superblock& sb, uint64_t pool_size);
// The primary superblock, or the copy when the primary is damaged (logged).
// EINVAL (with one clear message) when neither is usable.
Result<layout::Superblock> read_superblock(const Pool& pool);

}  // namespace pmemfs
