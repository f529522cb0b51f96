#include "workload.h"

#include <linux/falloc.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <algorithm>
#include <cstring>
#include <shared_mutex>

#include "pmemfs/fault.h"
#include "pmemfs/fs_impl.h"

namespace pmemfs::crash {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kPage = 4096;

Caller root() { return Caller{0, 0, 0}; }

Status as_status(const Result<Attr>& r) { return r.ok() ? Status{} : err(r.error()); }

Status write_at(Filesystem& fs, const std::string& path, uint64_t off, size_t len, char c) {
  const uint64_t ino = path_ino(fs, path);
  if (!ino) return err(ENOENT);
  auto n = fs.write(ino, off, std::string(len, c).data(), len);
  if (!n.ok()) return err(n.error());
  return *n == len ? Status{} : err(EIO);
}

Status truncate_to(Filesystem& fs, const std::string& path, uint64_t size) {
  const uint64_t ino = path_ino(fs, path);
  if (!ino) return err(ENOENT);
  SetAttr s;
  s.valid = SetAttr::kSize;
  s.size = size;
  return fs.setattr(ino, s).ok() ? Status{} : err(EIO);
}

Status fallocate_at(Filesystem& fs, const std::string& path, int mode, uint64_t off, uint64_t len) {
  const uint64_t ino = path_ino(fs, path);
  if (!ino) return err(ENOENT);
  return fs.fallocate(ino, mode, off, len);
}

// Stores through the file's mapping entries, as a process with the file
// mapped (DAX) stores: into the pool with no flush, each page marked dirty
// for msync/fsync. Only over allocated pages (a store to a hole would be an
// allocating fault, which write() covers). A mapping holds the file open,
// so the file stays open for the rest of the workload (and the kernel's
// forget does not flush it as an eviction would).
Status mapped_store(Filesystem& fs, const std::string& path, uint64_t off, size_t len, char c) {
  auto& impl = static_cast<FsImpl&>(fs);
  const uint64_t ino = path_ino(fs, path);
  if (!ino) return err(ENOENT);
  PMEMFS_TRY(fs.open(ino));
  auto inode = impl.inode_for_tests(ino);
  if (!inode.ok()) return err(inode.error());
  Inode& f = **inode;
  std::shared_lock<InodeLock> lk(f.lock);
  if (off + len > f.rec.size) return err(EFAULT);  // past EOF: SIGBUS for a process
  for (uint64_t page = off / kPage; page <= (off + len - 1) / kPage; ++page) {
    Entry* e = write_fault_mapped(impl.fault_context(), f, page);
    if (!e) return err(EFAULT);
    const uint64_t from = std::max(off, page * kPage), to = std::min(off + len, (page + 1) * kPage);
    std::memset(entry_address(impl.pool(), *e, page) + (from - page * kPage), c, to - from);
    e->mark_dirty(page);
  }
  return {};
}

Status rename(Filesystem& fs, const std::string& from, const std::string& to, unsigned flags) {
  const uint64_t a = path_ino(fs, parent_of(from)), b = path_ino(fs, parent_of(to));
  if (!a || !b) return err(ENOENT);
  return fs.rename(a, from.substr(from.rfind('/') + 1), b, to.substr(to.rfind('/') + 1), flags);
}

std::vector<Op> make_ops() {
  using E = DataEffect;
  std::vector<Op> ops = {
      // ---- data: write() is durable when it returns
      {"write-4k-aligned", "/d0/a", E::kPersisted,
       [](Filesystem& fs) { return write_at(fs, "/d0/a", 4096, 4096, 'W'); }},
      {"write-unaligned", "/d0/a", E::kPersisted,
       [](Filesystem& fs) { return write_at(fs, "/d0/a", 1234, 5000, 'U'); }},
      {"write-in-2m-extent", "/d0/b", E::kPersisted,
       [](Filesystem& fs) { return write_at(fs, "/d0/b", kMiB, 65536, 'P'); }},
      {"write-across-extent-boundary", "/d0/b", E::kPersisted,
       [](Filesystem& fs) { return write_at(fs, "/d0/b", 2 * kMiB - 4096, 8192, 'X'); }},
      {"write-extending", "/d1/c", E::kPersisted,
       [](Filesystem& fs) { return write_at(fs, "/d1/c", 5000, 10000, 'E'); }},
      {"write-hole-becomes-pmd", "/d0/b", E::kPersisted,
       [](Filesystem& fs) { return write_at(fs, "/d0/b", 4 * kMiB, 2 * kMiB, 'H'); }},
      // ---- data: stores through a mapping, durable after msync/fsync
      {"mapped-store-pmd", "/d0/b", E::kMapped,
       [](Filesystem& fs) { return mapped_store(fs, "/d0/b", 300 * kPage + 100, 3 * kPage, 'M'); }},
      {"mapped-store-pmd-at-eof", "/d0/b", E::kMapped,
       [](Filesystem& fs) { return mapped_store(fs, "/d0/b", 2 * kMiB + 100, 8192, 'N'); }},
      {"mapped-store-pte", "/d0/a", E::kMapped,
       [](Filesystem& fs) { return mapped_store(fs, "/d0/a", 100, 6000, 'm'); }},
      // ---- truncate
      {"truncate-same-size", "/d0/b", E::kPersisted,
       [](Filesystem& fs) {
         auto a = fs.getattr(path_ino(fs, "/d0/b"));
         return a.ok() ? truncate_to(fs, "/d0/b", a->size) : err(a.error());
       }},
      {"truncate-shrink-in-pmd", "/d0/b", E::kPersisted,
       [](Filesystem& fs) { return truncate_to(fs, "/d0/b", kMiB + kMiB / 2 + 100); }},
      {"truncate-grow", "/d1/c", E::kPersisted,
       [](Filesystem& fs) { return truncate_to(fs, "/d1/c", 5 * kMiB); }},
      {"truncate-to-zero", "/d0/a", E::kPersisted,
       [](Filesystem& fs) { return truncate_to(fs, "/d0/a", 0); }},
      // ---- space
      {"punch-hole-in-pmd", "/d0/b", E::kPersisted,
       [](Filesystem& fs) {
         return fallocate_at(fs, "/d0/b", FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, kMiB, kPage);
       }},
      {"zero-range", "/d0/a", E::kPersisted,
       [](Filesystem& fs) { return fallocate_at(fs, "/d0/a", FALLOC_FL_ZERO_RANGE, 4096, 8192); }},
      {"fallocate-extending", "/d1/c", E::kPersisted,
       [](Filesystem& fs) { return fallocate_at(fs, "/d1/c", 0, 0, 4 * kMiB); }},
      {"fallocate-keep-size", "/d0/a", E::kPersisted,
       [](Filesystem& fs) { return fallocate_at(fs, "/d0/a", FALLOC_FL_KEEP_SIZE, 0, kMiB); }},
      {"copy-file-range", "/d1/c", E::kPersisted,
       [](Filesystem& fs) -> Status {
         auto n = fs.copy_file_range(path_ino(fs, "/d0/a"), 0, path_ino(fs, "/d1/c"), 4096, 8192);
         return n.ok() ? Status{} : err(n.error());
       }},
      // ---- names
      {"create", "/d1/n", E::kNone,
       [](Filesystem& fs) { return as_status(fs.mknod(path_ino(fs, "/d1"), "n", S_IFREG | 0640, 0, root())); }},
      {"mkdir", "/d1/m", E::kNone,
       [](Filesystem& fs) { return as_status(fs.mkdir(path_ino(fs, "/d1"), "m", 0750, root())); }},
      {"link", "/d1/al", E::kNone,
       [](Filesystem& fs) { return as_status(fs.link(path_ino(fs, "/d0/a"), path_ino(fs, "/d1"), "al")); }},
      {"unlink", "/d1/c", E::kNone, [](Filesystem& fs) { return fs.unlink(path_ino(fs, "/d1"), "c"); }},
      {"unlink-open-file", "/d0/a", E::kNone,
       [](Filesystem& fs) -> Status {
         PMEMFS_TRY(fs.open(path_ino(fs, "/d0/a")));  // held for the rest of the workload
         return fs.unlink(path_ino(fs, "/d0"), "a");
       }},
      {"rmdir", "/d1/e", E::kNone, [](Filesystem& fs) { return fs.rmdir(path_ino(fs, "/d1"), "e"); }},
      {"rename", "/d1/c2", E::kNone, [](Filesystem& fs) { return rename(fs, "/d1/c", "/d1/c2", 0); }},
      {"rename-over-file", "/d1/c", E::kNone,
       [](Filesystem& fs) { return rename(fs, "/d0/a", "/d1/c", 0); }},
      {"rename-across-dirs", "/d0/c", E::kNone,
       [](Filesystem& fs) { return rename(fs, "/d1/c", "/d0/c", 0); }},
      {"rename-exchange", "/d1/c", E::kNone,
       [](Filesystem& fs) { return rename(fs, "/d0/a", "/d1/c", RENAME_EXCHANGE); }},
      {"rename-noreplace", "/d0/nr", E::kNone,
       [](Filesystem& fs) { return rename(fs, "/d1/c", "/d0/nr", RENAME_NOREPLACE); }},
      {"symlink", "/d0/sl", E::kNone,
       [](Filesystem& fs) { return as_status(fs.symlink(path_ino(fs, "/d0"), "sl", "../d1/c", root())); }},
      // ---- attributes
      {"setxattr", "/d0/a", E::kNone,
       [](Filesystem& fs) { return fs.setxattr(path_ino(fs, "/d0/a"), "user.k", std::string(300, 'k'), 0); }},
      {"removexattr", "/d0/a", E::kNone,
       [](Filesystem& fs) { return fs.removexattr(path_ino(fs, "/d0/a"), "user.x"); }},
      {"chmod", "/d1/c", E::kNone,
       [](Filesystem& fs) -> Status {
         SetAttr s;
         s.valid = SetAttr::kMode;
         s.mode = 0600;
         return fs.setattr(path_ino(fs, "/d1/c"), s).ok() ? Status{} : err(EIO);
       }},
      // The kernel forgets every inode (echo 2 > /proc/sys/vm/drop_caches):
      // the daemon evicts what is not open, persisting what only DRAM held.
      {"drop-caches", "/d1/c", E::kNone,
       [](Filesystem& fs) -> Status {
         std::vector<uint64_t> inos;
         std::function<void(uint64_t)> walk = [&](uint64_t dir) {
           (void)fs.readdir(dir, 0, [&](const DirEntry& e) {
             if (e.name != "." && e.name != "..") inos.push_back(e.ino);
             return true;
           });
         };
         walk(kRoot);
         for (size_t i = 0; i < inos.size(); ++i) {
           auto a = fs.getattr(inos[i]);
           if (a.ok() && S_ISDIR(a->mode)) walk(inos[i]);
         }
         for (uint64_t ino : inos) fs.forget(ino, uint64_t{1} << 40);
         return {};
       }},
      {"utimes", "/d1/c", E::kNone,
       [](Filesystem& fs) -> Status {
         SetAttr s;
         s.valid = SetAttr::kMtime | SetAttr::kAtime;
         s.mtime = {1000000, 5};
         s.atime = {2000000, 7};
         return fs.setattr(path_ino(fs, "/d1/c"), s).ok() ? Status{} : err(EIO);
       }},
  };
  return ops;
}

}  // namespace

const char* to_string(Sync s) {
  switch (s) {
    case Sync::kNone: return "";
    case Sync::kFsync: return "fsync";
    case Sync::kFdatasync: return "fdatasync";
    case Sync::kFsyncDir: return "fsync-dir";
    case Sync::kMsync: return "msync";
    case Sync::kSync: return "sync";
  }
  return "?";
}

std::string describe(const Workload& w) {
  std::string s;
  for (const Step& st : w) {
    if (!s.empty()) s += " ; ";
    s += st.op->name;
    if (st.sync != Sync::kNone) s += std::string(" + ") + to_string(st.sync);
  }
  return s;
}

const std::vector<Op>& all_ops() {
  static const std::vector<Op> ops = make_ops();
  return ops;
}

std::vector<Sync> syncs_for(const Op& op) {
  switch (op.effect) {
    case DataEffect::kMapped: return {Sync::kNone, Sync::kMsync, Sync::kFdatasync, Sync::kSync};
    case DataEffect::kPersisted: return {Sync::kNone, Sync::kFsync, Sync::kFdatasync, Sync::kSync};
    case DataEffect::kNone: return {Sync::kNone, Sync::kFsync, Sync::kFsyncDir, Sync::kSync};
  }
  return {Sync::kNone};
}

std::vector<Step> all_steps() {
  std::vector<Step> steps;
  for (const Op& op : all_ops())
    for (Sync s : syncs_for(op)) steps.push_back({&op, s});
  return steps;
}

void starting_tree(Filesystem& fs) {
  auto d0 = fs.mkdir(kRoot, "d0", 0755, root());
  auto d1 = fs.mkdir(kRoot, "d1", 0755, root());
  if (!d0.ok() || !d1.ok()) return;
  auto a = fs.mknod(d0->ino, "a", S_IFREG | 0644, 0, root());
  auto b = fs.mknod(d0->ino, "b", S_IFREG | 0644, 0, root());
  auto c = fs.mknod(d1->ino, "c", S_IFREG | 0644, 0, root());
  if (!a.ok() || !b.ok() || !c.ok()) return;
  (void)fs.write(a->ino, 0, std::string(16384, 'a').data(), 16384);
  (void)fs.write(b->ino, 0, std::string(2 * kMiB + 16384, 'b').data(), 2 * kMiB + 16384);
  (void)fs.write(c->ino, 0, std::string(5000, 'c').data(), 5000);
  (void)fs.setxattr(a->ino, "user.x", "xx", 0);
  (void)fs.mkdir(d1->ino, "e", 0700, root());
  (void)fs.symlink(d1->ino, "s", "../d0/a", root());
  for (uint64_t ino : {a->ino, b->ino, c->ino, d0->ino, d1->ino}) fs.forget(ino, 1);
}

uint64_t path_ino(Filesystem& fs, const std::string& path) {
  uint64_t ino = kRoot;
  size_t pos = 1;
  while (pos < path.size() && ino) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    // The reference a lookup takes is kept, as the kernel's dentry cache
    // keeps it: inodes stay cached until the "drop-caches" op forgets them.
    auto a = fs.lookup(ino, path.substr(pos, next - pos));
    ino = a.ok() ? a->ino : 0;
    pos = next + 1;
  }
  return ino;
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::vector<Workload> generate(std::mt19937_64& rng, size_t three, bool deep) {
  const std::vector<Step> steps = all_steps();
  const std::vector<Op>& ops = all_ops();
  std::vector<Workload> out;
  for (const Step& s : steps) out.push_back({s});
  auto pick_sync = [&](const Op& op) {
    const auto syncs = syncs_for(op);
    return syncs[std::uniform_int_distribution<size_t>(0, syncs.size() - 1)(rng)];
  };
  if (!deep) {
    // Every ordered pair of operations, each step's sync drawn.
    for (const Op& a : ops)
      for (const Op& b : ops) out.push_back({{&a, pick_sync(a)}, {&b, pick_sync(b)}});
  }
  if (deep) {
    // Every pair and every triple of steps, every sync of each.
    for (const Step& a : steps)
      for (const Step& b : steps) out.push_back({a, b});
    for (const Step& a : steps)
      for (const Step& b : steps)
        for (const Step& c : steps) out.push_back({a, b, c});
    return out;
  }
  std::uniform_int_distribution<size_t> any(0, steps.size() - 1);
  for (size_t i = 0; i < three; ++i) out.push_back({steps[any(rng)], steps[any(rng)], steps[any(rng)]});
  return out;
}

}  // namespace pmemfs::crash
