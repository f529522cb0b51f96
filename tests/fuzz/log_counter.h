// The library's log, counted instead of printed. A damaged pool must be
// refused with a message saying what is wrong, so the targets check that a
// refusal logged one; printing thousands of messages a second would only slow
// the fuzzer down. PMEMFS_FUZZ_LOG=1 prints them as well.
#pragma once

#include <cstdint>

namespace pmemfs::fuzz {

// Replaces spdlog's default logger; info and debug messages are not even
// formatted. Call once, before the library logs anything.
void count_log_messages();
// Warnings and errors logged since the process started.
uint64_t log_problems();
// Whether messages are printed (PMEMFS_FUZZ_LOG=1): the targets then say
// what fsck and mount made of each input too.
bool log_printed();

}  // namespace pmemfs::fuzz
