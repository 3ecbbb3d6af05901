#include "bench/capacity.h"

#include "bench/plan.h"
#include "core/text.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>

namespace tenx::bench {

namespace {

double parse_number(std::string_view s, const std::string& what) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) throw PlanError(what);
  return v;
}

// One --slo item: "p99=50ms".
Slo parse_slo(std::string_view item) {
  const std::string bad = fmt::format("bad --slo \"{}\": expected pNN=LIMIT, e.g. p99=50ms", item);
  const auto eq = item.find('=');
  if (eq == std::string_view::npos || item.size() < 2 || item[0] != 'p') throw PlanError(bad);
  Slo slo;
  slo.label = std::string(item.substr(0, eq));
  const double pct = parse_number(item.substr(1, eq - 1), bad);
  if (pct <= 0 || pct >= 100) throw PlanError(bad + " (the percentile is in (0, 100))");
  slo.quantile = pct / 100;
  std::string_view limit = item.substr(eq + 1);
  double scale = 0;
  if (limit.ends_with("ms")) {
    scale = 1, limit.remove_suffix(2);
  } else if (limit.ends_with("us")) {
    scale = 1e-3, limit.remove_suffix(2);
  } else if (limit.ends_with("s")) {
    scale = 1e3, limit.remove_suffix(1);
  } else {
    throw PlanError(bad + " (give the limit a unit: us, ms or s)");
  }
  slo.limit_ms = parse_number(limit, bad) * scale;
  if (slo.limit_ms <= 0) throw PlanError(bad + " (the limit must be positive)");
  return slo;
}

void judge(StepResult& s, const CapacityOptions& o) {
  s.held = true;
  s.why.clear();
  auto broke = [&](std::string why) {
    if (s.held) s.why = std::move(why);
    s.held = false;
  };
  if (s.aborted) broke("SLO broke badly; step cut short");
  for (std::size_t i = 0; i < o.slos.size() && i < s.observed_ms.size(); ++i)
    if (s.observed_ms[i] > o.slos[i].limit_ms)
      broke(fmt::format("{} {:.3f} ms > {:g} ms", o.slos[i].label, s.observed_ms[i],
                        o.slos[i].limit_ms));
  if (s.error_rate > o.max_error_rate)
    broke(fmt::format("errors {:.3f}% > {:.3f}%", s.error_rate * 100, o.max_error_rate * 100));
  if (s.achieved_rate < 0.9 * s.asked_rate)
    broke(fmt::format("served only {:.0f} of {:.0f} req/s", s.achieved_rate, s.asked_rate));
}

}  // namespace

std::vector<Slo> parse_slos(const std::vector<std::string>& specs) {
  std::vector<Slo> out;
  for (const auto& spec : specs)
    core::split_list(spec, [&out](std::string_view item) { out.push_back(parse_slo(item)); });
  if (out.empty()) throw PlanError("capacity needs an SLO: --slo p99=50ms");
  return out;
}

double parse_error_rate(const std::string& text) {
  const std::string bad = "bad --max-error-rate \"" + text + "\": expected e.g. 0.1% or 0.001";
  std::string_view s = text;
  double scale = 1;
  if (s.ends_with('%')) {
    scale = 0.01;
    s.remove_suffix(1);
  }
  const double v = parse_number(s, bad) * scale;
  if (v < 0 || v > 1) throw PlanError(bad);
  return v;
}

CapacityReport find_capacity(const CapacityOptions& o, StepRunner& runner,
                             const std::function<double()>& elapsed_s) {
  CapacityReport report;
  auto fits = [&](double seconds) {
    if (elapsed_s() + seconds <= o.max_time_s) return true;
    report.time_bound_hit = true;
    return false;
  };
  auto run_step = [&](double rate) -> const StepResult* {
    if (!fits(o.step_s)) return nullptr;
    StepResult s = runner.step(rate, o.step_s, o);
    s.asked_rate = rate;
    judge(s, o);
    report.steps.push_back(std::move(s));
    return &report.steps.back();
  };

  double rate = o.start_rate;
  if (rate <= 0) {
    if (!fits(o.probe_s)) return report;
    report.probe_rps = runner.probe(o.probe_s);
    rate = std::max(1.0, std::floor(report.probe_rps / 8));
  }
  if (o.max_rate > 0) rate = std::min(rate, o.max_rate);

  // Ramp: double while the SLO holds.
  double lo = 0, hi = 0;
  while (true) {
    const StepResult* s = run_step(rate);
    if (!s) break;
    if (!s->held) {
      hi = rate;
      break;
    }
    lo = rate;
    if (o.max_rate > 0 && rate >= o.max_rate) break;
    rate = o.max_rate > 0 ? std::min(rate * 2, o.max_rate) : rate * 2;
  }
  // Bisect (halving towards zero when even the first step broke).
  while (hi > 0 && !report.time_bound_hit) {
    if (lo > 0 && (hi - lo) <= o.precision * lo) break;
    if (lo == 0 && hi < 2) break;
    const double mid = lo > 0 ? std::floor((lo + hi) / 2) : std::floor(hi / 2);
    if (mid <= lo || mid >= hi) break;
    const StepResult* s = run_step(mid);
    if (!s) break;
    (s->held ? lo : hi) = mid;
  }
  report.capacity_rps = lo;
  report.elapsed_s = elapsed_s();
  if (o.current_rps > 0) report.headroom = lo / o.current_rps;
  return report;
}

void print_capacity(std::ostream& out, const CapacityReport& r, const CapacityOptions& o) {
  std::string slo;
  for (const auto& s : o.slos)
    slo += fmt::format("{}{}<={:g}ms", slo.empty() ? "" : ", ", s.label, s.limit_ms);
  fmt::print(out, "capacity search: SLO {}, errors <= {:g}%\n", slo, o.max_error_rate * 100);
  if (r.probe_rps > 0) fmt::print(out, "  probe (closed loop): {:.0f} req/s\n", r.probe_rps);
  fmt::print(out, "  {:>10}  {:>10}", "asked/s", "served/s");
  for (const auto& s : o.slos) fmt::print(out, "  {:>10}", s.label + " ms");
  fmt::print(out, "  {:>8}  {}\n", "errors", "result");
  for (const auto& s : r.steps) {
    fmt::print(out, "  {:>10.0f}  {:>10.0f}", s.asked_rate, s.achieved_rate);
    for (double v : s.observed_ms) fmt::print(out, "  {:>10.3f}", v);
    fmt::print(out, "  {:>7.3f}%  {}\n", s.error_rate * 100, s.held ? "holds" : "breaks: " + s.why);
  }
  if (r.capacity_rps > 0)
    fmt::print(out, "highest rate holding the SLO: {:.0f} req/s\n", r.capacity_rps);
  else
    fmt::print(out, "no rate tried held the SLO\n");
  if (o.current_rps > 0 && r.capacity_rps > 0)
    fmt::print(out, "handles {:.1f}x today's peak ({:g} req/s)\n", r.headroom, o.current_rps);
  if (r.time_bound_hit)
    fmt::print(out, "stopped at the time bound ({:g} s); the figure is a lower bound\n",
               o.max_time_s);
  fmt::print(out, "search took {:.1f} s\n", r.elapsed_s);
}

}  // namespace tenx::bench
