#include "top.h"

#include <poll.h>
#include <signal.h>
#include <sys/statvfs.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "control_xattr.h"

namespace pmemfs::ctl {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Sample {
  json stats;
  struct statvfs space {};
  Clock::time_point at;
};

bool take(const std::string& mnt, Sample* s) {
  std::string text;
  if (!read_control(mnt, "user.pmemfs.stats", /*root_only=*/true, &text)) return false;
  s->stats = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (s->stats.is_discarded() || !s->stats.is_object()) {
    fail(mnt + ": the daemon's stats are not JSON");
    return false;
  }
  if (statvfs(mnt.c_str(), &s->space) != 0) {
    fail(mnt + ": statvfs: " + std::strerror(errno));
    return false;
  }
  s->at = Clock::now();
  return true;
}

uint64_t u64(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

double dbl(const json& o, const char* key) {
  auto it = o.find(key);
  return it != o.end() && it->is_number() ? it->get<double>() : 0.0;
}

// What happened between a and b, as the JSON of --once --json (pmemfs.8,
// "pmemfs-ctl top"). The view's own requests are not counted: reading b's
// stats (a GETXATTR for the size, one for the value) and a's statvfs (one
// STATFS).
json interval(const std::string& mnt, const Sample& a, const Sample& b) {
  const double secs = std::max(1e-6, std::chrono::duration<double>(b.at - a.at).count());
  auto rate = [&](const char* key) {
    return static_cast<double>(u64(b.stats, key) - std::min(u64(b.stats, key), u64(a.stats, key))) / secs;
  };
  json out;
  out["mountpoint"] = mnt;
  out["interval_s"] = std::round(secs * 1000) / 1000;
  out["transport"] = b.stats.value("transport", "");
  out["persistence"] = b.stats.value("persistence", "");
  json requests = json::object();
  const json none = json::object();
  const json& ra = a.stats.contains("requests") ? a.stats["requests"] : none;
  const json& rb = b.stats.contains("requests") ? b.stats["requests"] : none;
  for (auto it = rb.begin(); it != rb.end(); ++it) {
    const json& before = ra.contains(it.key()) ? ra[it.key()] : none;
    uint64_t n = u64(*it, "count") - std::min(u64(*it, "count"), u64(before, "count"));
    if (it.key() == "getxattr") n -= std::min<uint64_t>(n, 2);
    if (it.key() == "statfs") n -= std::min<uint64_t>(n, 1);
    if (n == 0) continue;
    requests[it.key()] = {{"count", n},
                          {"per_s", static_cast<double>(n) / secs},
                          {"p50_us", dbl(*it, "p50_us")},
                          {"p99_us", dbl(*it, "p99_us")}};
  }
  out["requests"] = requests;
  out["faults_per_s"] = {{"hole", rate("hole_faults")},
                         {"pte", rate("pte_faults")},
                         {"pmd", rate("pmd_faults")}};
  out["upgrades_per_s"] = rate("upgrades");
  out["retries_per_s"] = rate("retries");
  out["hole_evictions_per_s"] = rate("hole_evictions");
  out["journal_commits_per_s"] = rate("journal_commits");
  out["persists_per_s"] = rate("persists");
  out["fsync_per_s"] = rate("fsync_calls");
  out["fsync_bytes_per_s"] = rate("fsync_bytes_flushed");
  const uint64_t bsize = b.space.f_frsize ? b.space.f_frsize : b.space.f_bsize;
  const uint64_t free_blocks = u64(b.stats, "free_blocks");
  const uint64_t huge = u64(b.stats, "free_huge_regions");
  json space;
  space["total_bytes"] = static_cast<uint64_t>(b.space.f_blocks) * bsize;
  space["free_bytes"] = static_cast<uint64_t>(b.space.f_bfree) * bsize;
  space["free_2mib_regions"] = huge;
  // Of the free space, the share that lies in whole free 2 MiB regions.
  space["free_in_whole_2mib_regions"] =
      free_blocks ? std::min(1.0, static_cast<double>(huge * 512) / static_cast<double>(free_blocks)) : 0.0;
  out["space"] = space;
  return out;
}

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int u = 0;
  while (b >= 1024 && u < 5) {
    b /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.1f %s" : "%.0f %s", b, units[u]);
  return buf;
}

// The view: the interval's figures, busiest requests first.
std::string render(const json& v, bool interactive) {
  std::string s;
  char line[256];
  std::snprintf(line, sizeof line, "pmemfs-ctl top  %s  transport %s  persistence %s%s\n\n",
                v["mountpoint"].get<std::string>().c_str(), v["transport"].get<std::string>().c_str(),
                v["persistence"].get<std::string>().c_str(), interactive ? "   (q quits)" : "");
  s += line;
  std::snprintf(line, sizeof line, "%12s %10s %10s  %s\n", "requests/s", "p50 us", "p99 us", "opcode");
  s += line;
  std::vector<std::pair<double, std::string>> order;
  for (auto it = v["requests"].begin(); it != v["requests"].end(); ++it)
    order.emplace_back(-(*it)["per_s"].get<double>(), it.key());
  std::sort(order.begin(), order.end());
  if (order.empty()) s += "           -          -          -  (no requests)\n";
  for (const auto& [neg, op] : order) {
    const json& r = v["requests"][op];
    std::snprintf(line, sizeof line, "%12.0f %10.1f %10.1f  %s\n", -neg, r["p50_us"].get<double>(),
                  r["p99_us"].get<double>(), op.c_str());
    s += line;
  }
  const json& f = v["faults_per_s"];
  std::snprintf(line, sizeof line,
                "\nfaults/s    hole %.0f  pte %.0f  pmd %.0f   upgrades %.0f  retries %.0f  "
                "hole evictions %.0f\n",
                f["hole"].get<double>(), f["pte"].get<double>(), f["pmd"].get<double>(),
                v["upgrades_per_s"].get<double>(), v["retries_per_s"].get<double>(),
                v["hole_evictions_per_s"].get<double>());
  s += line;
  std::snprintf(line, sizeof line,
                "journal     commits/s %.0f  persists/s %.0f\nfsync       calls/s %.0f  "
                "flushed %s/s\n",
                v["journal_commits_per_s"].get<double>(), v["persists_per_s"].get<double>(),
                v["fsync_per_s"].get<double>(),
                human_bytes(v["fsync_bytes_per_s"].get<double>()).c_str());
  s += line;
  const json& sp = v["space"];
  const double total = static_cast<double>(sp["total_bytes"].get<uint64_t>());
  const double free = static_cast<double>(sp["free_bytes"].get<uint64_t>());
  std::snprintf(line, sizeof line,
                "space       %s free of %s (%.0f%%), %.0f%% of it in whole 2 MiB regions (%llu)\n",
                human_bytes(free).c_str(), human_bytes(total).c_str(),
                total > 0 ? 100 * free / total : 0.0,
                100 * sp["free_in_whole_2mib_regions"].get<double>(),
                static_cast<unsigned long long>(sp["free_2mib_regions"].get<uint64_t>()));
  s += line;
  return s;
}

// The terminal in single-key mode for the view's lifetime.
class KeyMode {
 public:
  KeyMode() {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= ~static_cast<tcflag_t>(ICANON | ECHO);
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~KeyMode() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }
  KeyMode(const KeyMode&) = delete;
  KeyMode& operator=(const KeyMode&) = delete;

 private:
  termios saved_{};
  bool active_ = false;
};

// Waits up to seconds; true when q was pressed (or stdin ended).
bool wait_for_quit(double seconds, bool keys) {
  const auto until = Clock::now() + std::chrono::duration<double>(seconds);
  while (!g_stop) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now());
    if (left.count() <= 0) return false;
    pollfd p{STDIN_FILENO, POLLIN, 0};
    const int n = poll(keys ? &p : nullptr, keys ? 1 : 0, static_cast<int>(left.count()));
    if (n > 0) {
      char c = 0;
      const ssize_t r = read(STDIN_FILENO, &c, 1);
      if (r == 0) return true;  // end of input
      if (r == 1 && (c == 'q' || c == 'Q')) return true;
    }
  }
  return true;
}

}  // namespace

int top(const std::string& mnt, const TopOptions& opts) {
  if (!(opts.interval > 0) || opts.interval > 3600) {
    fail("top: --interval must be above 0 and at most 3600 seconds");
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  Sample prev;
  if (!take(mnt, &prev)) return 1;
  if (opts.once) {
    if (wait_for_quit(opts.interval, false) && g_stop) return 1;
    Sample now;
    if (!take(mnt, &now)) return 1;
    const json v = interval(mnt, prev, now);
    // A mount point that is not UTF-8 gets U+FFFD, never an exception.
    if (opts.json) std::printf("%s\n", v.dump(2, ' ', false, json::error_handler_t::replace).c_str());
    else std::fputs(render(v, false).c_str(), stdout);
    return 0;
  }
  const bool screen = isatty(STDOUT_FILENO);
  const bool keys = screen && isatty(STDIN_FILENO);
  KeyMode key_mode;
  for (;;) {
    if (wait_for_quit(opts.interval, keys)) break;
    Sample now;
    if (!take(mnt, &now)) return 1;
    const std::string view = render(interval(mnt, prev, now), keys);
    // A screen is redrawn in place; a pipe gets one block per interval.
    if (screen) std::printf("\033[H\033[2J%s", view.c_str());
    else std::printf("%s\n", view.c_str());
    std::fflush(stdout);
    prev = now;
  }
  return 0;
}

}  // namespace pmemfs::ctl
