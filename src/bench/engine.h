#pragma once
// The load engine of `tenx bench`: worker threads that keep connections busy and time every
// response.
//
// Data flow:
//   Plan (plan.h, read-only) --> run() starts `threads` Workers, each owning a share of the
//   connections, its own epoll set, random source and WorkerStats --> every `progress`
//   interval the calling thread reads the workers' live counters and histograms (concurrent
//   readers are allowed) and calls the progress callback --> at the end the workers join and
//   their stats are merged into Results (results.h).
//
// Two modes:
//   * Closed loop (rate == 0): each connection sends its next request as soon as the previous
//     response has arrived (up to `pipeline` outstanding). Latency runs from the send.
//   * Open loop (rate > 0): requests are due on a fixed schedule, rate/threads per thread
//     (thread i offset by i/threads of an interval). A due request goes out on any connection
//     with room; when none has room it waits in a backlog, and its latency still runs from
//     the moment it was due. That is the coordinated-omission correction (wrk2): a stalled
//     server cannot hide its stall by stopping the generator from asking.
//
// Only requests in the measured window count: closed loop, responses completed after the
// warm-up; open loop, requests due after the warm-up. In an open loop, requests sent or due
// but unanswered when the window closes are reported as `unfinished`, not as latencies.
// Clocks: a closed-loop latency runs from just before the send to just after the recv that
// completed the response (a fresh clock read each; wrk's definition).
//
// Errors are counted per request (every request outstanding on a connection that fails),
// by kind: connect (refused, unreachable, connect timeout: one per failed attempt), read
// (peer closed mid-response), timeout, reset, write, protocol. A failed connection is
// reconnected at once, after a failed connect with a backoff (10 ms doubling to 1 s).
//
// Each worker is a plain epoll loop over non-blocking sockets (level-triggered, one recv per
// readiness, one send per batch of requests), with the foundation's response parser and
// histogram: the generator must not be the bottleneck it measures.
#include "bench/plan.h"
#include "bench/results.h"

#include <chrono>
#include <cstdint>
#include <functional>

namespace tenx::bench {

struct EngineOptions {
  unsigned threads = 1;
  unsigned connections = 64;  // in total, spread over the threads
  unsigned pipeline = 1;      // outstanding requests per connection
  std::chrono::nanoseconds duration{std::chrono::seconds(10)};  // the measured window
  std::uint64_t requests = 0;  // > 0: the measured window ends after this many requests
  std::chrono::nanoseconds warmup{0};
  double rate = 0;  // > 0: open loop at this many requests per second in total
  std::chrono::nanoseconds timeout{std::chrono::seconds(5)};  // per request (and connect)
  std::uint64_t seed = 1;
  std::chrono::nanoseconds progress_interval{std::chrono::seconds(1)};
};

struct Progress {
  double elapsed_s = 0;  // since the run started (warm-up included)
  bool warming_up = false;
  std::uint64_t requests = 0;  // responses in the measured window so far
  std::uint64_t errors = 0;
  double recent_rate = 0;  // responses per second since the previous call
  // Latencies of the measured window so far, merged across threads (valid during the call).
  const metrics::Histogram* latency = nullptr;
};

// Called on the calling thread every progress_interval; return false to end the run early.
using ProgressFn = std::function<bool(const Progress&)>;

// Runs the load. Throws PlanError for options that cannot run (zero connections, ...).
Results run(const Plan& plan, const EngineOptions& options, const ProgressFn& progress = {});

}  // namespace tenx::bench
