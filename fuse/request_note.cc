#include "fuse/request_note.h"

#include <cstring>

#include "fuse/kernel_abi.h"

namespace pmemfs::daemon {
namespace {

namespace k = kabi;

thread_local RequestNote t_note;

// The request body as T, if the request is long enough to hold one.
template <typename T>
bool body_as(const char* buf, size_t len, T& out) {
  if (len < sizeof(k::fuse_in_header) + sizeof(T)) return false;
  std::memcpy(&out, buf + sizeof(k::fuse_in_header), sizeof(T));
  return true;
}

}  // namespace

void note_request(const void* buf, size_t len) {
  t_note = RequestNote{};
  if (len < sizeof(k::fuse_in_header)) return;
  const char* p = static_cast<const char*>(buf);
  k::fuse_in_header in;
  std::memcpy(&in, p, sizeof in);
  t_note.nodeid = in.nodeid;
  t_note.opcode = in.opcode;
  if (in.opcode == k::FUSE_WRITE) {
    k::fuse_write_in w;
    if (body_as(p, len, w)) t_note.kill_suidgid = w.write_flags & k::FUSE_WRITE_KILL_SUIDGID;
  } else if (in.opcode == k::FUSE_SETATTR) {
    k::fuse_setattr_in s;
    if (body_as(p, len, s)) t_note.kill_suidgid = s.valid & k::FATTR_KILL_SUIDGID;
  }
}

const RequestNote* current_request(uint32_t opcode, uint64_t nodeid) {
  if (t_note.opcode != opcode || t_note.nodeid != nodeid) return nullptr;
  return &t_note;
}

}  // namespace pmemfs::daemon
