#include "core/runtime.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace tenx::core {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

RuntimeOptions options(std::size_t threads,
                       std::chrono::milliseconds drain_timeout = std::chrono::seconds(30)) {
  RuntimeOptions o;
  o.threads = threads;
  o.drain_timeout = drain_timeout;
  o.handle_signals = false;
  return o;
}

TEST(Runtime, CreatesTheRequestedNumberOfLoops) {
  Runtime rt(options(3));
  EXPECT_EQ(rt.threads(), 3u);
  Runtime one(options(1));
  EXPECT_EQ(one.threads(), 1u);
  Runtime per_core(options(0));
  EXPECT_EQ(per_core.threads(), std::max(1u, std::thread::hardware_concurrency()));
}

TEST(Runtime, CurrentIndexOutsideWorkersIsNotWorker) {
  EXPECT_EQ(Runtime::current_index(), Runtime::kNotWorker);
}

TEST(Runtime, ForEachLoopRunsOnEveryWorkerWithItsIndex) {
  constexpr std::size_t kThreads = 3;
  Runtime rt(options(kThreads));
  std::mutex mu;
  std::vector<std::size_t> called;        // i values, guarded by mu
  std::vector<std::size_t> index_inside;  // current_index() seen for each i
  std::set<std::thread::id> thread_ids;   // guarded by mu
  index_inside.assign(kThreads, Runtime::kNotWorker);
  std::atomic<std::size_t> remaining{kThreads};
  rt.for_each_loop([&](std::size_t i) {
    {
      std::lock_guard lock(mu);
      called.push_back(i);
      index_inside[i] = Runtime::current_index();
      thread_ids.insert(std::this_thread::get_id());
    }
    if (remaining.fetch_sub(1) == 1) rt.stop();
  });
  EXPECT_EQ(rt.run(), 0);
  std::sort(called.begin(), called.end());
  EXPECT_EQ(called, (std::vector<std::size_t>{0, 1, 2}));
  for (std::size_t i = 0; i < kThreads; ++i) EXPECT_EQ(index_inside[i], i);
  EXPECT_EQ(thread_ids.size(), kThreads);
  EXPECT_EQ(thread_ids.count(std::this_thread::get_id()), 0u);
}

TEST(Runtime, StopMakesRunReturnZeroAndRunsDrainHooksOnce) {
  Runtime rt(options(2));
  std::atomic<int> drains{0};
  std::atomic<bool> draining_in_hook{false};
  std::thread::id hook_thread;
  rt.on_drain([&] {
    ++drains;
    draining_in_hook = rt.draining();
    hook_thread = std::this_thread::get_id();
  });
  EXPECT_FALSE(rt.draining());
  rt.stop();
  rt.stop();  // idempotent
  rt.for_each_loop([&](std::size_t) { rt.stop(); });
  EXPECT_EQ(rt.run(), 0);
  EXPECT_EQ(drains.load(), 1);
  EXPECT_TRUE(draining_in_hook.load());
  EXPECT_TRUE(rt.draining());
  // Drain hooks run on the control thread: the one that called run().
  EXPECT_EQ(hook_thread, std::this_thread::get_id());
}

TEST(Runtime, RemovedDrainHookDoesNotRunOrStay) {
  Runtime rt(options(1));
  std::atomic<int> kept{0}, removed{0};
  rt.on_drain([&] { ++kept; });
  const auto id = rt.on_drain([&] { ++removed; });
  EXPECT_EQ(rt.drain_hooks_for_test(), 2u);
  rt.remove_drain_hook(id);
  rt.remove_drain_hook(id);  // twice is harmless
  EXPECT_EQ(rt.drain_hooks_for_test(), 1u);
  rt.stop();
  EXPECT_EQ(rt.run(), 0);
  EXPECT_EQ(kept.load(), 1);
  EXPECT_EQ(removed.load(), 0);
}

TEST(Runtime, DrainWaitsForInFlightWork) {
  Runtime rt(options(1, std::chrono::seconds(30)));
  std::atomic<bool> finished{false};
  asio::steady_timer timer(rt.loop(0), 20ms);
  timer.async_wait([&](const boost::system::error_code& ec) { finished = !ec; });
  rt.stop();
  EXPECT_EQ(rt.run(), 0);
  EXPECT_TRUE(finished.load());
}

TEST(Runtime, DrainPastTimeoutStopsHardAndReturnsOne) {
  // 200 ms is not a timing assertion: it only bounds how long this test takes.
  Runtime rt(options(2, 200ms));
  // Work that never finishes on its own: a guard posted onto loop 0 and kept alive.
  std::atomic<bool> guard_posted{false};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> stuck;
  asio::post(rt.loop(0), [&] {
    stuck.emplace(rt.loop(0).get_executor());
    guard_posted = true;
  });
  std::atomic<int> drains{0};
  rt.on_drain([&] { ++drains; });
  rt.stop();
  EXPECT_EQ(rt.run(), 1);
  EXPECT_TRUE(guard_posted.load());
  EXPECT_EQ(drains.load(), 1);
  stuck.reset();
}

TEST(Runtime, StopFromAnotherThreadEndsRun) {
  Runtime rt(options(1));
  std::thread stopper;
  rt.for_each_loop([&](std::size_t) { stopper = std::thread([&] { rt.stop(); }); });
  EXPECT_EQ(rt.run(), 0);
  stopper.join();
}

TEST(ParseEndpoint, AcceptsHostPortForms) {
  auto ep = parse_endpoint("127.0.0.1:80");
  EXPECT_EQ(ep.address().to_string(), "127.0.0.1");
  EXPECT_EQ(ep.port(), 80);

  ep = parse_endpoint(":8080");
  EXPECT_EQ(ep.address().to_string(), "0.0.0.0");
  EXPECT_EQ(ep.port(), 8080);

  ep = parse_endpoint("8080");
  EXPECT_EQ(ep.address().to_string(), "0.0.0.0");
  EXPECT_EQ(ep.port(), 8080);

  ep = parse_endpoint("9090", "127.0.0.1");
  EXPECT_EQ(ep.address().to_string(), "127.0.0.1");

  ep = parse_endpoint("[::1]:9");
  EXPECT_TRUE(ep.address().is_v6());
  EXPECT_EQ(ep.address().to_string(), "::1");
  EXPECT_EQ(ep.port(), 9);

  ep = parse_endpoint("localhost:1");
  EXPECT_EQ(ep.address().to_string(), "127.0.0.1");
  EXPECT_EQ(ep.port(), 1);

  ep = parse_endpoint("0.0.0.0:65535");
  EXPECT_EQ(ep.port(), 65535);
}

TEST(ParseEndpoint, RefusesBadAddresses) {
  EXPECT_THROW(parse_endpoint("x:y"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("1.2.3.4:99999"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("1.2.3.4:65536"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("host.example:80"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("1.2.3.4:"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint(""), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("1.2.3.4:-1"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("999.1.1.1:80"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("[::1"), std::invalid_argument);
  EXPECT_THROW(parse_endpoint("::1:80"), std::invalid_argument);  // IPv6 needs brackets
  EXPECT_THROW(parse_endpoint("[]:80"), std::invalid_argument);
  try {
    parse_endpoint("[::1:80");
    ADD_FAILURE() << "no exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad listen address '[::1:80': '[' without a closing ']'");
  }
  try {
    parse_endpoint("host.example:80");
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("host.example"), std::string::npos) << e.what();
  }
}

TEST(ListenReuseport, TwoListenersShareOnePort) {
  asio::io_context ctx;
  auto first = listen_reuseport(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = first.local_endpoint().port();
  ASSERT_NE(port, 0);
  auto second = listen_reuseport(ctx, {asio::ip::make_address("127.0.0.1"), port});
  EXPECT_EQ(second.local_endpoint().port(), port);
  EXPECT_TRUE(first.is_open());
  EXPECT_TRUE(second.is_open());

  // Both are listening: a connection is accepted by one of them.
  asio::ip::tcp::socket client(ctx);
  client.connect({asio::ip::make_address("127.0.0.1"), port});
  EXPECT_TRUE(client.is_open());
}

TEST(CheckPortFree, PortHeldByAnotherReuseportListenerIsInUse) {
  asio::io_context ctx;
  // As another process of the same user would hold it: SO_REUSEPORT would let us join.
  auto other = listen_reuseport(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = other.local_endpoint().port();
  try {
    check_port_free({asio::ip::make_address("127.0.0.1"), port});
    ADD_FAILURE() << "a port in use passed";
  } catch (const boost::system::system_error& e) {
    EXPECT_EQ(e.code(), boost::system::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find("address already in use"), std::string::npos) << e.what();
  }
  other.close();
  EXPECT_NO_THROW(check_port_free({asio::ip::make_address("127.0.0.1"), port}));
  EXPECT_NO_THROW(check_port_free({asio::ip::make_address("127.0.0.1"), 0}));
}

TEST(ListenReuseport, BindFailureThrowsSystemError) {
  asio::io_context ctx;
  // A plain listener without SO_REUSEPORT holds the port; ours cannot join it.
  asio::ip::tcp::acceptor plain(ctx, {asio::ip::make_address("127.0.0.1"), 0});
  const auto port = plain.local_endpoint().port();
  EXPECT_THROW(listen_reuseport(ctx, {asio::ip::make_address("127.0.0.1"), port}),
               boost::system::system_error);
}

}  // namespace
}  // namespace tenx::core
