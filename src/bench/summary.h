#pragma once
// Summary: the figures of one `tenx bench` run, as reported and as stored in `--json`.
//
// The engine (engine.h) produces Results with full per-thread histograms; summarize() turns
// them into this plain value, which everything downstream works on: the text table, the
// JSON file (and reading it back for `tenx bench compare`), and the HTML report. A Summary
// read from JSON is the same value that was written, so compare and html need no histogram.
//
// Units are in the names: latencies in milliseconds (double), durations in seconds.
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

namespace tenx::bench {

// Failed requests by cause. A request that got a response (any status) is not an error;
// its status is counted in status_codes.
struct ErrorCounts {
  std::uint64_t connect = 0;   // connection refused, unreachable, connect timeout
  std::uint64_t read = 0;      // peer closed before the response was complete, read error
  std::uint64_t write = 0;     // the request could not be sent (EPIPE is counted as reset)
  std::uint64_t timeout = 0;   // no complete response within the per-request timeout
  std::uint64_t reset = 0;     // ECONNRESET / EPIPE
  std::uint64_t protocol = 0;  // the bytes were not a valid HTTP/1.1 response
  std::uint64_t total() const { return connect + read + write + timeout + reset + protocol; }
};

// One second of the measured window.
struct TimelinePoint {
  double t_s = 0;              // end of the second, from the start of the measured window
  std::uint64_t requests = 0;  // responses completed in that second
  std::uint64_t errors = 0;    // errors in that second
};

struct LatencySummary {
  double p50_ms = 0, p75_ms = 0, p90_ms = 0, p95_ms = 0, p99_ms = 0, p999_ms = 0, p9999_ms = 0,
         max_ms = 0, mean_ms = 0, stdev_ms = 0;
};

struct Summary {
  std::string target;  // the URL, or the scenario file's path
  std::string mode;    // "closed" or "open"
  unsigned threads = 0;
  unsigned connections = 0;
  unsigned pipeline = 1;
  double duration_s = 0;           // length of the measured window (warm-up excluded)
  double target_rate = 0;          // open loop: requests/s asked for; 0 in closed loop
  double requests_per_second = 0;  // responses completed per second of the measured window
  std::uint64_t requests = 0;      // responses completed in the measured window
  std::uint64_t unfinished = 0;    // sent or due but not answered when the window closed
  LatencySummary latency;
  std::map<unsigned, std::uint64_t> status_codes;
  ErrorCounts errors;
  std::uint64_t bytes_in = 0;
  std::uint64_t bytes_out = 0;
  // The latency-by-percentile curve (HdrHistogram's percentile distribution): pairs of
  // (percentile in [0, 100], latency_ms), increasing, ending at 100 = max.
  std::vector<std::pair<double, double>> percentile_curve;
  std::vector<TimelinePoint> timeline;
};

}  // namespace tenx::bench
