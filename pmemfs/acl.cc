// The kernel's fs/posix_acl.c rules, on the xattr representation.
#include "pmemfs/acl.h"

#include <endian.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <sys/stat.h>

#include <cstring>

namespace pmemfs::acl {

namespace {

constexpr uint32_t kUndefinedId = static_cast<uint32_t>(ACL_UNDEFINED_ID);
constexpr uint16_t kPermBits = ACL_READ | ACL_WRITE | ACL_EXECUTE;

// posix_acl_valid(): entries in tag order, a mask required by any named
// entry, named entries with a real id. Like the kernel (and ext4, XFS), the
// order of the named entries among themselves is not checked: setfacl sorts
// them, and the permission check reads them all.
Status validate(const Acl& acl) {
  int state = ACL_USER_OBJ;
  bool needs_mask = false, has_mask = false;
  for (const Entry& e : acl) {
    if (e.perm & ~kPermBits) return err(EINVAL);
    switch (e.tag) {
      case ACL_USER_OBJ:
        if (state != ACL_USER_OBJ) return err(EINVAL);
        state = ACL_USER;
        break;
      case ACL_USER:
        if (state != ACL_USER || e.id == kUndefinedId) return err(EINVAL);
        needs_mask = true;
        break;
      case ACL_GROUP_OBJ:
        if (state != ACL_USER) return err(EINVAL);
        state = ACL_GROUP;
        break;
      case ACL_GROUP:
        if (state != ACL_GROUP || e.id == kUndefinedId) return err(EINVAL);
        needs_mask = true;
        break;
      case ACL_MASK:
        if (state != ACL_GROUP) return err(EINVAL);
        state = ACL_OTHER;
        has_mask = true;
        break;
      case ACL_OTHER:
        if (state == ACL_OTHER || (state == ACL_GROUP && !needs_mask)) {
          state = 0;
          break;
        }
        return err(EINVAL);
      default:
        return err(EINVAL);
    }
  }
  if (state != 0) return err(EINVAL);
  if (needs_mask && !has_mask) return err(EINVAL);
  return {};
}

}  // namespace

Result<Acl> parse(std::string_view x) {
  constexpr size_t kHeader = sizeof(posix_acl_xattr_header);
  constexpr size_t kEntry = sizeof(posix_acl_xattr_entry);
  if (x.size() < kHeader || (x.size() - kHeader) % kEntry != 0) return err(EINVAL);
  posix_acl_xattr_header h;
  std::memcpy(&h, x.data(), kHeader);
  if (le32toh(h.a_version) != POSIX_ACL_XATTR_VERSION) return err(EINVAL);
  Acl acl;
  for (size_t off = kHeader; off < x.size(); off += kEntry) {
    posix_acl_xattr_entry raw;
    std::memcpy(&raw, x.data() + off, kEntry);
    Entry e{le16toh(raw.e_tag), le16toh(raw.e_perm), le32toh(raw.e_id)};
    // The kernel ignores the id of the unnamed entries; so do we.
    if (e.tag != ACL_USER && e.tag != ACL_GROUP) e.id = kUndefinedId;
    acl.push_back(e);
  }
  PMEMFS_TRY(validate(acl));
  return acl;
}

std::string encode(const Acl& acl) {
  std::string out(sizeof(posix_acl_xattr_header) + acl.size() * sizeof(posix_acl_xattr_entry),
                  '\0');
  posix_acl_xattr_header h{htole32(POSIX_ACL_XATTR_VERSION)};
  std::memcpy(out.data(), &h, sizeof(h));
  size_t off = sizeof(h);
  for (const Entry& e : acl) {
    posix_acl_xattr_entry raw{htole16(e.tag), htole16(e.perm), htole32(e.id)};
    std::memcpy(out.data() + off, &raw, sizeof(raw));
    off += sizeof(raw);
  }
  return out;
}

mode_t mode_of(const Acl& acl, bool& equivalent) {
  mode_t mode = 0;
  equivalent = true;
  for (const Entry& e : acl) {
    switch (e.tag) {
      case ACL_USER_OBJ: mode |= (e.perm & S_IRWXO) << 6; break;
      case ACL_GROUP_OBJ: mode |= (e.perm & S_IRWXO) << 3; break;
      case ACL_OTHER: mode |= e.perm & S_IRWXO; break;
      case ACL_MASK:  // after group:: in a valid ACL: overrides it
        mode = (mode & ~S_IRWXG) | ((e.perm & S_IRWXO) << 3);
        equivalent = false;
        break;
      default: equivalent = false; break;
    }
  }
  return mode;
}

void chmod(Acl& acl, mode_t mode) {
  Entry *group_obj = nullptr, *mask = nullptr;
  for (Entry& e : acl) {
    switch (e.tag) {
      case ACL_USER_OBJ: e.perm = (mode & S_IRWXU) >> 6; break;
      case ACL_GROUP_OBJ: group_obj = &e; break;
      case ACL_MASK: mask = &e; break;
      case ACL_OTHER: e.perm = mode & S_IRWXO; break;
      default: break;
    }
  }
  if (Entry* g = mask ? mask : group_obj) g->perm = (mode & S_IRWXG) >> 3;
}

bool create_masq(Acl& acl, mode_t& mode_io) {
  mode_t mode = mode_io;
  bool not_equiv = false;
  Entry *group_obj = nullptr, *mask = nullptr;
  for (Entry& e : acl) {
    switch (e.tag) {
      case ACL_USER_OBJ:
        e.perm &= (mode >> 6) & S_IRWXO;
        mode &= (e.perm << 6) | ~S_IRWXU;
        break;
      case ACL_GROUP_OBJ: group_obj = &e; break;
      case ACL_MASK:
        mask = &e;
        not_equiv = true;
        break;
      case ACL_OTHER:
        e.perm &= mode & S_IRWXO;
        mode &= e.perm | ~S_IRWXO;
        break;
      default: not_equiv = true; break;  // named users and groups
    }
  }
  if (Entry* g = mask ? mask : group_obj) {
    g->perm &= (mode >> 3) & S_IRWXO;
    mode &= (g->perm << 3) | ~S_IRWXG;
  }
  mode_io = (mode_io & ~(S_IRWXU | S_IRWXG | S_IRWXO)) | (mode & (S_IRWXU | S_IRWXG | S_IRWXO));
  return not_equiv;
}

}  // namespace pmemfs::acl
