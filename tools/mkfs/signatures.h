// What a source already holds, before mkfs.pmemfs overwrites it: a pmemfs
// pool (read here), or any filesystem, swap area, RAID member or partition
// table libblkid knows. Like mkfs.ext4, mkfs.pmemfs refuses such a source
// without -f, and with -f erases the signatures libblkid found (so that
// nothing later takes the pool for what it was before).
#pragma once

#include <string>

namespace pmemfs::tools {

// "a pmemfs filesystem (label X)", "an ext4 filesystem (label X)", "a dos
// partition table"... or "" when nothing is recognised (or source is
// missing). *error gets one line when the source cannot be probed at all.
std::string existing_signature(const std::string& source, std::string* error);

// Erases every signature libblkid finds on source. Returns "" or the error.
std::string wipe_signatures(const std::string& source);

}  // namespace pmemfs::tools
