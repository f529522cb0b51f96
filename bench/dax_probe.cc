// What bench/run-dax.sh measures inside a process run under pmemfs-run:
//
//   dax_probe faults DIR FILES   first-touch write faults into holes: FILES
//                                files of 1 MiB (each page a 4 KiB fault
//                                through the upgrade path: no aligned 2 MiB
//                                range fits inside EOF), one store per page;
//                                prints faults per second
//   dax_probe pmd FILE BYTES     stores sequentially into a sparse file of
//                                BYTES through one mapping; prints the share
//                                of the mapping that smaps counts PMD-mapped
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace {

constexpr size_t kPage = 4096;

void* map_sparse(const std::string& path, size_t bytes) {
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ftruncate(fd, static_cast<off_t>(bytes)) != 0) {
    std::perror(path.c_str());
    std::exit(1);
  }
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  close(fd);
  if (p == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  return p;
}

// kB of the mapping at addr that are PMD-mapped, and its size in kB.
std::pair<long, long> pmd_kb(const void* addr) {
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool ours = false;
  long pmd = 0, size = 0;
  while (std::getline(smaps, line)) {
    unsigned long lo, hi;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(' ') == line.find('-') + 13) {
      ours = lo <= reinterpret_cast<uintptr_t>(addr) && reinterpret_cast<uintptr_t>(addr) < hi;
      continue;
    }
    if (!ours) continue;
    long kb = 0;
    char key[64];
    if (std::sscanf(line.c_str(), "%63s %ld", key, &kb) != 2) continue;
    if (!std::strcmp(key, "Size:")) size += kb;
    if (!std::strcmp(key, "ShmemPmdMapped:") || !std::strcmp(key, "FilePmdMapped:")) pmd += kb;
  }
  return {pmd, size};
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: dax_probe faults DIR FILES | dax_probe pmd FILE BYTES\n");
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "faults") {
    const int files = std::atoi(argv[3]);
    constexpr size_t kFile = 1 << 20;
    double seconds = 0;
    for (int i = 0; i < files; ++i) {
      auto* p = static_cast<volatile char*>(map_sparse(std::string(argv[2]) + "/touch." + std::to_string(i), kFile));
      const auto t0 = std::chrono::steady_clock::now();
      for (size_t off = 0; off < kFile; off += kPage) p[off] = 1;
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      munmap(const_cast<char*>(p), kFile);
    }
    std::printf("faults_per_second %.0f\n", files * (kFile / kPage) / seconds);
    return 0;
  }
  if (cmd == "pmd") {
    const size_t bytes = std::strtoull(argv[3], nullptr, 10);
    auto* p = static_cast<char*>(map_sparse(argv[2], bytes));
    for (size_t off = 0; off < bytes; off += kPage) p[off] = 1;
    // The share of the mapping itself: the whole file, all of it stored to.
    const auto [pmd, size] = pmd_kb(p);
    std::printf("pmd_share %.4f (%ld of %ld kB)\n", size ? double(pmd) / double(size) : 0.0, pmd, size);
    return 0;
  }
  std::fprintf(stderr, "dax_probe: unknown command %s\n", argv[1]);
  return 2;
}
