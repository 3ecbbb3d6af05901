#include "cache/cache.h"

#include "redis/client.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

namespace tenx::cache {

namespace asio = boost::asio;

std::string_view outcome_name(Outcome o) {
  switch (o) {
    case Outcome::hit:
      return "HIT";
    case Outcome::miss:
      return "MISS";
    case Outcome::stale:
      return "STALE";
    case Outcome::bypass:
      return "BYPASS";
  }
  return "MISS";
}

namespace {
// Released only by the node that holds it: a leader whose lock expired while it loaded must
// not delete the next leader's.
const redis::Script& unlock_script() {
  static const redis::Script s(
      "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end "
      "return 0");
  return s;
}

std::string lock_key(std::string_view key) { return "tenx:lock:" + std::string(key); }

std::int64_t to_ms(Duration d) {
  return std::max<std::int64_t>(1,
                                std::chrono::duration_cast<std::chrono::milliseconds>(d).count());
}

asio::awaitable<void> pause(Duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}
}  // namespace

// ---- counters ----

struct Cache::Counters {
  Counters(metrics::Registry& r, const std::string& name)
      : requests(
            r.counter("cache_requests_total", "Cache lookups by outcome.", {"cache", "outcome"})),
        hit(requests.series({name, "hit"})),
        miss(requests.series({name, "miss"})),
        stale_s(requests.series({name, "stale"})),
        bypass_s(requests.series({name, "bypass"})),
        load_ok(r.counter("cache_loads_total", "Loader runs by result.", {"cache", "result"})
                    .series({name, "ok"})),
        load_error(r.counter("cache_loads_total", "Loader runs by result.", {"cache", "result"})
                       .series({name, "error"})),
        load_time(r.histogram("cache_load_duration_seconds", "Loader run time.", {"cache"})
                      .series({name})),
        collapsed_s(r.counter("cache_collapsed_total",
                              "Callers served by another caller's load on this node.", {"cache"})
                        .series({name})),
        lock_waits_s(r.counter("cache_lock_waits_total",
                               "Misses that waited for another node's load (Redis lock).",
                               {"cache"})
                         .series({name})),
        early_s(r.counter("cache_early_refreshes_total",
                          "Values recomputed before expiry (XFetch).", {"cache"})
                    .series({name})),
        fallbacks_s(r.counter("cache_fallbacks_total",
                              "Store or lock errors answered by the loader (fail-open).", {"cache"})
                        .series({name})),
        follower_timeouts_s(r.counter("cache_follower_timeouts_total",
                                      "Waiters that gave up on another caller's load.", {"cache"})
                                .series({name})) {}
  metrics::Family& requests;
  metrics::Series hit, miss, stale_s, bypass_s, load_ok, load_error, load_time, collapsed_s,
      lock_waits_s, early_s, fallbacks_s, follower_timeouts_s;
  std::atomic<std::uint64_t> hits{0}, misses{0}, stale{0}, bypass{0}, loads{0}, load_errors{0},
      collapsed{0}, lock_waits{0}, early_refreshes{0}, fallbacks{0}, follower_timeouts{0};

  void count(Outcome o) {
    switch (o) {
      case Outcome::hit:
        ++hits;
        hit.inc();
        break;
      case Outcome::miss:
        ++misses;
        miss.inc();
        break;
      case Outcome::stale:
        ++stale;
        stale_s.inc();
        break;
      case Outcome::bypass:
        ++bypass;
        bypass_s.inc();
        break;
    }
  }
  void fallback() {
    ++fallbacks;
    fallbacks_s.inc();
  }
};

// One load in progress on this node, and the callers waiting for it (on any loop).
struct Cache::Flight {
  struct Waiter {
    explicit Waiter(const asio::any_io_executor& ex) : timer(ex) {}
    asio::steady_timer timer;  // cancelled (on its own loop) when the result is in
  };
  core::Mutex mu;
  bool done GUARDED_BY(mu) = false;
  Result<Lookup> result GUARDED_BY(mu) = make_error_code(core::Errc::internal);
  std::vector<std::shared_ptr<Waiter>> waiters GUARDED_BY(mu);

  void finish(const Result<Lookup>& r) {
    std::vector<std::shared_ptr<Waiter>> wake;
    {
      core::MutexLock lock(mu);
      done = true;
      result = r;
      wake.swap(waiters);
    }
    // A timer is not thread-safe: each is cancelled on its own loop. The shared_ptr keeps it
    // alive if its waiter has given up meanwhile.
    for (auto& w : wake) asio::post(w->timer.get_executor(), [w] { w->timer.cancel(); });
  }
};

Cache::Cache(Store& store, const core::Clock& clock, core::Random& random, CacheOptions options,
             redis::Client* locks, const std::string& name, metrics::Registry& registry)
    : store_(store),
      clock_(clock),
      random_(random),
      options_(options),
      locks_(locks),
      counters_(std::make_unique<Counters>(registry, name)) {}

Cache::~Cache() = default;

Cache::Stats Cache::stats() const {
  const auto& c = *counters_;
  return Stats{c.hits.load(),
               c.misses.load(),
               c.stale.load(),
               c.bypass.load(),
               c.loads.load(),
               c.load_errors.load(),
               c.collapsed.load(),
               c.lock_waits.load(),
               c.early_refreshes.load(),
               c.fallbacks.load(),
               c.follower_timeouts.load()};
}

Result<Lookup> Cache::from_entry(const Entry& e, Outcome outcome) const {
  counters_->count(outcome);
  if (e.negative) return Result<Lookup>(make_error_code(core::Errc::not_found));
  return Result<Lookup>(Lookup{e.value, outcome});
}

bool Cache::refresh_early(const Entry& e, TimePoint now) {
  if (options_.early_refresh_beta <= 0 || e.compute_time.count() <= 0) return false;
  // XFetch: -ln(u) for u in (0, 1] is an exponential draw; its mean is one compute time.
  const double u = 1.0 - random_.unit();
  const double gap = static_cast<double>(e.compute_time.count()) * options_.early_refresh_beta *
                     -std::log(std::max(u, 1e-300));
  return now + Duration(static_cast<Duration::rep>(gap)) >= e.fresh_until;
}

Duration Cache::jittered(Duration ttl) {
  const double cut = std::clamp(options_.ttl_jitter, 0.0, 1.0) * random_.unit();
  return Duration(static_cast<Duration::rep>(static_cast<double>(ttl.count()) * (1.0 - cut)));
}

asio::awaitable<Result<Lookup>> Cache::get_or_compute(std::string_view key_view, Duration ttl,
                                                      Loader loader,
                                                      std::vector<std::string> tags) {
  // A fresh hit in this process's memory is copied out under the store's read lock: no
  // coroutine frame for get(), no shared reference (Store::read_local).
  std::optional<Result<Lookup>> local;
  bool early = false;  // fresh, and this request refreshes it ahead of expiry (decided once)
  const auto seen = clock_.now();
  store_.read_local(key_view, [&](const Entry& e) {
    if (seen >= e.fresh_until) return;
    if (refresh_early(e, seen))
      early = true;
    else
      local = from_entry(e, Outcome::hit);
  });
  if (local) co_return std::move(*local);

  std::string key(key_view);
  auto got = co_await store_.get(key);
  if (!got) {
    // The store cannot answer (Redis down): fail open to the loader, uncached.
    counters_->fallback();
    auto v = co_await loader();
    (v ? counters_->load_ok : counters_->load_error).inc();
    ++(v ? counters_->loads : counters_->load_errors);
    counters_->count(Outcome::bypass);
    if (!v) co_return v.error();
    co_return Lookup{std::move(*v), Outcome::bypass};
  }
  EntryPtr current = std::move(*got);
  const auto now = clock_.now();
  if (current && now < current->fresh_until) {
    if (!early && !refresh_early(*current, now)) co_return from_entry(*current, Outcome::hit);
    {
      core::MutexLock lock(flights_mu_);
      // A refresh is already running here: everyone else keeps the current value.
      if (flights_.contains(key)) co_return from_entry(*current, Outcome::hit);
    }
    ++counters_->early_refreshes;
    counters_->early_s.inc();
  }
  co_return co_await load_once(std::move(key), ttl, loader, std::move(tags), std::move(current));
}

asio::awaitable<Result<Lookup>> Cache::load_once(std::string key, Duration ttl,
                                                 const Loader& loader,
                                                 std::vector<std::string> tags, EntryPtr stale) {
  std::shared_ptr<Flight> flight;
  bool leader = false;
  {
    core::MutexLock lock(flights_mu_);
    auto& slot = flights_[key];
    if (!slot) {
      slot = std::make_shared<Flight>();
      leader = true;
    }
    flight = slot;
  }
  if (!leader)
    co_return co_await follow(flight, key, ttl, loader, std::move(tags), std::move(stale));
  auto done = [&](const Result<Lookup>& r) {
    {
      core::MutexLock lock(flights_mu_);
      flights_.erase(key);  // callers from now on find the stored value
    }
    flight->finish(r);
  };
  try {
    auto r = co_await load_and_store(key, ttl, loader, tags, stale);
    done(r);
    co_return r;
  } catch (...) {
    done(make_error_code(core::Errc::internal));
    throw;
  }
}

asio::awaitable<Result<Lookup>> Cache::follow(std::shared_ptr<Flight> flight, std::string key,
                                              Duration ttl, const Loader& loader,
                                              std::vector<std::string> tags, EntryPtr stale) {
  auto waiter = std::make_shared<Flight::Waiter>(co_await asio::this_coro::executor);
  waiter->timer.expires_after(options_.follower_wait);
  std::optional<Result<Lookup>> result;
  {
    core::MutexLock lock(flight->mu);
    if (flight->done)
      result = flight->result;
    else
      flight->waiters.push_back(waiter);
  }
  if (!result) {
    co_await waiter->timer.async_wait(asio::as_tuple(asio::use_awaitable));
    core::MutexLock lock(flight->mu);
    if (flight->done) {
      result = flight->result;
    } else {
      std::erase(flight->waiters, waiter);
    }
  }
  if (result) {
    ++counters_->collapsed;
    counters_->collapsed_s.inc();
    co_return *result;
  }
  // The leader is taking too long (a hung loader): load ourselves rather than wait on.
  ++counters_->follower_timeouts;
  counters_->follower_timeouts_s.inc();
  co_return co_await load_and_store(key, ttl, loader, tags, stale);
}

asio::awaitable<std::optional<Result<Lookup>>> Cache::wait_for_other_node(const std::string& key,
                                                                          std::string& token) {
  const auto lk = lock_key(key);
  const auto ttl_ms = to_ms(options_.lock_ttl);
  const auto deadline = clock_.now() + options_.lock_wait;
  auto poll = options_.lock_poll_min;
  bool waited = false;
  for (;;) {
    token = fmt::format("{:016x}{:016x}", random_.bits(), random_.bits());
    auto r = co_await locks_->call(redis::Command("SET", lk, token, "NX", "PX", ttl_ms));
    if (!r) {
      // Redis unreachable: no cross-node flight, load here (fail-open).
      counters_->fallback();
      token.clear();
      co_return std::nullopt;
    }
    if (!r->is_nil()) co_return std::nullopt;  // OK: this node leads
    token.clear();
    if (!waited) {
      waited = true;
      ++counters_->lock_waits;
      counters_->lock_waits_s.inc();
    }
    if (clock_.now() >= deadline) co_return std::nullopt;  // waited enough: load here
    co_await pause(poll);
    poll = std::min(poll * 2, options_.lock_poll_max);
    auto got = co_await store_.get(key);
    if (got && *got && clock_.now() < (*got)->fresh_until)
      co_return std::optional(from_entry(**got, Outcome::miss));  // another node's load
  }
}

asio::awaitable<std::optional<EntryPtr>> Cache::newer_than(const std::string& key,
                                                           const EntryPtr& seen) {
  auto got = co_await store_.get_shared(key);
  if (!got || !*got) co_return std::nullopt;
  const EntryPtr& e = *got;
  const bool newer = seen ? e->fresh_until > seen->fresh_until : clock_.now() < e->fresh_until;
  if (!newer) co_return std::nullopt;
  co_return e;
}

asio::awaitable<void> Cache::release_lock(const std::string& key, const std::string& token) {
  if (token.empty()) co_return;
  const std::vector<std::string> keys{lock_key(key)}, args{token};
  auto r = co_await locks_->eval(unlock_script(), keys, args);
  if (!r || r->is_error()) counters_->fallback();  // it expires by itself (lock_ttl)
}

asio::awaitable<Result<Lookup>> Cache::load_and_store(const std::string& key, Duration ttl,
                                                      const Loader& loader,
                                                      const std::vector<std::string>& tags,
                                                      const EntryPtr& stale) {
  std::string token;
  if (locks_) {
    if (auto other = co_await wait_for_other_node(key, token)) co_return std::move(*other);
    // This node leads now. Another may have stored a newer value between our read and our lock
    // (it refreshed early, or its load finished just before we asked): use it, do not load.
    if (auto newer = co_await newer_than(key, stale)) {
      co_await release_lock(key, token);
      ++counters_->lock_waits;
      counters_->lock_waits_s.inc();
      co_return from_entry(**newer, Outcome::hit);
    }
  }
  const auto start = clock_.now();
  auto v = co_await loader();
  const auto now = clock_.now();
  counters_->load_time.observe_ns(
      static_cast<std::uint64_t>(std::max<Duration::rep>(0, (now - start).count())));
  if (!v) {
    ++counters_->load_errors;
    counters_->load_error.inc();
    if (locks_) co_await release_lock(key, token);
    if (stale && !stale->negative && now < stale->keep_until) {
      // stale-if-error: the old value, within its bound.
      counters_->count(Outcome::stale);
      co_return Lookup{stale->value, Outcome::stale};
    }
    if (options_.negative_ttl.count() > 0 && v.error() == core::Errc::not_found) {
      Entry neg;
      neg.negative = true;
      neg.fresh_until = neg.keep_until = now + options_.negative_ttl;
      neg.tags = tags;
      if (!co_await store_.put(key, std::move(neg))) counters_->fallback();
    }
    co_return v.error();
  }
  ++counters_->loads;
  counters_->load_ok.inc();
  Outcome outcome = Outcome::miss;
  if (v->size() > options_.max_value_bytes) {
    outcome = Outcome::bypass;  // served, not cached
  } else {
    Entry e;
    e.value = *v;
    e.fresh_until = now + jittered(ttl);
    e.keep_until = e.fresh_until + options_.stale_if_error;
    e.compute_time = now - start;
    e.tags = tags;
    auto put = co_await store_.put(key, std::move(e));
    if (!put) {
      counters_->fallback();
      outcome = Outcome::bypass;
    }
  }
  if (locks_) co_await release_lock(key, token);
  counters_->count(outcome);
  co_return Lookup{std::move(*v), outcome};
}

asio::awaitable<Result<bool>> Cache::invalidate(std::string_view key) {
  co_return co_await store_.erase(key);
}

asio::awaitable<Result<std::size_t>> Cache::invalidate_tag(std::string_view tag) {
  co_return co_await store_.erase_tag(tag);
}

}  // namespace tenx::cache
