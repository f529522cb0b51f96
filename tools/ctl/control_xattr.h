// Reading the daemon's control attributes (fuse/control.h) and the one way
// pmemfs-ctl reports a failure.
#pragma once

#include <cstdint>
#include <string>

namespace pmemfs::ctl {

// Prints "pmemfs-ctl: msg" to stderr; returns 1, the exit status of a failed command.
int fail(const std::string& msg);

// Reads control attribute name of path into out. On failure prints why (a
// path not on a pmemfs mount, or not its root when root_only) and returns false.
bool read_control(const std::string& path, const char* name, bool root_only, std::string* out);

// Reads the whole extent map of path as one JSON array: page after page of
// user.pmemfs.map.OFFSET (one value holds at most 64 KiB, some 800 extents),
// or user.pmemfs.map from a daemon without pages. Prints why on failure.
bool read_map(const std::string& path, std::string* out);

// The daemon's JSON is flat and machine-written; a field scanner is enough.
// Each returns false when key is missing or of another type.
bool json_u64(const std::string& obj, const char* key, uint64_t* out);
bool json_bool(const std::string& obj, const char* key, bool* out);
bool json_double(const std::string& obj, const char* key, double* out);

// The daemon pads the numbers of user.pmemfs.stats to a fixed width (its
// length then stays put while it is read); for people, one space is enough.
// Spaces inside strings are kept.
std::string collapse_spaces(const std::string& json);

}  // namespace pmemfs::ctl
