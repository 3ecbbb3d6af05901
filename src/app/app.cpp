#include "app/app.h"

#include "app/api/api.h"
#include "app/app_cache.h"
#include "app/storage/database.h"
#include "core/log.h"
#include "core/runtime.h"
#include "http/access_log.h"
#include "http/health.h"
#include "http/router.h"
#include "http/server.h"
#include "metrics/process.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <iostream>

namespace tenx::app {

namespace asio = boost::asio;

namespace {

// Refreshes the summaries now, then every `every`, until the timer is cancelled.
asio::awaitable<void> refresher(Database& db, asio::steady_timer& timer,
                                std::chrono::milliseconds every,
                                const std::atomic<bool>& stopping) {
  while (!stopping.load()) {
    auto r = co_await db.refresh_summaries();
    if (!r) TENX_LOG_WARN("summary refresh failed: {}", r.error().message());
    if (stopping.load()) co_return;
    timer.expires_after(every);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
}

}  // namespace

int run(const AppOptions& o) {
  try {
    log::init({o.log_level, "stderr"});
  } catch (const std::exception& e) {
    std::cerr << "tenx app: " << e.what() << "\n";
    return 2;
  }
  metrics::register_process_metrics();
  DatabaseUrl url;
  try {
    url = DatabaseUrl::parse(o.database);
  } catch (const std::invalid_argument& e) {
    std::cerr << "tenx app: " << e.what() << "\n";
    return 2;
  }
  std::string disk_path = ".";
  if (url.kind == DatabaseUrl::Kind::sqlite) {
    // A path that names no database is a mistake (a typo, a volume not mounted), not a wish
    // for an empty service: only `tenx app seed`, `tenx up` or --create make the file.
    if (!o.create && !std::filesystem::exists(url.path)) {
      std::cerr << "tenx app: no SQLite database at " << url.path
                << " (create one with `tenx app seed --database " << o.database
                << "`, or pass --create)\n";
      return 2;
    }
    const auto dir = std::filesystem::path(url.path).parent_path();
    disk_path = dir.empty() ? "." : dir.string();
  }
  DatabaseOptions dbo;
  dbo.create = o.create;  // SqliteDatabase makes the directories too
  dbo.slow_query = o.slow_query;
  dbo.read_threads = o.read_threads;
  dbo.pool_size = o.pool_size;
  std::unique_ptr<Database> db;
  try {
    db = open_database(url, dbo);
  } catch (const std::exception& e) {
    std::cerr << "tenx app: " << e.what() << "\n";
    return 1;
  }
  db->set_slow_threshold(o.slow_query);
  auto version = db->migrate();
  if (!version) {
    std::cerr << "tenx app: schema migration failed (see the log)\n";
    return 1;
  }
  TENX_LOG_INFO("database {} schema version {}", db->engine(), *version);

  core::Runtime runtime({.threads = o.threads, .drain_timeout = std::chrono::seconds(10)});
  // After the runtime: its Redis connections live on the runtime's loops and go first.
  std::unique_ptr<AppCache> cache;
  try {
    cache = AppCache::make({.mode = o.cache,
                            .memory_bytes = o.cache_memory_bytes,
                            .ttl_trending = o.cache_ttl_trending,
                            .ttl_user = o.cache_ttl_user,
                            .ttl_feed = o.cache_ttl_feed});
  } catch (const std::invalid_argument& e) {
    std::cerr << "tenx app: --cache: " << e.what() << "\n";
    return 2;
  }

  ApiOptions ao;
  ao.debug_headers = o.debug_headers;
  ao.demo = o.demo;
  ao.n_plus_one_threshold = o.n_plus_one_threshold;
  ao.cursor_key = o.cursor_key;
  ao.per_page_max = o.per_page_max;
  Api api(*db, ao, cache.get());
  http::Router router;
  api.add_routes(router);

  http::HealthChecks health;
  Database* dbp = db.get();
  health.add("database", std::chrono::milliseconds(1000),
             [dbp]() -> asio::awaitable<http::CheckResult> {
               auto r = co_await dbp->query(Stmt::ping, {});
               if (!r) co_return http::CheckResult{false, r.error().message()};
               co_return http::CheckResult{true, std::string(dbp->engine()) + " answers SELECT 1"};
             });
  health.add("disk", std::chrono::milliseconds(500),
             http::HealthChecks::disk_space(disk_path, o.health_min_disk_mb << 20));
  health.add("memory", std::chrono::milliseconds(500),
             http::HealthChecks::memory(o.health_max_rss_mb << 20));
  // Optional: without Redis the app serves from the database (degraded, not unhealthy).
  if (cache)
    health.add("cache", std::chrono::milliseconds(500), cache->health_check(),
               http::HealthChecks::Need::optional);
  router.get("/health", health.handler());
  router.get("/metrics", http::metrics_handler());

  http::ServerOptions so;
  so.listen = o.listen;
  so.limits.max_body_bytes = 1 << 20;
  if (o.access_log != "off")
    so.access_log = std::make_shared<http::AccessLog>(o.access_log, runtime.threads());
  http::Server server(runtime, so, http::Router::into_handler(std::move(router)));
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << "tenx app: cannot listen on " << so.listen << ": " << e.what() << "\n";
    return 1;
  }
  const auto ep = server.local_endpoint();
  std::printf("tenx app listening on http://%s:%u\n", ep.address().to_string().c_str(),
              static_cast<unsigned>(ep.port()));
  std::fflush(stdout);
  TENX_LOG_INFO("app listening addr={}:{} threads={} database={} cache={}",
                ep.address().to_string(), ep.port(), runtime.threads(), db->engine(),
                cache ? (cache->shared() ? "memory+redis" : "memory") : "off");
  if (cache) cache->start(runtime);

  asio::steady_timer refresh_timer(runtime.loop(0));
  std::atomic<bool> stopping{false};
  asio::co_spawn(runtime.loop(0), refresher(*db, refresh_timer, o.refresh_interval, stopping),
                 asio::detached);
  runtime.on_drain([&] {
    stopping.store(true);
    // An open Redis connection keeps its loop running: close them with the drain.
    if (cache) cache->stop(runtime);
    asio::post(runtime.loop(0), [&] { refresh_timer.cancel(); });
    TENX_LOG_INFO("drain: stopping, finishing in-flight requests");
  });
  const int rc = runtime.run();
  db->close_connections();  // while the loops' io_contexts still exist
  if (so.access_log) so.access_log->flush_all();
  TENX_LOG_INFO("stopped clean={}", rc == 0);
  log::flush();
  return rc;
}

}  // namespace tenx::app
