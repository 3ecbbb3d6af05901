#pragma once
// Database: the storage engine interface of `tenx app`, and what every engine shares.
//
// The app never writes SQL at a call site. Every statement it runs has a name in the
// catalogue (Stmt); each engine maps the names to its own dialect's text
// (storage/sqlite/statements.cpp, storage/postgres/statements.cpp) and prepares each once per
// connection. That keeps every statement prepared (user input only ever travels as a bound
// parameter), lets the query log and `tenx app db report` speak of statements by name, and
// makes "the same statement shape repeated" (the N+1 detector) a comparison of two numbers.
//
// Engines: SqliteDatabase (embedded default: WAL, one writer, reads on a BlockingPool) and
// PostgresDatabase (libpq, non-blocking on the event loop, a connection pool, read replicas).
// Both are driven through query() (reads) and write() (statements that change data), which
// time every statement, record it in QueryStats (query_stats.h), log it when slow, and count
// it in the request's QueryContext. Engine-specific work that is not one statement (migrate,
// refresh the summary tables, explain, lint) is a virtual of its own.
//
// Threading: a Database is shared by every event-loop thread; its methods may be called from
// any of them concurrently. Results come back on the calling coroutine's executor.
#include "app/query_stats.h"
#include "app/storage/stmt.h"
#include "core/result.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace tenx::app {

// A bound parameter or a result cell.
using Value = std::variant<std::monostate, std::int64_t, double, std::string>;

// A result: `columns` cells per row, row-major.
struct Rows {
  std::size_t columns = 0;
  std::vector<Value> cells;
  std::size_t size() const { return columns ? cells.size() / columns : 0; }
  bool empty() const { return cells.empty(); }
  const Value& at(std::size_t row, std::size_t col) const { return cells[row * columns + col]; }
  std::int64_t integer(std::size_t row, std::size_t col) const;   // 0 for NULL
  std::string_view text(std::size_t row, std::size_t col) const;  // "" for NULL
  bool is_null(std::size_t row, std::size_t col) const {
    return std::holds_alternative<std::monostate>(at(row, col));
  }
};

// Which engine, and where: sqlite://path (relative or absolute; sqlite:///abs also works)
// or postgresql://user@host:port/db[?replica=host:port&...]. Throws std::invalid_argument.
struct DatabaseUrl {
  enum class Kind { sqlite, postgres } kind = Kind::sqlite;
  std::string path;                   // sqlite
  std::string conninfo;               // postgres primary (a libpq URI)
  std::vector<std::string> replicas;  // postgres read replicas (libpq URIs)
  static DatabaseUrl parse(std::string_view url);
};

struct DatabaseOptions {
  std::chrono::milliseconds slow_query{100};  // statements slower than this are logged
  std::size_t read_threads = 2;               // SQLite: readers on the blocking pool
  std::size_t pool_size = 4;                  // PostgreSQL: connections per event loop
  bool create = true;                         // SQLite: create the file if absent
  // SQLite: how long a statement waits for a lock another connection holds before it gives
  // up with Errc::busy (the API's 503).
  std::chrono::milliseconds busy_timeout{5000};
};

// A statement's plan, from EXPLAIN (QUERY PLAN / ANALYZE).
struct Plan {
  std::string text;        // as the engine prints it
  bool full_scan = false;  // a table read without an index
};

struct LintFinding {
  std::string kind;  // "unindexed_foreign_key", "full_scan"
  std::string what;  // "comments.post_id -> posts.id"
  std::string fix;   // "CREATE INDEX ..."
};

// Bulk loading (the seed generator): rows of one table at a time, in big transactions
// (SQLite: a prepared INSERT per row, committed every 100,000 rows and at end(); PostgreSQL:
// COPY, every table in one transaction committed by commit(), so a load that fails part-way
// leaves no rows behind; the posts table is locked against writers until then). A writer destroyed
// before commit() rolls back what is uncommitted. Used off the event loops.
class BulkWriter {
 public:
  virtual ~BulkWriter() = default;
  // Starts a table; columns as in the schema. Throws std::runtime_error on failure.
  virtual void begin(std::string_view table, const std::vector<std::string_view>& columns) = 0;
  virtual void row(const std::vector<Value>& values) = 0;
  virtual void end() = 0;     // ends the table
  virtual void commit() = 0;  // after the last table: makes the load durable
};

class Database {
 public:
  virtual ~Database() = default;

  virtual std::string_view engine() const = 0;  // "sqlite" / "postgresql"

  // Reads (replicas / reader connections) and writes (the primary / the one writer).
  boost::asio::awaitable<Result<Rows>> query(Stmt s, std::vector<Value> params,
                                             QueryContext* ctx = nullptr);
  boost::asio::awaitable<Result<Rows>> write(Stmt s, std::vector<Value> params,
                                             QueryContext* ctx = nullptr);

  // Creates or upgrades the schema; safe when several processes start together.
  virtual Result<int> migrate() = 0;  // the schema version now in place (blocking; at start-up)
  // Rebuilds the trending and weekly summaries (blocking work, run off the loops).
  virtual boost::asio::awaitable<Result<void>> refresh_summaries() = 0;
  // EXPLAIN of arbitrary SQL (the CLI's `db explain`; never on the request path).
  virtual Result<Plan> explain(const std::string& sql) = 0;
  virtual Result<std::string> sql_of(Stmt s) const = 0;
  virtual Result<std::vector<LintFinding>> lint_foreign_keys() = 0;
  virtual std::unique_ptr<BulkWriter> bulk_writer() = 0;
  // Arbitrary SQL with bound parameters ($1.. on PostgreSQL, ?1.. on SQLite), prepared once
  // per text and kept: for tools (`tenx app db bench`), never on the request path. Blocking.
  virtual Result<Rows> exec_blocking(const std::string& sql,
                                     const std::vector<Value>& params = {}) = 0;
  // Rows in a table (for the seed's "already seeded?" check). Blocking.
  virtual Result<std::int64_t> table_rows(std::string_view table) = 0;

  // Closes the connections the event loops opened. Call after the loops have stopped and
  // before their io_contexts are destroyed (a connection's socket is registered there).
  virtual void close_connections() {}

  const QueryStats& stats() const { return stats_; }
  QueryStats& stats() { return stats_; }
  void set_slow_threshold(std::chrono::milliseconds t) { slow_ = t; }

 protected:
  virtual boost::asio::awaitable<Result<Rows>> run(Stmt s, std::vector<Value> params,
                                                   bool write) = 0;

 private:
  boost::asio::awaitable<Result<Rows>> timed(Stmt s, std::vector<Value> params, bool write,
                                             QueryContext* ctx);
  QueryStats stats_;
  std::chrono::milliseconds slow_{100};
};

// Opens the engine the URL names. Throws std::runtime_error with the reason.
std::unique_ptr<Database> open_database(const DatabaseUrl& url, const DatabaseOptions& options);

}  // namespace tenx::app
