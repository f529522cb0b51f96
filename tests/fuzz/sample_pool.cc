#include "sample_pool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "pmemfs/filesystem.h"
#include "tools/fsck/records.h"

namespace pmemfs::fuzz {

namespace L = layout;
using fsck::seal;

namespace {

// The smallest pool mkfs accepts: resetting and checking it stays cheap.
constexpr uint64_t kPoolSize = L::kMinPoolSize;
// So many inodes that the data area is one 2 MiB group: the allocator then
// has one shard, not one picked by a hash of the thread id, and places every
// block alike in every process. An input then means the same damage in every
// run, which libFuzzer relies on when it replays a crash in a new process.
constexpr uint64_t kBytesPerInode = 320;

[[noreturn]] void die(const std::string& what, int error) {
  std::fprintf(stderr, "fuzz: cannot build the sample pool: %s: %s\n", what.c_str(),
               std::strerror(error));
  std::abort();
}

template <typename R>
auto must(R&& r, const std::string& what) {
  if (!r.ok()) die(what, r.error());
  if constexpr (!std::is_same_v<std::decay_t<R>, Status>) return std::move(*r);
}

bool bit(const std::vector<char>& image, uint64_t bitmap_off, uint64_t i) {
  return (static_cast<uint8_t>(image[bitmap_off + i / 8]) >> (i % 8)) & 1;
}

}  // namespace

SamplePool& SamplePool::instance() {
  // Never destroyed: libFuzzer may exit from any thread at any time.
  static SamplePool* pool = new SamplePool();
  return *pool;
}

SamplePool::SamplePool() {
  const char* dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  path_ = std::string(dir) + "/pmemfs-fuzz-" + std::to_string(getpid()) + ".pool";
  unlink(path_.c_str());
  build_tree();
  load_image();
  leave_orphans();
  find_sites();
  fd_ = open(path_.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) die(path_, errno);
  // Unlinked at once, so that no crash leaves 32 MiB behind; fsck and mount
  // open it again through /proc.
  unlink(path_.c_str());
  path_ = "/proc/self/fd/" + std::to_string(fd_);
  reset();
}

SamplePool::~SamplePool() {
  if (fd_ >= 0) close(fd_);
}

// /dir/sub with 20 files (two directory blocks), /file (10000 bytes, a small
// and a three-block xattr, hard linked as /dir/hard), /link -> dir/sub,
// /fifo, /sparse (one byte at 1 MiB), /spilled (7 separate runs: two spill to
// an extent block), /big (one 64-block extent), /doomed.
void SamplePool::build_tree() {
  FormatOptions fo;
  fo.source = path_;
  fo.size = kPoolSize;
  fo.bytes_per_inode = kBytesPerInode;
  const auto summary = must(Filesystem::format(fo), "format " + path_);
  if (summary.data_blocks > L::kBlocksPerHuge) die("format one group of data blocks", EINVAL);
  MountOptions mo;
  mo.source = path_;
  auto fs = must(Filesystem::mount(mo), "mount " + path_);
  const Caller who;
  const uint64_t root = L::kRootIno;
  const uint64_t dir = must(fs->mkdir(root, "dir", 0755, who), "mkdir").ino;
  const uint64_t sub = must(fs->mkdir(dir, "sub", 0755, who), "mkdir").ino;
  for (int i = 0; i < 20; ++i)
    must(fs->mknod(sub, "f" + std::to_string(i), S_IFREG | 0644, 0, who), "create");
  const uint64_t file = must(fs->mknod(root, "file", S_IFREG | 0644, 0, who), "create").ino;
  const std::string data(10000, 'x');
  must(fs->write(file, 0, data.data(), data.size()), "write");
  must(fs->setxattr(file, "user.small", "blue", 0), "setxattr");
  must(fs->setxattr(file, "user.big", std::string(9000, 'v'), 0), "setxattr");
  must(fs->link(file, dir, "hard"), "link");
  must(fs->symlink(root, "link", "dir/sub", who), "symlink");
  must(fs->mknod(root, "fifo", S_IFIFO | 0644, 0, who), "mknod");
  const uint64_t sparse = must(fs->mknod(root, "sparse", S_IFREG | 0644, 0, who), "create").ino;
  must(fs->write(sparse, 1u << 20, "s", 1), "write");
  // Every other block: runs that cannot merge, more than fit inline.
  const uint64_t spilled = must(fs->mknod(root, "spilled", S_IFREG | 0644, 0, who), "create").ino;
  for (uint64_t k = 0; k < L::kInlineExtents + 2; ++k)
    must(fs->write(spilled, 2 * k * L::kBlockSize, "e", 1), "write");
  const uint64_t big = must(fs->mknod(root, "big", S_IFREG | 0644, 0, who), "create").ino;
  must(fs->fallocate(big, 0, 0, 64 * L::kBlockSize), "fallocate");
  const uint64_t doomed = must(fs->mknod(root, "doomed", S_IFREG | 0644, 0, who), "create").ino;
  must(fs->write(doomed, 0, data.data(), 5000), "write");
  must(fs->unmount(), "unmount");
}

void SamplePool::load_image() {
  int fd = open(path_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) die(path_, errno);
  image_.resize(kPoolSize);
  if (pread(fd, image_.data(), image_.size(), 0) != static_cast<ssize_t>(image_.size()))
    die("read " + path_, errno);
  close(fd);
  sb_ = pristine<L::Superblock>(0);
}

// What a crash leaves: /doomed unlinked while open (link count 0, only in the
// orphan table) and /spilled in the middle of a truncate to one block (in
// the orphan table, its runs past the new size not yet freed), the pool not
// cleanly unmounted. Every mount then frees blocks through damaged records.
void SamplePool::leave_orphans() {
  auto inode_off = [&](uint64_t ino) { return sb_.inode_table_off + (ino - 1) * sizeof(L::InodeRecord); };
  auto root = pristine<L::InodeRecord>(inode_off(L::kRootIno));
  uint64_t doomed = 0, spilled = 0;
  const uint64_t nblocks = root.size / L::kBlockSize;
  for (const L::Extent& e : root.extents) {
    for (uint64_t b = 0; b < e.nblocks && e.file_block + b < nblocks; ++b) {
      for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s) {
        const uint64_t off = (e.pool_block + b) * L::kBlockSize + s * sizeof(L::DirentSlot);
        auto slot = pristine<L::DirentSlot>(off);
        const std::string_view name(slot.name, slot.name_len);
        if (slot.ino != 0 && name == "doomed") {
          doomed = slot.ino;
          const L::DirentSlot freed{};
          std::memcpy(image_.data() + off, &freed, sizeof(freed));
        } else if (slot.ino != 0 && name == "spilled") {
          spilled = slot.ino;
        }
      }
    }
  }
  if (doomed == 0 || spilled == 0) die("find /doomed and /spilled", ENOENT);

  auto orphan = [&](uint64_t ino, uint64_t slot, auto change) {
    auto rec = pristine<L::InodeRecord>(inode_off(ino));
    rec.flags |= L::kInodeOrphan;
    change(rec);
    seal(rec);
    std::memcpy(image_.data() + inode_off(ino), &rec, sizeof(rec));
    std::memcpy(image_.data() + sb_.orphan_off + slot * sizeof(uint64_t), &ino, sizeof(ino));
  };
  orphan(doomed, 0, [](L::InodeRecord& r) { r.nlink = 0; });
  orphan(spilled, 1, [](L::InodeRecord& r) { r.size = L::kBlockSize; });

  auto st = pristine<L::StateRecord>(sb_.state_off);
  st.clean = 0;
  seal(st);
  std::memcpy(image_.data() + sb_.state_off, &st, sizeof(st));
}

void SamplePool::find_sites() {
  bool never_used_found = false;
  for (uint64_t i = 0; i < sb_.inode_count; ++i) {
    const uint64_t off = sb_.inode_table_off + i * sizeof(L::InodeRecord);
    if (!bit(image_, sb_.inode_bitmap_off, i)) {
      if (!never_used_found) sites_.inodes.push_back(off);
      never_used_found = true;
      continue;
    }
    sites_.inodes.push_back(off);
    const auto rec = pristine<L::InodeRecord>(off);
    for (uint64_t b = rec.extent_next; b != 0; b = pristine<L::ExtentBlock>(b * L::kBlockSize).next)
      sites_.extent_blocks.push_back(b * L::kBlockSize);
    for (uint64_t b = rec.xattr_head; b != 0; b = pristine<L::XattrHeader>(b * L::kBlockSize).next)
      sites_.xattr_runs.push_back(b * L::kBlockSize);
    if ((rec.mode & S_IFMT) != S_IFDIR) continue;
    bool free_found = false;
    const uint64_t nblocks = rec.size / L::kBlockSize;
    for (const L::Extent& e : rec.extents) {
      for (uint64_t b = 0; b < e.nblocks && e.file_block + b < nblocks; ++b) {
        for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s) {
          const uint64_t slot = (e.pool_block + b) * L::kBlockSize + s * sizeof(L::DirentSlot);
          if (pristine<L::DirentSlot>(slot).ino != 0) {
            sites_.dirent_slots.push_back(slot);
          } else if (!free_found) {
            sites_.dirent_slots.push_back(slot);
            free_found = true;
          }
        }
      }
    }
  }
  for (uint32_t lane = 0; lane < sb_.journal_lanes; ++lane)
    sites_.lanes.push_back(sb_.journal_off + uint64_t{lane} * sb_.lane_size);
  if (sites_.extent_blocks.empty() || sites_.xattr_runs.size() < 2 || sites_.dirent_slots.empty())
    die("find the records to damage", ENOENT);

  static const char zero[L::kBlockSize] = {};
  for (uint64_t off = 0; off < image_.size(); off += L::kBlockSize) {
    if (std::memcmp(image_.data() + off, zero, L::kBlockSize) == 0) continue;
    if (!nonzero_.empty() && nonzero_.back().first + nonzero_.back().second == off)
      nonzero_.back().second += L::kBlockSize;
    else
      nonzero_.emplace_back(off, L::kBlockSize);
  }
}

void SamplePool::reset() {
  // Dropping every page and writing back the non-zero ones is far cheaper
  // than rewriting 32 MiB, and forgets whatever the last input changed.
  if (ftruncate(fd_, 0) != 0 || ftruncate(fd_, static_cast<off_t>(image_.size())) != 0)
    die("truncate " + path_, errno);
  for (const auto& [off, len] : nonzero_)
    if (pwrite(fd_, image_.data() + off, len, static_cast<off_t>(off)) != static_cast<ssize_t>(len))
      die("write " + path_, errno);
}

void SamplePool::write(uint64_t off, const void* src, size_t len) {
  if (off >= image_.size()) return;
  len = std::min<uint64_t>(len, image_.size() - off);
  if (pwrite(fd_, src, len, static_cast<off_t>(off)) != static_cast<ssize_t>(len))
    die("write " + path_, errno);
}

}  // namespace pmemfs::fuzz
