#include "cache/stores/redis_store.h"

#include "redis/client.h"

#include <algorithm>
#include <cstring>

namespace tenx::cache {

namespace asio = boost::asio;

namespace {
constexpr unsigned char kFormat = 1;
constexpr unsigned char kNegative = 1;

// SET with PX, then each tag set gains the key and keeps a TTL no shorter than the entry's.
const redis::Script& put_script() {
  static const redis::Script s(R"(
local ms = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ms)
for i = 2, #KEYS do
  redis.call('SADD', KEYS[i], KEYS[1])
  if redis.call('PTTL', KEYS[i]) < ms then redis.call('PEXPIRE', KEYS[i], ms) end
end
return 1)");
  return s;
}

// Deletes every key of a tag and the tag's set; returns how many keys were still there.
const redis::Script& erase_tag_script() {
  static const redis::Script s(R"(
local keys = redis.call('SMEMBERS', KEYS[1])
local n = 0
for _, k in ipairs(keys) do n = n + redis.call('DEL', k) end
redis.call('DEL', KEYS[1])
return n)");
  return s;
}

void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>((v >> (8 * i)) & 0xFF);
}
void put_u16(std::string& out, std::uint16_t v) {
  out += static_cast<char>(v & 0xFF);
  out += static_cast<char>(v >> 8);
}

class Cursor {
 public:
  explicit Cursor(std::string_view b) : b_(b) {}
  bool u8(unsigned char& v) {
    if (b_.size() < 1) return false;
    v = static_cast<unsigned char>(b_[0]);
    b_.remove_prefix(1);
    return true;
  }
  bool u16(std::uint16_t& v) {
    if (b_.size() < 2) return false;
    v = static_cast<std::uint16_t>(static_cast<unsigned char>(b_[0]) |
                                   (static_cast<unsigned char>(b_[1]) << 8));
    b_.remove_prefix(2);
    return true;
  }
  bool u64(std::uint64_t& v) {
    if (b_.size() < 8) return false;
    v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(b_[i])} << (8 * i);
    b_.remove_prefix(8);
    return true;
  }
  bool bytes(std::size_t n, std::string& out) {
    if (b_.size() < n) return false;
    out.assign(b_.substr(0, n));
    b_.remove_prefix(n);
    return true;
  }
  std::string_view rest() const { return b_; }

 private:
  std::string_view b_;
};

std::int64_t wall_ms(TimePoint t, const core::Clock& clock) {
  const auto wall =
      clock.wall_now() +
      std::chrono::duration_cast<std::chrono::system_clock::duration>(t - clock.now());
  return std::chrono::duration_cast<std::chrono::milliseconds>(wall.time_since_epoch()).count();
}

TimePoint from_wall_ms(std::int64_t ms, const core::Clock& clock) {
  const auto wall = std::chrono::system_clock::time_point(std::chrono::milliseconds(ms));
  return clock.now() + std::chrono::duration_cast<Duration>(wall - clock.wall_now());
}
}  // namespace

RedisStore::RedisStore(redis::Client& client, const core::Clock& clock, RedisStoreOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {}

std::string RedisStore::data_key(std::string_view key) const {
  return options_.prefix + "c:" + std::string(key);
}
std::string RedisStore::tag_key(std::string_view tag) const {
  return options_.prefix + "t:" + std::string(tag);
}

std::string RedisStore::encode(const Entry& e, const core::Clock& clock) {
  std::string out;
  out.reserve(32 + e.value.size());
  out += static_cast<char>(kFormat);
  out += static_cast<char>(e.negative ? kNegative : 0);
  put_u64(out, static_cast<std::uint64_t>(wall_ms(e.fresh_until, clock)));
  put_u64(out, static_cast<std::uint64_t>(wall_ms(e.keep_until, clock)));
  put_u64(out, static_cast<std::uint64_t>(
                   std::chrono::duration_cast<std::chrono::microseconds>(e.compute_time).count()));
  put_u16(out, static_cast<std::uint16_t>(std::min<std::size_t>(e.tags.size(), 0xFFFF)));
  for (std::size_t i = 0; i < e.tags.size() && i < 0xFFFF; ++i) {
    const auto& t = e.tags[i];
    put_u16(out, static_cast<std::uint16_t>(std::min<std::size_t>(t.size(), 0xFFFF)));
    out.append(t, 0, std::min<std::size_t>(t.size(), 0xFFFF));
  }
  out += e.value;
  return out;
}

std::optional<Entry> RedisStore::decode(std::string_view bytes, const core::Clock& clock) {
  Cursor c(bytes);
  unsigned char format = 0, flags = 0;
  std::uint64_t fresh = 0, keep = 0, compute_us = 0;
  std::uint16_t ntags = 0;
  if (!c.u8(format) || format != kFormat || !c.u8(flags) || (flags & ~kNegative) != 0 ||
      !c.u64(fresh) || !c.u64(keep) || !c.u64(compute_us) || !c.u16(ntags))
    return std::nullopt;
  if (keep < fresh || compute_us > (std::uint64_t{1} << 40)) return std::nullopt;
  Entry e;
  e.negative = (flags & kNegative) != 0;
  e.fresh_until = from_wall_ms(static_cast<std::int64_t>(fresh), clock);
  e.keep_until = from_wall_ms(static_cast<std::int64_t>(keep), clock);
  e.compute_time = std::chrono::microseconds(compute_us);
  for (std::uint16_t i = 0; i < ntags; ++i) {
    std::uint16_t len = 0;
    std::string tag;
    if (!c.u16(len) || !c.bytes(len, tag)) return std::nullopt;
    e.tags.push_back(std::move(tag));
  }
  e.value = std::string(c.rest());
  if (e.negative && !e.value.empty()) return std::nullopt;
  return e;
}

EntryPtr RedisStore::entry_of(std::string_view bytes) {
  auto e = decode(bytes, clock_);
  if (!e) {
    ++undecodable_;
    return nullptr;
  }
  if (clock_.now() >= e->keep_until) return nullptr;  // Redis has not dropped it yet; we do
  return std::make_shared<const Entry>(std::move(*e));
}

asio::awaitable<Result<EntryPtr>> RedisStore::get(std::string_view key) {
  auto r = co_await client_.call(redis::Command("GET", data_key(key)));
  if (!r) co_return r.error();
  if (r->is_nil()) co_return EntryPtr{};
  co_return entry_of(r->text());
}

asio::awaitable<Result<std::vector<EntryPtr>>> RedisStore::get_many(
    std::span<const std::string> keys) {
  std::vector<EntryPtr> out(keys.size());
  if (keys.empty()) co_return out;
  redis::Command cmd("MGET");
  for (const auto& k : keys) cmd.arg(data_key(k));
  auto r = co_await client_.call(std::move(cmd));
  if (!r) co_return r.error();
  if (!r->is_array() || r->elements().size() != keys.size())
    co_return make_error_code(redis::Errc::protocol);
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const auto& el = r->elements()[i];
    if (!el.is_nil()) out[i] = entry_of(el.text());
  }
  co_return out;
}

asio::awaitable<Result<bool>> RedisStore::put(std::string_view key, Entry entry) {
  const auto now = clock_.now();
  if (entry.keep_until <= now) co_return false;  // already gone
  auto bytes = encode(entry, clock_);
  if (bytes.size() + key.size() > options_.max_entry_bytes) co_return false;
  const auto ms = std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::milliseconds>(entry.keep_until - now).count());
  std::vector<std::string> keys{data_key(key)};
  for (const auto& t : entry.tags) keys.push_back(tag_key(t));
  const std::vector<std::string> args{std::move(bytes), std::to_string(ms)};
  auto r = co_await client_.eval(put_script(), keys, args);
  if (!r) co_return store_error<bool>(r.error());
  if (r->is_error()) co_return store_error<bool>(r->server_error());
  co_return true;
}

asio::awaitable<Result<bool>> RedisStore::erase(std::string_view key) {
  auto r = co_await client_.call(redis::Command("DEL", data_key(key)));
  if (!r) co_return store_error<bool>(r.error());
  co_return r->integer() > 0;
}

asio::awaitable<Result<std::size_t>> RedisStore::erase_tag(std::string_view tag) {
  const std::vector<std::string> keys{tag_key(tag)};
  auto r = co_await client_.eval(erase_tag_script(), keys, {});
  if (!r) co_return r.error();
  if (r->is_error()) co_return r->server_error();
  co_return static_cast<std::size_t>(std::max<std::int64_t>(0, r->integer()));
}

}  // namespace tenx::cache
