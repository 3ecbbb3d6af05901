#include "core/log.h"
#include "core/thread_annotations.h"

#include <spdlog/async.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <memory>
#include <stdexcept>
#include <vector>

namespace tenx::log {
namespace {
core::Mutex g_mu;  // guards replacing the logger (start-up and reload only)
std::shared_ptr<spdlog::logger> g_logger GUARDED_BY(g_mu);
std::atomic<spdlog::logger*> g_current{nullptr};

std::shared_ptr<spdlog::logger> make_default() {
  auto logger =
      std::make_shared<spdlog::logger>("tenx", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(spdlog::level::info);
  return logger;
}
}  // namespace

void init(const Options& options) {
  auto level = spdlog::level::from_str(options.level);
  if (level == spdlog::level::off && options.level != "off")
    throw std::invalid_argument("unknown log level '" + options.level +
                                "' (trace, debug, info, warn, error, off)");
  std::shared_ptr<spdlog::sinks::sink> sink;
  if (options.file == "stderr")
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  else if (options.file == "stdout")
    sink = std::make_shared<spdlog::sinks::stdout_sink_mt>();
  else
    sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(options.file, false);

  core::MutexLock lock(g_mu);
  if (!spdlog::thread_pool()) spdlog::init_thread_pool(8192, 1);
  auto logger = std::make_shared<spdlog::async_logger>(
      "tenx", sink, spdlog::thread_pool(), spdlog::async_overflow_policy::overrun_oldest);
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v", spdlog::pattern_time_type::utc);
  logger->set_level(level);
  logger->flush_on(spdlog::level::warn);
  // The previous logger stays alive (g_logger keeps only the newest, but loggers in use
  // elsewhere hold their own shared_ptr via app()'s caller being synchronous).
  static std::vector<std::shared_ptr<spdlog::logger>> retired;
  if (g_logger) retired.push_back(g_logger);
  g_logger = logger;
  g_current.store(logger.get(), std::memory_order_release);
}

spdlog::logger& app() {
  if (auto* l = g_current.load(std::memory_order_acquire)) return *l;
  core::MutexLock lock(g_mu);
  if (!g_logger) {
    g_logger = make_default();
    g_current.store(g_logger.get(), std::memory_order_release);
  }
  return *g_logger;
}

void flush() {
  if (auto* l = g_current.load(std::memory_order_acquire)) l->flush();
}

}  // namespace tenx::log
