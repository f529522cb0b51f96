// `mount -o remount,OPTIONS MOUNTPOINT` for a running daemon. mount.pmemfs
// reads the control attribute user.pmemfs.remount.OPTIONS on the mount's
// root (root only); the daemon then
//   - checks every word against how it runs (a word that cannot change, like
//     cache=none on a writethrough mount, refuses the whole remount and
//     changes nothing; one that repeats the current state is fine: mount(8)
//     passes the current options along),
//   - to read-write: switches the library first (marks the pool in use), then
//     the kernel's mount (mount(2) MS_REMOUNT); to read-only: the kernel
//     first, which writes back its dirty pages and refuses while a file is
//     open for writing, then the library (everything durable, pool clean),
//   - applies what it can: ro/rw, the atime words, nosuid/nodev/noexec,
//     sync/async, lazytime/nolazytime and log_level,
// and answers with the outcome. A getxattr rather than a setxattr because
// the VFS refuses setxattr on a read-only mount, so it could never bring
// one back to read-write. The mount(2) runs in a thread of its own: the
// kernel's writeback during it needs the request loop (also with -s).
#pragma once

#include <fuse_lowlevel.h>

#include <string_view>

#include "fuse/options.h"
#include "pmemfs/filesystem.h"

namespace pmemfs::daemon {

inline constexpr std::string_view kRemountPrefix = "user.pmemfs.remount.";

// Before the session starts; mounted holds the absolute mount point.
void remount_setup(Filesystem& fs, const Options& mounted);
// After the session ended: waits for a remount still running.
void remount_shutdown();

// Answers a getxattr of kRemountPrefix + OPTIONS: replies itself, now or
// from the remount thread. The value is one line of JSON on success,
// {"read_only":true,"atime":"relatime","diratime":true}, or lines that each
// start with "error: " (nothing was changed unless a line says so).
void remount_getxattr(fuse_req_t req, fuse_ino_t ino, std::string_view name, size_t size);

}  // namespace pmemfs::daemon
