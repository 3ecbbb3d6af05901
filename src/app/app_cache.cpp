#include "app/app_cache.h"

#include "cache/stores/memory_store.h"
#include "cache/stores/redis_store.h"
#include "cache/stores/tiered_store.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/runtime.h"
#include "redis/client.h"
#include "redis/url.h"

#include <boost/asio/post.hpp>

#include <stdexcept>

namespace tenx::app {

namespace asio = boost::asio;

// Redis behind the memory tier: one client (a connection per loop), the shared store, the
// tier in front, and the subscription's own metrics.
struct AppCache::Shared {
  explicit Shared(redis::Options o, cache::MemoryStore& memory)
      : options(o),
        client(std::move(o)),
        redis(client, core::SystemClock::instance()),
        tiered(memory, redis, client) {}
  redis::Options options;
  redis::Client client;
  cache::RedisStore redis;
  cache::TieredStore tiered;
};

namespace {
redis::Options redis_options(const std::string& url) {
  redis::Options o;
  o.url = redis::parse_url(url);  // throws std::invalid_argument, naming the problem
  o.command_timeout = std::chrono::milliseconds(250);
  o.connect_timeout = std::chrono::milliseconds(500);
  return o;
}
}  // namespace

AppCache::AppCache(AppCacheOptions options) : options_(std::move(options)) {
  if (options_.mode != "memory" && !options_.mode.starts_with("redis://"))
    throw std::invalid_argument("the cache must be memory, off or redis://...; not '" +
                                options_.mode + "'");
  cache::MemoryStoreOptions mo;
  mo.capacity_bytes = options_.memory_bytes;
  mo.name = "app";
  mo.registry = &metrics::Registry::global();
  memory_ = std::make_unique<cache::MemoryStore>(core::SystemClock::instance(), mo);
  cache::Store* store = memory_.get();
  redis::Client* locks = nullptr;
  if (options_.mode.starts_with("redis://")) {
    shared_ = std::make_unique<Shared>(redis_options(options_.mode), *memory_);
    store = &shared_->tiered;
    locks = &shared_->client;
  }
  auto& clock = core::SystemClock::instance();
  auto& random = core::SystemRandom::instance();
  cache::CacheOptions co;
  trending_ = std::make_unique<cache::Cache>(*store, clock, random, co, locks, "trending");
  cache::CacheOptions user = co;
  user.negative_ttl = std::chrono::seconds(5);  // "no such user" probes do not reach the database
  users_ = std::make_unique<cache::Cache>(*store, clock, random, user, locks, "user");
  feed_ = std::make_unique<cache::Cache>(*store, clock, random, co, locks, "feed");
}

AppCache::~AppCache() = default;

std::unique_ptr<AppCache> AppCache::make(AppCacheOptions options) {
  if (options.mode == "off") return nullptr;
  return std::make_unique<AppCache>(std::move(options));
}

bool AppCache::shared() const { return shared_ != nullptr; }

void AppCache::start(core::Runtime& runtime) {
  if (!shared_) return;
  asio::post(runtime.loop(0), [this, &runtime] {
    shared_->tiered.start(runtime.poller(0), shared_->options, shared_->client.metrics());
  });
}

void AppCache::stop(core::Runtime& runtime) {
  if (!shared_) return;
  asio::post(runtime.loop(0), [this] { shared_->tiered.stop(); });
  shared_->client.close();
}

http::HealthCheck AppCache::health_check() {
  return [this]() -> asio::awaitable<http::CheckResult> {
    if (!shared_) co_return http::CheckResult{true, "memory cache in this process"};
    auto pong = co_await shared_->client.call(redis::Command("PING"));
    if (!pong)
      co_return http::CheckResult{
          false, "redis unreachable (" + pong.error().message() + "): serving from the database"};
    if (!shared_->tiered.coherent())
      co_return http::CheckResult{false,
                                  "redis answers, the invalidation subscription is not live yet: "
                                  "the memory tier is bypassed"};
    co_return http::CheckResult{true, "redis answers; invalidations subscribed"};
  };
}

}  // namespace tenx::app
