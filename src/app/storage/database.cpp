#include "app/storage/database.h"

#include "core/log.h"
#include "metrics/registry.h"

#include <boost/url/parse.hpp>
#include <boost/url/url.hpp>

#include <stdexcept>

namespace tenx::app {

std::string_view stmt_name(Stmt s) {
  switch (s) {
    case Stmt::ping:
      return "ping";
    case Stmt::feed_first:
      return "feed_first";
    case Stmt::feed_after:
      return "feed_after";
    case Stmt::feed_offset:
      return "feed_offset";
    case Stmt::published_count:
      return "published_count";
    case Stmt::count_exact:
      return "count_exact";
    case Stmt::count_estimate:
      return "count_estimate";
    case Stmt::posts_naive:
      return "posts_naive";
    case Stmt::user_by_id:
      return "user_by_id";
    case Stmt::user_by_token:
      return "user_by_token";
    case Stmt::user_post_count:
      return "user_post_count";
    case Stmt::user_insert:
      return "user_insert";
    case Stmt::users_page:
      return "users_page";
    case Stmt::post_insert:
      return "post_insert";
    case Stmt::post_exists:
      return "post_exists";
    case Stmt::like_insert:
      return "like_insert";
    case Stmt::comment_insert:
      return "comment_insert";
    case Stmt::trending_read:
      return "trending_read";
    case Stmt::popular_read:
      return "popular_read";
    case Stmt::summary_refreshed:
      return "summary_refreshed";
    case Stmt::user_public:
      return "user_public";
    case Stmt::user_update:
      return "user_update";
  }
  return "unknown";
}

std::int64_t Rows::integer(std::size_t row, std::size_t col) const {
  const auto& v = at(row, col);
  if (auto* i = std::get_if<std::int64_t>(&v)) return *i;
  if (auto* d = std::get_if<double>(&v)) return static_cast<std::int64_t>(*d);
  if (auto* s = std::get_if<std::string>(&v)) return std::stoll(*s);
  return 0;
}

std::string_view Rows::text(std::size_t row, std::size_t col) const {
  const auto& v = at(row, col);
  if (auto* s = std::get_if<std::string>(&v)) return *s;
  return {};
}

DatabaseUrl DatabaseUrl::parse(std::string_view url) {
  DatabaseUrl out;
  if (url.starts_with("sqlite://")) {
    out.kind = Kind::sqlite;
    out.path = std::string(url.substr(9));
    if (out.path.empty())
      throw std::invalid_argument("sqlite:// needs a file path, e.g. sqlite://data/tenx.db");
    return out;
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    auto parsed = boost::urls::parse_uri(url);
    if (!parsed)
      throw std::invalid_argument("bad PostgreSQL URL \"" + std::string(url) +
                                  "\": " + parsed.error().message());
    out.kind = Kind::postgres;
    // replica=host:port parameters are ours (the same user and database on another server);
    // everything else goes to libpq as is.
    boost::urls::url u = *parsed;
    const std::string prefix = std::string(u.scheme()) + "://" +
                               (u.has_userinfo() ? std::string(u.encoded_userinfo()) + "@" : "");
    for (auto p : u.params())
      if (p.key == "replica")
        out.replicas.push_back(prefix + p.value + std::string(u.encoded_path()));
    u.params().erase("replica");
    if (u.params().empty()) u.remove_query();
    out.conninfo = std::string(u.buffer());
    return out;
  }
  throw std::invalid_argument("unknown database URL \"" + std::string(url) +
                              "\" (sqlite://path or postgresql://user@host:port/db)");
}

namespace {

struct DbMetrics {
  metrics::Family& duration = metrics::Registry::global().histogram(
      "app_db_query_duration_seconds", "Time of each database statement, by statement.",
      {"statement"});
  metrics::Family& errors = metrics::Registry::global().counter(
      "app_db_query_errors_total", "Database statements that failed, by statement.", {"statement"});
  metrics::Family& slow = metrics::Registry::global().counter(
      "app_db_slow_queries_total", "Statements over the slow-query threshold.", {"statement"});
  std::array<metrics::Series, kStmtCount> duration_series;
  std::array<metrics::Series, kStmtCount> error_series;
  std::array<metrics::Series, kStmtCount> slow_series;
  DbMetrics() {
    for (std::size_t i = 0; i < kStmtCount; ++i) {
      const auto name = stmt_name(static_cast<Stmt>(i));
      duration_series[i] = duration.series({name});
      error_series[i] = errors.series({name});
      slow_series[i] = slow.series({name});
    }
  }
  static DbMetrics& get() {
    static DbMetrics m;
    return m;
  }
};

}  // namespace

boost::asio::awaitable<Result<Rows>> Database::query(Stmt s, std::vector<Value> params,
                                                     QueryContext* ctx) {
  co_return co_await timed(s, std::move(params), false, ctx);
}

boost::asio::awaitable<Result<Rows>> Database::write(Stmt s, std::vector<Value> params,
                                                     QueryContext* ctx) {
  co_return co_await timed(s, std::move(params), true, ctx);
}

boost::asio::awaitable<Result<Rows>> Database::timed(Stmt s, std::vector<Value> params, bool write,
                                                     QueryContext* ctx) {
  auto& m = DbMetrics::get();
  const auto i = static_cast<std::size_t>(s);
  if (ctx) ctx->count(s);
  const auto start = std::chrono::steady_clock::now();
  auto r = co_await run(s, std::move(params), write);
  const auto took = std::chrono::steady_clock::now() - start;
  const bool failed = !r && r.error() != core::make_error_code(core::Errc::conflict);
  const bool slow = took >= slow_;
  stats_.record(s, took, slow, failed);
  m.duration_series[i].observe_ns(static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));
  if (failed) m.error_series[i].inc();
  if (slow) {
    m.slow_series[i].inc();
    auto sql = sql_of(s);
    TENX_LOG_WARN("slow query: {} took {:.3f} ms (threshold {} ms): {}", stmt_name(s),
                  std::chrono::duration<double, std::milli>(took).count(), slow_.count(),
                  sql ? *sql : std::string("?"));
  }
  co_return r;
}

}  // namespace tenx::app
