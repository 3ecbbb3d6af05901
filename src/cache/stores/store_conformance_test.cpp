// One suite, every Store: memory, Redis (a private redis-server), and tiered (memory in front
// of Redis with its subscription live). Time is a ManualClock shared by the stores, so TTLs
// are tested without sleeping (RedisStore compares the stored times with that clock).
#include "cache/stores/memory_store.h"
#include "cache/stores/redis_store.h"
#include "cache/stores/tiered_store.h"
#include "redis/client.h"
#include "redis/testing/redis_server.h"

#include "http/test_harness.h"

#include <gtest/gtest.h>

namespace tenx::cache {
namespace {

namespace asio = boost::asio;
using http::test_support::TestRuntime;
using namespace std::chrono_literals;

constexpr std::size_t kMaxEntry = 64 << 10;

class StoreConformance : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    rt_.start();
    MemoryStoreOptions mo;
    mo.capacity_bytes = 8 << 20;
    mo.max_entry_bytes = kMaxEntry;
    memory_ = std::make_unique<MemoryStore>(clock_, mo);
    if (GetParam() == "memory") {
      store_ = memory_.get();
      return;
    }
    server_ = std::make_unique<redis::testing::RedisServer>();
    client_ = std::make_unique<redis::Client>(redis::testing::quick_options(server_->url()));
    RedisStoreOptions ro;
    ro.max_entry_bytes = kMaxEntry;
    redis_ = std::make_unique<RedisStore>(*client_, clock_, ro);
    if (GetParam() == "redis") {
      store_ = redis_.get();
      return;
    }
    TieredStoreOptions to;
    to.on_event = [changes = changes_] { changes.changed(); };
    tiered_ = std::make_unique<TieredStore>(*memory_, *redis_, *client_, to);
    rt_.on_loop([&]() -> asio::awaitable<void> {
      tiered_->start(rt_.runtime().poller(0), redis::testing::quick_options(server_->url()),
                     client_->metrics());
      co_return;
    });
    ASSERT_TRUE(changes_.wait_until([&] { return tiered_->coherent(); }))
        << "the subscription went live";
    store_ = tiered_.get();
  }
  void TearDown() override {
    if (tiered_) {
      rt_.on_loop([&]() -> asio::awaitable<void> {
        tiered_->stop();
        co_return;
      });
    }
    if (client_) client_->close();
    rt_.stop();
  }

  Entry entry(std::string value, Duration ttl = 1h, std::vector<std::string> tags = {}) {
    Entry e;
    e.value = std::move(value);
    e.fresh_until = clock_.now() + ttl;
    e.keep_until = e.fresh_until + 30s;
    e.compute_time = 3ms;
    e.tags = std::move(tags);
    return e;
  }
  Result<EntryPtr> get(const std::string& key) {
    return rt_.on_loop([&] { return store_->get(key); });
  }
  Result<bool> put(const std::string& key, Entry e) {
    return rt_.on_loop([&] { return store_->put(key, std::move(e)); });
  }
  Result<bool> erase(const std::string& key) {
    return rt_.on_loop([&] { return store_->erase(key); });
  }
  Result<std::size_t> erase_tag(const std::string& tag) {
    return rt_.on_loop([&] { return store_->erase_tag(tag); });
  }
  // Present (not an error, not null).
  bool has(const std::string& key) {
    auto r = get(key);
    EXPECT_TRUE(r) << r.error().message();
    return r && *r;
  }

  core::ManualClock clock_;
  http::test_support::Changes changes_;
  TestRuntime rt_;
  std::unique_ptr<MemoryStore> memory_;
  std::unique_ptr<redis::testing::RedisServer> server_;
  std::unique_ptr<redis::Client> client_;
  std::unique_ptr<RedisStore> redis_;
  std::unique_ptr<TieredStore> tiered_;
  Store* store_ = nullptr;
};

TEST_P(StoreConformance, AMissIsEmptyNotAnError) {
  auto r = get("absent");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(*r);
}

TEST_P(StoreConformance, ReturnsTheValueWithItsTimesAndTags) {
  const auto e = entry(std::string("bin\0ary\r\n", 9), 10s, {"user:1", "feed"});
  ASSERT_TRUE(put("k", e).value());
  auto r = get("k");
  ASSERT_TRUE(r && *r);
  const Entry& got = **r;
  EXPECT_EQ(got.value, e.value);
  EXPECT_EQ(got.tags, e.tags);
  EXPECT_FALSE(got.negative);
  // Redis keeps milliseconds (and wall time): equal to the millisecond.
  EXPECT_LE(std::chrono::abs(got.fresh_until - e.fresh_until), 1ms);
  EXPECT_LE(std::chrono::abs(got.keep_until - e.keep_until), 1ms);
  EXPECT_LE(std::chrono::abs(got.compute_time - e.compute_time), 1ms);
}

TEST_P(StoreConformance, ANegativeEntryStaysNegative) {
  Entry e = entry("");
  e.negative = true;
  ASSERT_TRUE(put("gone", e).value());
  auto r = get("gone");
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE((*r)->negative);
}

TEST_P(StoreConformance, OverwriteReplacesTheValue) {
  ASSERT_TRUE(put("k", entry("one")).value());
  ASSERT_TRUE(put("k", entry("two")).value());
  auto r = get("k");
  ASSERT_TRUE(r && *r);
  EXPECT_EQ((*r)->value, "two");
}

TEST_P(StoreConformance, EraseForgetsAndSaysWhetherItWasThere) {
  ASSERT_TRUE(put("k", entry("v")).value());
  auto first = erase("k");
  ASSERT_TRUE(first);
  EXPECT_TRUE(*first);
  EXPECT_FALSE(has("k"));
  auto second = erase("k");
  ASSERT_TRUE(second);
  EXPECT_FALSE(*second);
}

TEST_P(StoreConformance, AnEntryIsKeptUntilKeepUntilOnTheManualClock) {
  Entry e = entry("v", 10s);
  e.keep_until = e.fresh_until + 5s;  // stale for 5 s, then gone
  ASSERT_TRUE(put("k", e).value());
  clock_.advance(12s);
  EXPECT_TRUE(has("k")) << "stale, still kept (stale-if-error is the caller's choice)";
  clock_.advance(4s);
  EXPECT_FALSE(has("k")) << "past keep_until";
}

// read_local: this process's copy, or false; never a value get() would not return.
TEST_P(StoreConformance, ReadLocalSeesWhatGetSeesOrNothing) {
  ASSERT_TRUE(put("k", entry("v", 10s)).value());
  ASSERT_TRUE(has("k"));  // a tiered store copies into memory on put or on this get
  std::string seen;
  auto read_local = [&] {
    seen.clear();
    return store_->read_local("k", [&](const Entry& e) { seen = e.value; });
  };
  const bool has_memory = GetParam() != std::string("redis");
  EXPECT_EQ(read_local(), has_memory);
  EXPECT_EQ(seen, has_memory ? "v" : "");
  clock_.advance(41s);  // past keep_until (fresh 10 s + kept 30 s)
  EXPECT_FALSE(read_local());
  EXPECT_EQ(seen, "");
  ASSERT_TRUE(put("k", entry("w")).value());
  ASSERT_TRUE(erase("k").value());
  EXPECT_FALSE(read_local()) << "erased";
}

TEST_P(StoreConformance, AnAlreadyExpiredEntryIsNotReturned) {
  Entry e = entry("v");
  e.fresh_until = e.keep_until = clock_.now() - 1s;
  put("k", e);
  EXPECT_FALSE(has("k"));
}

TEST_P(StoreConformance, EraseTagDropsEveryEntryCarryingItAndOnlyThose) {
  ASSERT_TRUE(put("a", entry("1", 1h, {"user:1"})).value());
  ASSERT_TRUE(put("b", entry("2", 1h, {"user:1", "user:2"})).value());
  ASSERT_TRUE(put("c", entry("3", 1h, {"user:2"})).value());
  ASSERT_TRUE(put("d", entry("4")).value());
  auto n = erase_tag("user:1");
  ASSERT_TRUE(n) << n.error().message();
  EXPECT_EQ(*n, 2u);
  EXPECT_FALSE(has("a"));
  EXPECT_FALSE(has("b"));
  EXPECT_TRUE(has("c"));
  EXPECT_TRUE(has("d"));
  EXPECT_EQ(erase_tag("nobody").value(), 0u);
}

TEST_P(StoreConformance, GetManyHasOneSlotPerKeyInOrder) {
  ASSERT_TRUE(put("x", entry("X")).value());
  ASSERT_TRUE(put("z", entry("Z")).value());
  const std::vector<std::string> keys{"x", "y", "z"};
  auto r = rt_.on_loop([&] { return store_->get_many(keys); });
  ASSERT_TRUE(r) << r.error().message();
  ASSERT_EQ(r->size(), 3u);
  ASSERT_TRUE((*r)[0]);
  EXPECT_EQ((*r)[0]->value, "X");
  EXPECT_FALSE((*r)[1]);
  ASSERT_TRUE((*r)[2]);
  EXPECT_EQ((*r)[2]->value, "Z");
}

TEST_P(StoreConformance, EntriesOverTheSizeLimitAreRefusedNotStored) {
  ASSERT_TRUE(put("big", entry("small")).value());
  auto r = put("big", entry(std::string(kMaxEntry + 1, 'x')));
  ASSERT_TRUE(r) << "a refusal is not an error";
  EXPECT_FALSE(*r);
  auto got = get("big");
  ASSERT_TRUE(got);
  if (*got) {
    EXPECT_EQ((*got)->value, "small") << "if anything is there, it is not the refused value";
  }
}

INSTANTIATE_TEST_SUITE_P(Stores, StoreConformance, ::testing::Values("memory", "redis", "tiered"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace tenx::cache
