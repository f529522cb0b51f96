// The daemon's own mount as /proc/self/mountinfo shows it. Asking the kernel
// with stat(2) instead would be a request to this very daemon, which may not
// be serving yet (or any more).
#pragma once

#include <string>

namespace pmemfs::daemon {

// "MAJ:MIN" of the last (topmost) mount on mountpoint, or "".
std::string device_of(const std::string& mountpoint);

// A path field of /proc/self/mountinfo (or /proc/mounts) as the path itself:
// space, tab, newline and backslash come escaped as \ooo.
std::string unescape_mountinfo(const std::string& s);

}  // namespace pmemfs::daemon
