#pragma once
// PostgresDatabase: the engine for real deployments, on libpq.
//
//   * Non-blocking and driven by the event loop: every connection's socket waits in the
//     loop's reactor (libpq's asynchronous API: PQconnectPoll, PQsendQueryPrepared,
//     PQconsumeInput); no thread per query, no thread per connection.
//   * A pool per event loop and per server (the primary, each read replica), up to pool_size
//     connections each, opened on demand; a request waits for a free connection up to its
//     deadline, then gets Errc::busy.
//   * Each connection prepares each catalogue statement once, on first use.
//   * Writes go to the primary; reads are spread round robin over the replicas when there
//     are any (falling back to the primary when a replica cannot be reached).
//   * A connection that fails is dropped; the next request opens a new one, so the app rides
//     out a database restart: requests fail with Errc::unavailable (503) while it is down.
//   * Migrations hold a session advisory lock, so instances starting together apply each
//     version once; the summaries are MATERIALIZED VIEWs refreshed CONCURRENTLY.
//   * Blocking work (migrate, explain, lint, COPY for the seed) uses one separate blocking
//     connection, never on an event loop.
//
// Errors: unique violation (23505) -> Errc::conflict, foreign key violation (23503) ->
// Errc::not_found, connection failures -> Errc::unavailable, deadline -> Errc::timeout,
// serialization failures -> Errc::busy, anything else Errc::internal (logged).
#include "app/storage/database.h"
#include "core/thread_annotations.h"

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct pg_conn;

namespace tenx::app {

class PostgresDatabase : public Database {
 public:
  PostgresDatabase(const DatabaseUrl& url, const DatabaseOptions& options);
  ~PostgresDatabase() override;

  std::string_view engine() const override { return "postgresql"; }
  Result<int> migrate() override;
  boost::asio::awaitable<Result<void>> refresh_summaries() override;
  Result<Plan> explain(const std::string& sql) override;
  Result<std::string> sql_of(Stmt s) const override;
  Result<std::vector<LintFinding>> lint_foreign_keys() override;
  std::unique_ptr<BulkWriter> bulk_writer() override;
  Result<std::int64_t> table_rows(std::string_view table) override;
  void close_connections() override;
  Result<Rows> exec_blocking(const std::string& sql, const std::vector<Value>& params) override;

  static const char* sql(Stmt s);
  static const std::vector<const char*>& migrations();

  class Pools;  // per event loop (engine internals)

 protected:
  boost::asio::awaitable<Result<Rows>> run(Stmt s, std::vector<Value> params, bool write) override;

 private:
  Pools& pools_here(boost::asio::io_context& loop);
  // The blocking connection (created on first use).
  pg_conn* admin() REQUIRES(admin_mu_);

  DatabaseUrl url_;
  DatabaseOptions options_;
  const std::uint64_t instance_;              // tells this database's pools apart in thread caches
  std::atomic<std::uint64_t> generation_{0};  // bumped when the pools are closed
  core::Mutex pools_mu_;
  std::vector<std::pair<boost::asio::io_context*, std::unique_ptr<Pools>>> pools_
      GUARDED_BY(pools_mu_);
  core::Mutex admin_mu_;
  pg_conn* admin_ GUARDED_BY(admin_mu_) = nullptr;
  std::map<std::string, std::string> tool_stmts_ GUARDED_BY(admin_mu_);  // SQL -> name
};

}  // namespace tenx::app
