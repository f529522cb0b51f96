#include "tools/fsck/progress.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

namespace pmemfs::fsck {

void Progress::start_pass(int pass, int passes, const char* name, uint64_t max) {
  pass_ = pass;
  passes_ = passes;
  name_ = name;
  max_ = std::max<uint64_t>(max, 1);
  shown_permille_ = UINT64_MAX;
  advance(0);
}

void Progress::advance(uint64_t done) {
  done = std::min(done, max_);
  // Per mille without overflow for any max.
  const uint64_t permille = done == max_ ? 1000 : done / std::max<uint64_t>(max_ / 1000, 1);
  if (permille == shown_permille_) return;
  shown_permille_ = permille;
  show(pass_, passes_, name_, done, max_);
}

void FdProgress::show(int pass, int, const char*, uint64_t done, uint64_t max) {
  char line[512];
  const int n = std::snprintf(line, sizeof line, "%d %llu %llu %s\n", pass,
                              static_cast<unsigned long long>(done),
                              static_cast<unsigned long long>(max), device_.c_str());
  if (n <= 0) return;
  const size_t len = std::min(static_cast<size_t>(n), sizeof line - 1);
  // A reader that went away must not stop the check (EPIPE is ignored: fsck
  // keeps SIGPIPE from killing it, see main.cc).
  for (size_t off = 0; off < len;) {
    const ssize_t w = ::write(fd_, line + off, len - off);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    off += static_cast<size_t>(w);
  }
}

void TerminalProgress::show(int pass, int passes, const char* name, uint64_t done, uint64_t max) {
  if (!drawn_ && Clock::now() < shown_from_) return;
  drawn_ = on_line_ = true;
  const unsigned percent = static_cast<unsigned>(done * 100 / max);
  std::fprintf(out_, "\r%s: pass %d/%d (%s) %3u%%\033[K", source_.c_str(), pass, passes, name,
               percent);
  std::fflush(out_);
}

void TerminalProgress::finish() {
  if (!on_line_) return;
  on_line_ = false;
  std::fprintf(out_, "\r\033[K");
  std::fflush(out_);
}

}  // namespace pmemfs::fsck
