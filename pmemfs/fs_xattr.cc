// Extended attributes: set (XATTR_CREATE / XATTR_REPLACE), get, list, remove.
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>

#include "pmemfs/acl.h"
#include "pmemfs/crc32c.h"
#include "pmemfs/fs_impl.h"

namespace pmemfs {

using layout::kBlockSize;
using layout::XattrHeader;

namespace {

// listxattr shows these only to CAP_SYS_ADMIN (ext4's and tmpfs's list
// handlers do the same; the VFS already refuses the values to others).
constexpr std::string_view kTrustedPrefix = "trusted.";

XattrHeader make_header(uint32_t nblocks, uint64_t next, std::string_view name,
                        std::string_view value) {
  XattrHeader h{};
  h.magic = layout::kXattrMagic;
  h.nblocks = nblocks;
  h.next = next;
  h.name_len = static_cast<uint32_t>(name.size());
  h.value_len = static_cast<uint32_t>(value.size());
  h.data_checksum = crc32c(value.data(), value.size(), crc32c(name.data(), name.size()));
  h.checksum = crc32c(&h, offsetof(XattrHeader, checksum));
  return h;
}

}  // namespace

Result<std::vector<XattrEntry>*> FsImpl::xattrs_of(Inode& f) {
  InodeExtra& x = f.extra();
  std::call_once(x.xattr_once, [&] {
    auto l = load_xattrs(*pool_, *alloc_, f.rec.xattr_head, f.ino);
    if (l.ok())
      x.xattrs = std::move(*l);
    else
      x.xattr_load_error = l.error();
  });
  if (x.xattr_load_error) return err(x.xattr_load_error);
  return &x.xattrs;
}

void FsImpl::free_xattrs_locked(Txn& txn, Inode& f) {
  auto list = xattrs_of(f);
  if (!list.ok()) return;  // damaged chain: fsck reclaims its blocks
  for (const auto& x : **list) alloc_->free(txn, x.block, x.nblocks);
  (*list)->clear();
  f.rec.xattr_head = 0;
}

void FsImpl::restore_xattrs_on_abort(Txn& txn, const InodeRef& inode, uint64_t head) {
  // What is on media is what the dropped Txn never reached: read it back.
  txn.on_abort([this, inode, head] {
    inode->rec.xattr_head = head;
    auto l = load_xattrs(*pool_, *alloc_, head, inode->ino);
    InodeExtra& x = inode->extra();
    if (l.ok())
      x.xattrs = std::move(*l);
    else
      x.xattr_load_error = l.error();
  });
}

Status FsImpl::stage_setxattr_locked(Txn& txn, Inode& f, std::string_view name,
                                     std::string_view value, int flags) {
  auto list = xattrs_of(f);
  if (!list.ok()) return err(list.error());
  auto& xs = **list;
  auto it = std::find_if(xs.begin(), xs.end(), [&](const XattrEntry& x) { return x.name == name; });
  if ((flags & XATTR_CREATE) && it != xs.end()) return err(EEXIST);
  if ((flags & XATTR_REPLACE) && it == xs.end()) return err(ENODATA);

  const uint64_t bytes = sizeof(XattrHeader) + name.size() + value.size();
  const auto nblocks = static_cast<uint32_t>((bytes + kBlockSize - 1) / kBlockSize);
  auto run = alloc_->alloc_exact(txn, nblocks);
  if (!run.ok()) return err(run.error());
  const size_t pos = it == xs.end() ? 0 : static_cast<size_t>(it - xs.begin());
  // Replacing keeps the position in the chain; a new one goes first.
  const uint64_t new_next = it == xs.end() ? f.rec.xattr_head
                                           : (pos + 1 < xs.size() ? xs[pos + 1].block : 0);
  // The new run is complete and durable before the Txn links it in.
  char* dst = pool_->at<char>(run->pool_block * kBlockSize);
  XattrHeader h = make_header(nblocks, new_next, name, value);
  std::memcpy(dst, &h, sizeof(h));
  std::memcpy(dst + sizeof(h), name.data(), name.size());
  std::memcpy(dst + sizeof(h) + name.size(), value.data(), value.size());
  pool_->persist(dst, bytes);

  if (pos == 0) {
    f.rec.xattr_head = run->pool_block;
  } else {
    const XattrEntry& prev = xs[pos - 1];
    txn.write_record(prev.block * kBlockSize,
                     make_header(prev.nblocks, run->pool_block, prev.name, prev.value));
  }
  XattrEntry entry{std::string(name), std::string(value), run->pool_block, nblocks};
  if (it != xs.end()) {
    alloc_->free(txn, it->block, it->nblocks);
    xs[pos] = std::move(entry);
  } else {
    xs.insert(xs.begin(), std::move(entry));
  }
  return {};
}

Status FsImpl::stage_removexattr_locked(Txn& txn, Inode& f, std::string_view name) {
  auto list = xattrs_of(f);
  if (!list.ok()) return err(list.error());
  auto& xs = **list;
  auto it = std::find_if(xs.begin(), xs.end(), [&](const XattrEntry& x) { return x.name == name; });
  if (it == xs.end()) return err(ENODATA);
  const size_t pos = static_cast<size_t>(it - xs.begin());
  const uint64_t next = pos + 1 < xs.size() ? xs[pos + 1].block : 0;
  if (pos == 0) {
    f.rec.xattr_head = next;
  } else {
    const XattrEntry& prev = xs[pos - 1];
    txn.write_record(prev.block * kBlockSize, make_header(prev.nblocks, next, prev.name, prev.value));
  }
  alloc_->free(txn, it->block, it->nblocks);
  xs.erase(it);
  return {};
}

Status FsImpl::setxattr(uint64_t ino, std::string_view name, std::string_view value, int flags) {
  PMEMFS_TRY(check_xattr(name, value.size()));
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  std::unique_lock<InodeLock> lk(f.lock);
  Txn txn = journal_->begin();
  const uint64_t head = f.rec.xattr_head;
  if (acl::is_acl_xattr(name))
    PMEMFS_TRY(set_acl_locked(txn, f, name, value, flags));  // fs_acl.cc
  else
    PMEMFS_TRY(stage_setxattr_locked(txn, f, name, value, flags));
  restore_xattrs_on_abort(txn, *inode, head);
  f.fold_times();
  f.rec.ctime_ns = now_ns();
  inodes_->write(txn, f);
  return txn.commit();
}

Result<std::string> FsImpl::getxattr(uint64_t ino, std::string_view name) {
  if (name.size() > layout::kMaxNameLen) return err(ERANGE);
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  std::shared_lock<InodeLock> lk((*inode)->lock);
  auto list = xattrs_of(**inode);
  if (!list.ok()) return err(list.error());
  for (const auto& x : **list)
    if (x.name == name) return x.value;
  return err(ENODATA);
}

Result<std::vector<std::string>> FsImpl::listxattr(uint64_t ino, const Caller& who) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  std::shared_lock<InodeLock> lk((*inode)->lock);
  auto list = xattrs_of(**inode);
  if (!list.ok()) return err(list.error());
  std::vector<std::string> names;
  for (const auto& x : **list)
    if (who.cap_sys_admin || !x.name.starts_with(kTrustedPrefix)) names.push_back(x.name);
  return names;
}

Status FsImpl::removexattr(uint64_t ino, std::string_view name) {
  auto inode = get(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  std::unique_lock<InodeLock> lk(f.lock);
  Txn txn = journal_->begin();
  const uint64_t head = f.rec.xattr_head;
  PMEMFS_TRY(stage_removexattr_locked(txn, f, name));
  restore_xattrs_on_abort(txn, *inode, head);
  f.fold_times();
  f.rec.ctime_ns = now_ns();
  inodes_->write(txn, f);
  return txn.commit();
}

}  // namespace pmemfs
