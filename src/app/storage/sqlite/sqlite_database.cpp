#include "app/storage/sqlite/sqlite_database.h"

#include "core/log.h"

#include <fmt/format.h>
#include <sqlite3.h>

#include <chrono>
#include <filesystem>
#include <stdexcept>

namespace tenx::app {

namespace {

using core::Errc;
using core::make_error_code;

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

error_code map_error(int rc, sqlite3* db, std::string_view what) {
  const int ext = sqlite3_extended_errcode(db);
  if (ext == SQLITE_CONSTRAINT_UNIQUE || ext == SQLITE_CONSTRAINT_PRIMARYKEY)
    return make_error_code(Errc::conflict);
  if (ext == SQLITE_CONSTRAINT_FOREIGNKEY) return make_error_code(Errc::not_found);
  if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) return make_error_code(Errc::busy);
  TENX_LOG_ERROR("sqlite: {}: {} ({})", what, sqlite3_errmsg(db), rc);
  return make_error_code(Errc::internal);
}

void exec_or_throw(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    throw std::runtime_error(std::string("sqlite: ") + msg + " in: " + sql);
  }
}

void bind(sqlite3_stmt* st, const std::vector<Value>& params) {
  for (std::size_t i = 0; i < params.size(); ++i) {
    const int at = static_cast<int>(i + 1);
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::monostate>)
            sqlite3_bind_null(st, at);
          else if constexpr (std::is_same_v<T, std::int64_t>)
            sqlite3_bind_int64(st, at, v);
          else if constexpr (std::is_same_v<T, double>)
            sqlite3_bind_double(st, at, v);
          else
            sqlite3_bind_text(st, at, v.data(), static_cast<int>(v.size()), SQLITE_STATIC);
        },
        params[i]);
  }
}

// Steps a bound statement to the end, collecting its rows.
int collect(sqlite3_stmt* st, Rows& out) {
  out.columns = static_cast<std::size_t>(sqlite3_column_count(st));
  int rc;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    for (int c = 0; c < static_cast<int>(out.columns); ++c) {
      switch (sqlite3_column_type(st, c)) {
        case SQLITE_INTEGER:
          out.cells.emplace_back(static_cast<std::int64_t>(sqlite3_column_int64(st, c)));
          break;
        case SQLITE_FLOAT:
          out.cells.emplace_back(sqlite3_column_double(st, c));
          break;
        case SQLITE_NULL:
          out.cells.emplace_back(std::monostate{});
          break;
        default: {
          const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(st, c));
          out.cells.emplace_back(
              std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(st, c))));
        }
      }
    }
  }
  return rc;
}

// Binds, steps to the end, and leaves the statement ready for its next use. The error is
// read before the reset (which would replace it).
Result<Rows> run_prepared(sqlite3* db, sqlite3_stmt* st, const std::vector<Value>& params,
                          std::string_view what) {
  bind(st, params);
  Rows rows;
  const int rc = collect(st, rows);
  Result<Rows> out =
      rc == SQLITE_DONE ? Result<Rows>(std::move(rows)) : Result<Rows>(map_error(rc, db, what));
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  return out;
}

}  // namespace

struct SqliteDatabase::Conn {
  sqlite3* db = nullptr;
  std::array<sqlite3_stmt*, kStmtCount> stmts{};
  ~Conn() {
    for (auto* s : stmts) sqlite3_finalize(s);
    sqlite3_close_v2(db);
  }
};

SqliteDatabase::SqliteDatabase(std::string path, const DatabaseOptions& options)
    : path_(std::move(path)),
      options_(options),
      write_pool_(1, 4096),
      read_pool_(std::max<std::size_t>(options.read_threads, 1), 4096) {
  if (options.create) {
    const auto dir = std::filesystem::path(path_).parent_path();
    std::error_code ec;
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);
  }
  writer_ = open(false);
  for (std::size_t i = 0; i < std::max<std::size_t>(options.read_threads, 1); ++i) {
    all_readers_.push_back(open(true));
    idle_readers_.push_back(all_readers_.back().get());
  }
}

SqliteDatabase::~SqliteDatabase() {
  for (auto& [sql_text, st] : tool_stmts_) sqlite3_finalize(st);
}

Result<Rows> SqliteDatabase::exec_blocking(const std::string& sql_text,
                                           const std::vector<Value>& params) {
  auto& st = tool_stmts_[sql_text];
  if (!st && sqlite3_prepare_v3(writer_->db, sql_text.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &st,
                                nullptr) != SQLITE_OK) {
    tool_stmts_.erase(sql_text);
    return map_error(SQLITE_ERROR, writer_->db, "prepare");
  }
  // DDL invalidates other prepared statements' plans; SQLite re-prepares them itself.
  return run_prepared(writer_->db, st, params, "exec");
}

std::unique_ptr<SqliteDatabase::Conn> SqliteDatabase::open(bool reader) {
  auto c = std::make_unique<Conn>();
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX |
                    (options_.create && !reader ? SQLITE_OPEN_CREATE : 0);
  if (sqlite3_open_v2(path_.c_str(), &c->db, flags, nullptr) != SQLITE_OK) {
    std::string msg = c->db ? sqlite3_errmsg(c->db) : "out of memory";
    throw std::runtime_error("cannot open SQLite database " + path_ + ": " + msg);
  }
  sqlite3_busy_timeout(c->db, static_cast<int>(options_.busy_timeout.count()));
  sqlite3_extended_result_codes(c->db, 1);
  if (!reader) exec_or_throw(c->db, "PRAGMA journal_mode = WAL");
  // NORMAL is durable in WAL mode except for the last transactions before a power loss.
  exec_or_throw(c->db,
                "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; "
                "PRAGMA temp_store = MEMORY; PRAGMA cache_size = -65536; "
                "PRAGMA mmap_size = 1073741824;");
  if (reader) exec_or_throw(c->db, "PRAGMA query_only = ON");
  return c;
}

Result<std::string> SqliteDatabase::sql_of(Stmt s) const { return std::string(sql(s)); }

Result<Rows> SqliteDatabase::execute(Conn& c, Stmt s, const std::vector<Value>& params) {
  auto& st = c.stmts[static_cast<std::size_t>(s)];
  if (!st) {
    if (sqlite3_prepare_v3(c.db, sql(s), -1, SQLITE_PREPARE_PERSISTENT, &st, nullptr) != SQLITE_OK)
      return map_error(SQLITE_ERROR, c.db, fmt::format("prepare {}", stmt_name(s)));
  }
  return run_prepared(c.db, st, params, stmt_name(s));
}

SqliteDatabase::Conn* SqliteDatabase::take_reader() {
  core::MutexLock lock(readers_mu_);
  if (idle_readers_.empty()) return nullptr;  // cannot happen: one reader per pool thread
  Conn* c = idle_readers_.back();
  idle_readers_.pop_back();
  return c;
}

void SqliteDatabase::give_back(Conn* c) {
  core::MutexLock lock(readers_mu_);
  idle_readers_.push_back(c);
}

boost::asio::awaitable<Result<Rows>> SqliteDatabase::run(Stmt s, std::vector<Value> params,
                                                         bool write) {
  if (write) {
    auto job = [this, s, &params] { return execute(*writer_, s, params); };
    auto r = co_await write_pool_.run(std::move(job));
    if (!r) co_return r.error();
    co_return std::move(*r);
  }
  auto job = [this, s, &params]() -> Result<Rows> {
    Conn* c = take_reader();
    if (!c) return make_error_code(Errc::busy);
    auto r = execute(*c, s, params);
    give_back(c);
    return r;
  };
  auto r = co_await read_pool_.run(std::move(job));
  if (!r) co_return r.error();
  co_return std::move(*r);
}

Result<int> SqliteDatabase::migrate() {
  sqlite3* db = writer_->db;
  try {
    exec_or_throw(db, "BEGIN IMMEDIATE");
    exec_or_throw(db,
                  "CREATE TABLE IF NOT EXISTS schema_migrations "
                  "(version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)");
    sqlite3_stmt* st = nullptr;
    sqlite3_prepare_v2(db, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations", -1, &st,
                       nullptr);
    int version = 0;
    if (sqlite3_step(st) == SQLITE_ROW) version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    const auto& all = migrations();
    for (int v = version + 1; v <= static_cast<int>(all.size()); ++v) {
      exec_or_throw(db, all[static_cast<std::size_t>(v - 1)]);
      exec_or_throw(
          db, fmt::format("INSERT INTO schema_migrations VALUES ({}, {})", v, now_us()).c_str());
      TENX_LOG_INFO("sqlite: applied schema version {}", v);
    }
    exec_or_throw(db, "COMMIT");
    return static_cast<int>(all.size());
  } catch (const std::exception& e) {
    sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
    TENX_LOG_ERROR("migration failed: {}", e.what());
    return make_error_code(Errc::internal);
  }
}

boost::asio::awaitable<Result<void>> SqliteDatabase::refresh_summaries() {
  auto job = [this]() -> Result<void> {
    sqlite3* db = writer_->db;
    const auto start = now_us();
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
      return map_error(SQLITE_BUSY, db, "refresh: begin");
    const char* tail = refresh_sql();
    while (tail && *tail) {
      sqlite3_stmt* st = nullptr;
      if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
        auto ec = map_error(SQLITE_ERROR, db, "refresh: prepare");
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return ec;
      }
      if (!st) break;  // trailing whitespace
      if (sqlite3_bind_parameter_count(st) > 0) sqlite3_bind_int64(st, 1, start);
      const int rc = sqlite3_step(st);
      sqlite3_finalize(st);
      if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
        auto ec = map_error(rc, db, "refresh");
        sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
        return ec;
      }
    }
    const auto took = now_us() - start;
    const auto mark = fmt::format(
        "INSERT OR REPLACE INTO summary_refresh VALUES ('trending', {0}, {1});"
        "INSERT OR REPLACE INTO summary_refresh VALUES ('popular_weekly', {0}, {1});"
        "COMMIT",
        start, took);
    if (sqlite3_exec(db, mark.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) {
      auto ec = map_error(SQLITE_ERROR, db, "refresh: commit");
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);
      return ec;
    }
    return {};
  };
  auto r = co_await write_pool_.run(std::move(job));
  if (!r) co_return r.error();
  co_return *r;
}

Result<Plan> SqliteDatabase::explain(const std::string& sql_text) {
  sqlite3* db = writer_->db;
  sqlite3_stmt* st = nullptr;
  const auto q = "EXPLAIN QUERY PLAN " + sql_text;
  if (sqlite3_prepare_v2(db, q.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    TENX_LOG_WARN("explain: {}", sqlite3_errmsg(db));
    return make_error_code(Errc::bad_input);
  }
  // Unbound parameters are NULL: the plan does not depend on their values.
  Plan plan;
  std::vector<std::pair<int, int>> depth;  // (id, indent)
  while (sqlite3_step(st) == SQLITE_ROW) {
    const int id = sqlite3_column_int(st, 0);
    const int parent = sqlite3_column_int(st, 1);
    int indent = 0;
    for (const auto& [i, d] : depth)
      if (i == parent) indent = d + 1;
    depth.emplace_back(id, indent);
    const std::string detail = reinterpret_cast<const char*>(sqlite3_column_text(st, 3));
    plan.text += std::string(static_cast<std::size_t>(indent) * 2, ' ') + detail + "\n";
    // "SCAN posts" reads the table; "SCAN posts USING INDEX ..." (or COVERING INDEX) walks
    // an index, which is still every row but in order — count only bare table scans.
    if (detail.starts_with("SCAN ") && detail.find(" USING ") == std::string::npos &&
        detail != "SCAN CONSTANT ROW")
      plan.full_scan = true;
  }
  sqlite3_finalize(st);
  return plan;
}

Result<std::vector<LintFinding>> SqliteDatabase::lint_foreign_keys() {
  sqlite3* db = writer_->db;
  std::vector<LintFinding> out;
  auto rows = [&](const std::string& q) {
    Rows r;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db, q.c_str(), -1, &st, nullptr) == SQLITE_OK) collect(st, r);
    sqlite3_finalize(st);
    return r;
  };
  auto tables =
      rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'");
  for (std::size_t t = 0; t < tables.size(); ++t) {
    const std::string table(tables.text(t, 0));
    // foreign_key_list: id, seq, table, from, to, ...
    auto fks =
        rows("SELECT \"from\", \"table\", \"to\" FROM pragma_foreign_key_list('" + table + "')");
    // Leading columns of every index on the table (an index helps a foreign key lookup when
    // the key column leads it).
    auto leading = rows("SELECT ii.name FROM pragma_index_list('" + table +
                        "') il JOIN pragma_index_info(il.name) ii WHERE ii.seqno = 0");
    for (std::size_t f = 0; f < fks.size(); ++f) {
      const std::string from(fks.text(f, 0));
      bool indexed = false;
      for (std::size_t i = 0; i < leading.size(); ++i)
        indexed = indexed || leading.text(i, 0) == from;
      if (!indexed)
        out.push_back({"unindexed_foreign_key",
                       fmt::format("{}.{} -> {}.{}", table, from, fks.text(f, 1), fks.text(f, 2)),
                       fmt::format("CREATE INDEX {0}_{1}_idx ON {0} ({1});", table, from)});
    }
  }
  return out;
}

namespace {

// A prepared INSERT per table, committed every kBatch rows.
class SqliteBulkWriter : public BulkWriter {
 public:
  explicit SqliteBulkWriter(sqlite3* db) : db_(db) {}
  ~SqliteBulkWriter() override {
    if (st_) sqlite3_finalize(st_);
    if (in_tx_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void begin(std::string_view table, const std::vector<std::string_view>& columns) override {
    std::string sql = "INSERT INTO " + std::string(table) + " (";
    std::string marks;
    for (std::size_t i = 0; i < columns.size(); ++i) {
      sql += (i ? ", " : "") + std::string(columns[i]);
      marks += i ? ", ?" : "?";
    }
    sql += ") VALUES (" + marks + ")";
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st_, nullptr) != SQLITE_OK)
      throw std::runtime_error(std::string("sqlite: ") + sqlite3_errmsg(db_));
    start_tx();
  }
  void row(const std::vector<Value>& values) override {
    bind(st_, values);
    if (sqlite3_step(st_) != SQLITE_DONE)
      throw std::runtime_error(std::string("sqlite: insert: ") + sqlite3_errmsg(db_));
    sqlite3_reset(st_);
    if (++rows_ % kBatch == 0) {
      exec_or_throw(db_, "COMMIT");
      in_tx_ = false;
      start_tx();
    }
  }
  void end() override {
    if (in_tx_) exec_or_throw(db_, "COMMIT");
    in_tx_ = false;
    sqlite3_finalize(st_);
    st_ = nullptr;
  }
  void commit() override {}  // end() has committed every table

 private:
  static constexpr std::uint64_t kBatch = 100'000;
  void start_tx() {
    exec_or_throw(db_, "BEGIN IMMEDIATE");
    in_tx_ = true;
  }
  sqlite3* db_;
  sqlite3_stmt* st_ = nullptr;
  bool in_tx_ = false;
  std::uint64_t rows_ = 0;
};

}  // namespace

std::unique_ptr<BulkWriter> SqliteDatabase::bulk_writer() {
  return std::make_unique<SqliteBulkWriter>(writer_->db);
}

Result<std::int64_t> SqliteDatabase::table_rows(std::string_view table) {
  sqlite3_stmt* st = nullptr;
  const auto sql = "SELECT COUNT(*) FROM " + std::string(table);
  if (sqlite3_prepare_v2(writer_->db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK)
    return map_error(SQLITE_ERROR, writer_->db, "count");
  std::int64_t n = 0;
  if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  return n;
}

}  // namespace tenx::app
