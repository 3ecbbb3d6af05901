#pragma once
// Cache: `get_or_compute(key, ttl, loader)` over a Store (store.h), the application tier of the
// guide's section 4 (its `cache_result` decorator and `get_with_lock`), done so that it never
// stampedes and never serves what it should not:
//
//   hit       a fresh entry is returned. XFetch (Vattani et al., "Optimal Probabilistic Cache
//             Stampede Prevention"): a caller refreshes early when
//             now - compute_time * beta * ln(u) >= fresh_until, u uniform in (0, 1], so one
//             caller recomputes a hot key shortly before it expires while the others are still
//             served the current value (with a refresh already running on this node, they all
//             are).
//   miss      single flight per key on a node: the first caller runs the loader, concurrent
//             callers wait for its result (up to follower_wait, then load themselves); a loader
//             failure reaches every waiter and is not cached (negative caching only for
//             Errc::not_found, and only when negative_ttl is set).
//             With a redis::Client for locks, single flight across nodes too: the leader takes
//             `SET tenx:lock:<key> <random token> NX PX lock_ttl`; a node that finds the lock held
//             re-reads the store with growing pauses (lock_poll_min .. lock_poll_max) until the
//             value appears or lock_wait passes (then loads itself: never an unbounded wait, never
//             the guide's recursion), and the lock is released by a compare-and-delete script, so
//             a leader whose lock expired cannot delete the next leader's. A node that takes the
//             lock re-reads the shared store first (Store::get_shared) and loads only if nothing
//             newer than what it saw is there: another node's early refresh may just have landed.
//   stale     the loader failed and an expired entry is still kept (stale_if_error after its
//             expiry): the old value is served and counted; past that bound the error is returned.
//   bypass    the store failed (Redis unreachable): the loader's value is returned uncached
//             (fail-open, counted), or the value is over max_value_bytes and is not cached.
//
// TTLs are jittered down by up to ttl_jitter (0.1: up to 10 % shorter), so keys written together
// do not expire together. Time and randomness are injected (core::Clock, core::Random).
//
// Thread-safe: one Cache serves every event loop; the single-flight table is the only shared
// state it adds (a mutex taken on misses, never on a hit). Waiters are woken on their own loops.
//
// Metrics (labelled cache=<name>): cache_requests_total{outcome=hit|miss|stale|bypass},
// cache_loads_total{result=ok|error}, cache_load_duration_seconds, cache_collapsed_total
// (callers served by another caller's load on this node), cache_lock_waits_total (by another
// node's), cache_early_refreshes_total, cache_fallbacks_total (store errors),
// cache_follower_timeouts_total.
#include "cache/store.h"
#include "core/clock.h"
#include "core/random.h"
#include "core/result.h"
#include "core/thread_annotations.h"
#include "metrics/registry.h"

#include <boost/asio/awaitable.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tenx::redis {
class Client;
}

namespace tenx::cache {

struct CacheOptions {
  double early_refresh_beta = 1.0;  // XFetch's beta; 0 turns early refresh off
  Duration stale_if_error = std::chrono::seconds(60);
  double ttl_jitter = 0.1;
  Duration follower_wait = std::chrono::seconds(5);
  Duration negative_ttl{0};  // 0: failures are never cached
  std::size_t max_value_bytes = 1 << 20;
  Duration lock_ttl = std::chrono::seconds(10);
  Duration lock_wait = std::chrono::seconds(5);
  Duration lock_poll_min = std::chrono::milliseconds(2);
  Duration lock_poll_max = std::chrono::milliseconds(50);
};

enum class Outcome { hit, miss, stale, bypass };
std::string_view outcome_name(Outcome o);  // "HIT", "MISS", "STALE", "BYPASS" (X-Cache)

struct Lookup {
  std::string value;
  Outcome outcome = Outcome::miss;
};

using Loader = std::function<boost::asio::awaitable<Result<std::string>>()>;

class Cache {
 public:
  struct Stats {
    std::uint64_t hits = 0, misses = 0, stale = 0, bypass = 0;
    std::uint64_t loads = 0, load_errors = 0, collapsed = 0, lock_waits = 0;
    std::uint64_t early_refreshes = 0, fallbacks = 0, follower_timeouts = 0;
  };

  // `locks`: single flight across nodes through Redis (null: per node only).
  Cache(Store& store, const core::Clock& clock, core::Random& random, CacheOptions options = {},
        redis::Client* locks = nullptr, const std::string& name = "app",
        metrics::Registry& registry = metrics::Registry::global());
  ~Cache();
  Cache(const Cache&) = delete;
  Cache& operator=(const Cache&) = delete;

  // The value under key, computed by `loader` when it must be. Errors: the loader's (when no
  // stale value may stand in), or Errc::not_found from a cached negative entry.
  boost::asio::awaitable<Result<Lookup>> get_or_compute(std::string_view key, Duration ttl,
                                                        Loader loader,
                                                        std::vector<std::string> tags = {});
  boost::asio::awaitable<Result<bool>> invalidate(std::string_view key);
  boost::asio::awaitable<Result<std::size_t>> invalidate_tag(std::string_view tag);

  Stats stats() const;
  Store& store() { return store_; }

 private:
  struct Flight;
  struct Counters;
  boost::asio::awaitable<Result<Lookup>> load_once(std::string key, Duration ttl,
                                                   const Loader& loader,
                                                   std::vector<std::string> tags, EntryPtr stale);
  boost::asio::awaitable<Result<Lookup>> follow(std::shared_ptr<Flight> flight, std::string key,
                                                Duration ttl, const Loader& loader,
                                                std::vector<std::string> tags, EntryPtr stale);
  boost::asio::awaitable<Result<Lookup>> load_and_store(const std::string& key, Duration ttl,
                                                        const Loader& loader,
                                                        const std::vector<std::string>& tags,
                                                        const EntryPtr& stale);
  boost::asio::awaitable<std::optional<Result<Lookup>>> wait_for_other_node(const std::string& key,
                                                                            std::string& token);
  boost::asio::awaitable<void> release_lock(const std::string& key, const std::string& token);
  // The shared store's entry when it is newer than `seen` (fresh, when nothing was seen).
  boost::asio::awaitable<std::optional<EntryPtr>> newer_than(const std::string& key,
                                                             const EntryPtr& seen);
  bool refresh_early(const Entry& e, TimePoint now);
  Duration jittered(Duration ttl);
  Result<Lookup> from_entry(const Entry& e, Outcome outcome) const;

  Store& store_;
  const core::Clock& clock_;
  core::Random& random_;
  const CacheOptions options_;
  redis::Client* locks_;
  std::unique_ptr<Counters> counters_;
  core::Mutex flights_mu_;  // misses only
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights_ GUARDED_BY(flights_mu_);
};

}  // namespace tenx::cache
