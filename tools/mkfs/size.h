// Parsing of sizes given on command lines: 4096, 64M, 4G, 1T (binary units).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace pmemfs::tools {

std::optional<uint64_t> parse_size(std::string_view text);

}  // namespace pmemfs::tools
