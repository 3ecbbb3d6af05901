#include "app/db_bench.h"

#include <fmt/format.h>
#include <fmt/ostream.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <stdexcept>

namespace tenx::app {

namespace {

using Clock = std::chrono::steady_clock;

struct Dialect {
  bool pg;
  std::string p(int n) const { return pg ? fmt::format("${}", n) : fmt::format("?{}", n); }
  std::string published() const { return pg ? "published" : "published = 1"; }
  std::string us(const std::string& col) const {
    return pg ? fmt::format("(extract(epoch from {}) * 1000000)::bigint", col) : col;
  }
};

Rows must(Result<Rows> r, std::string_view what) {
  if (!r) throw std::runtime_error(fmt::format("{}: {}", what, r.error().message()));
  return std::move(*r);
}

// Median of repeated runs: at least 3, more while under `budget`, at most `max_runs`.
double median_ms(const std::function<void()>& fn, int max_runs, double budget_ms = 2000) {
  fn();  // warm-up: caches, plans
  std::vector<double> t;
  double total = 0;
  while (static_cast<int>(t.size()) < max_runs && (t.size() < 3 || total < budget_ms)) {
    const auto s = Clock::now();
    fn();
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - s).count();
    t.push_back(ms);
    total += ms;
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::string fmt_ms(double ms) {
  if (ms < 1) return fmt::format("{:.3f} ms", ms);
  if (ms < 100) return fmt::format("{:.2f} ms", ms);
  return fmt::format("{:.0f} ms", ms);
}

struct Line {
  std::string technique, without, with;
  double ratio;
  std::string guide;
};

}  // namespace

int run_db_bench(Database& db, const DbBenchOptions& o, std::ostream& out) {
  const Dialect d{db.engine() == "postgresql"};
  auto sql = [&](Stmt s) { return *db.sql_of(s); };
  const auto posts = must(db.exec_blocking("SELECT COUNT(*) FROM posts"), "count").integer(0, 0);
  const auto published =
      must(db.exec_blocking("SELECT COUNT(*) FROM posts WHERE " + d.published()), "count")
          .integer(0, 0);
  fmt::print(out, "{}: {} posts ({} published), median of up to {} runs each\n", db.engine(), posts,
             published, o.runs);
  std::vector<Line> lines;
  auto add = [&](std::string technique, std::string without_label, double without_ms,
                 std::string with_label, double with_ms, std::string guide) {
    lines.push_back({std::move(technique), without_label + " " + fmt_ms(without_ms),
                     with_label + " " + fmt_ms(with_ms), without_ms / std::max(with_ms, 1e-6),
                     std::move(guide)});
    fmt::print(out, "  {:<40} {:>26} {:>26} {:>9.1f}x   guide: {}\n", lines.back().technique,
               lines.back().without, lines.back().with, lines.back().ratio, lines.back().guide);
  };
  const std::vector<Value> page20{Value(std::int64_t{21})};

  if (o.feed_index) {
    // The feed with the guide's indexes, then with both feed indexes gone (a table scan and
    // a sort), then the indexes back.
    const auto feed = sql(Stmt::feed_first);
    const double with = median_ms([&] { must(db.exec_blocking(feed, page20), "feed"); }, o.runs);
    must(db.exec_blocking("DROP INDEX posts_published_created_idx"), "drop index");
    must(db.exec_blocking("DROP INDEX posts_created_id_idx"), "drop index");
    const double without = median_ms([&] { must(db.exec_blocking(feed, page20), "feed"); }, o.runs);
    must(db.exec_blocking(std::string("CREATE INDEX posts_published_created_idx ON posts "
                                      "(published, created_at DESC, id DESC) WHERE ") +
                          d.published()),
         "create index");
    must(db.exec_blocking("CREATE INDEX posts_created_id_idx ON posts (created_at DESC, id DESC)"),
         "create index");
    add("feed page 1 (partial composite index)", "scan+sort", without, "index", with,
        "2847 ms -> 0.5 ms (100k posts)");
  }

  if (o.nplus1) {
    const auto naive = sql(Stmt::posts_naive), author = sql(Stmt::user_by_id),
               eager = sql(Stmt::feed_first);
    const std::vector<Value> hundred{Value(std::int64_t{100})};
    const double lazy = median_ms(
        [&] {
          auto rows = must(db.exec_blocking(naive, hundred), "naive");
          for (std::size_t i = 0; i < rows.size(); ++i)
            must(db.exec_blocking(author, {Value(rows.integer(i, 4))}), "author");
        },
        o.runs);
    const double joined =
        median_ms([&] { must(db.exec_blocking(eager, hundred), "eager"); }, o.runs);
    add("100 posts with authors (N+1 -> eager)", "101 queries", lazy, "1 join", joined,
        "850 ms -> 45 ms");
  }

  if (o.counts) {
    const auto exact = sql(Stmt::count_exact), estimate = sql(Stmt::count_estimate);
    const double e = median_ms([&] { must(db.exec_blocking(exact), "exact"); }, o.runs);
    const double a = median_ms([&] { must(db.exec_blocking(estimate), "estimate"); }, o.runs);
    add(fmt::format("count published posts ({})", published), "COUNT(*)", e,
        d.pg ? "reltuples" : "counter", a, "3200 ms -> 0.8 ms (10M rows)");
  }

  if (o.matview) {
    const std::string direct =
        d.pg ? "SELECT p.id, p.title, (SELECT COUNT(*) FROM likes l WHERE l.post_id = p.id) AS lc, "
               "(SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS cc FROM posts p "
               "WHERE p.published AND p.created_at > now() - interval '7 days' "
               "ORDER BY lc DESC, cc DESC, p.id DESC LIMIT 100"
             : "SELECT p.id, p.title, (SELECT COUNT(*) FROM likes l WHERE l.post_id = p.id) AS lc, "
               "(SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS cc FROM posts p "
               "WHERE p.published = 1 AND p.created_at > "
               "CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) - 7 * 86400000000 "
               "ORDER BY lc DESC, cc DESC, p.id DESC LIMIT 100";
    const double agg = median_ms([&] { must(db.exec_blocking(direct), "aggregate"); }, o.runs);
    const double view =
        median_ms([&] { must(db.exec_blocking(sql(Stmt::popular_read)), "view"); }, o.runs);
    add("popular this week", "aggregate", agg, d.pg ? "matview" : "summary", view,
        "4500 ms -> 12 ms");
  }

  if (o.pagination) {
    const auto offset_sql = sql(Stmt::feed_offset), cursor_sql = sql(Stmt::feed_after);
    const std::string position = "SELECT " + d.us("created_at") + ", id FROM posts WHERE " +
                                 d.published() +
                                 " ORDER BY created_at DESC, id DESC LIMIT 1 OFFSET " + d.p(1);
    const std::vector<std::pair<int, std::string>> pages = {
        {1, "12 ms -> 8 ms"}, {100, "45 ms -> 9 ms"}, {10000, "3200 ms -> 11 ms"}};
    for (const auto& [page, guide] : pages) {
      const std::int64_t skip = static_cast<std::int64_t>(page - 1) * 20;
      if (skip >= published) {
        fmt::print(out, "  page {}: the table has only {} published posts (skipped)\n", page,
                   published);
        continue;
      }
      const double off = median_ms(
          [&] {
            must(db.exec_blocking(offset_sql, {Value(std::int64_t{21}), Value(skip)}), "offset");
          },
          o.runs);
      double cur;
      if (page == 1) {
        const auto first = sql(Stmt::feed_first);
        cur = median_ms([&] { must(db.exec_blocking(first, page20), "first"); }, o.runs);
      } else {
        auto pos = must(db.exec_blocking(position, {Value(skip - 1)}), "position");
        const std::vector<Value> after{pos.at(0, 0), pos.at(0, 1), Value(std::int64_t{21})};
        cur = median_ms([&] { must(db.exec_blocking(cursor_sql, after), "cursor"); }, o.runs);
      }
      add(fmt::format("feed page {} (offset -> cursor)", page), "offset", off, "cursor", cur,
          guide);
    }
  }

  if (o.inserts > 0) {
    // One transaction per insert, as a web request makes them; 40 % drafts.
    const std::vector<std::pair<std::string, std::string>> variants = {
        {"no index", ""},
        {"full index",
         "CREATE INDEX bench_insert_idx ON bench_insert (published, created_at DESC)"},
        {"partial index",
         "CREATE INDEX bench_insert_idx ON bench_insert (published, created_at DESC) WHERE " +
             d.published()}};
    std::vector<double> rates;
    for (const auto& [name, index] : variants) {
      must(db.exec_blocking("DROP TABLE IF EXISTS bench_insert"), "drop");
      must(
          db.exec_blocking(
              d.pg
                  ? "CREATE TABLE bench_insert (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL, "
                    "title TEXT NOT NULL, body TEXT NOT NULL, published BOOLEAN NOT NULL, "
                    "created_at TIMESTAMPTZ NOT NULL DEFAULT now())"
                  : "CREATE TABLE bench_insert (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL, "
                    "title TEXT NOT NULL, body TEXT NOT NULL, published INTEGER NOT NULL, "
                    "created_at INTEGER NOT NULL DEFAULT (CAST((julianday('now') - 2440587.5) "
                    "* 86400000000 AS INTEGER)))"),
          "create");
      if (!index.empty()) must(db.exec_blocking(index), "index");
      const std::string insert =
          "INSERT INTO bench_insert (user_id, title, body, published) VALUES (" + d.p(1) + ", " +
          d.p(2) + ", " + d.p(3) + ", " + (d.pg ? d.p(4) + "::int::boolean" : d.p(4)) + ")";
      const std::string body(200, 'x');
      const auto s = Clock::now();
      for (int i = 0; i < o.inserts; ++i)
        must(db.exec_blocking(insert, {Value(std::int64_t{i % 1000 + 1}), Value("a title"),
                                       Value(body), Value(std::int64_t{i % 5 < 2 ? 0 : 1})}),
             "insert");
      const double secs = std::chrono::duration<double>(Clock::now() - s).count();
      rates.push_back(o.inserts / secs);
      must(db.exec_blocking("DROP TABLE bench_insert"), "drop");
    }
    fmt::print(out,
               "  {:<40} {:>10.0f} / {:>10.0f} / {:>10.0f} inserts/s   guide: 1200 / 980 / 1050\n",
               "insert rate (none / full / partial index)", rates[0], rates[1], rates[2]);
  }
  return 0;
}

}  // namespace tenx::app
