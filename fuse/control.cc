#include "fuse/control.h"

#include "dax/protocol.h"
#include "fuse/dax_server.h"
#include "fuse/power_cut.h"
#include "fuse/remount.h"
#include "fuse/transport.h"

#include <fuse_lowlevel.h>  // FUSE_ROOT_ID
#include <unistd.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "pmemfs/json_text.h"

namespace pmemfs::daemon {

bool is_control_xattr(std::string_view name) {
  return name == kStatsXattr || name == kMapXattr || name.starts_with(kMapPagePrefix) ||
         name == kUsageXattr || name.starts_with(kUsageCellsPrefix) ||
         name == kPowerFailXattr || name == kPowerCutXattr || is_remount_xattr(name) ||
         name == dax::kDaxXattr;
}

// remount.h: answered by remount_getxattr; never set, removed or listed.
bool is_remount_xattr(std::string_view name) { return name.starts_with(kRemountPrefix); }

std::string extents_to_json(const std::vector<ExtentInfo>& extents) {
  Json out = Json::array();
  for (const ExtentInfo& e : extents)
    out.push_back(Json{{"file_offset", e.file_offset},
                       {"length", e.length},
                       {"pool_offset", e.pool_offset},
                       {"size_class", e.huge ? "2M" : "4K"}});
  return json_text(out);
}

namespace {

std::string powerfail_to_json(const OpsContext& c) {
  return json_text(Json{{"powerfail_sim", c.powerfail.enabled},
                        {"evict_probability", c.powerfail.evict_probability},
                        {"power_cut", c.power_cut.load()},
                        {"syncs", c.syncs.load()},
                        {"pid", static_cast<int64_t>(getpid())}});
}

// The library's counters, then the transport's: its name and the requests
// by opcode (transport.h). Padded to a fixed width: the text keeps its length
// while the counts grow.
std::string stats_to_json(const OpsContext& c) {
  Json stats = c.fs->stats().to_json();
  if (c.transport) stats.update(c.transport->stats_json_members());
  // Direct access (dax_server.h): present, zeros included, whenever the
  // daemon offers it, so that the text's length does not depend on clients.
  if (c.dax) stats["dax"] = c.dax->stats_json();
  return json_text_fixed_width(stats);
}

}  // namespace

std::optional<Result<std::string>> control_getxattr(OpsContext& c, uint64_t ino,
                                                    std::string_view name) {
  if (name == kStatsXattr || name == kPowerFailXattr) {
    // Only the root carries them, so `getfattr -d` on ordinary files stays quiet.
    if (ino != FUSE_ROOT_ID) return Result<std::string>(err(ENODATA));
    return Result<std::string>(name == kStatsXattr ? stats_to_json(c) : powerfail_to_json(c));
  }
  if (name == kUsageXattr || name.starts_with(kUsageCellsPrefix)) {
    if (ino != FUSE_ROOT_ID) return Result<std::string>(err(ENODATA));
    if (name == kUsageXattr) {
      auto u = c.fs->usage();
      if (!u) return Result<std::string>(err(u.error()));
      return Result<std::string>(u->to_json());
    }
    const std::string_view digits = name.substr(kUsageCellsPrefix.size());
    uint64_t from = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), from);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      return Result<std::string>(err(ENODATA));
    return c.fs->usage_cells(from, kUsagePageCells);
  }
  if (name == kMapXattr) {
    auto m = c.fs->map(ino);
    if (!m) return Result<std::string>(err(m.error()));
    return Result<std::string>(extents_to_json(*m));
  }
  if (name.starts_with(kMapPagePrefix)) {
    const std::string_view digits = name.substr(kMapPagePrefix.size());
    uint64_t from = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), from);
    if (digits.empty() || ec != std::errc() || end != digits.data() + digits.size())
      return Result<std::string>(err(ENODATA));
    auto m = c.fs->map(ino, from, kMapPageEntries);
    if (!m) return Result<std::string>(err(m.error()));
    return Result<std::string>(extents_to_json(*m));
  }
  if (name == kPowerCutXattr) return Result<std::string>(err(ENODATA));  // set only
  return std::nullopt;
}

std::optional<int> control_setxattr(OpsContext& c, uint64_t ino, std::string_view name,
                                    uid_t caller, pid_t caller_pid) {
  if (!is_control_xattr(name)) return std::nullopt;
  if (name != kPowerCutXattr || ino != FUSE_ROOT_ID) return EPERM;  // computed, not stored
  return cut_power(c, caller, caller_pid);
}

}  // namespace pmemfs::daemon
