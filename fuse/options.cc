#include "fuse/options.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <string_view>
#include <sys/mount.h>

#include "fuse/mount_flags.h"

namespace pmemfs::daemon {
namespace {

// Mount options libfuse understands (lib/mount.c and lib/fuse_lowlevel.c of
// 3.14), passed through unchanged. Anything else is rejected here rather than
// by libfuse, so that every unknown word is reported at once and by name.
constexpr auto kFuseFlags = std::to_array<std::string_view>({
    "allow_root", "auto_unmount", "suid", "nosuid", "dev", "nodev", "exec", "noexec",
    "async", "sync", "dirsync", "default_permissions",
});
constexpr auto kFuseValued = std::to_array<std::string_view>({
    "fsname=", "subtype=", "context=", "fscontext=", "defcontext=", "rootcontext=",
});

// Splits a -o list at commas; "\," keeps a literal comma (as libfuse does).
std::vector<std::string> split_options(const std::string& list) {
  std::vector<std::string> out;
  std::string cur;
  for (size_t i = 0; i < list.size(); ++i) {
    char c = list[i];
    if (c == '\\' && i + 1 < list.size()) {
      cur += list[++i];
    } else if (c == ',') {
      out.push_back(std::move(cur));
      cur.clear();
    } else {
      cur += c;
    }
  }
  out.push_back(std::move(cur));
  return out;
}

bool parse_uint(std::string_view s, unsigned long long max, unsigned long long& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size() && out <= max;
}

// A probability: a plain decimal number in [0, 1] ("0.5", "1", "1e-3").
bool parse_probability(std::string_view s, double& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  // NaN fails both comparisons; "inf" and "nan" never pass.
  return ec == std::errc() && p == s.data() + s.size() && out >= 0 && out <= 1;
}

std::optional<spdlog::level::level_enum> parse_level(std::string_view v) {
  if (v == "trace") return spdlog::level::trace;
  if (v == "debug") return spdlog::level::debug;
  if (v == "info") return spdlog::level::info;
  if (v == "warn" || v == "warning") return spdlog::level::warn;
  if (v == "error") return spdlog::level::err;
  return std::nullopt;
}

}  // namespace

const char* cache_mode_name(CacheMode m) {
  switch (m) {
    case CacheMode::kWriteback: return "writeback";
    case CacheMode::kWritethrough: return "writethrough";
    case CacheMode::kNone: return "none";
  }
  return "?";
}

const char* uring_mode_name(UringMode m) {
  switch (m) {
    case UringMode::kAuto: return "auto";
    case UringMode::kOn: return "on";
    case UringMode::kOff: return "off";
  }
  return "?";
}

PowerFailOptions powerfail_options(const Options& o) {
  // Seed 0: eviction draws from the clock, so repeated runs explore different
  // survivors; the daemon logs how many survived.
  return PowerFailOptions{o.powerfail_sim, o.powerfail_evict.value_or(0), o.powerfail_seed.value_or(0)};
}

// Applies one comma separated -o list to opts, collecting every problem.
static void apply_option_list(const std::string& list, Options& opts, std::vector<std::string>& errors) {
  for (const std::string& word : split_options(list)) {
    if (word.empty()) continue;
    std::string_view w = word;
    size_t eq = w.find('=');
    std::string_view key = w.substr(0, eq);
    std::string_view val = eq == std::string_view::npos ? std::string_view() : w.substr(eq + 1);

    if (key == "cache") {
      if (val == "writeback") opts.cache = CacheMode::kWriteback;
      else if (val == "writethrough") opts.cache = CacheMode::kWritethrough;
      else if (val == "none") opts.cache = CacheMode::kNone;
      else errors.push_back("bad value in -o " + word + ": expected cache=writeback|writethrough|none");
    } else if (key == "io_uring") {
      if (val == "auto") opts.io_uring = UringMode::kAuto;
      else if (val == "on") opts.io_uring = UringMode::kOn;
      else if (val == "off") opts.io_uring = UringMode::kOff;
      else errors.push_back("bad value in -o " + word + ": expected io_uring=auto|on|off");
    } else if (w == "io_uring_enable_module") {
      opts.io_uring_enable_module = true;
    } else if (key == "dax") {
      if (val == "on") opts.dax = true;
      else if (val == "off") opts.dax = false;
      else errors.push_back("bad value in -o " + word + ": expected dax=on|off");
    } else if (key == "io_uring_poll_us") {
      unsigned long long n = 0;
      if (parse_uint(val, 10000, n)) opts.io_uring_poll_us = static_cast<unsigned>(n);
      else errors.push_back("bad value in -o " + word + ": expected io_uring_poll_us=MICROSECONDS (0-10000)");
    } else if (key == "log_level") {
      if (auto l = parse_level(val)) opts.log_level = *l;
      else errors.push_back("bad value in -o " + word + ": expected log_level=trace|debug|info|warn|error");
    } else if (key == "lock_wait") {
      unsigned long long n = 0;
      if (parse_uint(val, 3600, n)) opts.lock_wait_seconds = static_cast<int>(n);
      else errors.push_back("bad value in -o " + word + ": expected lock_wait=SECONDS (0-3600)");
    } else if (key == "max_dirty_ratio") {
      unsigned long long n = 0;
      if (parse_uint(val, 100, n)) opts.max_dirty_ratio = static_cast<int>(n);
      else errors.push_back("bad value in -o " + word + ": expected max_dirty_ratio=PERCENT (0-100)");
    } else if (key == "read_ahead_kb") {
      unsigned long long n = 0;
      if (parse_uint(val, 1u << 20, n)) opts.read_ahead_kb = static_cast<int>(n);
      else errors.push_back("bad value in -o " + word + ": expected read_ahead_kb=KIB");
    } else if (key == "max_read") {
      unsigned long long n = 0;
      if (parse_uint(val, 1ull << 30, n) && n >= 4096) {
        opts.max_read = static_cast<unsigned>(n);
        opts.fuse_opts.push_back(word);
      } else {
        errors.push_back("bad value in -o " + word + ": expected max_read=BYTES (at least 4096)");
      }
    } else if (key == "persist") {
      if (val == "cpu") opts.persist = PersistMode::kCpu;
      else if (val == "msync") opts.persist = PersistMode::kMsync;
      else errors.push_back("bad value in -o " + word + ": expected persist=cpu|msync");
    } else if (w == "powerfail_sim") {
      opts.powerfail_sim = true;
    } else if (key == "powerfail_evict") {
      double p = 0;
      if (parse_probability(val, p)) opts.powerfail_evict = p;
      else errors.push_back("bad value in -o " + word + ": expected powerfail_evict=P, a probability from 0 to 1");
    } else if (key == "powerfail_seed") {
      unsigned long long n = 0;
      if (parse_uint(val, ~0ull, n)) opts.powerfail_seed = n;
      else errors.push_back("bad value in -o " + word + ": expected powerfail_seed=N, a number");
    } else if (key == "powerfail_cut_after") {
      unsigned long long n = 0;
      if (parse_uint(val, ~0ull, n) && n > 0) opts.powerfail_cut_after = n;
      else errors.push_back("bad value in -o " + word + ": expected powerfail_cut_after=N, a count of syncs from 1");
    } else if (w == "ro") {
      opts.read_only = true;
      opts.fuse_opts.push_back(word);
    } else if (w == "rw") {
      opts.read_only = false;
      std::erase(opts.fuse_opts, std::string("ro"));
    } else if (w == "allow_other") {
      opts.allow_other = true;
      opts.fuse_opts.push_back(word);
    } else if (apply_atime_word(w, opts.mount_flags)) {
      // libfuse 3.14 knows only these two (as MS_NOATIME); the session sets
      // the others on the kernel mount itself (mount_flags.h).
      if (w == "atime" || w == "noatime") opts.fuse_opts.push_back(word);
    } else if (w == "remount") {
      errors.push_back("-o remount is for a mounted file system: run mount -o remount,OPTIONS "
                       "MOUNTPOINT (mount.pmemfs), not the daemon");
    } else if (w == "debug") {
      opts.debug = true;
      opts.foreground = true;
    } else if (std::find(kFuseFlags.begin(), kFuseFlags.end(), w) != kFuseFlags.end()) {
      opts.fuse_opts.push_back(word);
    } else if (eq != std::string_view::npos &&
               std::any_of(kFuseValued.begin(), kFuseValued.end(), [&](std::string_view p) {
                 return w.substr(0, p.size()) == p;
               })) {
      opts.fuse_opts.push_back(word);
    } else {
      errors.push_back("unknown mount option: " + word);
    }
  }
}

namespace {

// Whether the options that cannot change while mounted are the same in a
// and b (fuse_opts compared as sets: a repeated word is no change).
bool same_fixed(const Options& a, const Options& b) {
  auto sorted = [](std::vector<std::string> v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
    return v;
  };
  return a.cache == b.cache && a.lock_wait_seconds == b.lock_wait_seconds &&
         a.max_read == b.max_read && a.allow_other == b.allow_other &&
         a.max_dirty_ratio == b.max_dirty_ratio && a.read_ahead_kb == b.read_ahead_kb &&
         a.powerfail_sim == b.powerfail_sim && a.powerfail_evict == b.powerfail_evict &&
         a.persist == b.persist &&
         a.debug == b.debug && a.io_uring == b.io_uring &&
         a.io_uring_enable_module == b.io_uring_enable_module &&
         a.io_uring_poll_us == b.io_uring_poll_us && a.dax == b.dax &&
         sorted(a.fuse_opts) == sorted(b.fuse_opts);
}

struct KernelWord {
  std::string_view name;
  unsigned long flag;
  bool set;
};
// What a remount changes in the kernel besides ro/rw and the atime words.
constexpr KernelWord kRemountKernelWords[] = {
    {"nosuid", MS_NOSUID, true},  {"suid", MS_NOSUID, false}, {"nodev", MS_NODEV, true},
    {"dev", MS_NODEV, false},     {"noexec", MS_NOEXEC, true}, {"exec", MS_NOEXEC, false},
    {"sync", MS_SYNCHRONOUS, true}, {"async", MS_SYNCHRONOUS, false},
};

}  // namespace

RemountRequest parse_remount(const std::string& list, const Options& mounted) {
  RemountRequest r;
  unsigned long atime = 0;
  bool atime_given = false;
  for (const std::string& word : split_options(list)) {
    std::string_view w = word;
    // mount(8)'s own words, and what it copies from /proc/self/mountinfo
    // that the kernel or the session set (user_id, group_id, the session's
    // default_permissions, subtype and fsname).
    if (w.empty() || w == "remount" || w == "defaults" || w.starts_with("user_id=") ||
        w.starts_with("group_id=") || w.starts_with("rootmode=") || w == "default_permissions" ||
        w == "subtype=pmemfs" || w == "fsname=" + mounted.source)
      continue;
    if (w == "ro" || w == "rw") {
      r.read_only = w == "ro";
      continue;
    }
    if (w.starts_with("log_level=")) {
      if (auto l = parse_level(w.substr(10))) r.log_level = *l;
      else r.errors.push_back("bad value in -o " + word + ": expected log_level=trace|debug|info|warn|error");
      continue;
    }
    if (unsigned long f = atime; apply_atime_word(w, f)) {
      if (w == "lazytime" || w == "nolazytime") {
        (w == "lazytime" ? r.set_flags : r.clear_flags) |= MS_LAZYTIME;
        (w == "lazytime" ? r.clear_flags : r.set_flags) &= ~MS_LAZYTIME;
      } else {
        atime = f;
        atime_given = true;
      }
      continue;
    }
    bool kernel = false;
    for (const KernelWord& k : kRemountKernelWords) {
      if (k.name != w) continue;
      (k.set ? r.set_flags : r.clear_flags) |= k.flag;
      (k.set ? r.clear_flags : r.set_flags) &= ~k.flag;
      kernel = true;
    }
    if (kernel) continue;
    // Anything else is fixed for the life of the daemon: accepted only when
    // it says what already is.
    Options changed = mounted;
    std::vector<std::string> errors;
    apply_option_list(word, changed, errors);
    if (!errors.empty()) r.errors.insert(r.errors.end(), errors.begin(), errors.end());
    else if (!same_fixed(changed, mounted))
      r.errors.push_back("-o " + word + " cannot be changed by a remount (unmount and mount again)");
  }
  if (atime_given) r.atime_flags = atime;
  return r;
}

ParsedArgs parse_args(int argc, const char* const* argv) {
  ParsedArgs r;
  Options& o = r.opts;
  std::vector<std::string> positional;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (options_done || a.empty() || a[0] != '-' || a == "-") {
      positional.emplace_back(a);
      continue;
    }
    if (a == "--") { options_done = true; continue; }
    if (a == "--help") { o.help = true; continue; }
    if (a == "--version") { o.version = true; continue; }
    if (a == "--foreground") { o.foreground = true; continue; }
    if (a == "--debug") { o.debug = o.foreground = true; continue; }
    if (a.substr(0, 2) == "--") {
      r.errors.push_back("unknown option: " + std::string(a));
      continue;
    }
    // A cluster of short flags; -o takes the rest of the word or the next one.
    for (size_t j = 1; j < a.size(); ++j) {
      char c = a[j];
      if (c == 'f') o.foreground = true;
      else if (c == 'd') o.debug = o.foreground = true;
      else if (c == 's') o.single_thread = true;
      else if (c == 'h') o.help = true;
      else if (c == 'V') o.version = true;
      else if (c == 'o') {
        std::string list;
        if (j + 1 < a.size()) list = std::string(a.substr(j + 1));
        else if (i + 1 < argc) list = argv[++i];
        else { r.errors.push_back("option -o needs a value"); break; }
        apply_option_list(list, o, r.errors);
        break;
      } else {
        r.errors.push_back(std::string("unknown option: -") + c);
      }
    }
  }
  if (o.debug) o.log_level = std::min(o.log_level, spdlog::level::debug);
  // Checked once every -o list is in: the words may come in any order.
  if (o.powerfail_evict && !o.powerfail_sim) {
    char p[32];
    std::snprintf(p, sizeof p, "%g", *o.powerfail_evict);
    r.errors.push_back(std::string("-o powerfail_evict=") + p +
                       " needs -o powerfail_sim (there is no simulated power to cut)");
  }
  if (!o.powerfail_sim && (o.powerfail_seed || o.powerfail_cut_after))
    r.errors.push_back(std::string("-o ") + (o.powerfail_seed ? "powerfail_seed" : "powerfail_cut_after") +
                       " needs -o powerfail_sim (there is no simulated power to cut)");
  if (o.powerfail_sim && o.read_only)
    r.errors.push_back("-o powerfail_sim cannot be used with ro (a read-only mount has nothing to lose)");
  if (o.io_uring_enable_module && o.io_uring == UringMode::kOff)
    r.errors.push_back("-o io_uring_enable_module needs io_uring=auto or io_uring=on (io_uring=off "
                       "never uses it)");
  if (o.io_uring == UringMode::kOn && o.single_thread)
    r.errors.push_back("-o io_uring=on cannot be used with -s (io_uring serves each CPU from "
                       "threads of its own)");
  if (o.help || o.version) return r;

  if (positional.empty()) r.errors.push_back("missing SOURCE (a pmem device or pool file)");
  if (positional.size() < 2) r.errors.push_back("missing MOUNTPOINT");
  if (positional.size() > 2) {
    std::string extra;
    for (size_t k = 2; k < positional.size(); ++k) extra += " " + positional[k];
    r.errors.push_back("unexpected argument(s):" + extra);
  }
  if (positional.size() >= 1) o.source = positional[0];
  if (positional.size() >= 2) o.mountpoint = positional[1];
  return r;
}

std::string usage(const char* argv0) {
  return std::string("usage: ") + argv0 + " [-f] [-d] [-s] [-o OPTIONS] SOURCE MOUNTPOINT\n"
         "\n"
         "  SOURCE       a pmem device (/dev/daxX.Y) or a pool file made by mkfs.pmemfs\n"
         "  -f           stay in the foreground, log to stderr\n"
         "  -d           foreground with libfuse's request trace (implies log_level=debug)\n"
         "  -s           single-threaded request loop\n"
         "  -o OPTIONS   comma separated:\n"
         "     cache=writeback|writethrough|none   kernel caching (default writethrough)\n"
         "     log_level=trace|debug|info|warn|error   (default info)\n"
         "     lock_wait=SECONDS   wait for another process to release the pool (default 5)\n"
         "     max_dirty_ratio=PERCENT   share of the dirty-page budget the mount may use\n"
         "                         (root only; default 20, 0 keeps the kernel's strict 1%)\n"
         "     read_ahead_kb=KIB   read-ahead of the mount (root only; default 1024, 0 = kernel's)\n"
         "     persist=cpu|msync   a pool file without DAX: cache-line flush (pmem timing,\n"
         "                         host-crash durable from unmount on; default) or msync\n"
         "                         at every persist point (host-crash durable, disk timing)\n"
         "     powerfail_sim   simulate power failure (pool files only): only persisted data\n"
         "                         reaches the pool; `pmemfs-ctl powercut MOUNTPOINT` cuts power\n"
         "     powerfail_seed=N    with powerfail_sim: seed of the eviction (reproducible cuts)\n"
         "     powerfail_cut_after=N   with powerfail_sim: cut the power right after answering\n"
         "                         the N-th fsync/fdatasync/msync/directory fsync\n"
         "     powerfail_evict=P   with powerfail_sim: each unpersisted cache line survives a cut\n"
         "                         with probability P (0 to 1; default 0)\n"
         "     io_uring=auto|on|off   FUSE over io_uring (Linux >= 6.14 with the fuse module's\n"
         "                         enable_uring=Y): one ring queue per CPU; auto (default) uses\n"
         "                         it when the kernel offers it, on refuses to mount without it\n"
         "     io_uring_enable_module   let the daemon write Y to\n"
         "                         /sys/module/fuse/parameters/enable_uring (system-wide, stays Y)\n"
         "     dax=on|off          direct access for processes run under pmemfs-run (default on)\n"
         "     io_uring_poll_us=N  how long a ring thread polls for the next request before it\n"
         "                         sleeps (0-10000; default 50; 0: never polls)\n"
         "     relatime (default), strictatime, noatime, nodiratime, lazytime and their\n"
         "                         negations: when reads update the access time, as on ext4\n"
         "     ro, rw, allow_other, max_read=BYTES, and the usual FUSE mount options\n"
         "  -V, --version, -h, --help\n";
}

}  // namespace pmemfs::daemon
