#include "pmemfs/xattr.h"

#include <unordered_set>

#include <spdlog/spdlog.h>

#include "pmemfs/acl.h"
#include "pmemfs/alloc.h"
#include "pmemfs/crc32c.h"
#include "pmemfs/layout.h"
#include "pmemfs/pool.h"

namespace pmemfs {

using layout::XattrHeader;

Result<std::vector<XattrEntry>> load_xattrs(const Pool& pool, const Allocator& alloc, uint64_t head,
                                            uint64_t ino) {
  std::vector<XattrEntry> out;
  std::unordered_set<uint64_t> seen;
  for (uint64_t b = head; b != 0;) {
    if (!alloc.in_data_area(b, 1) || !seen.insert(b).second) {
      spdlog::error("inode {}: xattr chain leads to block {}, {}", ino, b,
                    seen.count(b) ? "where it was already" : "outside the data area");
      return err(EUCLEAN);
    }
    const auto* h = pool.at<XattrHeader>(b * layout::kBlockSize);
    const char* data = reinterpret_cast<const char*>(h + 1);
    // Header first: its lengths say how far the name and value reach.
    if (h->magic != layout::kXattrMagic ||
        h->checksum != crc32c(h, offsetof(XattrHeader, checksum)) ||
        h->name_len == 0 || h->name_len > layout::kMaxNameLen ||
        h->value_len > layout::kMaxXattrValue || !alloc.in_data_area(b, h->nblocks) ||
        sizeof(XattrHeader) + h->name_len + h->value_len > uint64_t{h->nblocks} * layout::kBlockSize ||
        h->data_checksum != crc32c(data, h->name_len + h->value_len)) {
      spdlog::error("inode {}: xattr block {} is damaged (run fsck.pmemfs)", ino, b);
      return err(EUCLEAN);
    }
    out.push_back({std::string(data, h->name_len), std::string(data + h->name_len, h->value_len),
                   b, h->nblocks});
    b = h->next;
  }
  return out;
}

Status check_xattr(std::string_view name, size_t value_len) {
  if (name.empty()) return err(EINVAL);
  if (name.size() > layout::kMaxNameLen) return err(ERANGE);
  if (value_len > layout::kMaxXattrValue) return err(E2BIG);
  for (std::string_view ns : {"user.", "trusted.", "security."})
    if (name.size() > ns.size() && name.substr(0, ns.size()) == ns) return {};
  if (acl::is_acl_xattr(name)) return {};
  return err(EOPNOTSUPP);  // the rest of system.* and unknown namespaces
}

}  // namespace pmemfs
