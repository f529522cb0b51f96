#include "fuse/log.h"

#include <fuse_log.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/spdlog.h>
#include <syslog.h>

#include <cstdio>
#include <memory>
#include <mutex>

namespace pmemfs::daemon {
namespace {

spdlog::level::level_enum from_fuse(enum fuse_log_level l) {
  switch (l) {
    case FUSE_LOG_EMERG:
    case FUSE_LOG_ALERT:
    case FUSE_LOG_CRIT: return spdlog::level::critical;
    case FUSE_LOG_ERR: return spdlog::level::err;
    case FUSE_LOG_WARNING: return spdlog::level::warn;
    case FUSE_LOG_NOTICE:
    case FUSE_LOG_INFO: return spdlog::level::info;
    case FUSE_LOG_DEBUG: return spdlog::level::debug;
  }
  return spdlog::level::info;
}

// libfuse formats printf-style and ends lines with '\n'; spdlog adds its own.
void fuse_log_to_spdlog(enum fuse_log_level level, const char* fmt, va_list ap) {
  auto lvl = from_fuse(level);
  if (!spdlog::should_log(lvl)) return;
  char buf[1024];
  int n = vsnprintf(buf, sizeof buf, fmt, ap);
  if (n < 0) return;
  size_t len = std::min(static_cast<size_t>(n), sizeof buf - 1);
  while (len > 0 && buf[len - 1] == '\n') --len;
  spdlog::log(lvl, "fuse: {}", std::string_view(buf, len));
}

// Remembers the last error message so that a failed mount can tell the user
// what the library found, not just an errno.
class LastErrorSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  std::string take() {
    std::lock_guard<std::mutex> g(mutex_);
    return std::exchange(last_, std::string());
  }

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level >= spdlog::level::err) last_.assign(msg.payload.data(), msg.payload.size());
  }
  void flush_() override {}

 private:
  std::string last_;
};

std::shared_ptr<LastErrorSink> last_error_sink = std::make_shared<LastErrorSink>();

}  // namespace

std::string take_last_error() { return last_error_sink->take(); }

void init_logging(bool foreground, spdlog::level::level_enum level) {
  std::shared_ptr<spdlog::logger> logger;
  if (foreground) {
    logger = std::make_shared<spdlog::logger>(
        "pmemfs", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("%Y-%m-%d %H:%M:%S.%e pmemfs[%P] %l: %v");
  } else {
    logger = std::make_shared<spdlog::logger>(
        "pmemfs", std::make_shared<spdlog::sinks::syslog_sink_mt>("pmemfs", LOG_PID, LOG_DAEMON,
                                                                  /*enable_formatting=*/false));
    logger->set_pattern("%v");
  }
  logger->sinks().push_back(last_error_sink);  // before any thread logs
  logger->set_level(level);
  // Errors must reach syslog even if the daemon dies right after.
  logger->flush_on(spdlog::level::warn);
  spdlog::set_default_logger(logger);
  fuse_set_log_func(fuse_log_to_spdlog);
}

}  // namespace pmemfs::daemon
