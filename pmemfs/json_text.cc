#include "pmemfs/json_text.h"

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

namespace pmemfs {

namespace {

// value with each number replaced by the widest number of its type: 20
// digits for an unsigned, a sign and 19 digits for a signed, and 24
// characters for a double (a sign, 17 significant digits, a point and a
// three-digit exponent: dump() writes the shortest text that reads back).
Json widest(const Json& value) {
  switch (value.type()) {
    case Json::value_t::number_unsigned: return std::numeric_limits<uint64_t>::max();
    case Json::value_t::number_integer: return std::numeric_limits<int64_t>::min();
    case Json::value_t::number_float: return -2.2250738585072014e-308;
    case Json::value_t::object:
    case Json::value_t::array: {
      Json out = value;
      for (auto& v : out) v = widest(v);
      return out;
    }
    default: return value;
  }
}

}  // namespace

std::string json_text(const Json& value) {
  return value.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::string json_text_fixed_width(const Json& value) {
  std::string text = json_text(value);
  const size_t width = json_text(widest(value)).size();
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

}  // namespace pmemfs
