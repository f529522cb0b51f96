#include "target.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string_view>

#include "log_counter.h"

namespace pmemfs::fuzz {

std::optional<Patch> Patch::parse(const uint8_t* data, size_t size) {
  if (size < 2) return std::nullopt;
  Patch p;
  p.pick = data[0];
  p.flags = data[1];
  p.bytes = data + 2;
  p.len = size - 2;
  return p;
}

std::string Patch::input(uint8_t pick, uint8_t flags, const void* rec, size_t len) {
  std::string s{static_cast<char>(pick), static_cast<char>(flags)};
  s.append(static_cast<const char*>(rec), len);
  return s;
}

void Patch::apply(void* rec, size_t rec_len) const {
  std::memcpy(rec, bytes, std::min(len, rec_len));
}

void init_target(int* argc, char*** argv, size_t max_len,
                 const std::function<std::vector<std::string>()>& seeds) {
  count_log_messages();
  constexpr std::string_view kSeeds = "--seeds=", kMaxLen = "-max_len=";
  bool max_len_given = false;
  for (int i = 1; i < *argc; ++i) {
    const std::string_view arg = (*argv)[i];
    max_len_given |= arg.substr(0, kMaxLen.size()) == kMaxLen;
    if (arg.substr(0, kSeeds.size()) != kSeeds) continue;
    const std::string dir(arg.substr(kSeeds.size()));
    std::error_code error;
    std::filesystem::create_directories(dir, error);
    if (error) {
      std::fprintf(stderr, "fuzz: cannot create %s: %s\n", dir.c_str(), error.message().c_str());
      std::exit(1);
    }
    int n = 0;
    for (const std::string& s : seeds()) {
      std::ofstream f(dir + "/seed-" + std::to_string(n++), std::ios::binary | std::ios::trunc);
      f.write(s.data(), static_cast<std::streamsize>(s.size()));
      if (!f) {
        std::fprintf(stderr, "fuzz: cannot write the seeds to %s\n", dir.c_str());
        std::exit(1);
      }
    }
  }
  if (!max_len_given) {
    // A copy of argv with the flag added; it lives as long as the process.
    static std::vector<std::string> storage;
    static std::vector<char*> args;
    storage.assign(*argv, *argv + *argc);
    storage.push_back(std::string(kMaxLen) + std::to_string(max_len));
    for (std::string& a : storage) args.push_back(a.data());
    args.push_back(nullptr);
    *argc = static_cast<int>(storage.size());
    *argv = args.data();
  }
}

}  // namespace pmemfs::fuzz
