// The daemon's heap: which allocator it runs on and giving freed memory back
// to the system (issue 12, item 2: RSS falls once the kernel forgets inodes).
//
// glibc malloc by default: heap_trim() (malloc_trim) after each FORGET batch
// returns the whole free pages of every arena to the kernel. -Dmimalloc=enabled
// links Debian's mimalloc instead (never with a sanitizer, which brings its
// own allocator), heap_trim() then being mi_collect(true) with page reset on.
// Measured with bench_metadata 200000 (bytes per file held / after forget):
// glibc 271 / 40, mimalloc 2.0.9 257 / 129 -- hence the default.
#pragma once

namespace pmemfs::daemon {

// "mimalloc 2.0.9" or "glibc malloc", for the start-up log line.
const char* heap_name();
// Returns free heap memory to the system. Cheap enough for every FORGET batch
// of a few thousand inodes; rate limited to once per 100 ms.
void heap_trim();

}  // namespace pmemfs::daemon
