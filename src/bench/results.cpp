#include "bench/results.h"

#include <algorithm>
#include <cmath>

namespace tenx::bench {

void WorkerStats::merge_into(WorkerStats& out) const {
  latency.merge_into(out.latency);
  for (std::size_t i = 0; i < status.size(); ++i) out.status[i] += status[i];
  out.responses += responses;
  out.errors.connect += errors.connect;
  out.errors.read += errors.read;
  out.errors.write += errors.write;
  out.errors.timeout += errors.timeout;
  out.errors.reset += errors.reset;
  out.errors.protocol += errors.protocol;
  out.bytes_in += bytes_in;
  out.bytes_out += bytes_out;
  out.unfinished += unfinished;
  if (connect_errno != 0) out.connect_errno = connect_errno;
  auto add = [](const std::vector<std::uint64_t>& from, std::vector<std::uint64_t>& to) {
    if (to.size() < from.size()) to.resize(from.size());
    for (std::size_t i = 0; i < from.size(); ++i) to[i] += from[i];
  };
  add(per_second, out.per_second);
  add(errors_per_second, out.errors_per_second);
}

namespace {

double ms(std::uint64_t ns) { return static_cast<double>(ns) / 1e6; }

// HdrHistogram's percentile distribution: denser towards the tail, in halving steps of the
// remaining fraction (0, 50, 75, 87.5, ... ), each step split into ticks.
std::vector<std::pair<double, double>> curve(const metrics::Histogram& h) {
  std::vector<std::pair<double, double>> out;
  if (h.count() == 0) return out;
  const double total = static_cast<double>(h.count());
  constexpr int kTicksPerHalf = 5;
  double last_q = -1;
  for (int half = 0; half < 40; ++half) {
    const double lo = 1.0 - std::pow(0.5, half);
    const double hi = 1.0 - std::pow(0.5, half + 1);
    for (int t = 0; t < kTicksPerHalf; ++t) {
      const double q = lo + (hi - lo) * t / kTicksPerHalf;
      // Stop once the remaining tail holds under one observation.
      if ((1.0 - q) * total < 1.0) break;
      if (q <= last_q) continue;
      out.emplace_back(q * 100.0, ms(h.percentile(q)));
      last_q = q;
    }
    if ((1.0 - hi) * total < 1.0) break;
  }
  out.emplace_back(100.0, ms(h.max_ns()));
  // Bucket midpoints can sit above the exact maximum near the top: keep the curve monotone.
  for (std::size_t i = 1; i < out.size(); ++i)
    out[i].second = std::max(out[i].second, out[i - 1].second);
  return out;
}

}  // namespace

Summary summarize(const Results& r, const RunShape& shape) {
  Summary s;
  s.target = shape.target;
  s.mode = r.target_rate > 0 ? "open" : "closed";
  s.threads = shape.threads;
  s.connections = shape.connections;
  s.pipeline = shape.pipeline;
  s.duration_s = r.duration_s;
  s.target_rate = r.target_rate;
  const auto& t = r.total;
  s.requests = t.responses;
  s.requests_per_second = r.duration_s > 0 ? static_cast<double>(t.responses) / r.duration_s : 0;
  s.unfinished = t.unfinished;
  const auto& h = t.latency;
  auto& l = s.latency;
  l.p50_ms = ms(h.percentile(0.50));
  l.p75_ms = ms(h.percentile(0.75));
  l.p90_ms = ms(h.percentile(0.90));
  l.p95_ms = ms(h.percentile(0.95));
  l.p99_ms = ms(h.percentile(0.99));
  l.p999_ms = ms(h.percentile(0.999));
  l.p9999_ms = ms(h.percentile(0.9999));
  l.max_ms = ms(h.max_ns());
  l.mean_ms = h.mean_ns() / 1e6;
  l.stdev_ms = h.stdev_ns() / 1e6;
  for (std::size_t code = 0; code < t.status.size(); ++code)
    if (t.status[code]) s.status_codes[static_cast<unsigned>(code)] = t.status[code];
  s.errors = t.errors;
  s.bytes_in = t.bytes_in;
  s.bytes_out = t.bytes_out;
  s.percentile_curve = curve(h);
  const auto seconds = static_cast<std::size_t>(std::ceil(r.duration_s - 1e-9));
  for (std::size_t i = 0; i < seconds; ++i) {
    TimelinePoint p;
    p.t_s = std::min(static_cast<double>(i + 1), r.duration_s);
    p.requests = i < t.per_second.size() ? t.per_second[i] : 0;
    p.errors = i < t.errors_per_second.size() ? t.errors_per_second[i] : 0;
    s.timeline.push_back(p);
  }
  return s;
}

}  // namespace tenx::bench
