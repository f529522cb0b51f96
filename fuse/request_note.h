// What libfuse 3.14 drops on a request's way to its callback, noted by the
// transport layer (transport.h) as it reads the request, for the callback
// that libfuse then runs on the same thread: its loops process a request on
// the thread that read it (fuse_session_loop; fuse_loop_mt.c's fuse_do_work
// receives and then processes in one iteration). So far that is the kernel's
// instruction to kill setuid/setgid (FUSE_HANDLE_KILLPRIV_V2,
// FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID), which libfuse 3.14 keeps
// from the write callbacks.
//
// Any transport calls note_request() on the buffer it hands to libfuse,
// before handing it over.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pmemfs::daemon {

struct RequestNote {
  uint64_t nodeid = 0;
  uint32_t opcode = 0;  // 0: no request noted
  // The kernel asks the server to kill setuid/setgid: on a WRITE, the writer
  // lacks CAP_FSETID; on a SETATTR, a truncate by such a caller or a chown.
  bool kill_suidgid = false;
};

// Notes the request in buf (its fuse_in_header and body, len bytes) for this
// thread, replacing the note of the request the thread read before.
void note_request(const void* buf, size_t len);

// This thread's note if it is of a request with this opcode for nodeid (the
// callback libfuse runs for it); nullptr otherwise.
const RequestNote* current_request(uint32_t opcode, uint64_t nodeid);

}  // namespace pmemfs::daemon
