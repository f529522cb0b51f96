// The memory of one FUSE-over-io_uring ring entry (kernel_abi.h, "FUSE over
// io_uring") and the two conversions the daemon needs on it: the request the
// kernel left in the entry, made into the one contiguous buffer libfuse 3.14
// parses (what read(2) on /dev/fuse returns), and a reply libfuse wrote as an
// iovec, put where the kernel looks for it. No ring, no thread: the caller
// owns the entry and uses it from one thread at a time.
//
// Layout: one anonymous mapping of
//   [ fuse_uring_req_header | padding ][ lead room ][ payload, capacity bytes ]
//   page 0                              page 1        from page 2 on
// The payload buffer is what the kernel registers; the request's
// fuse_in_header and first argument are copied into the lead room right
// before it, so a WRITE's data is never copied (a 1 MiB memcpy per request
// would cost more than the ring saves). Pages the kernel never writes are
// never allocated, so a 1 MiB capacity costs what the requests touch.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>

#include "fuse/kernel_abi.h"

namespace pmemfs::daemon {

class RingEntry {
 public:
  // An entry whose payload buffer holds capacity bytes, which must be at
  // least the kernel's max(8192, max_write, max_pages * page size).
  // nullptr when the memory cannot be mapped.
  static std::unique_ptr<RingEntry> create(size_t capacity);
  ~RingEntry();
  RingEntry(const RingEntry&) = delete;
  RingEntry& operator=(const RingEntry&) = delete;

  kabi::fuse_uring_req_header* header() { return header_; }
  char* payload() { return payload_; }
  size_t capacity() const { return capacity_; }
  // The two iovecs FUSE_IO_URING_CMD_REGISTER points at: header, payload.
  // Stable for the entry's life.
  const struct iovec* iov() const { return iov_; }

  // The request in the entry as one buffer: fuse_in_header, first argument,
  // payload. Sets *start; returns the length (in.len), or -EPROTO when the
  // sizes the kernel wrote do not add up (the request cannot be parsed).
  ssize_t rebuild_request(char** start);
  // The request's unique (commit_id) and opcode, as the kernel wrote them.
  uint64_t commit_id() const;
  uint32_t opcode() const;

  // Puts a reply (iov[0]: the fuse_out_header, then the payload pieces) in
  // the entry for FUSE_IO_URING_CMD_COMMIT_AND_FETCH. Returns its length.
  // A reply larger than the payload buffer (never a valid one) is replaced
  // by an EIO reply to the same request and -EMSGSIZE is returned. The
  // pieces must not point into this entry's payload.
  ssize_t store_reply(const struct iovec* iov, int count);
  // An error reply to unique, for a request that could not be handed on.
  void store_error(uint64_t unique, int error);

 private:
  RingEntry(char* base, size_t map_len, size_t capacity);

  char* base_;
  size_t map_len_;
  size_t capacity_;
  kabi::fuse_uring_req_header* header_;
  char* payload_;
  struct iovec iov_[2];
};

}  // namespace pmemfs::daemon
