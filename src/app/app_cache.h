#pragma once
// AppCache: the app's use of the cache library (src/cache/), the guide's section 4 application
// tier: one Cache per cached family, over one store chosen by `--cache`:
//
//   memory          a MemoryStore in this process (the default)
//   redis://...     a TieredStore: this process's MemoryStore in front of Redis, invalidations
//                   shared with every instance through pub/sub; single flight across instances
//                   through the Redis lock
//   off             no cache: every request reads the database
//
//   family    key                 tags         TTL (config)              invalidated by
//   trending  "trending"          -            app.cache_ttl_trending    its TTL (the summary
//                                                                        refreshes on its own)
//   user      "user:<id>"         "user:<id>"  app.cache_ttl_user        PATCH /api/users/{id},
//                                                                        POST /api/register
//   feed      "feed:<per_page>"   "feed"       app.cache_ttl_feed        a published post, a
//                                                                        username change
//
// Redis down: the Caches fail open to the database (counted, cache_fallbacks_total) and the
// health check "cache" warns (200, "degraded": the cache is optional).
//
// Lifetime: construct before the Runtime runs; start() on loop 0 (the subscription lives
// there); stop() from the Runtime's drain (closes the subscription and the Redis connections,
// which would otherwise keep their loops running).
#include "cache/cache.h"
#include "http/health.h"

#include <chrono>
#include <memory>
#include <string>

namespace tenx::core {
class Runtime;
}
namespace tenx::cache {
class MemoryStore;
}

namespace tenx::app {

struct AppCacheOptions {
  std::string mode = "memory";  // "memory", "off" or a redis:// URL
  std::size_t memory_bytes = 64 << 20;
  std::chrono::milliseconds ttl_trending{600'000};
  std::chrono::milliseconds ttl_user{300'000};
  std::chrono::milliseconds ttl_feed{5'000};
};

class AppCache {
 public:
  // Throws std::invalid_argument for a bad mode or Redis URL.
  explicit AppCache(AppCacheOptions options);
  ~AppCache();
  AppCache(const AppCache&) = delete;
  AppCache& operator=(const AppCache&) = delete;

  // Null when the cache is off.
  static std::unique_ptr<AppCache> make(AppCacheOptions options);

  cache::Cache& trending() { return *trending_; }
  cache::Cache& users() { return *users_; }
  cache::Cache& feed() { return *feed_; }
  const AppCacheOptions& options() const { return options_; }
  bool shared() const;  // Redis behind the memory tier

  // On loop 0 of `runtime`, before it runs: the subscription (shared mode).
  void start(core::Runtime& runtime);
  // From the drain: the subscription and the Redis connections close.
  void stop(core::Runtime& runtime);
  // "cache": Redis answers PING and the subscription is live (always passes in memory mode).
  http::HealthCheck health_check();

 private:
  struct Shared;
  const AppCacheOptions options_;
  std::unique_ptr<cache::MemoryStore> memory_;
  std::unique_ptr<Shared> shared_;
  std::unique_ptr<cache::Cache> trending_, users_, feed_;
};

}  // namespace tenx::app
