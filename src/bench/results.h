#pragma once
// Results: everything one run measured, merged across worker threads, before it is reduced
// to a Summary (summary.h) for printing and files.
//
// Each worker thread records into its own WorkerStats (single writer, no atomics beyond the
// histogram's relaxed ones); the engine merges them after the threads have joined.
#include "bench/summary.h"
#include "metrics/histogram.h"

#include <array>
#include <cstdint>
#include <vector>

namespace tenx::bench {

struct WorkerStats {
  metrics::Histogram latency;               // nanoseconds
  std::array<std::uint64_t, 600> status{};  // by status code (100..599)
  std::uint64_t responses = 0;              // in the measured window
  ErrorCounts errors;                       // in the measured window
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  std::uint64_t unfinished = 0;
  int connect_errno = 0;                  // why the last failed connect failed (for the message)
  std::vector<std::uint64_t> per_second;  // responses, by second of the window
  std::vector<std::uint64_t> errors_per_second;  // errors, by second of the window

  void merge_into(WorkerStats& out) const;
};

struct Results {
  WorkerStats total;
  double duration_s = 0;   // the measured window as it actually ran
  double target_rate = 0;  // open loop; 0 in closed loop
};

struct RunShape {
  std::string target;
  unsigned threads = 1;
  unsigned connections = 1;
  unsigned pipeline = 1;
};

Summary summarize(const Results& r, const RunShape& shape);

}  // namespace tenx::bench
