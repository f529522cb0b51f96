// Directories (listing with and without attributes) and statfs.
#include "fuse/ops_internal.h"

#include "fuse/power_cut.h"

#include <sys/statvfs.h>

#include <string>
#include <vector>

namespace pmemfs::daemon {
namespace {

void pm_opendir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) noexcept {
  if (ctx(req).cache != CacheMode::kNone) {
    // The kernel drops a directory's cached listing itself whenever it
    // changes the directory, and no one else changes it; but a listing must
    // reach the daemon when it updates the access time.
    fi->cache_readdir = 1;
    bool keep = true;
    (void)guarded("opendir", [&] {
      keep = keep_cache_for_atime(req, ino, O_RDONLY);
      return 0;
    });
    fi->keep_cache = keep;
  }
  fuse_reply_open(req, fi);
}

bool is_dot_or_dotdot(const std::string& n) { return n == "." || n == ".."; }

int do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, std::vector<char>& buf,
               size_t& used) {
  buf.resize(size);
  used = 0;
  return fs(req)
      .readdir(ino, off,
               [&](const DirEntry& d) {
                 struct stat st {};
                 st.st_ino = d.ino;
                 st.st_mode = d.type << 12;
                 size_t n = fuse_add_direntry(req, buf.data() + used, size - used, d.name.c_str(),
                                              &st, static_cast<off_t>(d.offset));
                 if (n > size - used) return false;
                 used += n;
                 return true;
               })
      .error();
}

void pm_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, fuse_file_info*) noexcept {
  std::vector<char> buf;
  size_t used = 0;
  int err = guarded("readdir", [&] { return do_readdir(req, ino, size, off, buf, used); });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_buf(req, buf.data(), used);
}

// readdirplus hands the kernel an entry (one reference) per name, so each name
// is looked up. The names are gathered first and looked up after the
// library's readdir returns: lookup inside its callback would re-enter the
// directory's lock.
int do_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                   std::vector<char>& buf, size_t& used, std::vector<uint64_t>& referenced) {
  auto& c = ctx(req);
  std::vector<DirEntry> names;
  size_t need = 0;
  auto st = c.fs->readdir(ino, off, [&](const DirEntry& d) {
    size_t n = fuse_add_direntry_plus(req, nullptr, 0, d.name.c_str(), nullptr, 0);
    if (need + n > size) return false;
    need += n;
    names.push_back(d);
    return true;
  });
  if (!st) return st.error();

  buf.resize(size);
  used = 0;
  for (const DirEntry& d : names) {
    fuse_entry_param e{};
    if (is_dot_or_dotdot(d.name)) {
      // No reference for these: the kernel does not count them (ino 0).
      e.attr.st_ino = d.ino;
      e.attr.st_mode = d.type << 12;
    } else {
      auto r = c.fs->lookup(ino, d.name);
      if (!r) {
        if (r.error() == ENOENT) continue;  // removed since readdir: skip it
        if (used == 0) return r.error();
        break;  // return what we have; the kernel asks again from here
      }
      fill_entry(c, *r, &e);
      referenced.push_back(e.ino);
    }
    size_t n = fuse_add_direntry_plus(req, buf.data() + used, size - used, d.name.c_str(), &e,
                                      static_cast<off_t>(d.offset));
    if (n > size - used) {  // cannot happen (sizes were counted), but never leak a reference
      if (e.ino) {
        c.fs->forget(e.ino, 1);
        referenced.pop_back();
      }
      break;
    }
    used += n;
  }
  return 0;
}

void pm_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
                    fuse_file_info*) noexcept {
  std::vector<char> buf;
  size_t used = 0;
  std::vector<uint64_t> referenced;
  int err = guarded("readdirplus",
                    [&] { return do_readdirplus(req, ino, size, off, buf, used, referenced); });
  if (err) {
    for (uint64_t i : referenced) fs(req).forget(i, 1);
    fuse_reply_err(req, err);
    return;
  }
  if (fuse_reply_buf(req, buf.data(), used) == -ENOENT) {
    for (uint64_t i : referenced) fs(req).forget(i, 1);
  }
}

void pm_releasedir(fuse_req_t req, fuse_ino_t, fuse_file_info*) noexcept {
  fuse_reply_err(req, 0);
}

void pm_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info*) noexcept {
  const int err = guarded("fsyncdir", [&] { return fs(req).fsync(ino, datasync != 0).error(); });
  OpsContext& c = ctx(req);
  reply_status(req, err);
  if (!err) sync_answered(c);
}

// ---- file system -------------------------------------------------------------

void pm_statfs(fuse_req_t req, fuse_ino_t) noexcept {
  struct statvfs sv {};
  int err = guarded("statfs", [&] {
    auto r = fs(req).statfs();
    if (!r) return r.error();
    sv.f_bsize = r->block_size;
    sv.f_frsize = r->block_size;
    sv.f_blocks = r->blocks;
    sv.f_bfree = r->blocks_free;
    sv.f_bavail = r->blocks_free;  // no blocks reserved for root
    sv.f_files = r->inodes;
    sv.f_ffree = r->inodes_free;
    sv.f_favail = r->inodes_free;
    sv.f_namemax = r->name_max;
    return 0;
  });
  if (err) fuse_reply_err(req, err);
  else fuse_reply_statfs(req, &sv);
}

}  // namespace

void add_dir_ops(fuse_lowlevel_ops& o) {
  o.opendir = pm_opendir;
  o.readdir = pm_readdir;
  o.readdirplus = pm_readdirplus;
  o.releasedir = pm_releasedir;
  o.fsyncdir = pm_fsyncdir;
  o.statfs = pm_statfs;
}

}  // namespace pmemfs::daemon
