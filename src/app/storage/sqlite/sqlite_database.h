#pragma once
// SqliteDatabase: the embedded engine (the default).
//
//   * One file in WAL mode: readers never block the writer nor each other.
//   * One writer connection, used only on a one-thread BlockingPool: writes are serialised
//     there (SQLite allows one writer at a time anyway) instead of contending for the lock.
//   * Reader connections (read_threads of them), used on a read BlockingPool: a read takes
//     an idle reader, runs, and gives it back. Event loops never wait on SQLite; they
//     co_await the pool.
//   * Each connection prepares each catalogue statement once, on first use, and keeps it.
//   * Migrations run in a BEGIN IMMEDIATE transaction (the write lock, waited for with a busy
//     timeout), so app instances starting together apply each version exactly once.
//
// Errors: UNIQUE / PRIMARY KEY violations are Errc::conflict, FOREIGN KEY violations
// Errc::not_found, a busy database (a lock another connection or process holds for longer
// than DatabaseOptions::busy_timeout, 5 s by default) Errc::busy; anything else
// Errc::internal, logged with SQLite's message.
#include "app/storage/database.h"
#include "core/blocking_pool.h"
#include "core/thread_annotations.h"

#include <array>
#include <map>
#include <memory>

struct sqlite3;
struct sqlite3_stmt;

namespace tenx::app {

class SqliteDatabase : public Database {
 public:
  SqliteDatabase(std::string path, const DatabaseOptions& options);
  ~SqliteDatabase() override;

  std::string_view engine() const override { return "sqlite"; }
  Result<int> migrate() override;
  boost::asio::awaitable<Result<void>> refresh_summaries() override;
  Result<Plan> explain(const std::string& sql) override;
  Result<std::string> sql_of(Stmt s) const override;
  Result<std::vector<LintFinding>> lint_foreign_keys() override;

  std::unique_ptr<BulkWriter> bulk_writer() override;
  Result<std::int64_t> table_rows(std::string_view table) override;
  Result<Rows> exec_blocking(const std::string& sql, const std::vector<Value>& params) override;

  static const char* sql(Stmt s);
  static const std::vector<const char*>& migrations();
  static const char* refresh_sql();

 protected:
  boost::asio::awaitable<Result<Rows>> run(Stmt s, std::vector<Value> params, bool write) override;

 private:
  struct Conn;
  std::unique_ptr<Conn> open(bool reader);
  Result<Rows> execute(Conn& c, Stmt s, const std::vector<Value>& params);
  Conn* take_reader();
  void give_back(Conn* c);

  std::string path_;
  DatabaseOptions options_;
  std::unique_ptr<Conn> writer_;
  std::map<std::string, sqlite3_stmt*>
      tool_stmts_;  // exec_blocking's, on the writer  // used on write_pool_ (or the migrating /
                    // seeding thread)
  core::Mutex readers_mu_;
  std::vector<std::unique_ptr<Conn>> all_readers_;
  std::vector<Conn*> idle_readers_ GUARDED_BY(readers_mu_);
  core::BlockingPool write_pool_;
  core::BlockingPool read_pool_;
};

}  // namespace tenx::app
