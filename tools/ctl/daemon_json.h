// Reading the JSON the daemon serves in its control attributes (fuse/control.h):
// parsed with nlohmann-json, each member taken by name with its type checked,
// so that a malformed value or a missing key ends the command with one line
// that names what is wrong (and a non-zero exit), never with an exception.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace pmemfs::ctl {

// Keys keep the daemon's order, so that what is printed again reads as served.
using DaemonJson = nlohmann::ordered_json;

// Parses text, the value of `what` (e.g. "user.pmemfs.powerfail of /mnt"),
// into *out. On failure prints "pmemfs-ctl: unexpected answer from the
// daemon: WHAT: WHY" (not JSON, and where) and returns false.
bool parse_daemon_json(const std::string& text, const std::string& what, DaemonJson* out);

// obj[key] into *out. On failure (obj no object, key missing, or of another
// type) prints "... WHAT: "KEY" is missing" or "... is not a TYPE" and
// returns false.
bool json_member(const DaemonJson& obj, const char* key, const std::string& what, uint64_t* out);
bool json_member(const DaemonJson& obj, const char* key, const std::string& what, double* out);
bool json_member(const DaemonJson& obj, const char* key, const std::string& what, bool* out);
bool json_member(const DaemonJson& obj, const char* key, const std::string& what, std::string* out);

// Prints "pmemfs-ctl: unexpected answer from the daemon: WHAT: WHY"; returns false.
bool unexpected(const std::string& what, const std::string& why);

}  // namespace pmemfs::ctl
