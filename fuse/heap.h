// The daemon's heap: which allocator it runs on and giving freed memory back
// to the system (issue 12, item 2: RSS falls once the kernel forgets inodes).
//
// The daemon and the benchmarks link Debian's mimalloc when the build found it
// and has no sanitizer (-Db_sanitize must be none: ASan and TSan bring their
// own allocator); it returns the pages of freed objects to the kernel on its
// own. heap_trim() additionally asks for it at once (mi_collect), or of glibc
// (malloc_trim) in a build without mimalloc.
#pragma once

namespace pmemfs::daemon {

// "mimalloc 2.0.9" or "glibc malloc", for the start-up log line.
const char* heap_name();
// Returns free heap memory to the system. Cheap enough for every FORGET batch
// of a few thousand inodes; rate limited to once per 100 ms.
void heap_trim();

}  // namespace pmemfs::daemon
