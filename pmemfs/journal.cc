#include "pmemfs/journal.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include <spdlog/fmt/fmt.h>
#include <spdlog/spdlog.h>

#include "pmemfs/crc32c.h"

namespace pmemfs {

using layout::JournalRecord;
using layout::LaneHeader;

namespace {

uint32_t header_checksum(const LaneHeader& h) {
  return crc32c(&h, offsetof(LaneHeader, checksum));
}

size_t padded(uint32_t len) { return (len + 7u) & ~size_t{7}; }

}  // namespace

// ---- Txn ----

void Txn::finish_uncommitted() {
  if (!done_)
    for (auto& fn : abort_hooks_) fn();
  done_ = true;
}

Txn::~Txn() { finish_uncommitted(); }

Txn& Txn::operator=(Txn&& o) noexcept {
  if (this == &o) return *this;
  finish_uncommitted();
  journal_ = o.journal_;
  buf_ = std::move(o.buf_);
  nrecords_ = o.nrecords_;
  done_ = o.done_;
  commit_hooks_ = std::move(o.commit_hooks_);
  abort_hooks_ = std::move(o.abort_hooks_);
  o.done_ = true;
  o.nrecords_ = 0;
  o.buf_.clear();
  o.commit_hooks_.clear();
  o.abort_hooks_.clear();
  return *this;
}

void Txn::add(uint32_t kind, uint64_t target, const void* payload, uint32_t len) {
  JournalRecord rec{kind, len, target};
  size_t at = buf_.size();
  buf_.resize(at + sizeof(rec) + padded(len), 0);
  std::memcpy(buf_.data() + at, &rec, sizeof(rec));
  std::memcpy(buf_.data() + at + sizeof(rec), payload, len);
  ++nrecords_;
}

void Txn::write(uint64_t target, const void* src, uint32_t len) {
  add(layout::kRecWrite, target, src, len);
}

void Txn::set_bits(uint64_t word_off, uint64_t mask) {
  add(layout::kRecSetBits, word_off, &mask, sizeof(mask));
}

void Txn::clear_bits(uint64_t word_off, uint64_t mask) {
  add(layout::kRecClearBits, word_off, &mask, sizeof(mask));
}

size_t Txn::room() const {
  size_t cap = journal_->lane_capacity();
  return buf_.size() >= cap ? 0 : cap - buf_.size();
}

Status Txn::commit() {
  if (done_) return {};
  if (nrecords_ > 0) PMEMFS_TRY(journal_->commit(buf_, nrecords_));
  done_ = true;
  for (auto& fn : commit_hooks_) fn();
  return {};
}

// ---- Journal ----

Journal::Journal(Pool& pool, uint64_t off, uint32_t lanes, uint64_t lane_size)
    : pool_(pool), off_(off), lanes_(lanes), lane_size_(lane_size) {
  for (uint32_t i = lanes; i > 0; --i) free_lanes_.push_back(i - 1);
}

LaneHeader* Journal::header(uint32_t lane) const {
  return pool_.at<LaneHeader>(off_ + lane * lane_size_);
}

uint64_t Journal::commits() const {
  std::lock_guard<std::mutex> g(mu_);
  return commits_;
}

uint32_t Journal::acquire_lane() {
  std::unique_lock<std::mutex> g(mu_);
  lane_freed_.wait(g, [&] { return !free_lanes_.empty(); });
  uint32_t lane = free_lanes_.back();
  free_lanes_.pop_back();
  return lane;
}

void Journal::release_lane(uint32_t lane) {
  {
    std::lock_guard<std::mutex> g(mu_);
    free_lanes_.push_back(lane);
    ++commits_;
  }
  lane_freed_.notify_one();
}

void Journal::apply_record(Pool& pool, const JournalRecord& rec, const char* payload) {
  char* target = pool.base() + rec.target;
  if (rec.kind == layout::kRecWrite) {
    std::memcpy(target, payload, rec.len);
    pool.flush(target, rec.len);
    return;
  }
  uint64_t mask;
  std::memcpy(&mask, payload, sizeof(mask));
  // Atomic: two lanes may apply bits of the same word at once.
  auto* word = reinterpret_cast<uint64_t*>(target);
  if (rec.kind == layout::kRecSetBits)
    __atomic_fetch_or(word, mask, __ATOMIC_RELAXED);
  else
    __atomic_fetch_and(word, ~mask, __ATOMIC_RELAXED);
  pool.flush(target, sizeof(uint64_t));
}

static void apply_all(Pool& pool, const char* records, uint64_t bytes) {
  uint64_t pos = 0;
  while (pos < bytes) {
    JournalRecord rec;
    std::memcpy(&rec, records + pos, sizeof(rec));
    Journal::apply_record(pool, rec, records + pos + sizeof(rec));
    pos += sizeof(rec) + padded(rec.len);
  }
}

Status Journal::commit(const std::vector<char>& records, uint32_t nrecords) {
  if (records.size() > lane_capacity()) {
    spdlog::error("journal: transaction of {} bytes exceeds a lane", records.size());
    return err(EFBIG);
  }
  uint32_t lane = acquire_lane();
  LaneHeader* h = header(lane);
  char* body = reinterpret_cast<char*>(h) + sizeof(LaneHeader);

  // 1. Records, flushed but not yet drained.
  pool_.memcpy_persist(body, records.data(), records.size(), /*nodrain=*/true);
  LaneHeader nh{};
  {
    std::lock_guard<std::mutex> g(mu_);
    nh.seq = seq_++;
  }
  nh.state = layout::kLaneCommitted;
  nh.nrecords = nrecords;
  nh.bytes = records.size();
  nh.records_checksum = crc32c(records.data(), records.size());
  nh.checksum = header_checksum(nh);
  // 2. Drain, so the records are durable before the commit header can be.
  pool_.drain();
  // 3. The commit point: one persisted header.
  pool_.memcpy_persist(h, &nh, sizeof(nh));
  // 4. Apply in place from the DRAM copy, persist.
  apply_all(pool_, records.data(), records.size());
  pool_.drain();
  // 5. Retire the lane.
  LaneHeader freed{};
  freed.state = layout::kLaneFree;
  freed.checksum = header_checksum(freed);
  pool_.memcpy_persist(h, &freed, sizeof(freed));
  release_lane(lane);
  return {};
}

std::string Journal::records_problem(const LaneHeader& h) const {
  const char* body = reinterpret_cast<const char*>(&h) + sizeof(LaneHeader);
  const uint64_t journal_end = off_ + uint64_t{lanes_} * lane_size_;
  uint64_t pos = 0;
  uint32_t n = 0;
  for (; pos < h.bytes; ++n) {
    JournalRecord r;
    if (h.bytes - pos < sizeof(r)) return fmt::format("record {} is cut short", n);
    std::memcpy(&r, body + pos, sizeof(r));
    if (r.kind != layout::kRecWrite && r.kind != layout::kRecSetBits && r.kind != layout::kRecClearBits)
      return fmt::format("record {} has unknown kind {}", n, r.kind);
    if (r.kind != layout::kRecWrite && (r.len != sizeof(uint64_t) || r.target % sizeof(uint64_t) != 0))
      return fmt::format("bit record {} is not one aligned word", n);
    const uint64_t payload = layout::round_up(r.len, 8);  // in 64 bits: len may be near 2^32
    if (payload > h.bytes - pos - sizeof(r)) return fmt::format("record {} is cut short", n);
    // The superblocks are never journaled, and the journal never targets itself.
    if (r.target < 2 * layout::kBlockSize || r.len > pool_.size() || r.target > pool_.size() - r.len ||
        (r.target < journal_end && r.target + r.len > off_))
      return fmt::format("record {} writes bytes {}..{}, outside the metadata and data areas", n,
                         r.target, r.target + r.len);
    pos += sizeof(r) + payload;
  }
  if (n != h.nrecords) return fmt::format("it holds {} records, its header says {}", n, h.nrecords);
  return {};
}

Result<uint32_t> Journal::replay() {
  struct Pending {
    uint64_t seq;
    uint32_t lane;
  };
  std::vector<Pending> pending;
  uint64_t max_seq = 0;
  for (uint32_t lane = 0; lane < lanes_; ++lane) {
    const LaneHeader* h = header(lane);
    if (h->state != layout::kLaneCommitted) continue;
    const char* body = reinterpret_cast<const char*>(h) + sizeof(LaneHeader);
    if (h->checksum != header_checksum(*h) || h->bytes > lane_capacity() ||
        h->records_checksum != crc32c(body, h->bytes)) {
      // A torn commit header cannot be: the header is persisted after the
      // records drained. A bad checksum here is media damage; skip the lane.
      spdlog::warn("journal: lane {} has a bad checksum, not replayed", lane);
      continue;
    }
    // Intact, but not something replay may apply: only a bug or deliberate
    // damage writes that, and applying it could write anywhere.
    if (std::string bad = records_problem(*h); !bad.empty()) {
      spdlog::error("journal: lane {} (seq {}) is committed, but {}; not mounting (run fsck.pmemfs)",
                    lane, h->seq, bad);
      return err(EUCLEAN);
    }
    pending.push_back({h->seq, lane});
    max_seq = std::max(max_seq, h->seq);
  }
  std::sort(pending.begin(), pending.end(),
            [](const Pending& a, const Pending& b) { return a.seq < b.seq; });
  for (const Pending& p : pending) {
    const LaneHeader* h = header(p.lane);
    apply_all(pool_, reinterpret_cast<const char*>(h) + sizeof(LaneHeader), h->bytes);
    pool_.drain();
    spdlog::info("journal: replayed lane {} (seq {}, {} records)", p.lane, p.seq, h->nrecords);
  }
  LaneHeader freed{};
  freed.state = layout::kLaneFree;
  freed.checksum = header_checksum(freed);
  for (uint32_t lane = 0; lane < lanes_; ++lane) {
    if (std::memcmp(header(lane), &freed, sizeof(freed)) != 0)
      pool_.memcpy_persist(header(lane), &freed, sizeof(freed), /*nodrain=*/true);
  }
  pool_.drain();
  seq_ = max_seq + 1;
  return static_cast<uint32_t>(pending.size());
}

}  // namespace pmemfs
