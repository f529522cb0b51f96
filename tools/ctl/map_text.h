// Turns the JSON extent list the daemon serves into pmemfs-ctl's text table.
#pragma once

#include <string>

namespace pmemfs::ctl {

// Returns the table, or an empty string when json is not the daemon's format.
std::string map_json_to_text(const std::string& json);

}  // namespace pmemfs::ctl
