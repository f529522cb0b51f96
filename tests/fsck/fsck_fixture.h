// The fixture of the fsck tests: each test formats a pool with the library,
// builds a small tree through filesystem.h and unmounts; the tests then plant
// damage with layout.h and check that -n finds it without changing a byte and
// that -y repairs it (a second -n is then clean, the library mounts it) or,
// where no repair exists yet, changes nothing.
#pragma once

#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "pmemfs/filesystem.h"
#include "pmemfs/layout.h"
#include "tools/fsck/checker.h"
#include "tools/fsck/records.h"

namespace pmemfs::fsck {

class FsckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = "/dev/shm/pmemfs-fsck-test-" + std::to_string(getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".pool";
    unlink(path_.c_str());
    FormatOptions fo;
    fo.source = path_;
    fo.size = 64u << 20;
    auto formatted = Filesystem::format(fo);
    ASSERT_TRUE(formatted.ok()) << "format: " << std::strerror(formatted.error());
    ASSERT_NO_FATAL_FAILURE(build_tree());
    sb_ = read_at<L::Superblock>(0);
  }

  void TearDown() override {
    if (getenv("FSCK_TEST_KEEP") == nullptr) unlink(path_.c_str());
  }

  // /a/b, /f1 (data, xattr, a hard link /a/b/l1), /a/f2 (3 MiB), /s -> a/f2,
  // /fifo, /sparse (one block at 1 MiB), /many (7 runs 4 MiB apart), 20
  // files in /a/b (two directory blocks).
  void build_tree() {
    MountOptions mo;
    mo.source = path_;
    auto mounted = Filesystem::mount(mo);
    ASSERT_TRUE(mounted.ok()) << "mount: " << std::strerror(mounted.error());
    Filesystem& fs = **mounted;
    Caller who;
    auto attr = [](auto r, const char* what) {
      EXPECT_TRUE(r.ok()) << what << ": " << std::strerror(r.error());
      return r.ok() ? r->ino : 0;
    };
    a_ = attr(fs.mkdir(L::kRootIno, "a", 0755, who), "mkdir a");
    b_ = attr(fs.mkdir(a_, "b", 0755, who), "mkdir b");
    f1_ = attr(fs.mknod(L::kRootIno, "f1", S_IFREG | 0644, 0, who), "create f1");
    f2_ = attr(fs.mknod(a_, "f2", S_IFREG | 0644, 0, who), "create f2");
    sparse_ = attr(fs.mknod(L::kRootIno, "sparse", S_IFREG | 0644, 0, who), "create sparse");
    many_ = attr(fs.mknod(L::kRootIno, "many", S_IFREG | 0644, 0, who), "create many");
    ASSERT_TRUE(a_ && b_ && f1_ && f2_ && sparse_ && many_);
    // More separate runs than fit inline: its extents spill to extent blocks.
    for (uint64_t k = 0; k <= L::kInlineExtents + 1; ++k)
      ASSERT_TRUE(fs.write(many_, k * (4u << 20), "m", 1).ok());
    std::string data(10000, 'x');
    ASSERT_TRUE(fs.write(f1_, 0, data.data(), data.size()).ok());
    std::string big(3u << 20, 'y');
    ASSERT_TRUE(fs.write(f2_, 0, big.data(), big.size()).ok());
    ASSERT_TRUE(fs.write(sparse_, 1u << 20, "z", 1).ok());
    ASSERT_TRUE(fs.link(f1_, b_, "l1").ok());
    ASSERT_TRUE(fs.symlink(L::kRootIno, "s", "a/f2", who).ok());
    ASSERT_TRUE(fs.mknod(L::kRootIno, "fifo", S_IFIFO | 0644, 0, who).ok());
    ASSERT_TRUE(fs.setxattr(f1_, "user.color", "blue", 0).ok());
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(fs.mknod(b_, "file" + std::to_string(i), S_IFREG | 0600, 0, who).ok());
    ASSERT_TRUE(fs.unmount().ok());
  }

  // Raw access to the pool file.
  void read_raw(uint64_t off, void* buf, size_t len) const {
    int fd = open(path_.c_str(), O_RDONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pread(fd, buf, len, off), static_cast<ssize_t>(len));
    close(fd);
  }
  void write_raw(uint64_t off, const void* buf, size_t len) const {
    int fd = open(path_.c_str(), O_WRONLY);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(pwrite(fd, buf, len, off), static_cast<ssize_t>(len));
    close(fd);
  }
  template <typename T>
  T read_at(uint64_t off) const {
    T v{};
    read_raw(off, &v, sizeof(v));
    return v;
  }
  template <typename T>
  void write_at(uint64_t off, const T& v) const {
    write_raw(off, &v, sizeof(v));
  }
  void flip_byte(uint64_t off) const { write_at<uint8_t>(off, read_at<uint8_t>(off) ^ 0x5a); }

  // Of every byte of the pool; mapped, not read, to keep the tests fast.
  size_t hash() const {
    int fd = open(path_.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    struct stat st{};
    EXPECT_EQ(fstat(fd, &st), 0);
    void* p = mmap(nullptr, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    EXPECT_NE(p, MAP_FAILED);
    if (p == MAP_FAILED) return 0;
    const size_t h = std::hash<std::string_view>{}(std::string_view(static_cast<char*>(p), st.st_size));
    munmap(p, st.st_size);
    return h;
  }

  uint64_t inode_off(uint64_t ino) const {
    return sb_.inode_table_off + (ino - 1) * sizeof(L::InodeRecord);
  }
  L::InodeRecord inode(uint64_t ino) const { return read_at<L::InodeRecord>(inode_off(ino)); }
  void put_inode(uint64_t ino, L::InodeRecord r) const {
    seal(r);
    write_at(inode_off(ino), r);
  }
  uint64_t data_first() const { return sb_.data_off / L::kBlockSize; }

  // Bit i of the block bitmap (data block i = pool block data_first() + i).
  bool block_bit(uint64_t pool_block) const {
    const uint64_t i = pool_block - data_first();
    return (read_at<uint8_t>(sb_.block_bitmap_off + i / 8) >> (i % 8)) & 1;
  }
  void set_block_bit(uint64_t pool_block, bool on) const {
    const uint64_t i = pool_block - data_first();
    auto byte = read_at<uint8_t>(sb_.block_bitmap_off + i / 8);
    byte = on ? (byte | (1u << (i % 8))) : (byte & ~(1u << (i % 8)));
    write_at<uint8_t>(sb_.block_bitmap_off + i / 8, byte);
  }
  bool inode_bit(uint64_t ino) const {
    return (read_at<uint8_t>(sb_.inode_bitmap_off + (ino - 1) / 8) >> ((ino - 1) % 8)) & 1;
  }

  // Where each data extent of ino is stored: inline or in its extent blocks.
  struct ExtentLoc {
    uint64_t off;  // pool offset of the Extent
    bool in_inode;
    L::Extent e;
  };
  std::vector<ExtentLoc> extents_of(uint64_t ino) const {
    std::vector<ExtentLoc> out;
    const L::InodeRecord r = inode(ino);
    for (uint32_t k = 0; k < L::kInlineExtents; ++k)
      if (r.extents[k].nblocks)
        out.push_back({inode_off(ino) + offsetof(L::InodeRecord, extents) + k * sizeof(L::Extent), true,
                       r.extents[k]});
    for (uint64_t p = r.extent_next; p != 0;) {
      const auto eb = read_at<L::ExtentBlock>(p * L::kBlockSize);
      for (uint32_t k = 0; k < L::kExtentsPerBlock; ++k)
        if (eb.extents[k].nblocks)
          out.push_back({p * L::kBlockSize + offsetof(L::ExtentBlock, extents) + k * sizeof(L::Extent),
                         false, eb.extents[k]});
      p = eb.next;
    }
    return out;
  }
  // Rewrites an extent in place; reseal: give it a valid checksum.
  void put_extent(uint64_t ino, const ExtentLoc& loc, L::Extent e, bool reseal = true) const {
    if (reseal) seal(e);
    write_at(loc.off, e);
    if (loc.in_inode) put_inode(ino, inode(ino));  // the record's checksum covers it
  }
  ExtentLoc first_extent(uint64_t ino) const {
    auto all = extents_of(ino);
    EXPECT_FALSE(all.empty()) << "inode " << ino << " has no extents";
    return all.empty() ? ExtentLoc{} : all.front();
  }

  // Pool offset of the slot named name in directory dir (0 for a free slot).
  uint64_t find_slot(uint64_t dir, const std::string* name) const {
    for (const ExtentLoc& loc : extents_of(dir)) {
      for (uint64_t i = 0; i < loc.e.nblocks; ++i) {
        for (uint32_t s = 0; s < L::kSlotsPerBlock; ++s) {
          const uint64_t off = (loc.e.pool_block + i) * L::kBlockSize + s * sizeof(L::DirentSlot);
          const auto d = read_at<L::DirentSlot>(off);
          if (name == nullptr ? d.ino == 0 : (d.ino != 0 && std::string(d.name, d.name_len) == *name))
            return off;
        }
      }
    }
    ADD_FAILURE() << "no " << (name ? "entry " + *name : "free slot") << " in directory " << dir;
    return 0;
  }
  uint64_t slot_off(uint64_t dir, const std::string& name) const { return find_slot(dir, &name); }
  uint64_t free_slot_off(uint64_t dir) const { return find_slot(dir, nullptr); }
  // A data block no one uses.
  uint64_t free_block() const {
    for (uint64_t b = data_first() + sb_.data_blocks - 1; b > data_first(); --b)
      if (!block_bit(b)) return b;
    ADD_FAILURE() << "no free block";
    return 0;
  }

  // Writes a committed lane holding records (JournalRecord + padded payload
  // each, already packed).
  void commit_lane(uint32_t lane, uint64_t seq, const std::vector<char>& records, uint32_t nrecords) {
    L::LaneHeader h{};
    h.seq = seq;
    h.state = L::kLaneCommitted;
    h.nrecords = nrecords;
    h.bytes = records.size();
    h.records_checksum = crc32c(records.data(), records.size());
    seal(h);
    const uint64_t off = sb_.journal_off + lane * sb_.lane_size;
    write_raw(off + sizeof(h), records.data(), records.size());
    write_at(off, h);
  }
  static void add_record(std::vector<char>& records, uint32_t kind, uint64_t target, const void* payload,
                         uint32_t len) {
    const L::JournalRecord rec{kind, len, target};
    const size_t at = records.size();
    records.resize(at + sizeof(rec) + L::round_up(len, 8), 0);
    std::memcpy(records.data() + at, &rec, sizeof(rec));
    std::memcpy(records.data() + at + sizeof(rec), payload, len);
  }

  CheckResult fsck(CheckMode mode) {
    std::ostringstream os;
    CheckResult r = check_pool(path_, mode, os);
    out_ = os.str();
    if (getenv("FSCK_TEST_VERBOSE") != nullptr)
      std::cerr << "fsck " << (mode == CheckMode::kRepair ? "-y" : "-n") << " -> " << r.exit_code << "\n"
                << out_;
    return r;
  }

  // -n finds the damage (its output names needle) and changes nothing.
  void expect_detected(const std::string& needle) {
    const size_t before = hash();
    const CheckResult r = fsck(CheckMode::kNoChanges);
    EXPECT_EQ(r.exit_code, kExitUncorrected) << out_;
    EXPECT_NE(out_.find(needle), std::string::npos) << "expected '" << needle << "' in:\n" << out_;
    EXPECT_EQ(hash(), before) << "fsck -n changed the pool";
  }
  // Runs against the repaired pool, mounted by the library.
  using MountedCheck = std::function<void(Filesystem&)>;

  // -y repairs it; a second check is clean, and the library mounts it (and
  // check, if given, passes; else /f1 reads as written).
  void expect_repaired(const MountedCheck& check = {}) {
    CheckResult r = fsck(CheckMode::kRepair);
    EXPECT_EQ(r.exit_code, kExitCorrected) << out_;
    EXPECT_TRUE(r.repaired);
    const std::string repair_out = out_;
    r = fsck(CheckMode::kNoChanges);
    EXPECT_EQ(r.exit_code, kExitClean) << "after the repair:\n" << repair_out << "\nsecond run:\n" << out_;
    expect_mountable(check);
  }
  // -y cannot repair it: exit 4, nothing written.
  void expect_not_repaired() {
    const size_t before = hash();
    const CheckResult r = fsck(CheckMode::kRepair);
    EXPECT_EQ(r.exit_code, kExitUncorrected) << out_;
    EXPECT_FALSE(r.repaired);
    EXPECT_EQ(hash(), before) << "fsck -y wrote although it could not repair";
  }
  void expect_mountable(const MountedCheck& check = {}) {
    {
      MountOptions mo;
      mo.source = path_;
      auto mounted = Filesystem::mount(mo);
      ASSERT_TRUE(mounted.ok()) << "mount after repair: " << std::strerror(mounted.error());
      if (check) {
        check(**mounted);
      } else {
        EXPECT_EQ(read_file(**mounted, f1_, 0, 4), "xxxx");
      }
      ASSERT_TRUE((*mounted)->unmount().ok());
    }  // the pool lock goes with the object
    const CheckResult r = fsck(CheckMode::kNoChanges);
    EXPECT_EQ(r.exit_code, kExitClean) << "after mount+unmount:\n" << out_;
  }

  // Helpers for a MountedCheck.
  static std::string read_file(Filesystem& fs, uint64_t ino, uint64_t off, size_t len) {
    std::string buf(len, '\0');
    auto n = fs.read(ino, off, len, buf.data());
    EXPECT_TRUE(n.ok()) << "read inode " << ino << ": " << (n.ok() ? "" : std::strerror(n.error()));
    buf.resize(n.ok() ? *n : 0);
    return buf;
  }
  // The inode at path (names from the root), 0 if a name is missing.
  static uint64_t lookup_path(Filesystem& fs, const std::vector<std::string>& path) {
    uint64_t ino = L::kRootIno;
    for (const std::string& name : path) {
      auto a = fs.lookup(ino, name);
      if (!a.ok()) {
        ADD_FAILURE() << "lookup " << name << " in inode " << ino << ": " << std::strerror(a.error());
        return 0;
      }
      ino = a->ino;
    }
    return ino;
  }
  static Attr attr_of(Filesystem& fs, uint64_t ino) {
    auto a = fs.getattr(ino);
    EXPECT_TRUE(a.ok()) << "getattr " << ino;
    return a.ok() ? *a : Attr{};
  }

  std::string path_;
  std::string out_;
  L::Superblock sb_{};
  uint64_t a_ = 0, b_ = 0, f1_ = 0, f2_ = 0, sparse_ = 0, many_ = 0;
};

}  // namespace pmemfs::fsck
