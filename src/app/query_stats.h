#pragma once
// Query observability (guide sections 9 and 10): what every statement cost, per statement
// since the process started (QueryStats, for `tenx app db report` and /metrics), and per
// request (QueryContext: how many statements, and whether one statement shape repeated —
// the N+1 pattern).
//
// QueryStats is shared by all threads: each statement's figures are relaxed atomics (count,
// total, max, slow count, rows), so recording is a handful of uncontended increments. The
// latency distribution goes to the metrics registry's per-thread histograms
// (app_db_query_duration_seconds{statement}).
//
// QueryContext lives on one request's coroutine frame: one thread, no synchronisation.
#include "app/storage/stmt.h"

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace tenx::app {

class QueryStats {
 public:
  struct Figures {
    Stmt stmt;
    std::uint64_t count = 0;
    std::uint64_t total_ns = 0;
    std::uint64_t max_ns = 0;
    std::uint64_t slow = 0;
    std::uint64_t errors = 0;
  };

  void record(Stmt s, std::chrono::nanoseconds took, bool slow, bool failed);
  std::vector<Figures> snapshot() const;  // every statement run at least once

 private:
  struct Slot {
    std::atomic<std::uint64_t> count{0}, total_ns{0}, max_ns{0}, slow{0}, errors{0};
  };
  std::array<Slot, kStmtCount> slots_;
};

// One request's statements.
class QueryContext {
 public:
  void count(Stmt s) {
    ++total_;
    ++per_stmt_[static_cast<std::size_t>(s)];
  }
  unsigned total() const { return total_; }
  unsigned count_of(Stmt s) const { return per_stmt_[static_cast<std::size_t>(s)]; }
  // The statement run most often in this request, and how often.
  std::pair<Stmt, unsigned> most_repeated() const;

 private:
  unsigned total_ = 0;
  std::array<std::uint16_t, kStmtCount> per_stmt_{};
};

// The report `tenx app db report` prints: the slowest statements by mean and by max, and
// the most frequent, with their share of the total time (pgBadger's summary). JSON, so the
// CLI can fetch it from a running app.
std::string report_json(const QueryStats& stats);
// Renders that JSON as text; throws std::runtime_error if it is not a report.
std::string report_text(std::string_view json);

}  // namespace tenx::app
