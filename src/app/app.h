#pragma once
// `tenx app`: one stateless app instance (the guide's app tier) serving the API (api/api.h)
// from a database (storage/database.h), with /health (database SELECT 1 within a timeout,
// disk space, memory) and /metrics. Several instances share one database behind the gateway;
// `tenx up` starts them.
//
// Start-up: open the database (a SQLite file must already be there, unless `create`), run the
// migrations (safe when instances start together), open the listener, print
// `tenx app listening on http://ADDR:PORT`, refresh the summaries at once and then every
// refresh_interval in the background. SIGTERM / SIGINT drain like the gateway.
#include <chrono>
#include <string>

namespace tenx::app {

struct AppOptions {
  std::string listen = "127.0.0.1:9001";
  std::string database = "sqlite://data/tenx.db";
  std::size_t threads = 1;
  bool debug_headers = false;  // X-Query-Count and X-N-Plus-One on every response
  bool demo = false;           // the demo endpoints (ApiOptions::demo)
  bool create = false;         // SQLite: create a missing database (else exit 2)
  std::chrono::milliseconds slow_query{100};
  unsigned n_plus_one_threshold = 10;
  std::chrono::milliseconds refresh_interval{60'000};
  std::size_t read_threads = 2;  // SQLite readers
  std::size_t pool_size = 4;     // PostgreSQL connections per event loop
  std::string cursor_key = "tenx-default-cursor-key";
  int per_page_max = 100;
  std::uint64_t health_min_disk_mb = 100;
  std::uint64_t health_max_rss_mb = 4096;
  std::string log_level = "info";
  std::string access_log = "off";
  // The application cache (app_cache.h): "memory", "off" or redis://...
  std::string cache = "memory";
  std::size_t cache_memory_bytes = 64 << 20;
  std::chrono::milliseconds cache_ttl_trending{600'000};
  std::chrono::milliseconds cache_ttl_user{300'000};
  std::chrono::milliseconds cache_ttl_feed{5'000};
};

// Returns the process exit status (2: bad options, 1: could not start).
int run(const AppOptions& options);

}  // namespace tenx::app
