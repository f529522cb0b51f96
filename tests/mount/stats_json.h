// The daemon's stats (the control xattr user.pmemfs.stats, pmemfs.8 "JSON
// OUTPUT") for the mount tests: the raw text, and parsed with nlohmann-json so
// that tests check values by key rather than substrings of the text.
#pragma once

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

namespace pmemfs::test {

// The value as the daemon serves it (padded with spaces to a fixed width),
// or "getxattr: <error>".
inline std::string stats_text(const std::string& mnt) {
  char buf[1 << 16];
  const ssize_t n = ::getxattr(mnt.c_str(), "user.pmemfs.stats", buf, sizeof buf);
  if (n < 0) return "getxattr: " + std::string(std::strerror(errno));
  return std::string(buf, static_cast<size_t>(n));
}

// The stats as a JSON object; when they cannot be read or are not JSON, a
// string saying why (a test that looks up a key then fails and shows it).
inline nlohmann::json stats_json(const std::string& mnt) {
  const std::string text = stats_text(mnt);
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return "not a JSON object: " + text;
  return j;
}

// A counter at the top level of the stats (e.g. "journal_commits"); ~0 when
// missing or not a count.
inline uint64_t stats_counter(const nlohmann::json& stats, const std::string& key) {
  if (!stats.is_object()) return ~uint64_t{0};
  const auto it = stats.find(key);
  return it != stats.end() && it->is_number_unsigned() ? it->get<uint64_t>() : ~uint64_t{0};
}

}  // namespace pmemfs::test
