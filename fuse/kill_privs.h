// Setuid and setgid dropped when someone changes a file's data, by the
// kernel's rules (setattr_should_drop_suidgid in fs/attr.c), for the requests
// where the kernel leaves it to the filesystem.
#pragma once

#include <sys/types.h>

#include <fuse_lowlevel.h>

namespace pmemfs::daemon {

// The bits of mode a data change by a caller drops: S_ISUID always, S_ISGID
// when the file is group-executable or the caller is not in its group, and
// nothing for a privileged caller or a file that is not regular.
// in_group(gid) answers whether the caller belongs to gid.
template <typename InGroup>
mode_t suid_sgid_to_drop(mode_t mode, gid_t file_gid, bool privileged, InGroup&& in_group) {
  if (privileged || !S_ISREG(mode)) return 0;
  mode_t drop = mode & S_ISUID;
  if ((mode & S_ISGID) && ((mode & S_IXGRP) || !in_group(file_gid))) drop |= S_ISGID;
  return drop;
}

// After the caller of req changed the data of ino (fallocate, punch, zero
// range): drops what suid_sgid_to_drop says, as one setattr. CAP_FSETID is
// not in the request; uid 0 stands for it, as it does for the kernel's
// default capabilities. Returns an errno (0 when nothing was to do).
int drop_suid_sgid_after_data_change(fuse_req_t req, fuse_ino_t ino);

}  // namespace pmemfs::daemon
