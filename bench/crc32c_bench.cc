// CRC-32C cost (pmemfs/crc32c.h): the checksum every metadata record carries
// (inode records, extents, directory entries, journal lanes), computed on
// every commit and checked on every load and by fsck. Reports ns per 256-byte
// inode record, per 24-byte extent and per 4 KiB journal lane, and GB/s.
//
//   build/bench/bench_crc32c [SECONDS_PER_SIZE]   (default 1)
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "pmemfs/crc32c.h"

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 1.0;
  std::vector<unsigned char> buf(1 << 20);
  for (size_t i = 0; i < buf.size(); ++i) buf[i] = static_cast<unsigned char>(i * 131 + 7);
  std::printf("%-22s %12s %10s\n", "record", "ns/record", "GB/s");
  for (size_t size : {size_t{24}, size_t{256}, size_t{4096}, size_t{1} << 20}) {
    using Clock = std::chrono::steady_clock;
    uint32_t sink = 0;
    uint64_t n = 0;
    const auto t0 = Clock::now();
    const auto until = t0 + std::chrono::duration<double>(seconds);
    Clock::time_point t;
    do {
      for (int i = 0; i < 1000; ++i, ++n) sink ^= pmemfs::crc32c(buf.data() + (n % 64), size);
      t = Clock::now();
    } while (t < until);
    const double ns = std::chrono::duration<double, std::nano>(t - t0).count() / static_cast<double>(n);
    const char* what = size == 24 ? "extent (24 B)" : size == 256 ? "inode record (256 B)"
                       : size == 4096 ? "journal lane (4 KiB)" : "1 MiB";
    std::printf("%-22s %12.1f %10.2f   (%08x)\n", what, ns, static_cast<double>(size) / ns, sink);
  }
  return 0;
}
