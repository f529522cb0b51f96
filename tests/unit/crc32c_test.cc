// CRC-32C (pmemfs/crc32c.h): the checksum of every record on media, so its
// values are part of the format (pmemfs.8, "ON-MEDIA FORMAT"). The vectors
// are RFC 3720's (iSCSI, appendix B.4) and the usual check value; a running
// CRC continued over pieces must equal the CRC of the whole.
#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <vector>

#include "pmemfs/crc32c.h"

namespace pmemfs {
namespace {

TEST(Crc32c, MatchesTheStandardVectors) {
  EXPECT_EQ(0xE3069283u, crc32c("123456789", 9));
  const std::vector<unsigned char> zeros(32, 0), ones(32, 0xFF);
  EXPECT_EQ(0x8A9136AAu, crc32c(zeros.data(), zeros.size()));
  EXPECT_EQ(0x62A8AB43u, crc32c(ones.data(), ones.size()));
  std::vector<unsigned char> up(32), down(32);
  for (int i = 0; i < 32; ++i) {
    up[i] = static_cast<unsigned char>(i);
    down[i] = static_cast<unsigned char>(31 - i);
  }
  EXPECT_EQ(0x46DD794Eu, crc32c(up.data(), up.size()));
  EXPECT_EQ(0x113FDB5Cu, crc32c(down.data(), down.size()));
  EXPECT_EQ(0u, crc32c(nullptr, 0));
}

TEST(Crc32c, ARunningCrcOverPiecesIsTheCrcOfTheWhole) {
  std::string data(10000, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7 + i / 13);
  const uint32_t whole = crc32c(data.data(), data.size());
  // Every split point of odd and aligned sizes, as records are built.
  for (size_t cut : {size_t{0}, size_t{1}, size_t{3}, size_t{8}, size_t{255}, size_t{4096},
                     size_t{9999}, data.size()}) {
    const uint32_t first = crc32c(data.data(), cut);
    EXPECT_EQ(whole, crc32c(data.data() + cut, data.size() - cut, first)) << "cut at " << cut;
  }
  // Alignment of the start does not matter.
  std::vector<char> shifted(data.size() + 7);
  std::memcpy(shifted.data() + 7, data.data(), data.size());
  EXPECT_EQ(whole, crc32c(shifted.data() + 7, data.size()));
}

}  // namespace
}  // namespace pmemfs
