// POSIX ACLs in the form the kernel hands them to a FUSE filesystem with
// FUSE_POSIX_ACL: the values of the system.posix_acl_access and
// system.posix_acl_default xattrs, a posix_acl_xattr_header followed by
// posix_acl_xattr_entry records (linux/posix_acl_xattr.h, little endian).
// pmemfs stores those bytes as they come, after checking them as the
// kernel's posix_acl_valid() does; the functions below are the kernel's
// fs/posix_acl.c rules the filesystem must apply itself (the kernel leaves
// keeping mode and ACL in step, and inheritance, to the FUSE server).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "pmemfs/result.h"

namespace pmemfs::acl {

inline constexpr std::string_view kAccessXattr = "system.posix_acl_access";
inline constexpr std::string_view kDefaultXattr = "system.posix_acl_default";

inline bool is_acl_xattr(std::string_view name) {
  return name == kAccessXattr || name == kDefaultXattr;
}

struct Entry {
  uint16_t tag;   // ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER
  uint16_t perm;  // ACL_READ | ACL_WRITE | ACL_EXECUTE
  uint32_t id;    // uid or gid for ACL_USER / ACL_GROUP, else ACL_UNDEFINED_ID
};

using Acl = std::vector<Entry>;

// Decodes an xattr value; EINVAL unless it is a valid ACL: version 2, whole
// entries, one each of user::, group:: and other::, a mask when any named
// entry is there, every entry in the kernel's tag order, permissions within
// rwx, named entries with an id (posix_acl_valid).
Result<Acl> parse(std::string_view xattr);
std::string encode(const Acl& acl);

// The permission bits an access ACL stands for (posix_acl_equiv_mode):
// owner from user::, group from the mask (or group::), other from other::.
// `equivalent` tells whether the mode says all of it (no named entries, no
// mask), in which case the ACL need not be stored.
mode_t mode_of(const Acl& acl, bool& equivalent);

// chmod (posix_acl_chmod_masq): user::, the mask (or group:: without one)
// and other:: take the new mode's owner, group and other bits.
void chmod(Acl& acl, mode_t mode);

// A new node's access ACL from its parent's default ACL
// (posix_acl_create_masq): the entries are masked by the create mode and the
// mode by the entries. Updates `mode` (its permission bits) and returns
// whether the result needs an access ACL (false: the mode says it all).
bool create_masq(Acl& acl, mode_t& mode);

}  // namespace pmemfs::acl
