#include "bench/cli.h"

#include "bench/capacity.h"
#include "bench/engine.h"
#include "bench/plan.h"
#include "bench/report.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>

namespace tenx::bench {

namespace {

// What `tenx bench` and `tenx bench capacity` share.
struct LoadFlags {
  std::string target;
  unsigned threads = 1;
  unsigned connections = 64;
  unsigned pipeline = 1;
  std::string method = "GET";
  std::vector<std::string> headers;
  std::string body;
  double timeout_s = 5;
  std::uint64_t seed = 1;

  void add_to(CLI::App& cmd, bool target_required) {
    auto* t =
        cmd.add_option("TARGET", target, "URL (http://host:port/path) or scenario file (.toml)");
    // `tenx bench` leaves it optional so that `tenx bench compare A B` parses.
    if (target_required) t->required();
    cmd.add_option("-t,--threads", threads, "Worker threads")
        ->capture_default_str()
        ->check(CLI::Range(1u, 256u));
    cmd.add_option("-c,--connections", connections, "Connections in total")
        ->capture_default_str()
        ->check(CLI::Range(1u, 100000u));
    cmd.add_option("--pipeline", pipeline, "Outstanding requests per connection")
        ->capture_default_str()
        ->check(CLI::Range(1u, 1024u));
    cmd.add_option("-m,--method", method, "Method for a URL target")->capture_default_str();
    // One value per -H, as in curl and wrk (repeat -H for more): a vector option would
    // otherwise take the URL after it as another header.
    cmd.add_option("-H,--header", headers, "Header for a URL target: -H 'Name: value'")
        ->allow_extra_args(false);
    cmd.add_option("--body", body, "Request body for a URL target");
    cmd.add_option("--timeout", timeout_s, "Per-request timeout in seconds")
        ->capture_default_str()
        ->check(CLI::Range(0.001, 3600.0));
    cmd.add_option("--seed", seed, "Seed of the random choices (scenarios)")->capture_default_str();
  }

  Plan plan() const { return load_plan(target, method, headers, body); }

  EngineOptions engine() const {
    EngineOptions o;
    o.threads = threads;
    o.connections = std::max(connections, threads);
    o.pipeline = pipeline;
    o.timeout = std::chrono::nanoseconds(static_cast<std::int64_t>(timeout_s * 1e9));
    o.seed = seed;
    return o;
  }
};

std::chrono::nanoseconds parse_duration(const std::string& text, const std::string& flag) {
  const std::string bad = "bad " + flag + " \"" + text + "\": expected e.g. 10s, 500ms, 2m";
  std::string_view s = text;
  double scale = 1e9;
  if (s.ends_with("ms")) {
    scale = 1e6, s.remove_suffix(2);
  } else if (s.ends_with("us")) {
    scale = 1e3, s.remove_suffix(2);
  } else if (s.ends_with('s')) {
    s.remove_suffix(1);
  } else if (s.ends_with('m')) {
    scale = 60e9, s.remove_suffix(1);
  } else if (s.ends_with('h')) {
    scale = 3600e9, s.remove_suffix(1);
  }
  double v = 0;
  try {
    std::size_t used = 0;
    v = std::stod(std::string(s), &used);
    if (used != s.size()) throw PlanError(bad);
  } catch (const std::logic_error&) {
    throw PlanError(bad);
  }
  if (!(v >= 0) || v > 1e7) throw PlanError(bad);
  return std::chrono::nanoseconds(static_cast<std::int64_t>(v * scale));
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw PlanError(path + ": cannot write: " + std::strerror(errno));
}

std::string fmt_ms(double ms) {
  return ms >= 1000 ? fmt::format("{:.2f} s", ms / 1000) : fmt::format("{:.3f} ms", ms);
}

// The live line on a terminal: elapsed, rate, p99 so far, errors.
ProgressFn live_line(bool enabled) {
  if (!enabled) return {};
  return [](const Progress& p) {
    const double p99 = p.latency ? static_cast<double>(p.latency->percentile(0.99)) / 1e6 : 0;
    std::fprintf(stderr, "\r\033[K  %6.1fs %s %10.0f req/s  p99 %s  errors %llu", p.elapsed_s,
                 p.warming_up ? "warm-up" : "       ", p.recent_rate, fmt_ms(p99).c_str(),
                 static_cast<unsigned long long>(p.errors));
    std::fflush(stderr);
    return true;
  };
}

class EngineStepRunner : public StepRunner {
 public:
  EngineStepRunner(const Plan& plan, EngineOptions base, bool live)
      : plan_(plan), base_(base), live_(live) {}

  double probe(double seconds) override {
    auto o = base_;
    o.duration = std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
    auto r = run(plan_, o);
    return r.duration_s > 0 ? static_cast<double>(r.total.responses) / r.duration_s : 0;
  }

  StepResult step(double rate, double seconds, const CapacityOptions& c) override {
    auto o = base_;
    o.rate = rate;
    o.duration = std::chrono::nanoseconds(static_cast<std::int64_t>(seconds * 1e9));
    o.progress_interval = std::chrono::milliseconds(250);
    bool aborted = false;
    auto watch = [&](const Progress& p) {
      if (live_)
        std::fprintf(stderr, "\r\033[K  %8.0f req/s asked  %6.1fs  %10.0f req/s  errors %llu", rate,
                     p.elapsed_s, p.recent_rate, static_cast<unsigned long long>(p.errors));
      if (p.elapsed_s < 1.0 || !p.latency || p.latency->count() < 20) return true;
      for (const auto& slo : c.slos) {
        const double ms = static_cast<double>(p.latency->percentile(slo.quantile)) / 1e6;
        if (ms > c.abort_factor * slo.limit_ms) aborted = true;
      }
      const double total = static_cast<double>(p.requests + p.errors);
      if (total > 100 && p.errors / total > std::max(10 * c.max_error_rate, 0.05)) aborted = true;
      return !aborted;
    };
    auto r = run(plan_, o, watch);
    if (live_) std::fprintf(stderr, "\r\033[K");
    StepResult s;
    s.seconds = r.duration_s;
    s.aborted = aborted;
    s.achieved_rate = r.duration_s > 0 ? static_cast<double>(r.total.responses) / r.duration_s : 0;
    for (const auto& slo : c.slos)
      s.observed_ms.push_back(static_cast<double>(r.total.latency.percentile(slo.quantile)) / 1e6);
    // Requests still unanswered at the end of a step count against it: a stalled target
    // must not look healthy because its slow requests never finished.
    const double done = static_cast<double>(r.total.responses + r.total.errors.total());
    const double all = done + static_cast<double>(r.total.unfinished);
    s.error_rate = all > 0 ? static_cast<double>(r.total.errors.total()) / all : 0;
    if (all > 0 && r.total.unfinished > 0.05 * all) s.aborted = true;
    return s;
  }

 private:
  const Plan& plan_;
  EngineOptions base_;
  bool live_;
};

}  // namespace

void add_commands(CLI::App& app, int& exit_code) {
  auto* cmd =
      app.add_subcommand("bench", "Load generator: closed or open loop, honest percentiles");
  cmd->fallthrough(false);
  auto flags = std::make_shared<LoadFlags>();
  auto duration = std::make_shared<std::string>("10s");
  auto warmup = std::make_shared<std::string>("0s");
  auto requests = std::make_shared<std::uint64_t>(0);
  auto rate = std::make_shared<double>(0);
  auto json_path = std::make_shared<std::string>();
  auto html_path = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);

  flags->add_to(*cmd, false);
  cmd->add_option("-d,--duration", *duration, "Measured duration (10s, 500ms, 2m)")
      ->capture_default_str();
  cmd->add_option("-n,--requests", *requests, "Stop after this many requests instead");
  cmd->add_option("--warmup", *warmup, "Warm-up before measuring (excluded from results)")
      ->capture_default_str();
  cmd->add_option("-R,--rate", *rate,
                  "Open loop at this many requests/s (coordinated-omission corrected)")
      ->check(CLI::Range(0.0, 1e8));
  cmd->add_option("--json", *json_path, "Write the results as JSON to this file");
  cmd->add_option("--html", *html_path, "Write a self-contained HTML report to this file");
  cmd->add_flag("-q,--quiet", *quiet, "No live progress line");
  // The subcommands take no TARGET of the parent: CLI11 matches them before positionals.
  cmd->require_subcommand(0, 1);

  cmd->callback([=, &exit_code] {
    if (cmd->get_subcommands().size() > 0) return;  // compare / capacity ran instead
    try {
      if (flags->target.empty()) throw PlanError("give a URL or a scenario file");
      const Plan plan = flags->plan();
      auto o = flags->engine();
      o.duration = parse_duration(*duration, "--duration");
      o.warmup = parse_duration(*warmup, "--warmup");
      o.requests = *requests;
      o.rate = *rate;
      const bool live = !*quiet && ::isatty(STDERR_FILENO);
      auto results = run(plan, o, live_line(live));
      if (live) std::fprintf(stderr, "\r\033[K");
      const auto summary = summarize(results, {plan.source, o.threads, o.connections, o.pipeline});
      print_table(std::cout, summary);
      if (!json_path->empty()) write_file(*json_path, to_json(summary));
      if (!html_path->empty()) write_file(*html_path, to_html(summary));
      if (results.total.responses == 0 && results.total.errors.total() > 0) {
        // Not one response: say why plainly, and fail (scripts must not read zeros as data).
        std::string why = "no response from " + plan.host_header;
        if (results.total.errors.connect > 0 && results.total.connect_errno != 0)
          why = "cannot connect to " + plan.host_header + ": " +
                std::strerror(results.total.connect_errno);
        std::cerr << "tenx bench: " << why << "\n";
        exit_code = 1;
      }
    } catch (const PlanError& e) {
      std::cerr << "tenx bench: " << e.what() << "\n";
      exit_code = 2;
    } catch (const ReportError& e) {
      std::cerr << "tenx bench: " << e.what() << "\n";
      exit_code = 2;
    }
  });

  auto* compare = cmd->add_subcommand("compare", "Compare two --json results side by side");
  auto files = std::make_shared<std::vector<std::string>>();
  compare->add_option("A B", *files, "Two result files written by --json")->required()->expected(2);
  compare->callback([files, &exit_code] {
    try {
      const auto a = load_summary((*files)[0]);
      const auto b = load_summary((*files)[1]);
      print_compare(std::cout, a, b, (*files)[0], (*files)[1]);
    } catch (const ReportError& e) {
      std::cerr << "tenx bench compare: " << e.what() << "\n";
      exit_code = 2;
    }
  });

  auto* cap = cmd->add_subcommand(
      "capacity", "Find the highest open-loop rate that holds an SLO (and the headroom)");
  auto cflags = std::make_shared<LoadFlags>();
  cflags->add_to(*cap, true);
  auto slo_specs = std::make_shared<std::vector<std::string>>();
  auto max_err = std::make_shared<std::string>("0.1%");
  auto copts = std::make_shared<CapacityOptions>();
  auto step = std::make_shared<std::string>("5s");
  auto max_time = std::make_shared<std::string>("120s");
  cap->add_option("--slo", *slo_specs, "SLO to hold, e.g. p99=50ms (repeatable)")
      ->required()
      ->allow_extra_args(false);
  cap->add_option("--max-error-rate", *max_err, "Highest error rate that holds (0.1% or 0.001)")
      ->capture_default_str();
  cap->add_option("--current-rps", copts->current_rps, "Today's peak, to print the headroom");
  cap->add_option("--start-rate", copts->start_rate,
                  "First rate (default: 1/8 of a closed-loop probe)");
  cap->add_option("--max-rate", copts->max_rate, "Never ask for more than this");
  cap->add_option("--step", *step, "Duration of each step")->capture_default_str();
  cap->add_option("--max-time", *max_time, "Time bound of the whole search")->capture_default_str();
  cap->add_option("--precision", copts->precision, "Stop bisecting within this fraction")
      ->capture_default_str()
      ->check(CLI::Range(0.001, 1.0));
  cap->callback([=, &exit_code] {
    try {
      const Plan plan = cflags->plan();
      copts->slos = parse_slos(*slo_specs);
      copts->max_error_rate = parse_error_rate(*max_err);
      copts->step_s = static_cast<double>(parse_duration(*step, "--step").count()) / 1e9;
      copts->max_time_s =
          static_cast<double>(parse_duration(*max_time, "--max-time").count()) / 1e9;
      if (copts->step_s < 0.5) throw PlanError("--step must be at least 500ms");
      EngineStepRunner runner(plan, cflags->engine(), ::isatty(STDERR_FILENO));
      const auto start = std::chrono::steady_clock::now();
      auto elapsed = [start] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      };
      const auto report = find_capacity(*copts, runner, elapsed);
      print_capacity(std::cout, report, *copts);
    } catch (const PlanError& e) {
      std::cerr << "tenx bench capacity: " << e.what() << "\n";
      exit_code = 2;
    }
  });
}

}  // namespace tenx::bench
