// pmemfs/json_text.h: the daemon's JSON text never throws and, padded, keeps
// its length while its numbers grow.
#include "pmemfs/json_text.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>

namespace pmemfs {
namespace {

TEST(JsonText, IsCompactAndKeepsTheOrderOfTheKeys) {
  EXPECT_EQ(R"({"b":1,"a":"x","c":[true,0.5]})",
            json_text(Json{{"b", 1u}, {"a", "x"}, {"c", Json::array({true, 0.5})}}));
}

TEST(JsonText, BadUtf8IsReplacedNotThrown) {
  std::string text;
  EXPECT_NO_THROW(text = json_text(Json{{"name", std::string("a\xff") + "b"}}));
  EXPECT_EQ("{\"name\":\"a\xef\xbf\xbd" "b\"}", text);  // U+FFFD
}

TEST(JsonText, FixedWidthTextKeepsItsLengthAsNumbersGrow) {
  auto doc = [](uint64_t n, double us, int64_t i) {
    return Json{{"count", n}, {"p50_us", us}, {"delta", i}, {"name", "io_uring"},
                {"inner", Json{{"count", n}}}};
  };
  const std::string small = json_text_fixed_width(doc(0, 0.0, 0));
  for (const Json& d : {doc(7, 12.5, -3), doc(std::numeric_limits<uint64_t>::max(), 1.2345678901234567e300,
                                               std::numeric_limits<int64_t>::min()),
                        doc(123456789, 0.1, 42)}) {
    const std::string text = json_text_fixed_width(d);
    EXPECT_EQ(small.size(), text.size()) << text;
    // Padding is trailing whitespace: the text still parses to the document.
    EXPECT_EQ(d, Json::parse(text)) << text;
  }
  EXPECT_EQ(json_text(doc(0, 0.0, 0)), small.substr(0, small.find_last_not_of(' ') + 1));
}

}  // namespace
}  // namespace pmemfs
