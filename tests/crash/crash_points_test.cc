// Crash-point enumeration over every metadata operation (issue 5): each case
// runs one operation under the power-fail simulator and checks every crash
// state at every persist point, plus random eviction subsets (see
// crash_harness.h). The suite prints how many crash states it checked.
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/posix_acl.h>
#include <linux/posix_acl_xattr.h>
#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <spdlog/spdlog.h>

#include "crash_harness.h"
#include "pmemfs/fs_impl.h"
#include "pmemfs/layout.h"
#include "pmemfs/pool.h"

namespace pmemfs::crash {
namespace {

constexpr uint64_t kRoot = 1;
constexpr uint64_t kMiB = 1 << 20;

// Recoveries with random surviving lines per persist point: 8 keeps the
// whole suite near 10 s plain and 30 s under ASan.
constexpr int kEvictionSubsets = 8;

Caller root() { return Caller{0, 0, 0}; }

uint64_t ino_of(Filesystem& fs, uint64_t parent, const std::string& name) {
  auto a = fs.lookup(parent, name);
  return a.ok() ? a->ino : 0;
}

uint64_t path_ino(Filesystem& fs, const std::string& path) {
  uint64_t ino = kRoot;
  size_t pos = 1;
  while (pos < path.size() && ino) {
    size_t next = path.find('/', pos);
    if (next == std::string::npos) next = path.size();
    ino = ino_of(fs, ino, path.substr(pos, next - pos));
    pos = next + 1;
  }
  return ino;
}

void write_file(Filesystem& fs, uint64_t parent, const std::string& name, size_t size, char c) {
  auto a = fs.mknod(parent, name, S_IFREG | 0644, 0, root());
  ASSERT_TRUE(a.ok()) << name;
  if (size) {
    ASSERT_TRUE(fs.write(a->ino, 0, std::string(size, c).data(), size).ok());
  }
}

// The starting tree of every case:
//   /d/a (3000 x 'a')  /e/ (empty)  /e2/ (empty)  /f (10000 x 'f')
//   /big (3 MiB, a 2 MiB extent)  /x (xattrs)  /s -> f  /h (empty)
void standard_tree(Filesystem& fs) {
  auto d = fs.mkdir(kRoot, "d", 0755, root());
  ASSERT_TRUE(d.ok());
  write_file(fs, d->ino, "a", 3000, 'a');
  ASSERT_TRUE(fs.mkdir(kRoot, "e", 0755, root()).ok());
  ASSERT_TRUE(fs.mkdir(kRoot, "e2", 0700, root()).ok());
  write_file(fs, kRoot, "f", 10000, 'f');
  write_file(fs, kRoot, "big", 3 * kMiB, 'b');
  write_file(fs, kRoot, "x", 10, 'x');
  const uint64_t x = path_ino(fs, "/x");
  ASSERT_TRUE(fs.setxattr(x, "user.one", "1", 0).ok());
  ASSERT_TRUE(fs.setxattr(x, "user.two", std::string(300, '2'), 0).ok());
  ASSERT_TRUE(fs.symlink(kRoot, "s", "f", root()).ok());
  write_file(fs, kRoot, "h", 0, 0);
}

// The standard tree plus /frag: 400 one-block extents with a hole after
// each, so that all but five of them live in three extent blocks.
void fragmented_tree(Filesystem& fs) {
  standard_tree(fs);
  write_file(fs, kRoot, "frag", 800 * 4096, 'g');
  const uint64_t frag = path_ino(fs, "/frag");
  for (uint64_t i = 0; i < 400; ++i)
    ASSERT_TRUE(fs.fallocate(frag, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (2 * i + 1) * 4096, 4096)
                    .ok());
}

// u::rw- u:4321:r-x g::r-- m::r-x o::--- as the kernel hands it over.
std::string acl_value() {
  std::string v(4 + 5 * 8, '\0');
  const uint16_t entries[5][2] = {{ACL_USER_OBJ, 6}, {ACL_USER, 5}, {ACL_GROUP_OBJ, 4},
                                  {ACL_MASK, 5}, {ACL_OTHER, 0}};
  const uint32_t version = POSIX_ACL_XATTR_VERSION;
  std::memcpy(v.data(), &version, 4);
  for (int i = 0; i < 5; ++i) {
    const uint32_t id = entries[i][0] == ACL_USER ? 4321u : static_cast<uint32_t>(ACL_UNDEFINED_ID);
    std::memcpy(v.data() + 4 + i * 8, &entries[i][0], 2);
    std::memcpy(v.data() + 4 + i * 8 + 2, &entries[i][1], 2);
    std::memcpy(v.data() + 4 + i * 8 + 4, &id, 4);
  }
  return v;
}

// standard_tree, with an access ACL on /f and a default ACL on /d.
void acl_tree(Filesystem& fs) {
  standard_tree(fs);
  ASSERT_TRUE(fs.setxattr(path_ino(fs, "/f"), "system.posix_acl_access", acl_value(), 0).ok());
  ASSERT_TRUE(fs.setxattr(path_ino(fs, "/d"), "system.posix_acl_default", acl_value(), 0).ok());
}

Status truncate_to(Filesystem& fs, const std::string& path, uint64_t size) {
  SetAttr s;
  s.valid = SetAttr::kSize;
  s.size = size;
  auto r = fs.setattr(path_ino(fs, path), s);
  return r.ok() ? Status{} : err(r.error());
}

Status write_synced(Filesystem& fs, const std::string& path, uint64_t off, size_t len, char c) {
  const uint64_t ino = path_ino(fs, path);
  auto n = fs.write(ino, off, std::string(len, c).data(), len);
  if (!n.ok()) return err(n.error());
  return fs.fsync(ino, false);
}

// Lists as many open-unlinked files as the orphan table holds.
Status fill_orphan_table(Filesystem& fs) {
  const auto& sb = *reinterpret_cast<const layout::Superblock*>(static_cast<FsImpl&>(fs).pool().base());
  for (uint64_t i = 0; i < layout::orphan_table_inos(sb); ++i) {
    const std::string name = "orphan" + std::to_string(i);
    auto a = fs.mknod(kRoot, name, S_IFREG | 0644, 0, root());
    if (!a.ok()) return err(a.error());
    PMEMFS_TRY(fs.open(a->ino));
    PMEMFS_TRY(fs.unlink(kRoot, name));
  }
  return {};
}

std::vector<CrashCase> metadata_cases() {
  auto d = [](Filesystem& fs) { return path_ino(fs, "/d"); };
  // The O_TMPFILE that "link-tmpfile" names, made by its prepare step.
  auto tmp = std::make_shared<uint64_t>(0);
  return {
      // An unnamed tmpfile: the tree never shows it; every crash state must
      // recover without it (fsck finds no inode left over).
      {"tmpfile", standard_tree,
       [](Filesystem& fs) {
         auto a = fs.tmpfile(kRoot, S_IFREG | 0600, root(), true);
         return a.ok() ? Status{} : err(a.error());
       }},
      // Its first name: before, no /d/named and no inode; after, /d/named.
      {"link-tmpfile", standard_tree,
       [d, tmp](Filesystem& fs) {
         auto a = fs.link(*tmp, d(fs), "named");
         return a.ok() ? Status{} : err(a.error());
       },
       "",
       [tmp](Filesystem& fs) -> Status {
         auto a = fs.tmpfile(kRoot, S_IFREG | 0640, root(), true);
         if (!a.ok()) return err(a.error());
         *tmp = a->ino;
         const std::string data(6000, 'T');
         auto n = fs.write(a->ino, 0, data.data(), data.size());
         if (!n.ok()) return err(n.error());
         return fs.fsync(a->ino, false);
       }},
      {"create", standard_tree,
       [](Filesystem& fs) {
         auto a = fs.mknod(kRoot, "new", S_IFREG | 0600, 0, root());
         return a.ok() ? Status{} : err(a.error());
       }},
      {"mkdir", standard_tree,
       [d](Filesystem& fs) {
         auto a = fs.mkdir(d(fs), "sub", 0750, root());
         return a.ok() ? Status{} : err(a.error());
       }},
      {"link", standard_tree,
       [d](Filesystem& fs) {
         auto a = fs.link(path_ino(fs, "/f"), d(fs), "f-link");
         return a.ok() ? Status{} : err(a.error());
       }},
      {"unlink", standard_tree, [](Filesystem& fs) { return fs.unlink(kRoot, "f"); }},
      {"unlink-big", standard_tree, [](Filesystem& fs) { return fs.unlink(kRoot, "big"); }},
      {"unlink-while-open", standard_tree,
       [](Filesystem& fs) -> Status {
         PMEMFS_TRY(fs.open(path_ino(fs, "/f")));
         return fs.unlink(kRoot, "f");
       }},
      // The orphan table is full (files unlinked while open): this unlink
      // grows the orphan chain by a block first, in a Txn of its own.
      {"unlink-while-open-growing-the-orphan-chain", standard_tree,
       [](Filesystem& fs) -> Status {
         PMEMFS_TRY(fs.open(path_ino(fs, "/f")));
         return fs.unlink(kRoot, "f");
       },
       "", fill_orphan_table},
      {"rmdir", standard_tree, [](Filesystem& fs) { return fs.rmdir(kRoot, "e"); }},
      {"rename-same-dir", standard_tree,
       [](Filesystem& fs) { return fs.rename(kRoot, "f", kRoot, "g", 0); }},
      {"rename-across-dirs", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "f", d(fs), "g", 0); }},
      {"rename-over-file", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "f", d(fs), "a", 0); }},
      {"rename-dir-across", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "e", d(fs), "moved", 0); }},
      {"rename-dir-over-empty-dir", standard_tree,
       [](Filesystem& fs) { return fs.rename(kRoot, "e", kRoot, "e2", 0); }},
      {"rename-exchange", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "f", d(fs), "a", RENAME_EXCHANGE); }},
      {"rename-exchange-dir-and-file", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "e", d(fs), "a", RENAME_EXCHANGE); }},
      {"rename-noreplace", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "f", d(fs), "new", RENAME_NOREPLACE); }},
      // The whiteout's inode is allocated, written and linked in the rename's Txn.
      {"rename-whiteout", standard_tree,
       [](Filesystem& fs) { return fs.rename(kRoot, "f", kRoot, "g", RENAME_WHITEOUT, root()); }},
      {"rename-whiteout-over-file", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "f", d(fs), "a", RENAME_WHITEOUT, root()); }},
      {"rename-whiteout-dir-across", standard_tree,
       [d](Filesystem& fs) { return fs.rename(kRoot, "e", d(fs), "e", RENAME_WHITEOUT, root()); }},
      {"symlink", standard_tree,
       [d](Filesystem& fs) {
         auto a = fs.symlink(d(fs), "sl", "../some/where/else", root());
         return a.ok() ? Status{} : err(a.error());
       }},
      {"truncate-down", standard_tree, [](Filesystem& fs) { return truncate_to(fs, "/f", 100); }},
      {"truncate-down-2m-extent", standard_tree,
       [](Filesystem& fs) { return truncate_to(fs, "/big", 4096); }},
      {"truncate-up", standard_tree, [](Filesystem& fs) { return truncate_to(fs, "/f", 5 * kMiB); }},
      // Frees the extent blocks with the extents, in the same transaction.
      {"truncate-fragmented", fragmented_tree,
       [](Filesystem& fs) { return truncate_to(fs, "/frag", 0); }},
      {"setxattr-new", standard_tree,
       [](Filesystem& fs) { return fs.setxattr(path_ino(fs, "/x"), "user.three", "3", XATTR_CREATE); }},
      {"setxattr-replace", standard_tree,
       [](Filesystem& fs) {
         return fs.setxattr(path_ino(fs, "/x"), "user.two", std::string(5000, 'R'), XATTR_REPLACE);
       }},
      {"removexattr", standard_tree,
       [](Filesystem& fs) { return fs.removexattr(path_ino(fs, "/x"), "user.one"); }},
      {"chmod", standard_tree,
       [](Filesystem& fs) {
         SetAttr s;
         s.valid = SetAttr::kMode;
         s.mode = 0600;
         auto r = fs.setattr(path_ino(fs, "/f"), s);
         return r.ok() ? Status{} : err(r.error());
       }},
      // ACLs: an xattr and the mode in one Txn; a new node with two.
      {"setfacl", standard_tree,
       [](Filesystem& fs) {
         return fs.setxattr(path_ino(fs, "/f"), "system.posix_acl_access", acl_value(), 0);
       }},
      {"chmod-with-acl", acl_tree,
       [](Filesystem& fs) {
         SetAttr s;
         s.valid = SetAttr::kMode;
         s.mode = 0600;
         auto r = fs.setattr(path_ino(fs, "/f"), s);
         return r.ok() ? Status{} : err(r.error());
       }},
      {"mkdir-inheriting-acl", acl_tree,
       [d](Filesystem& fs) {
         auto a = fs.mkdir(d(fs), "sub", 0777, root());
         return a.ok() ? Status{} : err(a.error());
       }},
  };
}

std::vector<CrashCase> data_cases() {
  return {
      {"write-allocating-4k", standard_tree,
       [](Filesystem& fs) { return write_synced(fs, "/f", 16384, 4096, 'W'); }, "/f"},
      {"write-overwrite", standard_tree,
       [](Filesystem& fs) { return write_synced(fs, "/f", 100, 5000, 'O'); }, "/f"},
      {"write-allocating-2m", standard_tree,
       [](Filesystem& fs) { return write_synced(fs, "/h", 0, 2 * kMiB, 'H'); }, "/h"},
      {"punch-hole", standard_tree,
       [](Filesystem& fs) {
         return fs.fallocate(path_ino(fs, "/f"), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                             8192);
       },
       "/f"},
      {"punch-hole-2m-extent", standard_tree,
       [](Filesystem& fs) {
         return fs.fallocate(path_ino(fs, "/big"), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
                             2 * kMiB);
       },
       "/big"},
      // Empties the middle extent block: the chain is relinked around it.
      {"punch-fragmented-middle", fragmented_tree,
       [](Filesystem& fs) {
         return fs.fallocate(path_ino(fs, "/frag"), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                             100 * 8192, 250 * 8192);
       },
       "/frag"},
      {"zero-range", standard_tree,
       [](Filesystem& fs) {
         return fs.fallocate(path_ino(fs, "/f"), FALLOC_FL_ZERO_RANGE, 4096, 4096);
       },
       "/f"},
  };
}

// ---- operations that need more than one transaction ----------------------
// A lane holds about 3,900 freed extents (256 KiB of records): /many has
// 8,000 one-block extents (32 MiB), so freeing them takes at least three commits,
// and every power cut between them must still recover to before or after
// (the orphan table finishes a truncate or unlink at mount). Each op checks
// that it really committed more than once, so that the case cannot quietly
// stop covering the path.

constexpr uint64_t kManyExtents = 8000;

void many_extents_tree(Filesystem& fs) {
  standard_tree(fs);
  auto a = fs.mknod(kRoot, "many", S_IFREG | 0644, 0, root());
  ASSERT_TRUE(a.ok());
  // Backwards, page by page: each write into the hole gets the next free
  // block, so neighbours in the file are never neighbours in the pool and
  // no two pages merge into one extent.
  const std::string page(4096, 'm');
  for (uint64_t i = kManyExtents; i-- > 0;)
    ASSERT_TRUE(fs.write(a->ino, i * 4096, page.data(), page.size()).ok()) << i;
}

// Runs op and fails unless it took at least `commits` journal commits.
std::function<Status(Filesystem&)> in_commits(uint64_t commits,
                                              std::function<Status(Filesystem&)> op) {
  return [commits, op](Filesystem& fs) -> Status {
    const uint64_t before = fs.stats().journal_commits;
    PMEMFS_TRY(op(fs));
    const uint64_t used = fs.stats().journal_commits - before;
    if (used < commits) {
      ADD_FAILURE() << "the operation took " << used << " commits, not the " << commits
                    << " the case is about";
      return err(EPROTO);
    }
    return {};
  };
}

std::vector<CrashCase> many_transaction_cases() {
  return {
      {"truncate-many-extents", many_extents_tree,
       in_commits(3, [](Filesystem& fs) { return truncate_to(fs, "/many", 4096); }), "/many"},
      {"punch-many-extents", many_extents_tree,
       in_commits(3,
                  [](Filesystem& fs) {
                    return fs.fallocate(path_ino(fs, "/many"),
                                        FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 4096,
                                        kManyExtents * 4096);
                  }),
       "/many"},
      {"unlink-many-extents", many_extents_tree,
       in_commits(3, [](Filesystem& fs) { return fs.unlink(kRoot, "many"); })},
      // Each 2 MiB extent commits on its own before the size grows: a cut in
      // between leaves the file as it was (the blocks past EOF are marked
      // so, and fsck accepts them).
      {"fallocate-many-extents", standard_tree,
       in_commits(4,
                  [](Filesystem& fs) {
                    return fs.fallocate(path_ino(fs, "/h"), 0, 0, 8 * kMiB);
                  }),
       "/h"},
  };
}

uint64_t g_total_states = 0, g_total_points = 0;

// Reports the whole run's count once every case has run.
class CountingEnvironment : public ::testing::Environment {
 public:
  void SetUp() override { spdlog::set_level(spdlog::level::warn); }
  void TearDown() override {
    std::printf("crash-point enumeration: %llu persist points, %llu crash states checked\n",
                static_cast<unsigned long long>(g_total_points),
                static_cast<unsigned long long>(g_total_states));
    // Thousands per run, as the suite promises (unless a filter ran only a
    // few cases); fewer means the harness stopped seeing the persist points.
    if (::testing::GTEST_FLAG(filter) == "*") {
      EXPECT_GE(g_total_states, 1000u);
    }
  }
};
const auto* const g_env = ::testing::AddGlobalTestEnvironment(new CountingEnvironment);

class CrashPoints : public ::testing::TestWithParam<CrashCase> {};

TEST_P(CrashPoints, EveryCrashStateRecoversToBeforeOrAfter) {
  HarnessOptions o;
  o.eviction_subsets = kEvictionSubsets;
  o.seed = std::hash<std::string>{}(GetParam().name);
  CaseReport r = run_crash_case(GetParam(), o);
  ASSERT_EQ(r.error, "");
  std::printf("%-28s %4llu persist points %6llu crash states\n", GetParam().name.c_str(),
              static_cast<unsigned long long>(r.persist_points),
              static_cast<unsigned long long>(r.crash_states));
  g_total_points += r.persist_points;
  g_total_states += r.crash_states;
  EXPECT_GT(r.persist_points, 0u) << "the operation persisted nothing";
  for (const auto& v : r.violations) ADD_FAILURE() << v;
}

std::string case_name(const ::testing::TestParamInfo<CrashCase>& info) {
  std::string n = info.param.name;
  for (char& c : n)
    if (c == '-') c = '_';
  return n;
}

INSTANTIATE_TEST_SUITE_P(Metadata, CrashPoints, ::testing::ValuesIn(metadata_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(Data, CrashPoints, ::testing::ValuesIn(data_cases()), case_name);
INSTANTIATE_TEST_SUITE_P(ManyTransactions, CrashPoints, ::testing::ValuesIn(many_transaction_cases()),
                         case_name);

// The harness must be able to fail: operations that are not atomic, that
// corrupt the pool, or that expose bytes never written are each caught.
CaseReport run_broken(const CrashCase& c) {
  HarnessOptions o;
  o.eviction_subsets = 1;
  return run_crash_case(c, o);
}

TEST(CrashHarness, CatchesAnOperationThatIsNotAtomic) {
  // A rename done as link + unlink: a crash in between shows both names.
  CaseReport r = run_broken({"link-then-unlink", standard_tree, [](Filesystem& fs) -> Status {
                               auto a = fs.link(path_ino(fs, "/f"), kRoot, "g");
                               if (!a.ok()) return err(a.error());
                               return fs.unlink(kRoot, "f");
                             }});
  ASSERT_EQ(r.error, "");
  ASSERT_FALSE(r.violations.empty());
  EXPECT_NE(r.violations[0].find("neither before nor after"), std::string::npos) << r.violations[0];
}

TEST(CrashHarness, CatchesACorruptPool) {
  // A block bitmap bit set behind the journal's back: a leaked block.
  CaseReport r = run_broken({"stray-bitmap-bit", standard_tree, [](Filesystem& fs) -> Status {
                               Pool& pool = static_cast<FsImpl&>(fs).pool();
                               const auto* sb = pool.at<layout::Superblock>(0);
                               auto* word = pool.at<uint64_t>(sb->block_bitmap_off +
                                                              (sb->data_blocks / 64 - 1) * 8);
                               *word |= uint64_t{1} << 63;
                               pool.persist(word, sizeof(*word));
                               return {};
                             }});
  ASSERT_EQ(r.error, "");
  ASSERT_FALSE(r.violations.empty());
  EXPECT_NE(r.violations[0].find("fsck exit"), std::string::npos) << r.violations[0];
}

TEST(CrashHarness, CatchesBytesThatWereNeverTheOldOrTheNewData) {
  // Two synced writes: a crash after the first shows 'A', which is neither
  // the file's old nor its final contents.
  CaseReport r = run_broken({"two-writes", standard_tree, [](Filesystem& fs) -> Status {
                               PMEMFS_TRY(write_synced(fs, "/f", 0, 100, 'A'));
                               return write_synced(fs, "/f", 0, 100, 'B');
                             },
                             "/f"});
  ASSERT_EQ(r.error, "");
  ASSERT_FALSE(r.violations.empty());
  EXPECT_NE(r.violations[0].find("neither old, new nor zero"), std::string::npos) << r.violations[0];
}

}  // namespace
}  // namespace pmemfs::crash
