// The direct-access protocol between a pmemfs daemon and the client library
// of the processes it serves (dax/client/, pmemfs-run; pmemfs/dax.h has the
// library's half and the lock order).
//
// Transport: a SOCK_SEQPACKET Unix socket per mount, its (abstract) address
// given by the xattr kDaxXattr of any regular file of the mount. Messages are
// the fixed-size structs below, one per packet, in host byte order (client
// and daemon run on the same machine).
//
// Connections:
//   control  the client's first: kHello with the client's own descriptor of
//            the pool (SCM_RIGHTS), which proves that it may open the pool
//            itself -- the trust model: direct access is for processes that
//            could write the pool anyway. The daemon checks the descriptor is
//            the pool it serves, open for reading and writing, and answers
//            kWelcome with the client's id. Afterwards the daemon sends
//            kRevoke on it and the client's control thread answers kRevoked;
//            the connection's end (the client exited) ends the client.
//   fault    one per faulting thread of the client: kAttach with the id,
//            then kFault requests, each answered by kEntry. A thread blocks
//            in its fault handler meanwhile; the control thread never does,
//            so a revocation is answered while faults wait for the inode.
//
// A revocation (pmemfs/dax.h): the daemon, holding the inode lock exclusive,
// sends kRevoke to every client it ever handed an entry of the inode and
// waits for each kRevoked. The client replaces every mapping of those pages
// with an inaccessible reservation before it answers, so that its next
// access faults again. A client that does not answer within the daemon's
// revoke timeout is killed (it may be stopped, or hostile) and the daemon
// waits for its control connection to close, which the kernel does only
// once its mappings are gone: no freed block is reused while it can reach it.
#pragma once

#include <cstdint>

namespace pmemfs::dax {

inline constexpr uint32_t kProtocolVersion = 1;
// The xattr of a regular file that says where the daemon listens:
// "<socket address>\n<pool path>\n"; ENODATA when direct access is off.
inline constexpr const char* kDaxXattr = "user.pmemfs.dax";

enum MessageKind : uint32_t {
  kHello = 1,    // client -> daemon, control: version, pid; the pool fd attached
  kWelcome = 2,  // daemon -> client: status (0 or an errno), client id, pool size
  kAttach = 3,   // client -> daemon, fault: the client id
  kFault = 4,    // client -> daemon: ino, page, write
  kEntry = 5,    // daemon -> client: status, the entry
  kRevoke = 6,   // daemon -> client, control: ino, pages [first, last]
  kRevoked = 7,  // client -> daemon: the revocation's id
  kFlushed = 8,  // client -> daemon, control: bytes an msync flushed (stats)
};

enum EntryKindWire : uint32_t { kWireHole = 0, kWirePte = 1, kWirePmd = 2 };

struct Message {
  uint32_t kind = 0;
  uint32_t status = 0;   // kWelcome, kEntry: 0 or an errno
  uint64_t id = 0;       // kWelcome, kAttach: the client; kRevoke, kRevoked: the revocation
  uint64_t ino = 0;      // kFault, kRevoke
  uint64_t page = 0;     // kFault: the faulting page; kEntry: first page; kRevoke: first
  uint64_t last = 0;     // kRevoke: last page (inclusive); kEntry: number of pages
  uint64_t pool_off = 0; // kEntry: pool byte offset of the first page; kWelcome: pool size
  uint32_t write = 0;    // kFault: a store; kEntry: EntryKindWire
  uint32_t version = 0;  // kHello: kProtocolVersion
  uint64_t pid = 0;      // kHello: the client's pid; kFlushed: bytes
};
static_assert(sizeof(Message) == 64);

}  // namespace pmemfs::dax
