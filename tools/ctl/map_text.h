// Turns the JSON extent list the daemon serves into pmemfs-ctl's text table.
#pragma once

#include <string>

#include "daemon_json.h"

namespace pmemfs::ctl {

// The table of extents, an array as read_map returns it; false (after
// printing what is wrong, naming `what`) when an entry is not the daemon's
// format.
bool map_json_to_text(const DaemonJson& extents, const std::string& what, std::string* text);

}  // namespace pmemfs::ctl
