#include "core/check.h"

#include <atomic>
#include <cstdio>
#include <cstdlib>

namespace tenx::core {
namespace {
std::atomic<std::uint64_t> g_bugs{0};
constexpr std::uint64_t kBugsLogged = 16;  // then count silently: a hot bug must not flood logs
}  // namespace

void fatal(std::string_view file, int line, std::string_view cond, std::string_view msg) {
  std::fprintf(stderr, "tenx: fatal: %.*s:%d: check failed: %.*s: %.*s\n",
               static_cast<int>(file.size()), file.data(), line, static_cast<int>(cond.size()),
               cond.data(), static_cast<int>(msg.size()), msg.data());
  std::abort();
}

void report_bug(std::string_view file, int line, std::string_view cond, std::string_view msg) {
  const auto n = g_bugs.fetch_add(1, std::memory_order_relaxed);
#ifndef NDEBUG
  fatal(file, line, cond, msg);
#else
  if (n < kBugsLogged) {
    std::fprintf(stderr, "tenx: bug: %.*s:%d: %.*s: %.*s\n", static_cast<int>(file.size()),
                 file.data(), line, static_cast<int>(cond.size()), cond.data(),
                 static_cast<int>(msg.size()), msg.data());
  }
#endif
}

std::uint64_t bug_count() { return g_bugs.load(std::memory_order_relaxed); }

}  // namespace tenx::core
