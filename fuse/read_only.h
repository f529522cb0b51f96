// While the library is read-only (-o ro, or a remount to ro: remount.h)
// every request that would change the pool gets EROFS here, before the
// library sees it, as Filesystem::set_read_only requires. The kernel refuses
// them too while its mount is read-only; this gate also covers the moments
// of a remount when only one of the two has switched, and a kernel mount
// made read-write behind the daemon's back (mount(2) without mount.pmemfs).
#pragma once

#include <fuse_lowlevel.h>

namespace pmemfs::daemon {

// Wraps the modifying callbacks set in o (call it once the groups are in).
void gate_on_read_only(fuse_lowlevel_ops& o);

}  // namespace pmemfs::daemon
