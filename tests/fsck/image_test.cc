// check_image: a pool checked where it lies in memory. The pool is mapped
// read-only (a stray write would fault), and a hash of every byte before
// and after shows that nothing was written through any other path either.
#include <sys/mman.h>

#include <cstring>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "tests/fsck/fsck_fixture.h"

namespace pmemfs::fsck {
namespace {

// The pool file mapped privately: damage can be planted in the copy, then
// the whole mapping is made read-only for the check.
class InMemoryPool {
 public:
  explicit InMemoryPool(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0);
    struct stat st{};
    EXPECT_EQ(fstat(fd, &st), 0);
    size_ = st.st_size;
    void* p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    EXPECT_NE(p, MAP_FAILED);
    base_ = p == MAP_FAILED ? nullptr : static_cast<char*>(p);
  }
  ~InMemoryPool() {
    if (base_ != nullptr) munmap(base_, size_);
  }
  char* base() { return base_; }
  uint64_t size() const { return size_; }
  void seal_read_only() { ASSERT_EQ(mprotect(base_, size_, PROT_READ), 0); }
  size_t content_hash() const { return std::hash<std::string_view>{}(std::string_view(base_, size_)); }

  CheckResult check(std::string* out) {
    std::ostringstream os;
    const CheckResult r = check_image(base_, size_, os);
    *out = os.str();
    return r;
  }

 private:
  char* base_ = nullptr;
  uint64_t size_ = 0;
};

TEST_F(FsckTest, InMemoryCleanPool) {
  InMemoryPool pool(path_);
  ASSERT_NE(pool.base(), nullptr);
  pool.seal_read_only();
  const size_t before = pool.content_hash();
  const CheckResult r = pool.check(&out_);
  EXPECT_EQ(r.exit_code, kExitClean) << out_;
  EXPECT_EQ(r.problems, 0u);
  EXPECT_FALSE(r.repaired);
  EXPECT_NE(out_.find("in-memory image: clean"), std::string::npos) << out_;
  EXPECT_EQ(pool.content_hash(), before);
}

TEST_F(FsckTest, InMemoryDamageDetectedNothingWritten) {
  InMemoryPool pool(path_);
  ASSERT_NE(pool.base(), nullptr);
  // A link count too high, planted in memory only.
  L::InodeRecord r;
  std::memcpy(&r, pool.base() + inode_off(f1_), sizeof(r));
  r.nlink = 5;
  seal(r);
  std::memcpy(pool.base() + inode_off(f1_), &r, sizeof(r));
  pool.seal_read_only();
  const size_t before = pool.content_hash();
  const size_t file_before = hash();

  const CheckResult res = pool.check(&out_);
  EXPECT_EQ(res.exit_code, kExitUncorrected) << out_;
  EXPECT_EQ(res.problems, 1u);
  EXPECT_FALSE(res.repaired);
  EXPECT_NE(out_.find("inode " + std::to_string(f1_) + ": link count is 5, should be 2"),
            std::string::npos)
      << out_;
  EXPECT_EQ(pool.content_hash(), before) << "check_image wrote to the image";
  EXPECT_EQ(hash(), file_before) << "check_image wrote to the pool file";
}

TEST_F(FsckTest, InMemorySameLinesAsPoolCheck) {
  // The same damage in the file and in memory: the same report, line for
  // line, but for the name of the source.
  flip_byte(inode_off(f2_) + offsetof(L::InodeRecord, uid));
  set_block_bit(free_block(), true);
  const CheckResult from_file = fsck(CheckMode::kNoChanges);
  std::string expected = out_;
  for (size_t at; (at = expected.find(path_)) != std::string::npos;)
    expected.replace(at, path_.size(), "in-memory image");

  InMemoryPool pool(path_);
  ASSERT_NE(pool.base(), nullptr);
  pool.seal_read_only();
  const CheckResult from_memory = pool.check(&out_);
  EXPECT_EQ(from_memory.exit_code, from_file.exit_code);
  EXPECT_EQ(from_memory.problems, from_file.problems);
  EXPECT_EQ(from_memory.unrepairable, from_file.unrepairable);
  EXPECT_EQ(out_, expected);
}

TEST_F(FsckTest, InMemoryCommittedJournalCheckedAsReplayed) {
  // Replay is staged in the overlay: the base bytes keep the unapplied lane.
  const L::InodeRecord good = inode(f1_);
  auto bad = good;
  bad.nlink = 9;
  put_inode(f1_, bad);
  std::vector<char> records;
  add_record(records, L::kRecWrite, inode_off(f1_), &good, sizeof(good));
  commit_lane(2, 11, records, 1);

  InMemoryPool pool(path_);
  ASSERT_NE(pool.base(), nullptr);
  pool.seal_read_only();
  const size_t before = pool.content_hash();
  const CheckResult r = pool.check(&out_);
  EXPECT_EQ(r.exit_code, kExitUncorrected) << out_;
  EXPECT_NE(out_.find("journal needs replay"), std::string::npos) << out_;
  EXPECT_EQ(out_.find("link count"), std::string::npos) << "not checked as replayed:\n" << out_;
  EXPECT_EQ(pool.content_hash(), before);
}

TEST_F(FsckTest, InMemoryTooSmallOrNull) {
  std::ostringstream os;
  const char tiny[100] = {};
  EXPECT_EQ(check_image(tiny, sizeof(tiny), os).exit_code, kExitOperational);
  EXPECT_EQ(check_image(nullptr, 64u << 20, os).exit_code, kExitOperational);
  EXPECT_NE(os.str().find("too small"), std::string::npos) << os.str();
}

}  // namespace
}  // namespace pmemfs::fsck
