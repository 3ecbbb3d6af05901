#pragma once
// TieredStore: this node's MemoryStore in front of the RedisStore every node shares, kept
// coherent across nodes by Redis pub/sub.
//
//   get     memory hit → done; else Redis, and what Redis had is copied into memory (with the
//           same fresh_until / keep_until)
//   put     Redis, then memory, then PUBLISH "<node> k:<key>": the other nodes drop their copy
//   erase   Redis, memory, PUBLISH "<node> k:<key>"; erase_tag the same with "t:<tag>"
//
// Every node subscribes to the channel (redis::Subscriber, its own connection) and drops what
// a message names from its memory tier (a node ignores its own messages).
//
// Missed messages. While the subscription is not live (not yet confirmed, or its connection
// dropped: Subscriber's on_lost), this node may miss invalidations, so its memory tier is not
// used at all: reads go to Redis, nothing is copied into memory. The memory tier is cleared
// when the subscription drops and again when it is confirmed (on_subscribed), so nothing
// written before or during the gap is served after it.
//
// A read racing an invalidation: a generation counter is bumped by every invalidation this
// node applies; a Redis read copies its value into memory only if the generation did not move
// while it was in flight (the value may predate the invalidation).
//
// Threads: get/put/erase from any loop; start()/stop() on the loop whose Poller is given (the
// Subscriber lives there).
#include "cache/store.h"
#include "cache/stores/memory_store.h"
#include "cache/stores/redis_store.h"

#include <atomic>
#include <functional>
#include <memory>
#include <string>

namespace tenx::core {
class Poller;
}
namespace tenx::redis {
class Client;
class Subscriber;
struct Options;
class Metrics;
}  // namespace tenx::redis

namespace tenx::cache {

struct TieredStoreOptions {
  std::string channel = "tenx:cache:inval";
  // Called on the subscription's loop after each change the subscription makes: another
  // node's message applied, the subscription live, or lost. What a test (or anything that must
  // know when the tier has caught up) waits on instead of polling.
  std::function<void()> on_event;
};

class TieredStore final : public Store {
 public:
  struct Stats {
    std::uint64_t invalidations_received = 0;  // messages from other nodes applied
    std::uint64_t memory_clears = 0;           // subscription lost or (re)confirmed
    std::uint64_t copies_skipped = 0;          // Redis reads not copied (an invalidation raced)
  };

  TieredStore(MemoryStore& memory, RedisStore& redis, redis::Client& client,
              TieredStoreOptions options = {});
  ~TieredStore() override;
  TieredStore(const TieredStore&) = delete;
  TieredStore& operator=(const TieredStore&) = delete;

  // Starts the subscription (on the Poller's loop). Until it is confirmed the memory tier is
  // bypassed.
  void start(core::Poller& poller, const redis::Options& options, redis::Metrics& metrics);
  // Stops it (on the same loop); the memory tier is bypassed from then on.
  void stop();
  // The memory tier is in use (the subscription is live).
  bool coherent() const { return live_.load(std::memory_order_acquire); }
  Stats stats() const;

  std::string_view name() const override { return "tiered"; }
  boost::asio::awaitable<Result<EntryPtr>> get(std::string_view key) override;
  // The memory tier's copy, while the tier is coherent (as get()).
  bool read_local(std::string_view key, core::FunctionRef<void(const Entry&)> fn) override {
    return coherent() && memory_.read(key, fn);
  }
  boost::asio::awaitable<Result<EntryPtr>> get_shared(std::string_view key) override;
  boost::asio::awaitable<Result<std::vector<EntryPtr>>> get_many(
      std::span<const std::string> keys) override;
  boost::asio::awaitable<Result<bool>> put(std::string_view key, Entry entry) override;
  boost::asio::awaitable<Result<bool>> erase(std::string_view key) override;
  boost::asio::awaitable<Result<std::size_t>> erase_tag(std::string_view tag) override;

 private:
  void on_message(std::string_view message);
  void drop_memory_tier();
  // Copies an entry read from Redis into memory, unless an invalidation raced the read.
  void copy_to_memory(std::string_view key, const EntryPtr& e, std::uint64_t generation);
  boost::asio::awaitable<void> publish(char kind, std::string_view name);

  MemoryStore& memory_;
  RedisStore& redis_;
  redis::Client& client_;
  const TieredStoreOptions options_;
  const std::string node_;  // this node's id in messages
  std::unique_ptr<redis::Subscriber> subscriber_;
  std::atomic<bool> live_{false};
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<std::uint64_t> received_{0}, clears_{0}, skipped_{0};
};

}  // namespace tenx::cache
