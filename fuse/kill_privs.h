// Setuid, setgid and file capabilities dropped when someone changes a file,
// by the kernel's rules (setattr_should_drop_suidgid in fs/attr.c, chown_common
// in fs/open.c, file_remove_privs in fs/inode.c), for the requests where the
// kernel leaves it to the filesystem. pmemfs negotiates
// FUSE_HANDLE_KILLPRIV_V2, so that is every write, truncate and chown: the
// kernel says in the request whether the caller lacks CAP_FSETID
// (FUSE_WRITE_KILL_SUIDGID, FATTR_KILL_SUIDGID; request_note.h), and in
// return skips its security.capability lookup before each write (the
// superblock gets SB_NOSEC). fallocate and copy_file_range carry no such
// flag; there uid 0 stands for CAP_FSETID, as it does for the kernel's
// default capabilities.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include "pmemfs/filesystem.h"

namespace pmemfs::daemon {

// The bits of mode a data change (write, truncate, fallocate) by a caller
// drops: S_ISUID always, S_ISGID when the file is group-executable or the
// caller is not in its group, and nothing for a privileged caller (CAP_FSETID)
// or a file that is not regular. in_group(gid) answers whether the caller
// belongs to gid.
template <typename InGroup>
mode_t suid_sgid_to_drop(mode_t mode, gid_t file_gid, bool privileged, InGroup&& in_group) {
  if (privileged || !S_ISREG(mode)) return 0;
  mode_t drop = mode & S_ISUID;
  if ((mode & S_ISGID) && ((mode & S_IXGRP) || !in_group(file_gid))) drop |= S_ISGID;
  return drop;
}

// The bits a chown drops (chown_common): S_ISUID always, a privileged
// caller's too; S_ISGID by the rule above (file_gid is the group before the
// change). Nothing for a directory.
template <typename InGroup>
mode_t suid_sgid_to_drop_on_chown(mode_t mode, gid_t file_gid, bool privileged, InGroup&& in_group) {
  if (S_ISDIR(mode)) return 0;
  mode_t drop = mode & S_ISUID;
  if ((mode & S_ISGID) && ((mode & S_IXGRP) || (!privileged && !in_group(file_gid)))) drop |= S_ISGID;
  return drop;
}

// Before the caller of req writes to ino: drops setuid/setgid if the kernel
// said the caller lacks CAP_FSETID (kill_suidgid), and security.capability
// whoever writes. Costs one getattr when there is nothing to drop. A write
// of the writeback cache (the writer unknown; the kernel did this at
// write(2)) must not come here. Returns an errno.
int kill_privs_before_write(fuse_req_t req, fuse_ino_t ino, bool kill_suidgid);

// For a SETATTR from the caller of req: adds to sa what a truncate
// (kill_suidgid: the caller lacks CAP_FSETID) or a chown drops of
// setuid/setgid, and removes security.capability on either. Returns an errno.
int kill_privs_for_setattr(fuse_req_t req, fuse_ino_t ino, SetAttr& sa, bool kill_suidgid);

// After the caller of req changed the data of ino (fallocate, punch, zero
// range, copy_file_range): drops what suid_sgid_to_drop says, privileged
// meaning uid 0, and security.capability. Returns an errno (0 when nothing
// was to do).
int drop_suid_sgid_after_data_change(fuse_req_t req, fuse_ino_t ino);

}  // namespace pmemfs::daemon
