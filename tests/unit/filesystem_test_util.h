// Shared by the filesystem_*_test.cc files: the Filesystem class end to end,
// in process, through the library API the FUSE daemon calls. Every
// lookup/mknod/mkdir/symlink/link result holds one kernel reference; tests
// that wait for space to come back forget those references.
#pragma once

#include <dirent.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "test_pool.h"

namespace pmemfs::test {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kKiB = 1024, kMiB = 1024 * 1024;

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
constexpr bool kSanitized = true;
#else
constexpr bool kSanitized = false;
#endif
#else
constexpr bool kSanitized = false;
#endif

// ---- helpers ---------------------------------------------------------------

inline Attr mkfile(Filesystem& fs, uint64_t parent, std::string_view name, mode_t mode = 0644,
                   const Caller& who = root_caller()) {
  auto a = fs.mknod(parent, name, S_IFREG | mode, 0, who);
  EXPECT_TRUE(a.ok()) << "mknod " << name << ": " << a.error();
  return a.ok() ? *a : Attr{};
}

inline Attr mkdir_(Filesystem& fs, uint64_t parent, std::string_view name, mode_t mode = 0755,
                   const Caller& who = root_caller()) {
  auto a = fs.mkdir(parent, name, mode, who);
  EXPECT_TRUE(a.ok()) << "mkdir " << name << ": " << a.error();
  return a.ok() ? *a : Attr{};
}

inline void put(Filesystem& fs, uint64_t ino, uint64_t off, const std::string& data) {
  auto n = fs.write(ino, off, data.data(), data.size());
  ASSERT_TRUE(n.ok()) << "write at " << off << ": " << n.error();
  ASSERT_EQ(*n, data.size());
}

inline std::string get(Filesystem& fs, uint64_t ino, uint64_t off, size_t len) {
  std::string buf(len, '\xee');
  auto n = fs.read(ino, off, len, buf.data());
  EXPECT_TRUE(n.ok()) << "read at " << off << ": " << n.error();
  buf.resize(n.ok() ? *n : 0);
  return buf;
}

inline std::string all(Filesystem& fs, uint64_t ino) {
  auto a = fs.getattr(ino);
  EXPECT_TRUE(a.ok());
  return a.ok() ? get(fs, ino, 0, a->size) : std::string();
}

// Deterministic bytes that differ per seed and per position.
inline std::string pattern(size_t len, uint32_t seed) {
  std::string s(len, '\0');
  uint32_t x = seed * 2654435761u + 12345;
  for (size_t i = 0; i < len; ++i) {
    x = x * 1103515245u + 12345u;
    s[i] = static_cast<char>('a' + (x >> 16) % 26);
  }
  return s;
}

inline uint64_t ino_of(Filesystem& fs, uint64_t parent, std::string_view name) {
  auto a = fs.lookup(parent, name);
  return a.ok() ? a->ino : 0;
}

inline int lookup_err(Filesystem& fs, uint64_t parent, std::string_view name) {
  return fs.lookup(parent, name).error();
}

inline std::vector<DirEntry> list(Filesystem& fs, uint64_t dir) {
  std::vector<DirEntry> out;
  Status s = fs.readdir(dir, 0, [&](const DirEntry& e) {
    out.push_back(e);
    return true;
  });
  EXPECT_TRUE(s.ok()) << s.error();
  return out;
}

inline std::set<std::string> names(Filesystem& fs, uint64_t dir) {
  std::set<std::string> out;
  for (const auto& e : list(fs, dir))
    if (e.name != "." && e.name != "..") out.insert(e.name);
  return out;
}

inline uint64_t free_blocks(Filesystem& fs) { return fs.statfs()->blocks_free; }

inline bool later(const timespec& a, const timespec& b) {
  return std::tie(a.tv_sec, a.tv_nsec) > std::tie(b.tv_sec, b.tv_nsec);
}
inline bool same(const timespec& a, const timespec& b) {
  return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

inline void tick() { std::this_thread::sleep_for(std::chrono::milliseconds(2)); }

}  // namespace pmemfs::test
