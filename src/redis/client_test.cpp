// The client against a real redis-server (a private one per test, redis/testing/): pipelining,
// error families, fail-fast while down, reconnects, timeouts, scripts, AUTH/SELECT, pub/sub.
#include "redis/client.h"
#include "redis/errors.h"
#include "redis/subscriber.h"
#include "redis/testing/redis_server.h"

#include "http/test_harness.h"
#include "metrics/registry.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include <atomic>
#include <condition_variable>
#include <mutex>

namespace tenx::redis {
namespace {

namespace asio = boost::asio;
using http::test_support::kWait;
using http::test_support::sleep_for;
using http::test_support::TestRuntime;
using testing::RedisServer;
using namespace std::chrono_literals;

// ASSERT_* cannot return from a coroutine.
#define CO_ASSERT(cond)                \
  if (!(cond)) {                       \
    ADD_FAILURE() << "failed: " #cond; \
    co_return;                         \
  }

// Counts events from the loop; the test thread waits for a count.
class Counter {
 public:
  void inc() {
    std::lock_guard lock(mu_);
    ++n_;
    cv_.notify_all();
  }
  bool wait_for(int n) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, kWait, [&] { return n_ >= n; });
  }
  int value() {
    std::lock_guard lock(mu_);
    return n_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int n_ = 0;
};

Options options_for(const std::string& url) {
  Options o;
  o.url = parse_url(url);
  o.command_timeout = 2s;
  o.reconnect_min = 5ms;
  o.reconnect_max = 50ms;
  return o;
}

class RedisClientTest : public ::testing::Test {
 protected:
  void SetUp() override { rt_.start(); }
  void TearDown() override {
    if (client_) client_->close();
    rt_.stop();
  }
  Client& client(Options o) {
    client_ = std::make_unique<Client>(std::move(o), &metrics_);
    return *client_;
  }
  Client& client() { return client(options_for(server_.url())); }

  // Retries `cmd` until it succeeds (a reconnect in progress), bounded by kWait.
  asio::awaitable<Result<Reply>> until_ok(Client& c, Command cmd) {
    const auto until = std::chrono::steady_clock::now() + kWait;
    for (;;) {
      auto r = co_await c.exec(cmd);
      if (r || std::chrono::steady_clock::now() > until) co_return r;
      co_await sleep_for(5ms);
    }
  }

  RedisServer server_;
  metrics::Registry registry_;
  Metrics metrics_{registry_};
  TestRuntime rt_;
  std::unique_ptr<Client> client_;
};

TEST_F(RedisClientTest, StoresAndReadsBinaryValues) {
  auto& c = client();
  const std::string value("a\r\n\0b", 5);
  auto got = rt_.on_loop([&]() -> asio::awaitable<Result<Reply>> {
    auto set = co_await c.call(Command("SET", "k", value));
    EXPECT_TRUE(set && set->is_ok());
    co_return co_await c.call(Command("GET", "k"));
  });
  ASSERT_TRUE(got) << got.error().message();
  EXPECT_EQ(got->text(), value);
  EXPECT_EQ(metrics_.commands_for_test("GET", "ok"), 1);
  EXPECT_EQ(metrics_.commands_for_test("SET", "ok"), 1);
}

TEST_F(RedisClientTest, PipelinesConcurrentCommandsOnOneConnectionInOrder) {
  auto& c = client();
  constexpr int kCommands = 2000;
  auto wrong = rt_.on_loop([&]() -> asio::awaitable<int> {
    auto bad = std::make_shared<int>(0);
    auto left = std::make_shared<int>(kCommands);
    http::test_support::Gate done;
    auto& loop = rt_.loop();
    for (int i = 0; i < kCommands; ++i) {
      asio::co_spawn(
          loop,
          [&c, i, bad, left, done, &loop]() -> asio::awaitable<void> {
            const auto key = "key:" + std::to_string(i);
            auto set = co_await c.call(Command("SET", key, i));
            auto get = co_await c.call(Command("GET", key));
            if (!set || !get || get->text() != std::to_string(i)) ++*bad;
            if (--*left == 0) done.open(loop);
          },
          asio::detached);
    }
    co_await done.wait();
    co_return *bad;
  });
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(metrics_.commands_for_test("GET", "ok"), kCommands);
  EXPECT_EQ(metrics_.reconnects_for_test(), 0);
  // One connection for all of them (the client names it "tenx").
  const auto list = server_.command({"CLIENT", "LIST"});
  std::size_t named = 0;
  for (auto at = list.find("name=tenx "); at != std::string::npos;
       at = list.find("name=tenx ", at + 1))
    ++named;
  EXPECT_EQ(named, 1U) << list;
}

TEST_F(RedisClientTest, ServerErrorsAreRepliesAndTheConnectionGoesOn) {
  auto& c = client();
  rt_.on_loop([&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await c.call(Command("LPUSH", "list", "x")));
    auto r = co_await c.exec(Command("GET", "list"));
    CO_ASSERT(r);  // an error reply is not a transport error
    EXPECT_TRUE(r->is_error());
    EXPECT_EQ(r->server_error(), Errc::wrong_type);
    auto folded = co_await c.call(Command("GET", "list"));
    CO_ASSERT(!folded);
    EXPECT_EQ(folded.error(), Errc::wrong_type);
    EXPECT_TRUE(is_server(folded.error()));
    auto unknown = co_await c.call(Command("NOSUCHCOMMAND"));
    EXPECT_EQ(unknown.error(), Errc::server_error);
    auto after = co_await c.call(Command("PING"));
    EXPECT_TRUE(after && after->text() == "PONG");
  });
  EXPECT_EQ(metrics_.commands_for_test("GET", "error_reply"), 2);
}

TEST_F(RedisClientTest, FailsFastWhileDownAndReconnectsWhenTheServerIsBack) {
  auto opts = options_for(server_.url());
  opts.reconnect_min = 200ms;  // long enough that the commands below meet the backoff
  opts.reconnect_max = 200ms;
  auto& c = client(opts);
  ASSERT_TRUE(rt_.on_loop([&] { return c.call(Command("PING")); }));
  server_.stop();
  rt_.on_loop([&]() -> asio::awaitable<void> {
    // The first command may find the connection still open (lost) or already down.
    auto first = co_await c.call(Command("PING"));
    CO_ASSERT(!first);
    EXPECT_TRUE(first.error() == Errc::connection_lost || first.error() == Errc::disconnected)
        << first.error().message();
    // In backoff: every command fails at once, without waiting for the command timeout.
    for (int i = 0; i < 20; ++i) {
      auto r = co_await c.call(Command("GET", "k"));
      CO_ASSERT(!r);
      EXPECT_EQ(r.error(), Errc::disconnected);
      EXPECT_TRUE(is_transport(r.error()));
    }
  });
  EXPECT_GE(metrics_.commands_for_test("GET", "disconnected"), 20);
  server_.start();
  auto back = rt_.on_loop([&] { return until_ok(c, Command("PING")); });
  ASSERT_TRUE(back) << back.error().message();
  EXPECT_GE(metrics_.reconnects_for_test(), 1);
}

TEST_F(RedisClientTest, CommandsInFlightWhenTheConnectionDiesCompleteWithAnError) {
  auto& c = client();
  ASSERT_TRUE(rt_.on_loop([&] { return c.call(Command("PING")); }));
  auto blocked = rt_.spawn([&] { return c.exec(Command("BLPOP", "never", 20), 30s); });
  // Wait until the BLPOP is at the server, then cut the connection from the server's side.
  for (int i = 0; i < 1000; ++i) {
    if (server_.command({"CLIENT", "LIST"}).find("cmd=blpop") != std::string::npos) break;
    std::this_thread::sleep_for(2ms);
  }
  server_.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  ASSERT_EQ(blocked.wait_for(kWait), std::future_status::ready);
  auto r = blocked.get();
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::connection_lost);
  auto again = rt_.on_loop([&] { return until_ok(c, Command("PING")); });
  EXPECT_TRUE(again);
}

TEST_F(RedisClientTest, ATimedOutCommandsLateReplyIsNotGivenToTheNextCommand) {
  auto opts = options_for(server_.url());
  opts.command_timeout = 100ms;
  auto& c = client(opts);
  rt_.on_loop([&]() -> asio::awaitable<void> {
    EXPECT_TRUE(co_await c.call(Command("SET", "a", "value-of-a")));
    EXPECT_TRUE(co_await c.call(Command("SET", "b", "value-of-b")));
  });
  // Another client makes the server sleep for 300 ms: our GET a times out meanwhile.
  auto sleeper = std::thread([&] { server_.command({"DEBUG", "SLEEP", "0.3"}); });
  std::this_thread::sleep_for(50ms);  // let DEBUG SLEEP reach the server first
  auto timed_out = rt_.on_loop([&] { return c.call(Command("GET", "a")); });
  sleeper.join();
  ASSERT_FALSE(timed_out);
  EXPECT_EQ(timed_out.error(), Errc::timeout);
  auto b = rt_.on_loop([&] { return c.call(Command("GET", "b")); });
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->text(), "value-of-b");
  EXPECT_EQ(metrics_.commands_for_test("GET", "timeout"), 1);
}

TEST_F(RedisClientTest, AHungServerTimesOutAndIsUsedAgainWhenItWakes) {
  auto opts = options_for(server_.url());
  opts.command_timeout = 100ms;
  opts.connect_timeout = 200ms;
  auto& c = client(opts);
  ASSERT_TRUE(rt_.on_loop([&] { return c.call(Command("PING")); }));
  server_.pause();
  auto r = rt_.on_loop([&] { return c.call(Command("PING")); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::timeout);
  server_.resume();
  auto back = rt_.on_loop([&] { return until_ok(c, Command("PING")); });
  EXPECT_TRUE(back) << back.error().message();
}

TEST_F(RedisClientTest, EvalShaLoadsAMissingScriptAndRetriesOnce) {
  auto& c = client();
  const Script script("return tonumber(ARGV[1]) + redis.call('INCR', KEYS[1])");
  server_.command({"SCRIPT", "FLUSH"});
  rt_.on_loop([&]() -> asio::awaitable<void> {
    // Named: GCC 12 cannot keep a braced list's array alive across a co_await.
    const std::vector<std::string> keys{"counter"}, args{"100"};
    auto first = co_await c.eval(script, keys, args);
    CO_ASSERT(first);
    EXPECT_EQ(first->integer(), 101);
    auto second = co_await c.eval(script, keys, args);
    CO_ASSERT(second);
    EXPECT_EQ(second->integer(), 102);
  });
  // The first EVALSHA met NOSCRIPT and was sent again after one SCRIPT LOAD; the second went
  // straight through.
  EXPECT_EQ(metrics_.commands_for_test("EVALSHA", "error_reply"), 1);
  EXPECT_EQ(metrics_.commands_for_test("EVALSHA", "ok"), 2);
  EXPECT_EQ(metrics_.commands_for_test("SCRIPT", "ok"), 1);
  EXPECT_NE(server_.command({"SCRIPT", "EXISTS", script.sha()}).find(":1"), std::string::npos);
}

TEST_F(RedisClientTest, ScriptErrorsAreServerErrorsNotRetried) {
  auto& c = client();
  const Script broken("return redis.call('NOSUCH')");
  auto r = rt_.on_loop([&] { return c.eval(broken, {}, {}); });
  ASSERT_TRUE(r);
  ASSERT_TRUE(r->is_error());
  EXPECT_TRUE(is_server(r->server_error()));
  EXPECT_EQ(metrics_.commands_for_test("SCRIPT", "ok"), 1) << "loaded once, not in a loop";
}

class RedisAuthTest : public ::testing::Test {
 protected:
  void SetUp() override { rt_.start(); }
  void TearDown() override {
    for (auto& c : clients_) c->close();
    rt_.stop();
  }
  Client& client(const std::string& url) {
    clients_.push_back(std::make_unique<Client>(options_for(url), &metrics_));
    return *clients_.back();
  }
  RedisServer server_{{"--requirepass", "s3cret"}};
  metrics::Registry registry_;
  Metrics metrics_{registry_};
  TestRuntime rt_;
  std::vector<std::unique_ptr<Client>> clients_;
};

TEST_F(RedisAuthTest, AuthenticatesAndSelectsTheDatabaseOfTheUrl) {
  auto& c = client("redis://:s3cret@127.0.0.1:" + std::to_string(server_.port()) + "/2");
  auto info = rt_.on_loop([&]() -> asio::awaitable<Result<Reply>> {
    EXPECT_TRUE(co_await c.call(Command("SET", "in-db-2", "yes")));
    co_return co_await c.call(Command("CLIENT", "INFO"));
  });
  ASSERT_TRUE(info) << info.error().message();
  EXPECT_NE(info->text().find(" db=2 "), std::string::npos) << info->text();
}

TEST_F(RedisAuthTest, AWrongPasswordFailsCommandsWithAnAuthError) {
  auto& c = client("redis://:wrong@127.0.0.1:" + std::to_string(server_.port()));
  auto r = rt_.on_loop([&] { return c.call(Command("PING")); });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Errc::auth) << r.error().message();
  auto& none = client("redis://127.0.0.1:" + std::to_string(server_.port()));
  auto n = rt_.on_loop([&] { return none.call(Command("PING")); });
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error(), Errc::auth) << "NOAUTH: " << n.error().message();
}

// Pub/sub: messages, and the two signals a cache needs: lost, subscribed again.
class RedisSubscriberTest : public RedisClientTest {
 protected:
  void start_subscriber() {
    rt_.on_loop([&]() -> asio::awaitable<void> {
      Subscriber::Handlers h;
      h.on_message = [this](std::string_view channel, std::string_view message) {
        {
          std::lock_guard lock(mu_);
          messages_.push_back(std::string(channel) + ":" + std::string(message));
        }
        received_.inc();
      };
      h.on_subscribed = [this] { subscribed_.inc(); };
      h.on_lost = [this] { lost_.inc(); };
      sub_ = std::make_unique<Subscriber>(rt_.runtime().poller(0), options_for(server_.url()),
                                          std::vector<std::string>{"inval", "other"}, h, metrics_);
      sub_->start();
      co_return;
    });
  }
  void TearDown() override {
    rt_.on_loop([&]() -> asio::awaitable<void> {
      sub_.reset();
      co_return;
    });
    RedisClientTest::TearDown();
  }
  std::string message(std::size_t i) {
    std::lock_guard lock(mu_);
    return i < messages_.size() ? messages_[i] : "";
  }
  void publish(Client& c, const std::string& channel, const std::string& m) {
    auto r = rt_.on_loop([&] { return c.call(Command("PUBLISH", channel, m)); });
    ASSERT_TRUE(r) << r.error().message();
    EXPECT_EQ(r->integer(), 1) << "one subscriber";
  }
  std::unique_ptr<Subscriber> sub_;
  Counter subscribed_, lost_, received_;
  std::mutex mu_;
  std::vector<std::string> messages_;
};

TEST_F(RedisSubscriberTest, DeliversMessagesOfItsChannels) {
  auto& c = client();
  start_subscriber();
  ASSERT_TRUE(subscribed_.wait_for(1));
  publish(c, "inval", "user:1");
  publish(c, "other", "x");
  ASSERT_TRUE(received_.wait_for(2));
  EXPECT_EQ(message(0), "inval:user:1");
  EXPECT_EQ(message(1), "other:x");
}

TEST_F(RedisSubscriberTest, SaysWhenItMayHaveMissedMessagesAndResubscribes) {
  auto& c = client();
  start_subscriber();
  ASSERT_TRUE(subscribed_.wait_for(1));
  server_.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  ASSERT_TRUE(lost_.wait_for(1));
  ASSERT_TRUE(subscribed_.wait_for(2)) << "resubscribed after the kill";
  publish(c, "inval", "after-kill");
  ASSERT_TRUE(received_.wait_for(1));
  EXPECT_EQ(message(0), "inval:after-kill");
  server_.restart();
  ASSERT_TRUE(lost_.wait_for(2));
  ASSERT_TRUE(subscribed_.wait_for(3)) << "resubscribed after a Redis restart";
  auto pong = rt_.on_loop([&] { return until_ok(c, Command("PING")); });
  ASSERT_TRUE(pong);
  publish(c, "inval", "after-restart");
  ASSERT_TRUE(received_.wait_for(2));
  EXPECT_EQ(message(1), "inval:after-restart");
}

}  // namespace
}  // namespace tenx::redis
