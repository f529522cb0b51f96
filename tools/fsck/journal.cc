// Pass 2: the journal. A committed lane with valid checksums is a transaction
// that may not have been applied: it is staged in the overlay exactly as mount
// replays it (records in seq order, then every such lane freed), so the rest
// of the check sees the pool as the next mount will. A committed lane with a
// bad checksum is skipped by mount; fsck reports it and frees it.
#include <algorithm>
#include <cstring>
#include <vector>

#include <spdlog/fmt/fmt.h>

#include "tools/fsck/checker_impl.h"

namespace pmemfs::fsck {
namespace {

// What the library writes when it retires a lane.
L::LaneHeader freed_lane() {
  L::LaneHeader h{};
  h.state = L::kLaneFree;
  seal(h);
  return h;
}

}  // namespace

std::string Checker::journal_records_problem(uint64_t off, const L::LaneHeader& h) const {
  const uint64_t journal_end = sb_.journal_off + uint64_t{sb_.journal_lanes} * sb_.lane_size;
  uint64_t pos = 0;
  for (uint32_t i = 0; i < h.nrecords; ++i) {
    if (h.bytes - pos < sizeof(L::JournalRecord))
      return fmt::format("record {} runs past the {} bytes of records", i, h.bytes);
    const auto r = img_.get<L::JournalRecord>(off + pos);
    const uint64_t padded = L::round_up(r.len, 8);
    if (r.kind != L::kRecWrite && r.kind != L::kRecSetBits && r.kind != L::kRecClearBits)
      return fmt::format("record {} has unknown kind {}", i, r.kind);
    if (r.kind != L::kRecWrite && (r.len != 8 || r.target % 8 != 0))
      return fmt::format("bit record {} has length {} at unaligned or wrong target {}", i, r.len,
                         r.target);
    if (padded > h.bytes - pos - sizeof(L::JournalRecord))
      return fmt::format("record {} runs past the {} bytes of records", i, h.bytes);
    // Superblocks are never journaled and the journal never targets itself.
    if (r.target < sb_.state_off || r.len > sb_.pool_size || r.target > sb_.pool_size - r.len ||
        (r.target < journal_end && r.target + r.len > sb_.journal_off))
      return fmt::format("record {} targets bytes {}..{} outside the metadata and data areas", i,
                         r.target, r.target + r.len);
    pos += sizeof(L::JournalRecord) + padded;
  }
  if (pos != h.bytes)
    return fmt::format("{} records use {} bytes, the header says {}", h.nrecords, pos, h.bytes);
  return "";
}

void Checker::check_journal() {
  struct Pending {
    uint64_t seq;
    uint32_t lane;
    uint64_t off;
    L::LaneHeader h;
  };
  std::vector<Pending> pending;
  const uint64_t capacity = sb_.lane_size - sizeof(L::LaneHeader);
  for (uint32_t lane = 0; lane < sb_.journal_lanes; ++lane) {
    const uint64_t off = sb_.journal_off + uint64_t{lane} * sb_.lane_size;
    const auto h = img_.get<L::LaneHeader>(off);
    if (h.state == L::kLaneFree) continue;  // contents do not matter
    auto discard = [off](Image& img) { img.put(off, freed_lane()); };
    const std::string where = fmt::format("journal lane {}", lane);
    if (h.state != L::kLaneCommitted) {
      rep_.repairable(fmt::format("{}: unknown state {:#x}; freeing the lane", where, h.state), discard);
      continue;
    }
    if (!checksum_ok(h)) {
      rep_.repairable(where + ": committed, but its header checksum is bad (mount skips it); freeing the lane",
                      discard);
      continue;
    }
    if (h.bytes > capacity || img_.crc(off + sizeof(L::LaneHeader), h.bytes) != h.records_checksum) {
      rep_.repairable(fmt::format("{} (seq {}): committed, but its records are damaged (mount skips it); "
                                  "freeing the lane", where, h.seq),
                      discard);
      continue;
    }
    const std::string bad = journal_records_problem(off + sizeof(L::LaneHeader), h);
    if (!bad.empty()) {
      // Valid checksums over nonsense: the library would apply it blindly.
      rep_.unrepairable(fmt::format("{} (seq {}): committed, but {}", where, h.seq, bad));
      continue;
    }
    pending.push_back({h.seq, lane, off, h});
  }
  if (pending.empty()) return;

  std::stable_sort(pending.begin(), pending.end(),
                   [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
  rep_.repairable(fmt::format(
      "journal: {} committed transaction(s) not applied yet, checked as if replayed (journal needs "
      "replay; mount the filesystem or run fsck -y); replaying them",
      pending.size()));
  // Replayed records must be durable before the lanes are freed.
  img_.set_epoch(1);
  std::vector<char> payload;
  for (const Pending& p : pending) {
    uint64_t pos = p.off + sizeof(L::LaneHeader);
    for (uint32_t i = 0; i < p.h.nrecords; ++i) {
      const auto r = img_.get<L::JournalRecord>(pos);
      pos += sizeof(r);
      payload.resize(r.len);
      img_.read(pos, payload.data(), r.len);
      pos += L::round_up(r.len, 8);
      if (r.kind == L::kRecWrite) {
        img_.write(r.target, payload.data(), r.len);
        continue;
      }
      uint64_t mask, word = img_.get<uint64_t>(r.target);
      std::memcpy(&mask, payload.data(), sizeof(mask));
      word = r.kind == L::kRecSetBits ? (word | mask) : (word & ~mask);
      img_.put(r.target, word);
    }
  }
  img_.set_epoch(2);
  for (const Pending& p : pending) img_.put(p.off, freed_lane());
  img_.set_epoch(3);
}

}  // namespace pmemfs::fsck
