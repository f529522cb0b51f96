#include "fuse/uring_entry.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>

namespace pmemfs::daemon {

namespace k = kabi;

std::unique_ptr<RingEntry> RingEntry::create(size_t capacity) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  capacity = (capacity + page - 1) / page * page;
  const size_t len = 2 * page + capacity;
  void* p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  if (p == MAP_FAILED) return nullptr;
  RingEntry* e = new (std::nothrow) RingEntry(static_cast<char*>(p), len, capacity);
  if (!e) munmap(p, len);
  return std::unique_ptr<RingEntry>(e);
}

RingEntry::RingEntry(char* base, size_t map_len, size_t capacity)
    : base_(base), map_len_(map_len), capacity_(capacity) {
  const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  static_assert(sizeof(k::fuse_uring_req_header) <= 4096);
  header_ = reinterpret_cast<k::fuse_uring_req_header*>(base_);
  payload_ = base_ + 2 * page;
  iov_[0] = {header_, sizeof(k::fuse_uring_req_header)};
  iov_[1] = {payload_, capacity_};
}

RingEntry::~RingEntry() { munmap(base_, map_len_); }

uint64_t RingEntry::commit_id() const {
  k::fuse_uring_ent_in_out io;
  std::memcpy(&io, &header_->ring_ent_in_out, sizeof io);
  return io.commit_id;
}

uint32_t RingEntry::opcode() const {
  k::fuse_in_header in;
  std::memcpy(&in, header_->in_out, sizeof in);
  return in.opcode;
}

ssize_t RingEntry::rebuild_request(char** start) {
  k::fuse_in_header in;
  std::memcpy(&in, header_->in_out, sizeof in);
  k::fuse_uring_ent_in_out io;
  std::memcpy(&io, &header_->ring_ent_in_out, sizeof io);
  // in.len counts the header, the first argument (in op_in) and the rest
  // (in the payload): what is left after header and payload is op_in's size.
  if (in.len < sizeof in || io.payload_sz > capacity_ || in.len - sizeof in < io.payload_sz)
    return -EPROTO;
  const size_t op_len = in.len - sizeof in - io.payload_sz;
  if (op_len > k::FUSE_URING_OP_IN_OUT_SZ) return -EPROTO;
  char* s = payload_ - op_len - sizeof in;  // inside the lead page
  std::memcpy(s, &in, sizeof in);
  std::memcpy(s + sizeof in, header_->op_in, op_len);
  *start = s;
  return in.len;
}

ssize_t RingEntry::store_reply(const struct iovec* iov, int count) {
  k::fuse_out_header out{};
  if (count < 1 || iov[0].iov_len < sizeof out) return -EINVAL;
  std::memcpy(&out, iov[0].iov_base, sizeof out);
  size_t total = iov[0].iov_len;
  for (int i = 1; i < count; ++i) total += iov[i].iov_len;
  const size_t payload = total - sizeof out;
  if (payload > capacity_) {
    store_error(out.unique, EIO);
    return -EMSGSIZE;
  }
  // A header iovec longer than fuse_out_header carries payload too.
  size_t at = 0;
  auto put = [&](const char* p, size_t n) {
    std::memcpy(payload_ + at, p, n);
    at += n;
  };
  put(static_cast<const char*>(iov[0].iov_base) + sizeof out, iov[0].iov_len - sizeof out);
  for (int i = 1; i < count; ++i) put(static_cast<const char*>(iov[i].iov_base), iov[i].iov_len);
  out.len = static_cast<uint32_t>(total);
  std::memcpy(header_->in_out, &out, sizeof out);
  k::fuse_uring_ent_in_out io;
  std::memcpy(&io, &header_->ring_ent_in_out, sizeof io);
  io.payload_sz = static_cast<uint32_t>(payload);
  std::memcpy(&header_->ring_ent_in_out, &io, sizeof io);
  return static_cast<ssize_t>(total);
}

void RingEntry::store_error(uint64_t unique, int error) {
  k::fuse_out_header out{};
  out.len = sizeof out;
  out.error = -error;
  out.unique = unique;
  std::memcpy(header_->in_out, &out, sizeof out);
  k::fuse_uring_ent_in_out io;
  std::memcpy(&io, &header_->ring_ent_in_out, sizeof io);
  io.payload_sz = 0;
  std::memcpy(&header_->ring_ent_in_out, &io, sizeof io);
}

}  // namespace pmemfs::daemon
