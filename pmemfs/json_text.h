// The text of the JSON that the daemon and its tools write (control xattrs,
// pmemfs-ctl): every document is built as an nlohmann::ordered_json (keys stay
// in the order written, as the man page lists them) and turned into text here,
// so that no caller can throw from a FUSE callback or forget the padding.
#pragma once

#include <nlohmann/json_fwd.hpp>  // callers that build documents include json.hpp
#include <string>

namespace pmemfs {

using Json = nlohmann::ordered_json;

// Compact text ({"a":1,"b":"x"}). Never throws: a string that is not UTF-8
// has its bad bytes replaced by U+FFFD instead of making dump() throw.
std::string json_text(const Json& value);

// The compact text, padded with trailing spaces (valid JSON whitespace) to
// the length the text would have with every number at its widest: the length
// then depends only on the keys and strings, not on the counts, so it stays
// the same from one read to the next while the counters grow (getxattr(2)'s
// size probe stays right for the read that follows it).
std::string json_text_fixed_width(const Json& value);

}  // namespace pmemfs
