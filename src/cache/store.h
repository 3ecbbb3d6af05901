#pragma once
// cache::Store: where cached values live, behind one interface (LevelDB's `Cache`, Envoy's
// `HttpCache`). Three implementations, one conformance suite (stores/store_conformance_test.cpp):
//
//   MemoryStore   this process's memory, bounded in bytes, W-TinyLFU admission
//   (stores/memory_store.h) RedisStore    a Redis server shared by every node
//   (stores/redis_store.h) TieredStore   memory in front of Redis (stores/tiered_store.h)
//
// An Entry has two times: `fresh_until` (its TTL: after it the value is stale) and
// `keep_until` (>= fresh_until: how long a stale value may still be served when the loader
// fails, stale-if-error). A store returns an entry until keep_until, stale or not; the caller
// (get_or_compute, cache.h) decides what stale means. Times are on the store's injected
// core::Clock (monotonic); RedisStore converts them to and from wall-clock milliseconds so
// that nodes agree.
//
// Tags name groups of entries (`user:123`): erase_tag drops every entry carrying it.
//
// Errors are values: a store that cannot answer (Redis down) returns an error_code, never
// throws; "not there" is an empty optional, not an error. Every method may be called from any
// event-loop thread; implementations say how they share state between threads.
#include "core/clock.h"
#include "core/function_ref.h"
#include "core/result.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::cache {

using TimePoint = core::Clock::time_point;
using Duration = core::Clock::duration;

struct Entry {
  std::string value;
  TimePoint fresh_until{};
  TimePoint keep_until{};  // >= fresh_until; the store forgets the entry after it
  // How long the loader took to compute the value: XFetch's delta (cache.h).
  Duration compute_time{};
  std::vector<std::string> tags;
  // A remembered failure ("no such user"), cached only when the Cache is asked to (its own
  // TTL); `value` is then empty.
  bool negative = false;
};

// An error as a Result<T>: needed for Result<bool>, which an error_code would not convert to
// (bool is constructible from it).
template <class T>
Result<T> store_error(error_code ec) {
  return Result<T>(boost::system::in_place_error, ec);
}

// Read-only view handed out on a hit: shared with the store, so a hit copies no value bytes.
using EntryPtr = std::shared_ptr<const Entry>;

class Store {
 public:
  virtual ~Store() = default;
  // "memory", "redis", "tiered": for metrics and logs.
  virtual std::string_view name() const = 0;

  // The entry under key, if present and not past keep_until.
  virtual boost::asio::awaitable<Result<EntryPtr>> get(std::string_view key) = 0;
  // The entry as every node sees it: TieredStore reads Redis, not this node's copy (which may
  // not have heard of another node's newer value yet). What a node that just took the
  // cross-node lock re-reads before it loads. Other stores: get().
  virtual boost::asio::awaitable<Result<EntryPtr>> get_shared(std::string_view key) {
    return get(key);
  }
  // This process's copy of the entry, if the store keeps one in memory and it is there (not
  // past keep_until): calls fn with it, synchronously, without taking a reference (no
  // shared_ptr copy, whose count two threads reading one hot key would both write), and
  // returns true. fn must copy what it keeps and must not call into the store. Stores without
  // a memory tier (Redis) return false: the caller goes on to get().
  virtual bool read_local(std::string_view key, core::FunctionRef<void(const Entry&)> fn) {
    (void)key;
    (void)fn;
    return false;
  }
  // Several at once (Redis: one MGET); the result has one slot per key, null for a miss.
  virtual boost::asio::awaitable<Result<std::vector<EntryPtr>>> get_many(
      std::span<const std::string> keys) = 0;
  // Stores (replacing any entry under key). A store may refuse an entry (too large, or not
  // admitted by its policy): that is success with `false`, not an error.
  virtual boost::asio::awaitable<Result<bool>> put(std::string_view key, Entry entry) = 0;
  // True when an entry was there.
  virtual boost::asio::awaitable<Result<bool>> erase(std::string_view key) = 0;
  // Drops every entry carrying the tag; returns how many were dropped.
  virtual boost::asio::awaitable<Result<std::size_t>> erase_tag(std::string_view tag) = 0;
};

}  // namespace tenx::cache
