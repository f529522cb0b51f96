// The logical state of a filesystem, as a user sees it through the library
// API, in a form two crash states can be compared by: every path with its
// type, mode, owner, link count, inode number, size, contents, symlink
// target and xattrs. Times are left out (a recovered inode keeps the times of
// whichever state it is in, and those are not what atomicity is about).
#pragma once

#include <map>
#include <string>

#include "pmemfs/filesystem.h"
#include "pmemfs/result.h"

namespace pmemfs::crash {

inline constexpr uint64_t kRootIno = 1;

struct TreeDump {
  // path ("/", "/d", "/d/f") -> one line describing the node.
  std::map<std::string, std::string> nodes;
  // Contents of the file at `data_path` given to dump_tree (kept whole and
  // out of nodes, for the byte-wise rule of data operations).
  std::string data;
  bool data_present = false;
  // With all_files: every regular file's contents by inode number, kept out
  // of its node line (which still has its size), for the workload oracle.
  std::map<uint64_t, std::string> files;

  bool operator==(const TreeDump& o) const { return nodes == o.nodes; }
};

// Walks the whole tree from the root. data_path's contents go to .data, not
// into its node line. Errors name the path that failed.
Result<TreeDump> dump_tree(Filesystem& fs, const std::string& data_path = "", bool all_files = false);

// The lines that differ between two dumps, for failure messages.
std::string describe_difference(const TreeDump& a, const TreeDump& b);

}  // namespace pmemfs::crash
