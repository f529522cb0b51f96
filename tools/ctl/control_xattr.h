// Reading the daemon's control attributes (fuse/control.h) and the one way
// pmemfs-ctl reports a failure.
#pragma once

#include <cstdint>
#include <string>

#include "daemon_json.h"

namespace pmemfs::ctl {

// Prints "pmemfs-ctl: msg" to stderr; returns 1, the exit status of a failed command.
int fail(const std::string& msg);

// Reads control attribute name of path into out. On failure prints why (a
// path not on a pmemfs mount, or not its root when root_only) and returns false.
bool read_control(const std::string& path, const char* name, bool root_only, std::string* out);

// Reads the whole extent map of path as one JSON array: page after page of
// user.pmemfs.map.OFFSET (one value holds at most 64 KiB, some 800 extents),
// or user.pmemfs.map from a daemon without pages. Prints why on failure.
bool read_map(const std::string& path, DaemonJson* out);

}  // namespace pmemfs::ctl
