// The Filesystem class end to end, in process (see filesystem_test_util.h).
// Concurrent namespace, data and rename operations.
#include "filesystem_test_util.h"

namespace pmemfs::test {
namespace {

// ---- concurrency -------------------------------------------------------------

// Checks the namespace below dir: every name resolves to a live inode of the
// type readdir reports, directories count their subdirectories and name their
// parent, files' link counts match the names found.
void check_consistency(Filesystem& fs, uint64_t dir, std::map<uint64_t, uint32_t>& names_of,
                       std::map<uint64_t, uint32_t>& nlink_of) {
  uint32_t subdirs = 0;
  for (const auto& e : list(fs, dir)) {
    if (e.name == "." || e.name == "..") continue;
    auto a = fs.lookup(dir, e.name);
    ASSERT_TRUE(a.ok()) << e.name << ": " << a.error();
    EXPECT_EQ(a->ino, e.ino) << e.name;
    EXPECT_EQ(IFTODT(a->mode), e.type) << e.name;
    fs.forget(a->ino, 1);
    if (S_ISDIR(a->mode)) {
      ++subdirs;
      EXPECT_EQ(ino_of(fs, a->ino, ".."), dir) << e.name;
      check_consistency(fs, a->ino, names_of, nlink_of);
    } else {
      names_of[a->ino]++;
      nlink_of[a->ino] = a->nlink;
    }
  }
  EXPECT_EQ(fs.getattr(dir)->nlink, 2 + subdirs) << "dir " << dir;
}

TEST(Filesystem, ConcurrentNamespaceAndData) {
  TempPool pool(256 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  constexpr int kThreads = 4;
  const int kOps = kSanitized ? 800 : 2500;
  Attr shared = mkdir_(*fs, kRoot, "shared");
  std::vector<uint64_t> own(kThreads);
  for (int t = 0; t < kThreads; ++t) own[t] = mkdir_(*fs, kRoot, "t" + std::to_string(t)).ino;
  std::atomic<int> failures{0};
  auto fail = [&](const char* what, int e) {
    if (failures.fetch_add(1) < 10) ADD_FAILURE() << what << ": " << e;
  };

  auto worker = [&](int t) {
    std::mt19937 rng(t);
    // The names this thread owns, by directory: (dir ino, name) -> is_dir.
    std::map<std::pair<uint64_t, std::string>, bool> mine;
    uint64_t data_file = 0;
    {
      auto a = fs->mknod(own[t], "data", S_IFREG | 0644, 0, root_caller());
      if (!a.ok()) return fail("mknod data", a.error());
      data_file = a->ino;
    }
    std::string model;
    for (int i = 0; i < kOps; ++i) {
      const uint64_t dirs[3] = {shared.ino, own[t], own[(t + 1) % kThreads]};
      const uint64_t dir = dirs[rng() % 3];
      const std::string name = "t" + std::to_string(t) + "-" + std::to_string(i);
      switch (rng() % 8) {
        case 0:
        case 1: {
          auto a = fs->mknod(dir, name, S_IFREG | 0644, 0, root_caller());
          if (!a.ok()) return fail("mknod", a.error());
          std::string d = pattern(rng() % 9000, i);
          auto w = fs->write(a->ino, 0, d.data(), d.size());
          if (d.size() && !w.ok()) return fail("write", w.error());
          fs->forget(a->ino, 1);
          mine[{dir, name}] = false;
          break;
        }
        case 2: {
          auto a = fs->mkdir(dir, name, 0755, root_caller());
          if (!a.ok()) return fail("mkdir", a.error());
          fs->forget(a->ino, 1);
          mine[{dir, name}] = true;
          break;
        }
        case 3:
        case 4: {  // rename one of mine to a new name in any directory
          if (mine.empty()) break;
          auto it = mine.begin();
          std::advance(it, rng() % mine.size());
          auto [from, is_dir] = *it;
          Status s = fs->rename(from.first, from.second, dir, name, rng() % 2 ? RENAME_NOREPLACE : 0);
          if (!s.ok()) return fail("rename", s.error());
          mine.erase(it);
          mine[{dir, name}] = is_dir;
          break;
        }
        case 5: {  // remove one of mine
          if (mine.empty()) break;
          auto it = mine.begin();
          std::advance(it, rng() % mine.size());
          Status s = it->second ? fs->rmdir(it->first.first, it->first.second)
                                : fs->unlink(it->first.first, it->first.second);
          if (!s.ok()) return fail("remove", s.error());
          mine.erase(it);
          break;
        }
        case 6: {  // write and verify a private file
          const uint64_t off = rng() % (3 * kMiB);
          std::string d = pattern(1 + rng() % 20000, i);
          auto w = fs->write(data_file, off, d.data(), d.size());
          if (!w.ok()) return fail("write data", w.error());
          if (model.size() < off + d.size()) model.resize(off + d.size(), '\0');
          model.replace(off, d.size(), d);
          std::string back(d.size(), '?');
          auto r = fs->read(data_file, off, d.size(), back.data());
          if (!r.ok() || back != d) return fail("read back", r.error());
          break;
        }
        case 7: {  // lookups and listings of busy directories
          auto a = fs->lookup(dir, name);
          if (a.ok()) return fail("lookup of a name never made", 0);
          size_t n = 0;
          Status s = fs->readdir(dir, 0, [&](const DirEntry&) { return ++n < 50; });
          if (!s.ok()) return fail("readdir", s.error());
          if (!mine.empty()) {
            auto it = mine.begin();
            std::advance(it, rng() % mine.size());
            auto l = fs->lookup(it->first.first, it->first.second);
            if (!l.ok()) return fail("lookup of mine", l.error());
            fs->forget(l->ino, 1);
          }
          break;
        }
      }
    }
    // Every name this thread owns is where it left it.
    for (const auto& [where, is_dir] : mine) {
      auto a = fs->lookup(where.first, where.second);
      if (!a.ok()) return fail("final lookup", a.error());
      if (S_ISDIR(a->mode) != is_dir) return fail("type", 0);
      fs->forget(a->ino, 1);
    }
    std::string back(model.size(), '?');
    auto r = fs->read(data_file, 0, model.size(), back.data());
    if (!r.ok() || back != model) return fail("final data", r.error());
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  ASSERT_EQ(failures.load(), 0);

  std::map<uint64_t, uint32_t> names_of, nlink_of;
  check_consistency(*fs, kRoot, names_of, nlink_of);
  for (const auto& [ino, count] : names_of) EXPECT_EQ(nlink_of[ino], count) << "ino " << ino;
  // The same after a remount, and the free counts agree with what is there.
  const auto s = *fs->statfs();
  fs.reset();
  fs = pool.mount();
  ASSERT_TRUE(fs);
  std::map<uint64_t, uint32_t> names2, nlink2;
  check_consistency(*fs, kRoot, names2, nlink2);
  EXPECT_EQ(names2, names_of);
  EXPECT_EQ(fs->statfs()->blocks_free, s.blocks_free);
  EXPECT_EQ(fs->statfs()->inodes_free, s.inodes_free);
}

TEST(Filesystem, ConcurrentRenamesBetweenDirectoryPairs) {
  // Opposite-direction cross-directory renames and directory moves up and
  // down one tree: the lock order must hold without deadlock.
  TempPool pool(64 << 20);
  auto fs = pool.mount();
  ASSERT_TRUE(fs);
  Attr a = mkdir_(*fs, kRoot, "a");
  Attr b = mkdir_(*fs, kRoot, "b");
  Attr ab = mkdir_(*fs, a.ino, "ab");
  constexpr int kThreads = 4;
  const int kOps = kSanitized ? 500 : 2000;
  std::atomic<int> failures{0};
  auto worker = [&](int t) {
    const uint64_t dirs[3] = {a.ino, b.ino, ab.ino};
    std::mt19937 rng(100 + t);
    std::string fname = "f" + std::to_string(t), dname = "d" + std::to_string(t);
    uint64_t fdir = dirs[t % 3], ddir = dirs[(t + 1) % 3];
    auto f = fs->mknod(fdir, fname, S_IFREG | 0644, 0, root_caller());
    auto d = fs->mkdir(ddir, dname, 0755, root_caller());
    if (!f.ok() || !d.ok()) return (void)failures.fetch_add(1);
    for (int i = 0; i < kOps; ++i) {
      uint64_t to = dirs[rng() % 3];
      if (fs->rename(fdir, fname, to, fname, 0).ok()) fdir = to;
      else failures.fetch_add(1);
      to = dirs[rng() % 3];
      if (fs->rename(ddir, dname, to, dname, 0).ok()) ddir = to;
      else failures.fetch_add(1);
    }
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) threads.emplace_back(worker, t);
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  std::map<uint64_t, uint32_t> names_of, nlink_of;
  check_consistency(*fs, kRoot, names_of, nlink_of);
  EXPECT_EQ(names_of.size(), kThreads + 0u);
  for (const auto& [ino, count] : names_of) EXPECT_EQ(nlink_of[ino], count);
}

}  // namespace
}  // namespace pmemfs::test
