// fsck and the journal: committed lanes checked as if replayed and replayed
// by -y in seq order; damaged or nonsensical lanes.
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/fsck/fsck_fixture.h"

namespace pmemfs::fsck {
namespace {

TEST_F(FsckTest, CommittedJournalLaneIsReplayed) {
  // A transaction committed but not applied: it restores f1's record, which
  // is wrong in place (nlink 9). -n must check the pool as if replayed.
  const L::InodeRecord good = inode(f1_);
  auto bad = good;
  bad.nlink = 9;
  put_inode(f1_, bad);

  std::vector<char> records(sizeof(L::JournalRecord) + sizeof(good));
  const L::JournalRecord rec{L::kRecWrite, sizeof(good), inode_off(f1_)};
  std::memcpy(records.data(), &rec, sizeof(rec));
  std::memcpy(records.data() + sizeof(rec), &good, sizeof(good));
  commit_lane(3, 42, records, 1);
  const uint64_t lane = sb_.journal_off + 3 * sb_.lane_size;

  expect_detected("journal needs replay");
  EXPECT_EQ(out_.find("link count"), std::string::npos) << "not checked as replayed:\n" << out_;
  expect_repaired();
  EXPECT_EQ(inode(f1_).nlink, 2u);
  EXPECT_EQ(read_at<L::LaneHeader>(lane).state, L::kLaneFree);
}

TEST_F(FsckTest, TornJournalLaneIsDiscarded) {
  L::LaneHeader h{};
  h.seq = 7;
  h.state = L::kLaneCommitted;
  h.nrecords = 1;
  h.bytes = 24;
  seal(h);
  h.checksum ^= 1;
  const uint64_t lane = sb_.journal_off + 5 * sb_.lane_size;
  write_at(lane, h);
  expect_detected("journal lane 5: committed, but its header checksum is bad");
  expect_repaired();
}

TEST_F(FsckTest, CommittedBitRecordsAreReplayedInSeqOrder) {
  // In place: one of f1's blocks is free in the bitmap. Two committed lanes
  // (applied in seq order, not lane order) set it, clear it, set it again.
  const uint64_t block = first_extent(f1_).e.pool_block;
  set_block_bit(block, false);
  const uint64_t i = block - data_first();
  const uint64_t word = sb_.block_bitmap_off + i / 64 * 8, mask = uint64_t{1} << (i % 64);
  std::vector<char> first, second;
  add_record(first, L::kRecSetBits, word, &mask, 8);
  add_record(first, L::kRecClearBits, word, &mask, 8);
  add_record(second, L::kRecSetBits, word, &mask, 8);
  commit_lane(9, 100, second, 1);  // applied last
  commit_lane(2, 99, first, 2);
  expect_detected("journal: 2 committed transaction(s)");
  EXPECT_EQ(out_.find("free in the block bitmap"), std::string::npos) << out_;
  expect_repaired();
  EXPECT_TRUE(block_bit(block));
}

TEST_F(FsckTest, CommittedLaneWritingTheSuperblockIsRefused) {
  std::vector<char> records;
  const uint64_t zero = 0;
  add_record(records, L::kRecWrite, 8, &zero, 8);  // inside the superblock
  commit_lane(0, 5, records, 1);
  expect_detected("journal lane 0 (seq 5): committed, but record 0 targets");
  expect_not_repaired();
}

}  // namespace
}  // namespace pmemfs::fsck
