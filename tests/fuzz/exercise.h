// What every whole-pool target does with a damaged pool: fsck -n checks it,
// the library mounts it, walks the whole tree through filesystem.h the way a
// reader of the mounted filesystem would (readdir, lookup, getattr, read,
// readlink, lseek, listxattr, getxattr, forget) and unmounts it.
//
// When fsck -n finds only problems it can repair, fsck -y repairs them
// first, as an administrator would before mounting.
//
// Errors are the expected outcome; what aborts (so that libFuzzer reports
// it, with the input) is a crash, a hang, a sanitizer report, or a broken
// promise:
//  - fsck -n exits 0 (clean), 4 (problems found) or 8 (not a usable pool),
//    never writes, and says what it found;
//  - fsck -y repairs what fsck -n called repairable, and leaves it clean;
//  - a refused mount logs why;
//  - a pool fsck calls clean mounts, the walk finds nothing damaged
//    (EUCLEAN or EIO), and fsck still calls it clean after the unmount.
#pragma once

#include <string>

namespace pmemfs::fuzz {

void exercise(const std::string& pool_path);

}  // namespace pmemfs::fuzz
