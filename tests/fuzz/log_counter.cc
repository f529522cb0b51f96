#include "log_counter.h"

#include <cstdlib>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>

#include <spdlog/details/null_mutex.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

namespace pmemfs::fuzz {
namespace {

uint64_t problems = 0;

class CountingSink final : public spdlog::sinks::base_sink<spdlog::details::null_mutex> {
 public:
  explicit CountingSink(bool print) : print_(print) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    if (msg.level >= spdlog::level::warn) ++problems;
    if (print_) std::cerr << "pmemfs: " << std::string(msg.payload.data(), msg.payload.size()) << '\n';
  }
  void flush_() override {}

 private:
  const bool print_;
};

}  // namespace

bool log_printed() {
  const char* env = std::getenv("PMEMFS_FUZZ_LOG");
  return env != nullptr && *env == '1';
}

void count_log_messages() {
  auto logger = std::make_shared<spdlog::logger>("pmemfs", std::make_shared<CountingSink>(log_printed()));
  logger->set_level(spdlog::level::warn);
  spdlog::set_default_logger(std::move(logger));
}

uint64_t log_problems() { return problems; }

}  // namespace pmemfs::fuzz
