#include "app/query_stats.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <stdexcept>

namespace tenx::app {

void QueryStats::record(Stmt s, std::chrono::nanoseconds took, bool slow, bool failed) {
  auto& slot = slots_[static_cast<std::size_t>(s)];
  const auto ns = static_cast<std::uint64_t>(took.count());
  slot.count.fetch_add(1, std::memory_order_relaxed);
  slot.total_ns.fetch_add(ns, std::memory_order_relaxed);
  auto prev = slot.max_ns.load(std::memory_order_relaxed);
  while (ns > prev && !slot.max_ns.compare_exchange_weak(prev, ns, std::memory_order_relaxed)) {
  }
  if (slow) slot.slow.fetch_add(1, std::memory_order_relaxed);
  if (failed) slot.errors.fetch_add(1, std::memory_order_relaxed);
}

std::vector<QueryStats::Figures> QueryStats::snapshot() const {
  std::vector<Figures> out;
  for (std::size_t i = 0; i < kStmtCount; ++i) {
    const auto& slot = slots_[i];
    Figures f{static_cast<Stmt>(i)};
    f.count = slot.count.load(std::memory_order_relaxed);
    if (f.count == 0) continue;
    f.total_ns = slot.total_ns.load(std::memory_order_relaxed);
    f.max_ns = slot.max_ns.load(std::memory_order_relaxed);
    f.slow = slot.slow.load(std::memory_order_relaxed);
    f.errors = slot.errors.load(std::memory_order_relaxed);
    out.push_back(f);
  }
  return out;
}

std::pair<Stmt, unsigned> QueryContext::most_repeated() const {
  std::size_t best = 0;
  for (std::size_t i = 1; i < kStmtCount; ++i)
    if (per_stmt_[i] > per_stmt_[best]) best = i;
  return {static_cast<Stmt>(best), per_stmt_[best]};
}

std::string report_json(const QueryStats& stats) {
  boost::json::array rows;
  for (const auto& f : stats.snapshot()) {
    rows.push_back(boost::json::object{
        {"statement", stmt_name(f.stmt)},
        {"count", f.count},
        {"total_ms", static_cast<double>(f.total_ns) / 1e6},
        {"mean_ms", static_cast<double>(f.total_ns) / 1e6 / static_cast<double>(f.count)},
        {"max_ms", static_cast<double>(f.max_ns) / 1e6},
        {"slow", f.slow},
        {"errors", f.errors},
    });
  }
  return boost::json::serialize(boost::json::object{{"statements", std::move(rows)}});
}

std::string report_text(std::string_view json) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(json, ec);
  const auto* obj = ec ? nullptr : doc.if_object();
  const auto* list = obj ? obj->if_contains("statements") : nullptr;
  if (!list || !list->is_array()) throw std::runtime_error("not a statement report");
  struct Row {
    std::string name;
    std::uint64_t count;
    double total_ms, mean_ms, max_ms;
    std::uint64_t slow, errors;
  };
  std::vector<Row> rows;
  double all_ms = 0;
  for (const auto& v : list->as_array()) {
    const auto& o = v.as_object();
    Row r{std::string(o.at("statement").as_string()), o.at("count").to_number<std::uint64_t>(),
          o.at("total_ms").to_number<double>(),       o.at("mean_ms").to_number<double>(),
          o.at("max_ms").to_number<double>(),         o.at("slow").to_number<std::uint64_t>(),
          o.at("errors").to_number<std::uint64_t>()};
    all_ms += r.total_ms;
    rows.push_back(std::move(r));
  }
  std::string out;
  if (rows.empty()) return "no statements run yet\n";
  auto table = [&](const char* title, auto key, std::size_t n) {
    std::sort(rows.begin(), rows.end(),
              [&](const Row& a, const Row& b) { return key(a) > key(b); });
    out += fmt::format("{}\n  {:<18} {:>10} {:>11} {:>10} {:>10} {:>7} {:>6}\n", title, "statement",
                       "count", "total ms", "mean ms", "max ms", "time %", "slow");
    for (std::size_t i = 0; i < rows.size() && i < n; ++i) {
      const auto& r = rows[i];
      out += fmt::format("  {:<18} {:>10} {:>11.2f} {:>10.3f} {:>10.3f} {:>6.1f}% {:>6}\n", r.name,
                         r.count, r.total_ms, r.mean_ms, r.max_ms,
                         all_ms > 0 ? 100 * r.total_ms / all_ms : 0.0, r.slow);
    }
    out += "\n";
  };
  table(
      "slowest statements (mean)", [](const Row& r) { return r.mean_ms; }, 10);
  table(
      "most time in total", [](const Row& r) { return r.total_ms; }, 10);
  table(
      "most frequent", [](const Row& r) { return static_cast<double>(r.count); }, 10);
  return out;
}

}  // namespace tenx::app
