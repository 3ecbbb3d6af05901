#pragma once
// Three levels of invariant check (after Envoy's ASSERT / RELEASE_ASSERT / ENVOY_BUG):
//
//   TENX_ASSERT(cond, msg)          debug builds only; compiled out with NDEBUG.
//   TENX_RELEASE_ASSERT(cond, msg)  always checked; logs and aborts. For states that would
//                                   corrupt data if execution went on.
//   TENX_BUG(cond, msg)             always checked; in debug builds aborts, in release logs the
//                                   first occurrences and counts every one in
//                                   `tenx_bugs_total` (see bug_count()). For "cannot happen"
//                                   states the process survives.
//
// All three are safe to call from any thread.
#include <cstdint>
#include <string_view>

namespace tenx::core {

[[noreturn]] void fatal(std::string_view file, int line, std::string_view cond,
                        std::string_view msg);
void report_bug(std::string_view file, int line, std::string_view cond, std::string_view msg);
// Number of TENX_BUG reports since start.
std::uint64_t bug_count();

}  // namespace tenx::core

#define TENX_RELEASE_ASSERT(cond, msg)                       \
  do {                                                       \
    if (!(cond)) [[unlikely]]                                \
      ::tenx::core::fatal(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)

#ifdef NDEBUG
#define TENX_ASSERT(cond, msg) \
  do {                         \
  } while (0)
#else
#define TENX_ASSERT(cond, msg) TENX_RELEASE_ASSERT(cond, msg)
#endif

#define TENX_BUG(cond, msg)                                       \
  do {                                                            \
    if (!(cond)) [[unlikely]]                                     \
      ::tenx::core::report_bug(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
