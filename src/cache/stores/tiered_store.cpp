#include "cache/stores/tiered_store.h"

#include "core/log.h"
#include "core/random.h"
#include "redis/client.h"
#include "redis/subscriber.h"

#include <fmt/format.h>

namespace tenx::cache {

namespace asio = boost::asio;

TieredStore::TieredStore(MemoryStore& memory, RedisStore& redis, redis::Client& client,
                         TieredStoreOptions options)
    : memory_(memory),
      redis_(redis),
      client_(client),
      options_(std::move(options)),
      node_(fmt::format("{:016x}", core::SystemRandom::instance().bits())) {}

TieredStore::~TieredStore() = default;

void TieredStore::start(core::Poller& poller, const redis::Options& options,
                        redis::Metrics& metrics) {
  redis::Subscriber::Handlers h;
  h.on_message = [this](std::string_view, std::string_view message) {
    on_message(message);
    if (options_.on_event) options_.on_event();
  };
  // Confirmed: messages from now on arrive. Whatever memory holds may predate a missed one.
  h.on_subscribed = [this] {
    drop_memory_tier();
    live_.store(true, std::memory_order_release);
    TENX_LOG_INFO("cache: invalidations subscribed ({}); memory tier in use", options_.channel);
    if (options_.on_event) options_.on_event();
  };
  h.on_lost = [this] {
    live_.store(false, std::memory_order_release);
    drop_memory_tier();
    TENX_LOG_WARN("cache: invalidation subscription lost; memory tier cleared and bypassed");
    if (options_.on_event) options_.on_event();
  };
  subscriber_ = std::make_unique<redis::Subscriber>(
      poller, options, std::vector<std::string>{options_.channel}, std::move(h), metrics);
  subscriber_->start();
}

void TieredStore::stop() {
  live_.store(false, std::memory_order_release);
  subscriber_.reset();
  drop_memory_tier();
}

void TieredStore::drop_memory_tier() {
  generation_.fetch_add(1, std::memory_order_acq_rel);
  memory_.clear();
  ++clears_;
}

TieredStore::Stats TieredStore::stats() const {
  return Stats{received_.load(), clears_.load(), skipped_.load()};
}

// "<node> k:<key>" or "<node> t:<tag>"; anything else is ignored (another program's message).
void TieredStore::on_message(std::string_view message) {
  const auto space = message.find(' ');
  if (space == std::string_view::npos) return;
  if (message.substr(0, space) == node_) return;  // ours: applied when sent
  const auto body = message.substr(space + 1);
  if (body.size() < 2 || body[1] != ':') return;
  generation_.fetch_add(1, std::memory_order_acq_rel);
  ++received_;
  TENX_LOG_DEBUG("cache: dropped {} (from node {})", body, message.substr(0, space));
  if (body[0] == 'k')
    memory_.remove(body.substr(2));
  else if (body[0] == 't')
    memory_.remove_tag(body.substr(2));
}

void TieredStore::copy_to_memory(std::string_view key, const EntryPtr& e,
                                 std::uint64_t generation) {
  if (!e || !coherent()) return;
  if (generation_.load(std::memory_order_acquire) != generation) {
    ++skipped_;
    return;
  }
  memory_.insert(key, e);
  // An invalidation may have landed between the check and the insert: undo, to be safe.
  if (generation_.load(std::memory_order_acquire) != generation) {
    memory_.remove(key);
    ++skipped_;
  }
}

asio::awaitable<void> TieredStore::publish(char kind, std::string_view name) {
  std::string message = node_;
  message += ' ';
  message += kind;
  message += ':';
  message += name;
  // Best effort: a node that misses it is one whose subscription dropped, and that node does
  // not use its memory tier until it is back (and cleared).
  co_await client_.call(redis::Command("PUBLISH", options_.channel, message));
}

asio::awaitable<Result<EntryPtr>> TieredStore::get(std::string_view key_view) {
  const std::string key(key_view);
  if (coherent()) {
    if (auto e = memory_.lookup(key)) co_return e;
  }
  const auto generation = generation_.load(std::memory_order_acquire);
  auto r = co_await redis_.get(key);
  if (r) copy_to_memory(key, *r, generation);
  co_return r;
}

asio::awaitable<Result<EntryPtr>> TieredStore::get_shared(std::string_view key_view) {
  const std::string key(key_view);
  const auto generation = generation_.load(std::memory_order_acquire);
  auto r = co_await redis_.get(key);
  if (r && *r) {
    memory_.remove(key);  // older than what Redis holds, or the same
    copy_to_memory(key, *r, generation);
  }
  co_return r;
}

asio::awaitable<Result<std::vector<EntryPtr>>> TieredStore::get_many(
    std::span<const std::string> keys) {
  std::vector<EntryPtr> out(keys.size());
  std::vector<std::string> missing;
  std::vector<std::size_t> slots;
  const bool use_memory = coherent();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (use_memory) out[i] = memory_.lookup(keys[i]);
    if (!out[i]) {
      missing.push_back(keys[i]);
      slots.push_back(i);
    }
  }
  if (missing.empty()) co_return out;
  const auto generation = generation_.load(std::memory_order_acquire);
  auto r = co_await redis_.get_many(missing);
  if (!r) co_return r.error();
  for (std::size_t j = 0; j < slots.size(); ++j) {
    out[slots[j]] = (*r)[j];
    copy_to_memory(missing[j], (*r)[j], generation);
  }
  co_return out;
}

asio::awaitable<Result<bool>> TieredStore::put(std::string_view key_view, Entry entry) {
  const std::string key(key_view);
  auto shared = std::make_shared<const Entry>(std::move(entry));
  auto stored = co_await redis_.put(key, *shared);
  if (!stored || !*stored) {
    memory_.remove(key);  // whatever memory had is older than what the caller meant to store
    co_return stored;
  }
  // Reads in flight on this node may carry the older value: they must not copy it over ours.
  generation_.fetch_add(1, std::memory_order_acq_rel);
  if (coherent()) memory_.insert(key, shared);
  co_await publish('k', key);
  co_return true;
}

asio::awaitable<Result<bool>> TieredStore::erase(std::string_view key_view) {
  const std::string key(key_view);
  generation_.fetch_add(1, std::memory_order_acq_rel);  // reads in flight: no copy back
  const bool in_memory = memory_.remove(key);
  auto r = co_await redis_.erase(key);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  memory_.remove(key);
  co_await publish('k', key);
  if (!r) co_return r;
  co_return *r || in_memory;
}

asio::awaitable<Result<std::size_t>> TieredStore::erase_tag(std::string_view tag_view) {
  const std::string tag(tag_view);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  memory_.remove_tag(tag);
  auto r = co_await redis_.erase_tag(tag);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  memory_.remove_tag(tag);
  co_await publish('t', tag);
  co_return r;
}

}  // namespace tenx::cache
