#pragma once
// Process metrics (the names Prometheus client libraries use), read from /proc at scrape
// time: process_resident_memory_bytes, process_virtual_memory_bytes,
// process_cpu_seconds_total, process_open_fds, process_max_fds, process_start_time_seconds,
// plus tenx_bugs_total (TENX_BUG reports).
#include "metrics/registry.h"

#include <cstdint>

namespace tenx::metrics {

struct ProcessStats {
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  double cpu_seconds = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;
  double start_time_seconds = 0;
};

ProcessStats read_process_stats();

// Registers the collectors once per registry (idempotent for the global registry).
void register_process_metrics(Registry& registry = Registry::global());

}  // namespace tenx::metrics
