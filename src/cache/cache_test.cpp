// get_or_compute: single flight on a node (500 concurrent misses, one load) and across nodes
// (two Caches sharing a private redis-server), failures reaching every waiter uncached,
// negative caching, XFetch on a manual clock, stale-if-error and its bound, fail-open when the
// store errs, values over the limit, TTL jitter.
#include "cache/cache.h"
#include "cache/stores/memory_store.h"
#include "cache/stores/redis_store.h"
#include "redis/client.h"
#include "redis/testing/redis_server.h"

#include "http/test_harness.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <functional>
#include <random>

namespace tenx::cache {
namespace {

namespace asio = boost::asio;
using http::test_support::kWait;
using http::test_support::TestRuntime;
using namespace std::chrono_literals;

using Value = Result<std::string>;

// A store that cannot answer (Redis down, as the Cache sees it).
class FailingStore final : public Store {
 public:
  std::string_view name() const override { return "failing"; }
  asio::awaitable<Result<EntryPtr>> get(std::string_view) override { co_return down(); }
  asio::awaitable<Result<std::vector<EntryPtr>>> get_many(std::span<const std::string>) override {
    co_return down();
  }
  asio::awaitable<Result<bool>> put(std::string_view, Entry) override {
    co_return store_error<bool>(down());
  }
  asio::awaitable<Result<bool>> erase(std::string_view) override {
    co_return store_error<bool>(down());
  }
  asio::awaitable<Result<std::size_t>> erase_tag(std::string_view) override { co_return down(); }

 private:
  static std::error_code down() { return make_error_code(core::Errc::unavailable); }
};

// Seeded, for steady-read simulations.
class SeededRandom final : public core::Random {
 public:
  explicit SeededRandom(std::uint64_t seed) : rng_(seed) {}
  double unit() override { return std::uniform_real_distribution<double>(0, 1)(rng_); }
  std::uint64_t bits() override { return rng_(); }

 private:
  std::mt19937_64 rng_;
};

// n get_or_compute calls on `key` started at once on the loop, caller i on cache_of(i); their
// results, once every one is in.
// after_start runs on the loop once every caller has started (and parked: on the loader, or
// waiting for it), e.g. to let the loader finish.
std::vector<Result<Lookup>> concurrently(TestRuntime& rt, int n,
                                         const std::function<Cache&(int)>& cache_of,
                                         const std::string& key, const Loader& loader,
                                         const std::function<void()>& after_start = {}) {
  std::vector<Result<Lookup>> results(static_cast<std::size_t>(n),
                                      make_error_code(core::Errc::internal));
  int answered = 0;  // on the loop only
  http::test_support::Notification all_done;
  rt.on_loop([&]() -> asio::awaitable<void> {
    for (int i = 0; i < n; ++i) {
      asio::co_spawn(
          co_await asio::this_coro::executor,
          [&, i]() -> asio::awaitable<void> {
            results[static_cast<std::size_t>(i)] =
                co_await cache_of(i).get_or_compute(key, 60s, loader);
            if (++answered == n) all_done.notify();
          },
          asio::detached);
    }
    // Posted behind the callers' starts: it runs once each has run to its first wait.
    if (after_start) asio::post(rt.loop(), after_start);
    co_return;
  });
  EXPECT_TRUE(all_done.wait());
  return results;
}

// Yields to the loop (its other work runs) until pred holds; false after kWait. For a test
// coroutine waiting on the loop's own progress (a Redis reply), which no timer stands for.
asio::awaitable<bool> until_on_loop(const std::function<bool()>& pred) {
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  }
  co_return true;
}

int count_values(const std::vector<Result<Lookup>>& results, const std::string& value) {
  int n = 0;
  for (const auto& r : results) n += r && r->value == value ? 1 : 0;
  return n;
}

MemoryStoreOptions small_memory() {
  MemoryStoreOptions o;
  o.capacity_bytes = 4 << 20;
  o.shards = 4;
  return o;
}

class CacheTest : public ::testing::Test {
 protected:
  void SetUp() override { rt_.start(); }
  void TearDown() override { rt_.stop(); }

  Cache& cache(CacheOptions o = {}) {
    cache_ = std::make_unique<Cache>(memory_, clock_, random_, o, nullptr, "test", registry_);
    return *cache_;
  }
  Result<Lookup> get(Cache& c, const std::string& key, Duration ttl, Loader loader) {
    return rt_.on_loop([&] { return c.get_or_compute(key, ttl, loader); });
  }
  // A loader that counts its runs and answers `value` (or `error`).
  Loader counting(std::string value, std::error_code error = {}, Duration advance = {}) {
    return [this, value, error, advance]() -> asio::awaitable<Value> {
      ++loads_;
      clock_.advance(advance);
      if (error) co_return error;
      co_return value;
    };
  }

  core::ManualClock clock_;
  core::SequenceRandom random_{{0.0}};  // no jitter, XFetch draws u = 1 (no early refresh)
  metrics::Registry registry_;
  MemoryStore memory_{clock_, small_memory()};
  TestRuntime rt_;
  std::unique_ptr<Cache> cache_;
  std::atomic<int> loads_{0};
};

TEST_F(CacheTest, AMissLoadsAndStoresAndTheNextCallIsAHit) {
  auto& c = cache();
  auto first = get(c, "k", 60s, counting("v"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->value, "v");
  EXPECT_EQ(first->outcome, Outcome::miss);
  auto second = get(c, "k", 60s, counting("other"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->value, "v");
  EXPECT_EQ(second->outcome, Outcome::hit);
  EXPECT_EQ(loads_, 1);
  EXPECT_EQ(outcome_name(second->outcome), "HIT");
  clock_.advance(61s);
  auto third = get(c, "k", 60s, counting("new"));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->value, "new") << "expired: loaded again";
}

TEST_F(CacheTest, FiveHundredConcurrentMissesRunTheLoaderOnce) {
  auto& c = cache();
  std::atomic<int> runs{0};
  http::test_support::Gate release;  // the load finishes once all 500 are waiting for it
  Loader slow = [&]() -> asio::awaitable<Value> {
    ++runs;
    co_await release.wait();
    co_return std::string("computed");
  };
  const auto results = concurrently(
      rt_, 500, [&](int) -> Cache& { return c; }, "hot", slow, [&] { release.open(rt_.loop()); });
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(count_values(results, "computed"), 500);
  EXPECT_EQ(c.stats().collapsed, 499u);
}

TEST_F(CacheTest, ALoaderFailureReachesEveryWaiterAndIsNotCached) {
  auto& c = cache();
  std::atomic<int> runs{0};
  http::test_support::Gate release;
  Loader failing = [&]() -> asio::awaitable<Value> {
    ++runs;
    co_await release.wait();
    co_return make_error_code(core::Errc::unavailable);
  };
  const auto results = concurrently(
      rt_, 20, [&](int) -> Cache& { return c; }, "k", failing, [&] { release.open(rt_.loop()); });
  EXPECT_EQ(runs, 1);
  int failed = 0;
  for (const auto& r : results) failed += !r && r.error() == core::Errc::unavailable ? 1 : 0;
  EXPECT_EQ(failed, 20);
  auto next = get(c, "k", 60s, counting("ok"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->value, "ok") << "the failure was not cached";
}

TEST_F(CacheTest, NotFoundIsCachedOnlyWhenAskedForItsOwnTtl) {
  auto& plain = cache();
  EXPECT_FALSE(get(plain, "u", 60s, counting("", make_error_code(core::Errc::not_found))));
  EXPECT_FALSE(get(plain, "u", 60s, counting("", make_error_code(core::Errc::not_found))));
  EXPECT_EQ(loads_, 2) << "no negative caching by default";
  memory_.clear();
  loads_ = 0;
  CacheOptions o;
  o.negative_ttl = 5s;
  auto& neg = cache(o);
  auto first = get(neg, "u", 60s, counting("", make_error_code(core::Errc::not_found)));
  ASSERT_FALSE(first);
  auto second = get(neg, "u", 60s, counting("found"));
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), core::Errc::not_found) << "remembered";
  EXPECT_EQ(loads_, 1);
  clock_.advance(6s);
  auto third = get(neg, "u", 60s, counting("found"));
  ASSERT_TRUE(third);
  EXPECT_EQ(third->value, "found");
}

TEST_F(CacheTest, XFetchRefreshesBeforeExpiryUnderSteadyReads) {
  SeededRandom rnd(42);
  CacheOptions o;
  o.ttl_jitter = 0;
  Cache c(memory_, clock_, rnd, o, nullptr, "xfetch", registry_);
  int loads = 0, loads_after_expiry = 0;
  Loader loader = [&]() -> asio::awaitable<Value> {
    ++loads;
    auto e = memory_.lookup("hot");
    if (e && clock_.now() >= e->fresh_until) ++loads_after_expiry;
    clock_.advance(2s);  // the computation takes 2 s
    co_return std::string("v");
  };
  // Reads every 100 ms for 10 TTL periods of 60 s.
  for (int i = 0; i < 6000; ++i) {
    auto r = get(c, "hot", 60s, loader);
    ASSERT_TRUE(r);
    clock_.advance(100ms);
  }
  EXPECT_EQ(loads_after_expiry, 0) << "every recomputation came before the value expired";
  EXPECT_GE(loads, 10);
  EXPECT_LE(loads, 13) << "about one refresh per period, not one per read near the end";
  EXPECT_EQ(c.stats().early_refreshes, static_cast<std::uint64_t>(loads - 1));
}

TEST_F(CacheTest, StaleIfErrorServesTheOldValueWithinItsBoundOnly) {
  CacheOptions o;
  o.ttl_jitter = 0;
  o.stale_if_error = 20s;
  auto& c = cache(o);
  ASSERT_TRUE(get(c, "k", 10s, counting("old")));
  clock_.advance(15s);  // expired, kept
  auto stale = get(c, "k", 10s, counting("", make_error_code(core::Errc::unavailable)));
  ASSERT_TRUE(stale);
  EXPECT_EQ(stale->value, "old");
  EXPECT_EQ(stale->outcome, Outcome::stale);
  EXPECT_EQ(c.stats().stale, 1u);
  clock_.advance(16s);  // 31 s after the load: past 10 + 20
  auto gone = get(c, "k", 10s, counting("", make_error_code(core::Errc::unavailable)));
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error(), core::Errc::unavailable);
}

TEST_F(CacheTest, AStoreErrorFailsOpenToTheLoaderAndIsCounted) {
  FailingStore down;
  Cache c(down, clock_, random_, {}, nullptr, "down", registry_);
  auto r = get(c, "k", 60s, counting("from the database"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "from the database");
  EXPECT_EQ(r->outcome, Outcome::bypass);
  EXPECT_EQ(c.stats().fallbacks, 1u);
  EXPECT_NE(registry_.expose().find("cache_fallbacks_total{cache=\"down\"} 1"), std::string::npos);
}

TEST_F(CacheTest, AValueOverTheLimitIsServedNotCached) {
  CacheOptions o;
  o.max_value_bytes = 100;
  auto& c = cache(o);
  auto r = get(c, "big", 60s, counting(std::string(101, 'x')));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outcome, Outcome::bypass);
  EXPECT_EQ(r->value.size(), 101u);
  ASSERT_TRUE(get(c, "big", 60s, counting(std::string(101, 'x'))));
  EXPECT_EQ(loads_, 2);
  EXPECT_EQ(memory_.stats().entries, 0u);
}

TEST_F(CacheTest, TtlsAreJitteredDown) {
  core::SequenceRandom half({0.5});
  CacheOptions o;
  o.ttl_jitter = 0.1;
  Cache c(memory_, clock_, half, o, nullptr, "jitter", registry_);
  const auto start = clock_.now();
  ASSERT_TRUE(get(c, "k", 100s, counting("v")));
  auto e = memory_.lookup("k");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->fresh_until - start, 95s) << "100 s cut by 0.1 x 0.5";
}

TEST_F(CacheTest, AWaiterGivesUpOnAHungLoaderAndLoadsItself) {
  CacheOptions o;
  o.follower_wait = 50ms;
  auto& c = cache(o);
  std::atomic<int> runs{0};
  http::test_support::Notification leading;
  http::test_support::Gate unhang;  // opened once the follower has given up
  Loader hung_once = [&]() -> asio::awaitable<Value> {
    if (++runs == 1) {
      leading.notify();
      co_await unhang.wait();
    }
    co_return std::string("v");
  };
  auto leader = rt_.spawn([&] { return c.get_or_compute("k", 60s, hung_once); });
  ASSERT_TRUE(leading.wait());
  auto follower = get(c, "k", 60s, hung_once);
  ASSERT_TRUE(follower);
  EXPECT_EQ(follower->value, "v");
  EXPECT_EQ(c.stats().follower_timeouts, 1u);
  unhang.open(rt_.loop());
  ASSERT_EQ(leader.wait_for(kWait), std::future_status::ready);
  EXPECT_EQ(runs, 2);
}

// Two nodes: two Caches, each with its own Redis client and store, sharing one redis-server
// and single flight through its lock.
class CacheAcrossNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rt_.start();
    for (int i = 0; i < 2; ++i) {
      redis::Options o;
      o.url = redis::parse_url(server_.url());
      o.command_timeout = 2s;
      clients_.push_back(std::make_unique<redis::Client>(o));
      stores_.push_back(std::make_unique<RedisStore>(*clients_.back(), clock_));
      CacheOptions co;
      co.lock_wait = 3s;
      caches_.push_back(std::make_unique<Cache>(*stores_.back(), clock_, random_, co,
                                                clients_.back().get(), "node", registry_));
    }
  }
  void TearDown() override {
    for (auto& c : clients_) c->close();
    rt_.stop();
  }
  core::SystemClock& clock_ = core::SystemClock::instance();
  core::SystemRandom& random_ = core::SystemRandom::instance();
  metrics::Registry registry_;
  redis::testing::RedisServer server_;
  TestRuntime rt_;
  std::vector<std::unique_ptr<redis::Client>> clients_;
  std::vector<std::unique_ptr<RedisStore>> stores_;
  std::vector<std::unique_ptr<Cache>> caches_;
};

TEST_F(CacheAcrossNodesTest, ConcurrentMissesOnTwoNodesRunTheLoaderOnceInAll) {
  std::atomic<int> runs{0};
  auto lock_waits = [&] { return caches_[0]->stats().lock_waits + caches_[1]->stats().lock_waits; };
  Loader slow = [&]() -> asio::awaitable<Value> {
    ++runs;
    // The leader holds the lock until the other node's leader has found it held.
    const std::function<bool()> other_waits = [&] { return lock_waits() > 0; };
    const bool held = co_await until_on_loop(other_waits);
    EXPECT_TRUE(held);
    co_return std::string("computed once");
  };
  const auto results = concurrently(
      rt_, 500, [&](int i) -> Cache& { return *caches_[static_cast<std::size_t>(i % 2)]; }, "hot",
      slow);
  EXPECT_EQ(runs, 1);
  EXPECT_EQ(count_values(results, "computed once"), 500);
  EXPECT_EQ(lock_waits(), 1u) << "one node led, the other's leader waited on the lock";
  EXPECT_EQ(server_.command({"EXISTS", "tenx:lock:hot"}), ":0\r\n") << "the lock was released";
}

// What a node's memory tier looks like before another node's invalidation has arrived: get()
// answers an older copy, get_shared() what Redis holds.
class LaggingStore final : public Store {
 public:
  LaggingStore(Store& shared, EntryPtr old) : shared_(shared), old_(std::move(old)) {}
  std::string_view name() const override { return "lagging"; }
  asio::awaitable<Result<EntryPtr>> get(std::string_view) override { co_return old_; }
  asio::awaitable<Result<EntryPtr>> get_shared(std::string_view key) override {
    return shared_.get(key);
  }
  asio::awaitable<Result<std::vector<EntryPtr>>> get_many(std::span<const std::string> k) override {
    return shared_.get_many(k);
  }
  asio::awaitable<Result<bool>> put(std::string_view key, Entry e) override {
    return shared_.put(key, std::move(e));
  }
  asio::awaitable<Result<bool>> erase(std::string_view key) override { return shared_.erase(key); }
  asio::awaitable<Result<std::size_t>> erase_tag(std::string_view t) override {
    return shared_.erase_tag(t);
  }

 private:
  Store& shared_;
  EntryPtr old_;
};

TEST_F(CacheAcrossNodesTest, ANodeThatTakesTheLockAfterAnotherRefreshedDoesNotLoadAgain) {
  // Node A has just refreshed "k" (Redis holds the new value); node B still sees the old copy,
  // near its expiry, and its XFetch draw says refresh now.
  Entry fresh;
  fresh.value = "new";
  fresh.fresh_until = clock_.now() + 60s;
  fresh.keep_until = fresh.fresh_until;
  const std::string key = "k";
  ASSERT_TRUE(rt_.on_loop([&] { return stores_[0]->put(key, fresh); }).value());
  auto old = std::make_shared<Entry>();
  old->value = "old";
  old->fresh_until = clock_.now() + 10ms;
  old->keep_until = old->fresh_until + 60s;
  old->compute_time = 1s;
  LaggingStore lagging(*stores_[1], old);
  core::SequenceRandom refresh_now({0.999999});  // -ln(1 - u) is large: refresh early
  CacheOptions co;
  co.ttl_jitter = 0;
  Cache b(lagging, clock_, refresh_now, co, clients_[1].get(), "lagging", registry_);
  int loads = 0;
  auto r = rt_.on_loop([&] {
    return b.get_or_compute(key, 60s, [&]() -> asio::awaitable<Value> {
      ++loads;
      co_return std::string("loaded again");
    });
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "new") << "the other node's refresh, read from Redis after the lock";
  EXPECT_EQ(loads, 0);
  EXPECT_EQ(b.stats().early_refreshes, 1u);
  EXPECT_EQ(server_.command({"EXISTS", "tenx:lock:k"}), ":0\r\n") << "the lock was released";
}

TEST_F(CacheAcrossNodesTest, ALockLeftByADeadNodeDelaysAtMostLockWait) {
  server_.command({"SET", "tenx:lock:k", "someone-else", "PX", "60000"});
  CacheOptions co;
  co.lock_wait = 200ms;
  Cache c(*stores_[0], clock_, random_, co, clients_[0].get(), "dead", registry_);
  const auto start = std::chrono::steady_clock::now();
  auto r = rt_.on_loop([&] {
    return c.get_or_compute("k", 60s,
                            []() -> asio::awaitable<Value> { co_return std::string("v"); });
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "v");
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_EQ(server_.command({"GET", "tenx:lock:k"}), "$12\r\nsomeone-else\r\n")
      << "another node's lock is never deleted";
}

TEST_F(CacheAcrossNodesTest, AValueThatDoesNotDecodeIsACountedMissAndIsReplaced) {
  // Another program's key, or a future format, under our prefix.
  server_.command({"SET", "tenx:c:k", "not an entry"});
  const std::string key = "k";
  auto got = rt_.on_loop([&] { return stores_[0]->get(key); });
  ASSERT_TRUE(got);
  EXPECT_FALSE(*got) << "a miss, not an error";
  EXPECT_EQ(stores_[0]->undecodable(), 1u);
  auto r = rt_.on_loop([&] {
    return caches_[0]->get_or_compute(
        key, 60s, []() -> asio::awaitable<Value> { co_return std::string("v"); });
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "v");
  auto again = rt_.on_loop([&] { return stores_[0]->get(key); });
  ASSERT_TRUE(again && *again);
  EXPECT_EQ((*again)->value, "v") << "the loaded value replaced it";
}

TEST_F(CacheAcrossNodesTest, RedisDownFailsOpenAndCountsIt) {
  server_.stop();
  auto r = rt_.on_loop([&] {
    return caches_[0]->get_or_compute(
        "k", 60s, []() -> asio::awaitable<Value> { co_return std::string("db"); });
  });
  ASSERT_TRUE(r);
  EXPECT_EQ(r->value, "db");
  EXPECT_EQ(r->outcome, Outcome::bypass);
  EXPECT_GE(caches_[0]->stats().fallbacks, 1u);
  server_.start();
}

}  // namespace
}  // namespace tenx::cache
