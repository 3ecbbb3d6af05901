#include "app/storage/postgres/postgres_database.h"

#include "core/log.h"

#include <fmt/format.h>
#include <libpq-fe.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/query.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <chrono>
#include <cstring>
#include <ctime>
#include <deque>
#include <stdexcept>

namespace tenx::app {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using core::Errc;
using core::make_error_code;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto kStatementDeadline = std::chrono::seconds(10);
constexpr auto kConnectDeadline = std::chrono::seconds(3);
std::atomic<std::uint64_t> g_instances{0};

// SQLSTATE -> our error codes (logged when unexpected).
error_code map_result_error(const PGresult* res, std::string_view what) {
  const char* state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : nullptr;
  const std::string_view s = state ? state : "";
  if (s == "23505") return make_error_code(Errc::conflict);
  if (s == "23503") return make_error_code(Errc::not_found);
  if (s == "40001" || s == "40P01" || s == "55P03") return make_error_code(Errc::busy);
  if (s.starts_with("08") || s == "57P01" || s == "57P02" || s == "57P03")
    return make_error_code(Errc::unavailable);
  TENX_LOG_ERROR("postgresql: {}: {} ({})", what, res ? PQresultErrorMessage(res) : "no result",
                 s.empty() ? "?" : s);
  return make_error_code(Errc::internal);
}

// Text-format result -> Rows, typed by column OID.
Rows collect(const PGresult* res) {
  Rows rows;
  const int n = PQntuples(res);
  const int cols = PQnfields(res);
  rows.columns = static_cast<std::size_t>(cols);
  rows.cells.reserve(static_cast<std::size_t>(n) * static_cast<std::size_t>(cols));
  for (int r = 0; r < n; ++r) {
    for (int c = 0; c < cols; ++c) {
      if (PQgetisnull(res, r, c)) {
        rows.cells.emplace_back(std::monostate{});
        continue;
      }
      const char* v = PQgetvalue(res, r, c);
      switch (PQftype(res, c)) {
        case 20:  // int8
        case 21:  // int2
        case 23:  // int4
          rows.cells.emplace_back(static_cast<std::int64_t>(std::strtoll(v, nullptr, 10)));
          break;
        case 16:  // bool
          rows.cells.emplace_back(static_cast<std::int64_t>(v[0] == 't'));
          break;
        case 700:
        case 701:
        case 1700:
          rows.cells.emplace_back(std::strtod(v, nullptr));
          break;
        default:
          rows.cells.emplace_back(std::string(v, static_cast<std::size_t>(PQgetlength(res, r, c))));
      }
    }
  }
  return rows;
}

// Server NOTICEs ("relation ... already exists, skipping") go to the debug log, not stderr.
void quiet_notices(PGconn* c) {
  PQsetNoticeProcessor(
      c, [](void*, const char* message) { TENX_LOG_DEBUG("postgresql: {}", message); }, nullptr);
}

// Parameters in libpq's text format: NULL, or the value's text (kept alive by this object).
struct TextParams {
  std::vector<std::string> text;
  std::vector<const char*> values;
  explicit TextParams(const std::vector<Value>& params)
      : text(params.size()), values(params.size(), nullptr) {
    for (std::size_t i = 0; i < params.size(); ++i) {
      const auto& v = params[i];
      if (std::holds_alternative<std::monostate>(v)) continue;
      if (auto* n = std::get_if<std::int64_t>(&v))
        text[i] = std::to_string(*n);
      else if (auto* d = std::get_if<double>(&v))
        text[i] = fmt::format("{}", *d);
      else
        text[i] = std::get<std::string>(v);
      values[i] = text[i].c_str();
    }
  }
  int count() const { return static_cast<int>(values.size()); }
};

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultDeleter>;

}  // namespace

// One libpq connection, used on one event loop, one statement at a time.
class PgConn {
 public:
  explicit PgConn(asio::io_context& loop) : loop_(loop) {}
  ~PgConn() { close(); }
  PgConn(const PgConn&) = delete;
  PgConn& operator=(const PgConn&) = delete;

  bool healthy() const { return conn_ && !broken_ && PQstatus(conn_) == CONNECTION_OK; }

  asio::awaitable<error_code> connect(const std::string& conninfo) {
    const auto deadline = Clock::now() + kConnectDeadline;
    conn_ = PQconnectStart(conninfo.c_str());
    if (!conn_ || PQstatus(conn_) == CONNECTION_BAD) co_return fail_connect();
    quiet_notices(conn_);
    if (PQsetnonblocking(conn_, 1) != 0) co_return fail_connect();
    auto state = PGRES_POLLING_WRITING;
    while (state != PGRES_POLLING_OK) {
      if (state == PGRES_POLLING_FAILED) co_return fail_connect();
      // libpq may move to another socket while it tries the addresses of a host.
      if (!desc_ || desc_->native_handle() != PQsocket(conn_)) {
        if (desc_) desc_->release();
        desc_ = std::make_unique<asio::posix::stream_descriptor>(loop_, PQsocket(conn_));
      }
      if (auto ec = co_await wait(state == PGRES_POLLING_WRITING, deadline)) {
        broken_ = true;
        co_return ec;
      }
      state = PQconnectPoll(conn_);
    }
    co_return error_code{};
  }

  // A catalogue statement: prepared on first use, then executed by name.
  asio::awaitable<Result<Rows>> execute(Stmt s, const char* sql, const std::vector<Value>& params) {
    const auto deadline = Clock::now() + kStatementDeadline;
    const auto idx = static_cast<std::size_t>(s);
    static const auto kNames = [] {
      std::array<std::string, kStmtCount> n;
      for (std::size_t i = 0; i < kStmtCount; ++i)
        n[i] = fmt::format("tenx_{}", stmt_name(static_cast<Stmt>(i)));
      return n;
    }();
    const std::string& name = kNames[idx];
    if (!prepared_[idx]) {
      if (!PQsendPrepare(conn_, name.c_str(), sql, 0, nullptr)) co_return broken("prepare");
      auto r = co_await results(deadline, stmt_name(s));
      if (!r) co_return r.error();
      prepared_[idx] = true;
    }
    const TextParams p(params);
    if (!PQsendQueryPrepared(conn_, name.c_str(), p.count(), p.values.data(), nullptr, nullptr, 0))
      co_return broken("send");
    co_return co_await results(deadline, stmt_name(s));
  }

  // Plain SQL, possibly several statements (the summary refresh).
  asio::awaitable<Result<Rows>> simple(const std::string& sql) {
    if (!PQsendQuery(conn_, sql.c_str())) co_return broken("send");
    co_return co_await results(Clock::now() + std::chrono::minutes(10), "simple");
  }

 private:
  error_code fail_connect() {
    TENX_LOG_WARN("postgresql: cannot connect: {}",
                  conn_ ? std::string_view(PQerrorMessage(conn_)) : "out of memory");
    broken_ = true;
    return make_error_code(Errc::unavailable);
  }

  Result<Rows> broken(std::string_view what) {
    TENX_LOG_WARN("postgresql: {} failed: {}", what, PQerrorMessage(conn_));
    broken_ = true;
    return make_error_code(Errc::unavailable);
  }

  // Waits for the socket (write or read) until the deadline.
  asio::awaitable<error_code> wait(bool for_write, Clock::time_point deadline) {
    asio::steady_timer timer(loop_, deadline);
    auto which = co_await (desc_->async_wait(for_write ? asio::posix::stream_descriptor::wait_write
                                                       : asio::posix::stream_descriptor::wait_read,
                                             asio::as_tuple(asio::use_awaitable)) ||
                           timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (which.index() == 1) co_return make_error_code(Errc::timeout);
    auto [ec] = std::get<0>(which);
    if (ec) co_return make_error_code(Errc::unavailable);
    co_return error_code{};
  }

  // Flushes the query, reads every result; the last result's rows (or the first error).
  asio::awaitable<Result<Rows>> results(Clock::time_point deadline, std::string_view what) {
    for (;;) {
      const int f = PQflush(conn_);
      if (f < 0) co_return broken("flush");
      if (f == 0) break;
      if (auto ec = co_await wait(true, deadline)) {
        broken_ = true;
        co_return ec;
      }
    }
    Result<Rows> out = Rows{};
    bool failed = false;
    for (;;) {
      while (PQisBusy(conn_)) {
        if (auto ec = co_await wait(false, deadline)) {
          broken_ = true;  // a half-read result: the connection cannot be reused
          co_return ec;
        }
        if (!PQconsumeInput(conn_)) co_return broken("read");
      }
      ResultPtr res(PQgetResult(conn_));
      if (!res) break;
      const auto st = PQresultStatus(res.get());
      if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK) {
        if (!failed) out = collect(res.get());
      } else if (!failed) {
        failed = true;
        out = map_result_error(res.get(), what);
        if (out.error() == make_error_code(Errc::unavailable)) broken_ = true;
      }
    }
    if (PQstatus(conn_) != CONNECTION_OK) broken_ = true;
    co_return out;
  }

  void close() {
    if (desc_) desc_->release();  // libpq owns the socket
    desc_.reset();
    if (conn_) PQfinish(conn_);
    conn_ = nullptr;
  }

  asio::io_context& loop_;
  PGconn* conn_ = nullptr;
  std::unique_ptr<asio::posix::stream_descriptor> desc_;
  std::array<bool, kStmtCount> prepared_{};
  bool broken_ = false;
};

// The connections of one event loop to one server.
class PgPool {
 public:
  PgPool(asio::io_context& loop, std::string conninfo, std::size_t max)
      : loop_(loop), conninfo_(std::move(conninfo)), max_(std::max<std::size_t>(max, 1)) {}

  asio::awaitable<Result<std::unique_ptr<PgConn>>> acquire() {
    const auto deadline = Clock::now() + kStatementDeadline;
    for (;;) {
      while (!idle_.empty()) {
        auto c = std::move(idle_.back());
        idle_.pop_back();
        if (c->healthy()) co_return c;
        --open_;
      }
      if (open_ < max_) {
        ++open_;
        auto c = std::make_unique<PgConn>(loop_);
        if (auto ec = co_await c->connect(conninfo_)) {
          --open_;
          wake_one();
          co_return ec;
        }
        co_return c;
      }
      if (Clock::now() >= deadline) co_return make_error_code(Errc::busy);
      asio::steady_timer t(loop_, deadline);
      waiters_.push_back(&t);
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      std::erase(waiters_, &t);
    }
  }

  void release(std::unique_ptr<PgConn> c) {
    if (c->healthy())
      idle_.push_back(std::move(c));
    else
      --open_;
    wake_one();
  }

 private:
  void wake_one() {
    if (!waiters_.empty()) waiters_.front()->cancel();
  }
  asio::io_context& loop_;
  std::string conninfo_;
  std::size_t max_;
  std::size_t open_ = 0;
  std::vector<std::unique_ptr<PgConn>> idle_;
  std::deque<asio::steady_timer*> waiters_;
};

class PostgresDatabase::Pools {
 public:
  Pools(asio::io_context& loop, const DatabaseUrl& url, std::size_t size)
      : primary(loop, url.conninfo, size) {
    for (const auto& r : url.replicas) replicas.push_back(std::make_unique<PgPool>(loop, r, size));
  }
  PgPool primary;
  std::vector<std::unique_ptr<PgPool>> replicas;
  std::size_t next_replica = 0;
};

PostgresDatabase::PostgresDatabase(const DatabaseUrl& url, const DatabaseOptions& options)
    : url_(url), options_(options), instance_(++g_instances) {
  // Fail at start-up, with libpq's reason, when the server cannot be reached at all.
  core::MutexLock lock(admin_mu_);
  if (!admin()) throw std::runtime_error("cannot connect to PostgreSQL");
}

PostgresDatabase::~PostgresDatabase() {
  close_connections();
  if (admin_) PQfinish(admin_);
}

void PostgresDatabase::close_connections() {
  core::MutexLock lock(pools_mu_);
  generation_.fetch_add(1, std::memory_order_acq_rel);  // invalidates the threads' caches
  pools_.clear();
}

pg_conn* PostgresDatabase::admin() {
  if (admin_ && PQstatus(admin_) == CONNECTION_OK) return admin_;
  if (admin_) PQfinish(admin_);
  admin_ = PQconnectdb(url_.conninfo.c_str());
  quiet_notices(admin_);
  if (PQstatus(admin_) != CONNECTION_OK) {
    TENX_LOG_ERROR("postgresql: cannot connect: {}", PQerrorMessage(admin_));
    PQfinish(admin_);
    admin_ = nullptr;
  }
  return admin_;
}

PostgresDatabase::Pools& PostgresDatabase::pools_here(asio::io_context& loop) {
  // One lookup per thread and database; the lock is taken the first time only.
  thread_local std::uint64_t cached_instance = 0;
  thread_local std::uint64_t cached_generation = 0;
  thread_local asio::io_context* cached_loop = nullptr;
  thread_local Pools* cached = nullptr;
  const auto generation = generation_.load(std::memory_order_acquire);
  if (cached_instance == instance_ && cached_generation == generation && cached_loop == &loop)
    return *cached;
  core::MutexLock lock(pools_mu_);
  Pools* found = nullptr;
  for (auto& [l, p] : pools_)
    if (l == &loop) found = p.get();
  if (!found) {
    pools_.emplace_back(&loop, std::make_unique<Pools>(loop, url_, options_.pool_size));
    found = pools_.back().second.get();
  }
  cached_instance = instance_;
  cached_generation = generation;
  cached_loop = &loop;
  cached = found;
  return *found;
}

Result<std::string> PostgresDatabase::sql_of(Stmt s) const { return std::string(sql(s)); }

boost::asio::awaitable<Result<Rows>> PostgresDatabase::run(Stmt s, std::vector<Value> params,
                                                           bool write) {
  auto ex = co_await asio::this_coro::executor;
  auto& loop = static_cast<asio::io_context&>(asio::query(ex, asio::execution::context));
  Pools& pools = pools_here(loop);
  PgPool* pool = &pools.primary;
  if (!write && !pools.replicas.empty())
    pool = pools.replicas[pools.next_replica++ % pools.replicas.size()].get();
  auto conn = co_await pool->acquire();
  if (!conn && pool != &pools.primary) {
    pool = &pools.primary;  // a replica is down: the primary can answer reads too
    conn = co_await pool->acquire();
  }
  if (!conn) co_return conn.error();
  auto r = co_await (*conn)->execute(s, sql(s), params);
  pool->release(std::move(*conn));
  co_return r;
}

boost::asio::awaitable<Result<void>> PostgresDatabase::refresh_summaries() {
  auto ex = co_await asio::this_coro::executor;
  auto& loop = static_cast<asio::io_context&>(asio::query(ex, asio::execution::context));
  auto& pool = pools_here(loop).primary;
  auto conn = co_await pool.acquire();
  if (!conn) co_return conn.error();
  const auto start = Clock::now();
  // CONCURRENTLY: readers keep the old rows until the new ones are in (needs the unique
  // indexes the migration creates).
  auto r = co_await (*conn)->simple(
      "REFRESH MATERIALIZED VIEW CONCURRENTLY trending_posts;"
      "REFRESH MATERIALIZED VIEW CONCURRENTLY popular_posts_weekly;");
  if (r) {
    const auto took =
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start).count();
    r =
        co_await (*conn)->simple(fmt::format("INSERT INTO summary_refresh VALUES ('trending', "
                                             "now(), {0}), ('popular_weekly', now(), {0}) "
                                             "ON CONFLICT (name) DO UPDATE SET refreshed_at = "
                                             "EXCLUDED.refreshed_at, took_us = EXCLUDED.took_us",
                                             took));
  }
  pool.release(std::move(*conn));
  if (!r) co_return r.error();
  co_return Result<void>{};
}

namespace {

// Runs SQL on the blocking connection; the result or nullptr (logged).
ResultPtr exec(PGconn* c, const std::string& sql, ExecStatusType want) {
  ResultPtr r(PQexec(c, sql.c_str()));
  if (PQresultStatus(r.get()) != want) {
    TENX_LOG_ERROR("postgresql: {}: {}", sql.substr(0, 80), PQresultErrorMessage(r.get()));
    return nullptr;
  }
  return r;
}

}  // namespace

Result<int> PostgresDatabase::migrate() {
  core::MutexLock lock(admin_mu_);
  PGconn* c = admin();
  if (!c) return make_error_code(Errc::unavailable);
  // A session lock: instances starting together wait here, one migrates, the rest see it done.
  if (!exec(c, "SELECT pg_advisory_lock(745046)", PGRES_TUPLES_OK))
    return make_error_code(Errc::internal);
  auto unlock = [&] { exec(c, "SELECT pg_advisory_unlock(745046)", PGRES_TUPLES_OK); };
  if (!exec(c,
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INT PRIMARY KEY, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
            PGRES_COMMAND_OK)) {
    unlock();
    return make_error_code(Errc::internal);
  }
  auto v = exec(c, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", PGRES_TUPLES_OK);
  int version = v ? std::atoi(PQgetvalue(v.get(), 0, 0)) : -1;
  const auto& all = migrations();
  for (int next = version + 1; version >= 0 && next <= static_cast<int>(all.size()); ++next) {
    const std::string tx =
        std::string("BEGIN;") + all[static_cast<std::size_t>(next - 1)] +
        fmt::format(";INSERT INTO schema_migrations (version) VALUES ({});COMMIT;", next);
    if (!exec(c, tx, PGRES_COMMAND_OK)) {
      exec(c, "ROLLBACK", PGRES_COMMAND_OK);
      version = -1;
      break;
    }
    TENX_LOG_INFO("postgresql: applied schema version {}", next);
  }
  unlock();
  if (version < 0) return make_error_code(Errc::internal);
  return static_cast<int>(all.size());
}

Result<Plan> PostgresDatabase::explain(const std::string& sql_text) {
  core::MutexLock lock(admin_mu_);
  PGconn* c = admin();
  if (!c) return make_error_code(Errc::unavailable);
  // Catalogue statements have $n parameters: EXPLAIN them as a generic plan through PREPARE
  // with NULLs; plain SQL is EXPLAIN ANALYZEd inside a rolled-back transaction (so an
  // INSERT under ANALYZE changes nothing).
  Plan plan;
  ResultPtr r;
  if (sql_text.find("$1") != std::string::npos) {
    exec(c, "DEALLOCATE ALL", PGRES_COMMAND_OK);
    if (!exec(c, "PREPARE tenx_explain AS " + sql_text, PGRES_COMMAND_OK))
      return make_error_code(Errc::bad_input);
    auto n = exec(c,
                  "SELECT array_length(parameter_types, 1) FROM pg_prepared_statements "
                  "WHERE name = 'tenx_explain'",
                  PGRES_TUPLES_OK);
    const int params = n && !PQgetisnull(n.get(), 0, 0) ? std::atoi(PQgetvalue(n.get(), 0, 0)) : 0;
    std::string nulls;
    for (int i = 0; i < params; ++i) nulls += i ? ", NULL" : "NULL";
    exec(c, "SET plan_cache_mode = force_generic_plan", PGRES_COMMAND_OK);
    r = exec(c, "EXPLAIN EXECUTE tenx_explain" + (params ? "(" + nulls + ")" : std::string()),
             PGRES_TUPLES_OK);
    exec(c, "RESET plan_cache_mode", PGRES_COMMAND_OK);
    exec(c, "DEALLOCATE tenx_explain", PGRES_COMMAND_OK);
  } else {
    exec(c, "BEGIN", PGRES_COMMAND_OK);
    r = exec(c, "EXPLAIN ANALYZE " + sql_text, PGRES_TUPLES_OK);
    exec(c, "ROLLBACK", PGRES_COMMAND_OK);
  }
  if (!r) return make_error_code(Errc::bad_input);
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const std::string line = PQgetvalue(r.get(), i, 0);
    plan.text += line + "\n";
    // A sequential scan of one of the app's tables (system catalogues and the one-row
    // counter are small by nature: scanning them is the right plan).
    for (const char* t :
         {"Seq Scan on users", "Seq Scan on posts", "Seq Scan on likes", "Seq Scan on comments"})
      if (line.find(t) != std::string::npos) plan.full_scan = true;
  }
  return plan;
}

Result<std::vector<LintFinding>> PostgresDatabase::lint_foreign_keys() {
  core::MutexLock lock(admin_mu_);
  PGconn* c = admin();
  if (!c) return make_error_code(Errc::unavailable);
  // A foreign key is served by an index whose leading columns are the key's columns.
  auto r = exec(c, R"sql(
SELECT conrelid::regclass::text, a.attname, confrelid::regclass::text, af.attname
FROM pg_constraint k
JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
JOIN pg_attribute af ON af.attrelid = k.confrelid AND af.attnum = k.confkey[1]
WHERE k.contype = 'f' AND NOT EXISTS (
  SELECT 1 FROM pg_index i WHERE i.indrelid = k.conrelid AND i.indkey[0] = k.conkey[1])
ORDER BY 1, 2)sql",
                PGRES_TUPLES_OK);
  if (!r) return make_error_code(Errc::internal);
  std::vector<LintFinding> out;
  for (int i = 0; i < PQntuples(r.get()); ++i) {
    const std::string table = PQgetvalue(r.get(), i, 0), col = PQgetvalue(r.get(), i, 1);
    out.push_back({"unindexed_foreign_key",
                   fmt::format("{}.{} -> {}.{}", table, col, PQgetvalue(r.get(), i, 2),
                               PQgetvalue(r.get(), i, 3)),
                   fmt::format("CREATE INDEX CONCURRENTLY {0}_{1}_idx ON {0} ({1});", table, col)});
  }
  return out;
}

Result<Rows> PostgresDatabase::exec_blocking(const std::string& sql_text,
                                             const std::vector<Value>& params) {
  core::MutexLock lock(admin_mu_);
  PGconn* c = admin();
  if (!c) return make_error_code(Errc::unavailable);
  auto it = tool_stmts_.find(sql_text);
  if (it == tool_stmts_.end()) {
    const auto name = fmt::format("tenx_tool_{}", tool_stmts_.size());
    ResultPtr p(PQprepare(c, name.c_str(), sql_text.c_str(), 0, nullptr));
    if (PQresultStatus(p.get()) != PGRES_COMMAND_OK) return map_result_error(p.get(), "prepare");
    it = tool_stmts_.emplace(sql_text, name).first;
  }
  const TextParams p(params);
  ResultPtr r(
      PQexecPrepared(c, it->second.c_str(), p.count(), p.values.data(), nullptr, nullptr, 0));
  const auto st = PQresultStatus(r.get());
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    // DDL can leave a cached plan stale ("cached plan must not change result type"): drop it.
    tool_stmts_.erase(it);
    return map_result_error(r.get(), "exec");
  }
  return collect(r.get());
}

Result<std::int64_t> PostgresDatabase::table_rows(std::string_view table) {
  core::MutexLock lock(admin_mu_);
  PGconn* c = admin();
  if (!c) return make_error_code(Errc::unavailable);
  auto r = exec(c, "SELECT COUNT(*) FROM " + std::string(table), PGRES_TUPLES_OK);
  if (!r) return make_error_code(Errc::internal);
  return std::strtoll(PQgetvalue(r.get(), 0, 0), nullptr, 10);
}

namespace {

// COPY ... FROM STDIN in text format, one table at a time, on the blocking connection, all
// in one transaction: a failure anywhere rolls back every table (and the trigger switch).
class PgBulkWriter : public BulkWriter {
 public:
  PgBulkWriter(PGconn* c, std::unique_lock<core::Mutex> lock) : c_(c), lock_(std::move(lock)) {}
  ~PgBulkWriter() override {
    if (copying_) PQputCopyEnd(c_, "aborted");
    while (ResultPtr r{PQgetResult(c_)}) {
    }
    if (in_tx_) PQclear(PQexec(c_, "ROLLBACK"));
  }

  void begin(std::string_view table, const std::vector<std::string_view>& columns) override {
    if (!in_tx_) {
      must(exec(c_, "BEGIN", PGRES_COMMAND_OK));
      in_tx_ = true;
    }
    table_ = std::string(table);
    kinds_.clear();
    has_id_ = false;
    std::string cols;
    for (auto c : columns) {
      cols += (cols.empty() ? "" : ", ") + std::string(c);
      kinds_.push_back(c == "created_at" ? 't' : c == "published" ? 'b' : 'v');
      has_id_ = has_id_ || c == "id";
    }
    // Row triggers would update the counter row once per post: off for the load, and the
    // counts are recomputed once at the end.
    if (table_ == "posts")
      must(exec(c_, "ALTER TABLE posts DISABLE TRIGGER posts_counted", PGRES_COMMAND_OK));
    must(exec(c_, "COPY " + table_ + " (" + cols + ") FROM STDIN", PGRES_COPY_IN));
    copying_ = true;
  }

  void row(const std::vector<Value>& values) override {
    line_.clear();
    for (std::size_t i = 0; i < values.size(); ++i) {
      if (i) line_ += '\t';
      const auto& v = values[i];
      if (std::holds_alternative<std::monostate>(v)) {
        line_ += "\\N";
      } else if (kinds_[i] == 't') {
        const auto us = std::get<std::int64_t>(v);
        const std::time_t secs = static_cast<std::time_t>(us / 1'000'000);
        std::tm tm{};
        ::gmtime_r(&secs, &tm);
        fmt::format_to(std::back_inserter(line_), "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
                       tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                       tm.tm_sec, us % 1'000'000);
      } else if (kinds_[i] == 'b') {
        line_ += std::get<std::int64_t>(v) ? 't' : 'f';
      } else if (auto* n = std::get_if<std::int64_t>(&v)) {
        line_ += std::to_string(*n);
      } else if (auto* d = std::get_if<double>(&v)) {
        line_ += fmt::format("{}", *d);
      } else {
        for (char ch : std::get<std::string>(v)) {
          switch (ch) {
            case '\\':
              line_ += "\\\\";
              break;
            case '\t':
              line_ += "\\t";
              break;
            case '\n':
              line_ += "\\n";
              break;
            case '\r':
              line_ += "\\r";
              break;
            default:
              line_ += ch;
          }
        }
      }
    }
    line_ += '\n';
    buf_ += line_;
    if (buf_.size() >= (1 << 20)) flush();
  }

  void end() override {
    flush();
    if (PQputCopyEnd(c_, nullptr) != 1) throw std::runtime_error(PQerrorMessage(c_));
    copying_ = false;
    ResultPtr r(PQgetResult(c_));
    if (PQresultStatus(r.get()) != PGRES_COMMAND_OK)
      throw std::runtime_error(std::string("COPY ") + table_ + ": " +
                               PQresultErrorMessage(r.get()));
    while (ResultPtr rest{PQgetResult(c_)}) {
    }
    if (has_id_)
      must(exec(c_,
                fmt::format("SELECT setval(pg_get_serial_sequence('{0}', 'id'), "
                            "COALESCE((SELECT MAX(id) FROM {0}), 1))",
                            table_),
                PGRES_TUPLES_OK));
    if (table_ == "posts") {
      must(exec(c_, "ALTER TABLE posts ENABLE TRIGGER posts_counted", PGRES_COMMAND_OK));
      must(exec(c_,
                "UPDATE post_counts SET total = (SELECT COUNT(*) FROM posts), "
                "published = (SELECT COUNT(*) FROM posts WHERE published), updated_at = now()",
                PGRES_COMMAND_OK));
    }
    loaded_.push_back(table_);
  }

  void commit() override {
    if (!in_tx_) return;
    must(exec(c_, "COMMIT", PGRES_COMMAND_OK));
    in_tx_ = false;
    // ANALYZE (reltuples, which the count estimate reads) only now: its statistics are
    // written in place, so inside a transaction that rolls back they would count rows that
    // were never committed. (setval is not transactional either; a failed load leaves the
    // sequences advanced, which the next load sets again.)
    for (const auto& t : loaded_) must(exec(c_, "ANALYZE " + t, PGRES_COMMAND_OK));
  }

 private:
  void flush() {
    if (buf_.empty()) return;
    if (PQputCopyData(c_, buf_.data(), static_cast<int>(buf_.size())) != 1)
      throw std::runtime_error(PQerrorMessage(c_));
    buf_.clear();
  }
  void must(const ResultPtr& r) {
    if (!r) throw std::runtime_error("PostgreSQL refused a bulk-load step (see the log)");
  }
  PGconn* c_;
  std::unique_lock<core::Mutex> lock_;  // admin_mu_, held for the writer's life
  std::string table_;
  std::vector<char> kinds_;
  bool has_id_ = false;
  bool copying_ = false;
  bool in_tx_ = false;
  std::vector<std::string> loaded_;  // tables to ANALYZE after COMMIT
  std::string line_, buf_;
};

}  // namespace

// The lock moves into the writer, which holds it until it is destroyed: beyond what the
// thread-safety analysis follows.
std::unique_ptr<BulkWriter> PostgresDatabase::bulk_writer() NO_THREAD_SAFETY_ANALYSIS {
  std::unique_lock lock(admin_mu_);
  PGconn* c = admin();
  if (!c) throw std::runtime_error("cannot connect to PostgreSQL");
  return std::make_unique<PgBulkWriter>(c, std::move(lock));
}

}  // namespace tenx::app
