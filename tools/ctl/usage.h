// pmemfs-ctl usage MOUNTPOINT [--svg FILE]: the data area of a mount as
// 2 MiB cells (pmemfs/usage.h), read from user.pmemfs.usage and, for the
// drawing, user.pmemfs.usage.cells.FROM page after page (fuse/control.h).
#pragma once

namespace pmemfs::ctl {

// Prints the summary; with svg, also writes the drawing there. The exit
// status of the command.
int usage(const char* mountpoint, const char* svg);

}  // namespace pmemfs::ctl
