#pragma once
// RedisStore: cache entries in Redis, shared by every node (redis::Client, one pipelined
// connection per event loop).
//
// Layout, under a configurable prefix (default "tenx:"):
//   <prefix>c:<key>   a string: a small binary header (format version, flags, fresh_until and
//                     keep_until as Unix milliseconds, compute time, tags) then the value;
//                     PX = keep_until, so Redis forgets it when the store would
//   <prefix>t:<tag>   a set of the keys carrying the tag; its TTL is kept at least as long as
//                     the longest-lived of them (a script, so the put is one round trip)
// Times are wall-clock milliseconds in Redis, so nodes agree; they are converted to and from
// the injected clock's monotonic time on the way (core::Clock::wall_now()).
//
// get_many is one MGET. A value that does not decode (another program's key, a future format)
// is a miss, counted. Errors are the client's (redis/errors.h): the caller fails open.
#include "cache/store.h"
#include "core/clock.h"

#include <atomic>
#include <string>

namespace tenx::redis {
class Client;
}

namespace tenx::cache {

struct RedisStoreOptions {
  std::string prefix = "tenx:";
  std::size_t max_entry_bytes = 1 << 20;  // larger entries are refused (put returns false)
};

class RedisStore final : public Store {
 public:
  RedisStore(redis::Client& client, const core::Clock& clock, RedisStoreOptions options = {});

  std::string_view name() const override { return "redis"; }
  boost::asio::awaitable<Result<EntryPtr>> get(std::string_view key) override;
  boost::asio::awaitable<Result<std::vector<EntryPtr>>> get_many(
      std::span<const std::string> keys) override;
  boost::asio::awaitable<Result<bool>> put(std::string_view key, Entry entry) override;
  boost::asio::awaitable<Result<bool>> erase(std::string_view key) override;
  boost::asio::awaitable<Result<std::size_t>> erase_tag(std::string_view tag) override;

  std::uint64_t undecodable() const { return undecodable_.load(); }

  // The stored form (exposed for the tests and the fuzz-minded: decode refuses any malformed
  // input with nullopt).
  static std::string encode(const Entry& e, const core::Clock& clock);
  static std::optional<Entry> decode(std::string_view bytes, const core::Clock& clock);

 private:
  std::string data_key(std::string_view key) const;
  std::string tag_key(std::string_view tag) const;
  EntryPtr entry_of(std::string_view bytes);

  redis::Client& client_;
  const core::Clock& clock_;
  const RedisStoreOptions options_;
  std::atomic<std::uint64_t> undecodable_{0};
};

}  // namespace tenx::cache
