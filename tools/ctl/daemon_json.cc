#include "daemon_json.h"

#include "control_xattr.h"

namespace pmemfs::ctl {
namespace {

// The member, or nullptr after saying why there is none.
const DaemonJson* member(const DaemonJson& obj, const char* key, const std::string& what) {
  if (!obj.is_object()) {
    unexpected(what, "not a JSON object");
    return nullptr;
  }
  const auto it = obj.find(key);
  if (it == obj.end()) {
    unexpected(what, std::string("\"") + key + "\" is missing");
    return nullptr;
  }
  return &*it;
}

bool wrong_type(const char* key, const std::string& what, const char* type) {
  return unexpected(what, std::string("\"") + key + "\" is not " + type);
}

}  // namespace

bool unexpected(const std::string& what, const std::string& why) {
  fail("unexpected answer from the daemon: " + what + ": " + why);
  return false;
}

bool parse_daemon_json(const std::string& text, const std::string& what, DaemonJson* out) {
  try {
    *out = DaemonJson::parse(text);
    return true;
  } catch (const DaemonJson::exception& e) {
    // e.what() names the byte where the text stopped being JSON.
    return unexpected(what, std::string("not JSON (") + e.what() + ")");
  }
}

bool json_member(const DaemonJson& obj, const char* key, const std::string& what, uint64_t* out) {
  const DaemonJson* v = member(obj, key, what);
  if (!v) return false;
  if (!v->is_number_unsigned()) return wrong_type(key, what, "an unsigned integer");
  *out = v->get<uint64_t>();
  return true;
}

bool json_member(const DaemonJson& obj, const char* key, const std::string& what, double* out) {
  const DaemonJson* v = member(obj, key, what);
  if (!v) return false;
  if (!v->is_number()) return wrong_type(key, what, "a number");
  *out = v->get<double>();
  return true;
}

bool json_member(const DaemonJson& obj, const char* key, const std::string& what, bool* out) {
  const DaemonJson* v = member(obj, key, what);
  if (!v) return false;
  if (!v->is_boolean()) return wrong_type(key, what, "true or false");
  *out = v->get<bool>();
  return true;
}

bool json_member(const DaemonJson& obj, const char* key, const std::string& what, std::string* out) {
  const DaemonJson* v = member(obj, key, what);
  if (!v) return false;
  if (!v->is_string()) return wrong_type(key, what, "a string");
  *out = v->get<std::string>();
  return true;
}

}  // namespace pmemfs::ctl
