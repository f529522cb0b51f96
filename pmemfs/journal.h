// Journal: crash-atomic metadata updates through a redo log in lanes.
//
// A Txn gathers records in DRAM (whole-record writes and bit set/clear on
// bitmap words). commit() takes a free lane, writes the records there,
// drains, persists the commit header, applies the records in place, persists
// them and frees the lane. Lanes let concurrent operations commit without
// waiting for each other; a lane is held only for the commit itself.
//
// Ordering contract: callers hold the locks of every object whose record a
// Txn writes from the moment they read it until commit() returns, so two
// committed-but-unapplied lanes that write the same bytes are always ordered
// by their seq. Bit records are idempotent and commute, so bitmap words shared
// by unrelated operations need no lock across commit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "pmemfs/layout.h"
#include "pmemfs/pool.h"
#include "pmemfs/result.h"

namespace pmemfs {

class Journal;

class Txn {
 public:
  explicit Txn(Journal& j) : journal_(&j) {}
  // A moved-from Txn is inert: its hooks went with it.
  Txn(Txn&& o) noexcept { *this = std::move(o); }
  Txn& operator=(Txn&& o) noexcept;
  ~Txn();  // not committed: runs the abort hooks (returns reserved resources)

  // Queues a write of len bytes to pool offset target. Records apply in the
  // order queued, so a later write to the same bytes wins.
  void write(uint64_t target, const void* src, uint32_t len);
  template <typename T>
  void write_record(uint64_t target, const T& rec) { write(target, &rec, sizeof(T)); }
  void set_bits(uint64_t word_off, uint64_t mask);
  void clear_bits(uint64_t word_off, uint64_t mask);

  // Run after a successful commit (e.g. release freed blocks for reuse) or
  // when the Txn is dropped uncommitted (e.g. return reserved blocks).
  void on_commit(std::function<void()> fn) { commit_hooks_.push_back(std::move(fn)); }
  void on_abort(std::function<void()> fn) { abort_hooks_.push_back(std::move(fn)); }

  bool empty() const { return nrecords_ == 0; }
  size_t bytes() const { return buf_.size(); }
  // Room left before the Txn outgrows a lane; callers split big work on it.
  size_t room() const;
  Status commit();

 private:
  void add(uint32_t kind, uint64_t target, const void* payload, uint32_t len);
  void finish_uncommitted();
  Journal* journal_ = nullptr;
  std::vector<char> buf_;
  uint32_t nrecords_ = 0;
  bool done_ = false;
  std::vector<std::function<void()>> commit_hooks_, abort_hooks_;
};

class Journal {
 public:
  Journal(Pool& pool, uint64_t off, uint32_t lanes, uint64_t lane_size);

  // Applies every committed lane in seq order and frees all lanes. Call once
  // at mount, before anything else reads metadata. Returns the count replayed.
  Result<uint32_t> replay();
  Txn begin() { return Txn(*this); }
  uint64_t commits() const;
  uint64_t lane_capacity() const { return lane_size_ - sizeof(layout::LaneHeader); }

  // Applies one record to the pool (used by commit and replay).
  static void apply_record(Pool& pool, const layout::JournalRecord& rec, const char* payload);

 private:
  friend class Txn;
  Status commit(const std::vector<char>& records, uint32_t nrecords);
  uint32_t acquire_lane();
  void release_lane(uint32_t lane);
  layout::LaneHeader* header(uint32_t lane) const;
  // Why the records of a committed lane (checksums verified) may not be
  // applied, or "" when they may.
  std::string records_problem(const layout::LaneHeader& h) const;

  Pool& pool_;
  const uint64_t off_;
  const uint32_t lanes_;
  const uint64_t lane_size_;
  mutable std::mutex mu_;  // guards free_lanes_, seq_, commits_; a leaf lock
  std::condition_variable lane_freed_;
  std::vector<uint32_t> free_lanes_;
  uint64_t seq_ = 1;
  uint64_t commits_ = 0;
};

}  // namespace pmemfs
