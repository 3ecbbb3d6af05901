#pragma once
// Capacity search: the highest open-loop rate at which the target still holds an SLO.
//
//   tenx bench capacity --slo p99=50ms [--max-error-rate 0.1%] [--current-rps X] URL|SCENARIO
//
// The search (find_capacity) knows nothing about sockets: a StepRunner measures, so the
// search is tested on a simulated system and simulated time. The steps:
//   1. probe: a short closed-loop run gives the throughput ceiling; the ramp starts at an
//      eighth of it (or at --start-rate);
//   2. ramp: the rate doubles while each step holds the SLO;
//   3. bisect between the last rate that held and the first that did not, until they are
//      within `precision` of each other.
// A step holds when every SLO percentile is within its limit, the error rate is within the
// limit, and the target actually served at least 90 % of the rate asked (an open loop that
// cannot be served piles up a backlog; its latencies then grow without bound anyway).
// A step that breaks the SLO badly is cut short by the runner (see `abort_factor`). The whole
// search never runs past max_time: a step that would not fit is not started.
#include <chrono>
#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

namespace tenx::bench {

struct Slo {
  std::string label;  // as written: "p99"
  double quantile = 0.99;
  double limit_ms = 0;
};

// "p99=50ms", "p99.9=0.2s,p50=5ms" (units us, ms, s). Throws PlanError on bad input.
std::vector<Slo> parse_slos(const std::vector<std::string>& specs);
// "0.1%" or "0.001". Throws PlanError on bad input.
double parse_error_rate(const std::string& text);

struct CapacityOptions {
  std::vector<Slo> slos;
  double max_error_rate = 0.001;
  double start_rate = 0;  // 0: an eighth of the closed-loop probe
  double max_rate = 0;    // 0: no ceiling
  double step_s = 5;
  double probe_s = 2;
  double max_time_s = 120;
  double precision = 0.05;
  double current_rps = 0;   // > 0: report the headroom over it
  double abort_factor = 4;  // a step ends early once a percentile passes this × its limit
};

struct StepResult {
  double asked_rate = 0;
  double achieved_rate = 0;
  std::vector<double> observed_ms;  // one per SLO, same order
  double error_rate = 0;
  double seconds = 0;
  bool aborted = false;  // cut short: the SLO broke badly
  bool held = false;     // set by find_capacity
  std::string why;       // what broke, when it did not hold
};

class StepRunner {
 public:
  virtual ~StepRunner() = default;
  // Closed-loop throughput over `seconds` (requests/s).
  virtual double probe(double seconds) = 0;
  // One open-loop step at `rate` for `seconds`; may end early (aborted) when the SLO breaks
  // by more than options.abort_factor.
  virtual StepResult step(double rate, double seconds, const CapacityOptions& options) = 0;
};

struct CapacityReport {
  double probe_rps = 0;
  std::vector<StepResult> steps;
  double capacity_rps = 0;  // highest rate that held; 0 if none did
  bool time_bound_hit = false;
  double elapsed_s = 0;
  double headroom = 0;  // capacity / current_rps when current_rps was given
};

// elapsed_s: seconds since the search began (injected: simulated time in tests).
CapacityReport find_capacity(const CapacityOptions& options, StepRunner& runner,
                             const std::function<double()>& elapsed_s);

void print_capacity(std::ostream& out, const CapacityReport& report,
                    const CapacityOptions& options);

}  // namespace tenx::bench
