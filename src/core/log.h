#pragma once
// Application log: one line per event, with a level, written by a background thread
// (spdlog's async logger), so a request path that logs never waits on the disk.
//
//   TENX_LOG_INFO("listening addr={} threads={}", addr, n);
//
// Lines look like `2026-11-28T03:16:48.123Z info listening addr=127.0.0.1:8080 threads=2`:
// an RFC 3339 UTC timestamp, the level, then the message written as key=value pairs.
// init() may be called again (reload) and is thread-safe; before init(), logging goes to
// stderr at level info.
#include <spdlog/spdlog.h>

#include <string>

namespace tenx::log {

struct Options {
  std::string level = "info";   // trace, debug, info, warn, error, off
  std::string file = "stderr";  // "stderr", "stdout" or a path (appended to)
};

// Throws std::invalid_argument on an unknown level or an unwritable file.
void init(const Options& options);
spdlog::logger& app();
void flush();

}  // namespace tenx::log

#define TENX_LOG_DEBUG(...) ::tenx::log::app().debug(__VA_ARGS__)
#define TENX_LOG_INFO(...) ::tenx::log::app().info(__VA_ARGS__)
#define TENX_LOG_WARN(...) ::tenx::log::app().warn(__VA_ARGS__)
#define TENX_LOG_ERROR(...) ::tenx::log::app().error(__VA_ARGS__)
