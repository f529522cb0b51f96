// Committed journal lanes for the journal targets' seeds: a LaneHeader and
// records as Journal::commit writes them, so the fuzzer starts from lanes
// that replay and mutates from there.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "pmemfs/crc32c.h"
#include "pmemfs/layout.h"
#include "tools/fsck/records.h"

namespace pmemfs::fuzz {

class LaneBuilder {
 public:
  LaneBuilder& write(uint64_t target, const void* payload, uint32_t len) {
    return add(layout::kRecWrite, target, payload, len);
  }
  LaneBuilder& set_bits(uint64_t target, uint64_t mask) {
    return add(layout::kRecSetBits, target, &mask, sizeof(mask));
  }
  LaneBuilder& clear_bits(uint64_t target, uint64_t mask) {
    return add(layout::kRecClearBits, target, &mask, sizeof(mask));
  }
  // Header (committed, checksums right) and records.
  std::string lane(uint64_t seq) const {
    layout::LaneHeader h{};
    h.seq = seq;
    h.state = layout::kLaneCommitted;
    h.nrecords = nrecords_;
    h.bytes = body_.size();
    h.records_checksum = crc32c(body_.data(), body_.size());
    fsck::seal(h);
    std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
    return out + body_;
  }

 private:
  LaneBuilder& add(uint32_t kind, uint64_t target, const void* payload, uint32_t len) {
    const layout::JournalRecord r{kind, len, target};
    body_.append(reinterpret_cast<const char*>(&r), sizeof(r));
    body_.append(static_cast<const char*>(payload), len);
    body_.append(layout::round_up(len, 8) - len, '\0');
    ++nrecords_;
    return *this;
  }
  std::string body_;
  uint32_t nrecords_ = 0;
};

}  // namespace pmemfs::fuzz
