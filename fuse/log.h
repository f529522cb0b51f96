// The daemon's one logger. Created after daemonising: a logger made before
// fork would write to the terminal the daemon just left, and spdlog's async
// thread would not survive the fork.
#pragma once

#include <spdlog/common.h>

#include <string>

namespace pmemfs::daemon {

// stderr in the foreground, syslog (facility daemon, ident "pmemfs")
// otherwise. Becomes spdlog's default logger, so the library's messages land
// in the same place, and libfuse's messages are routed into it too.
void init_logging(bool foreground, spdlog::level::level_enum level);

// The text of the last error logged (by anyone: the library explains a bad
// pool far better than its errno does), then forgets it; "" if none.
std::string take_last_error();

}  // namespace pmemfs::daemon
