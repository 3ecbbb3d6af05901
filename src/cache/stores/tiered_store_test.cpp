// Two nodes (two TieredStores with their own clients and memory tiers) sharing one private
// redis-server: invalidations reach the other node's memory tier, and a node whose subscription
// dropped (CLIENT KILL TYPE pubsub, a Redis restart) serves nothing its memory held before.
#include "cache/stores/tiered_store.h"
#include "redis/client.h"
#include "redis/testing/redis_server.h"

#include "http/test_harness.h"

#include <gtest/gtest.h>

namespace tenx::cache {
namespace {

namespace asio = boost::asio;
using http::test_support::kWait;
using http::test_support::TestRuntime;
using namespace std::chrono_literals;

// Both nodes' subscriptions report every change they make (a message applied, live, lost): the
// test waits on those, not on a clock.
TieredStoreOptions reporting_to(const http::test_support::Changes& changes) {
  TieredStoreOptions o;
  o.on_event = [changes] { changes.changed(); };
  return o;
}

struct Node {
  Node(const std::string& url, const core::Clock& clock, std::chrono::milliseconds reconnect,
       const http::test_support::Changes& changes)
      : client(redis::testing::quick_options(url)),
        memory(clock, MemoryStoreOptions{}),
        redis(client, clock),
        tiered(memory, redis, client, reporting_to(changes)),
        reconnect(reconnect) {}
  redis::Client client;
  MemoryStore memory;
  RedisStore redis;
  TieredStore tiered;
  std::chrono::milliseconds reconnect;
};

class TieredStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rt_.start();
    a_ = std::make_unique<Node>(server_.url(), clock_, 5ms, changes_);
    // B reconnects its subscription slowly, so the gap after a drop can be observed.
    b_ = std::make_unique<Node>(server_.url(), clock_, 300ms, changes_);
    for (Node* n : {a_.get(), b_.get()}) {
      rt_.on_loop([&]() -> asio::awaitable<void> {
        n->tiered.start(rt_.runtime().poller(0),
                        redis::testing::quick_options(server_.url(), n->reconnect),
                        n->client.metrics());
        co_return;
      });
      ASSERT_TRUE(settled([&] { return n->tiered.coherent(); }));
    }
  }
  void TearDown() override {
    for (Node* n : {a_.get(), b_.get()}) {
      rt_.on_loop([&]() -> asio::awaitable<void> {
        n->tiered.stop();
        co_return;
      });
      n->client.close();
    }
    rt_.stop();
  }
  Entry entry(std::string v) {
    Entry e;
    e.value = std::move(v);
    e.fresh_until = clock_.now() + 1h;
    e.keep_until = e.fresh_until;
    e.tags = {"user:1"};
    return e;
  }
  void put(Node& n, const std::string& k, const std::string& v) {
    auto r = rt_.on_loop([&] { return n.tiered.put(k, entry(v)); });
    ASSERT_TRUE(r && *r);
  }
  // A put on A, then B has applied its message (a put always publishes): B's later reads are
  // not raced by that message dropping what they copied.
  void put_settled(const std::string& k, const std::string& v) {
    const auto before = b_->tiered.stats().invalidations_received;
    put(*a_, k, v);
    ASSERT_TRUE(settled([&] { return b_->tiered.stats().invalidations_received > before; }));
  }
  std::string get(Node& n, const std::string& k) {
    auto r = rt_.on_loop([&] { return n.tiered.get(k); });
    EXPECT_TRUE(r) << r.error().message();
    return r && *r ? (*r)->value : "<none>";
  }
  void erase(Node& n, const std::string& k) {
    auto r = rt_.on_loop([&] { return n.tiered.erase(k); });
    ASSERT_TRUE(r);
  }
  bool in_memory(Node& n, const std::string& k) { return n.memory.lookup(k) != nullptr; }
  // Waits until pred holds, re-checked after each change a subscription makes.
  template <class Pred>
  bool settled(Pred pred) {
    return changes_.wait_until(pred);
  }

  core::ManualClock clock_;
  http::test_support::Changes changes_;
  redis::testing::RedisServer server_;
  TestRuntime rt_;
  std::unique_ptr<Node> a_, b_;
};

TEST_F(TieredStoreTest, AReadCopiesIntoMemoryAndTheNextIsServedFromIt) {
  put_settled("k", "v1");
  EXPECT_FALSE(in_memory(*b_, "k"));
  EXPECT_EQ(get(*b_, "k"), "v1");
  EXPECT_TRUE(in_memory(*b_, "k"));
  server_.command({"DEL", "tenx:c:k"});  // behind the store's back: memory still answers
  EXPECT_EQ(get(*b_, "k"), "v1");
}

TEST_F(TieredStoreTest, AnEraseOnOneNodeDropsTheOthersMemoryCopy) {
  put_settled("k", "v1");
  EXPECT_EQ(get(*b_, "k"), "v1");
  ASSERT_TRUE(in_memory(*b_, "k"));
  erase(*a_, "k");
  ASSERT_TRUE(settled([&] { return !in_memory(*b_, "k"); })) << "the message reached B";
  EXPECT_EQ(get(*b_, "k"), "<none>");
  EXPECT_GE(b_->tiered.stats().invalidations_received, 1u);
}

TEST_F(TieredStoreTest, APutOnOneNodeReplacesTheOthersOlderCopy) {
  put_settled("k", "v1");
  EXPECT_EQ(get(*b_, "k"), "v1");
  put(*a_, "k", "v2");
  ASSERT_TRUE(settled([&] { return !in_memory(*b_, "k"); }));
  EXPECT_EQ(get(*b_, "k"), "v2");
}

TEST_F(TieredStoreTest, ATagEraseReachesTheOtherNode) {
  put_settled("k1", "v");
  put_settled("k2", "v");
  EXPECT_EQ(get(*b_, "k1"), "v");
  EXPECT_EQ(get(*b_, "k2"), "v");
  auto n = rt_.on_loop([&] { return a_->tiered.erase_tag("user:1"); });
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2u);
  ASSERT_TRUE(settled([&] { return !in_memory(*b_, "k1") && !in_memory(*b_, "k2"); }));
}

TEST_F(TieredStoreTest, ANodeWhoseSubscriptionDroppedServesNothingItsMemoryHeld) {
  put_settled("k", "v1");
  EXPECT_EQ(get(*b_, "k"), "v1");
  ASSERT_TRUE(in_memory(*b_, "k"));
  server_.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  ASSERT_TRUE(settled([&] { return !b_->tiered.coherent(); }));
  EXPECT_FALSE(in_memory(*b_, "k")) << "cleared when the subscription dropped";
  // A's erase is published while B cannot hear it.
  ASSERT_TRUE(settled([&] { return a_->tiered.coherent(); }));
  erase(*a_, "k");
  EXPECT_EQ(get(*b_, "k"), "<none>") << "B reads Redis while it is deaf";
  // Something lands in B's memory during the gap (a read that raced the drop): the
  // confirmation of the new subscription clears it.
  b_->memory.insert("stale", entry("old"));
  ASSERT_TRUE(settled([&] { return b_->tiered.coherent(); }));
  EXPECT_FALSE(in_memory(*b_, "stale")) << "cleared when the subscription came back";
  // Coherent again: invalidations work.
  put_settled("k", "v2");
  EXPECT_EQ(get(*b_, "k"), "v2");
  put(*a_, "k", "v3");
  ASSERT_TRUE(settled([&] { return !in_memory(*b_, "k"); }));
  EXPECT_EQ(get(*b_, "k"), "v3");
}

TEST_F(TieredStoreTest, ARedisRestartClearsTheMemoryTier) {
  put_settled("k", "v1");
  EXPECT_EQ(get(*b_, "k"), "v1");
  const auto clears = b_->tiered.stats().memory_clears;
  server_.restart();  // no persistence: Redis comes back empty
  ASSERT_TRUE(settled([&] { return b_->tiered.stats().memory_clears >= clears + 2; }))
      << "cleared at the drop and at the new confirmation";
  ASSERT_TRUE(settled([&] { return b_->tiered.coherent(); }));
  // B's data connection reconnects on its own schedule (5 ms backoff): a read in the backoff
  // fails at once (Errc::disconnected), the first one after it waits for the connection.
  Result<EntryPtr> r = make_error_code(core::Errc::internal);
  for (int attempt = 0; attempt < 100'000 && !r; ++attempt)
    r = rt_.on_loop([&] { return b_->tiered.get("k"); });
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_FALSE(*r) << "what B's memory held before the restart is not served";
}

TEST_F(TieredStoreTest, RedisDownIsAnErrorNotAStaleMemoryAnswer) {
  put(*a_, "k", "v1");
  EXPECT_EQ(get(*a_, "k"), "v1");
  server_.stop();
  ASSERT_TRUE(settled([&] { return !a_->tiered.coherent(); }));
  auto r = rt_.on_loop([&] { return a_->tiered.get("k"); });
  EXPECT_FALSE(r) << "the caller (Cache) fails open to its loader";
  server_.start();
}

}  // namespace
}  // namespace tenx::cache
