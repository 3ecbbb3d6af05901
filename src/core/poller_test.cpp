#include "core/poller.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

namespace tenx::core {
namespace {

namespace asio = boost::asio;

// A connected pair of non-blocking stream sockets; closed at the end of the test.
struct Pair {
  int fd[2] = {-1, -1};
  Pair() { EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd), 0); }
  ~Pair() {
    for (int f : fd)
      if (f >= 0) ::close(f);
  }
};

// Waits for `h` to become readable, records it, then (if `park`) waits for the batch's end
// and records that too.
asio::awaitable<void> reader(Poller& poller, Poller::Handle* h, std::string name, bool park,
                             std::vector<std::string>& log) {
  if (!h->readable()) co_await h->wait_readable(asio::as_tuple(asio::use_awaitable));
  log.push_back("read " + name + (poller.in_batch() ? " in batch" : ""));
  if (park && poller.in_batch()) {
    co_await poller.at_batch_end(asio::as_tuple(asio::use_awaitable));
    log.push_back("send " + name + (poller.in_batch() ? " in batch" : ""));
  }
}

TEST(Poller, WaiterRunsInsideTheBatchThatFoundItsSocketReady) {
  asio::io_context loop;
  Poller poller(loop);
  Pair a;
  Poller::Handle* h = poller.add(a.fd[0]);
  h->clear_readable();  // as after a short read
  std::vector<std::string> log;
  asio::co_spawn(loop, reader(poller, h, "a", false, log), asio::detached);
  loop.poll();
  EXPECT_TRUE(log.empty()) << "resumed before any data arrived";
  ASSERT_EQ(::write(a.fd[1], "x", 1), 1);
  loop.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(log, std::vector<std::string>{"read a in batch"});
  EXPECT_FALSE(poller.in_batch());
  poller.remove(h);
}

TEST(Poller, HangupWatchRunsOnceWhenThePeerClosesAndNobodyReads) {
  asio::io_context loop;
  Poller poller(loop);
  Pair a;
  Poller::Handle* h = poller.add(a.fd[0]);
  int calls = 0;
  h->watch_hangup([](void* n) { ++*static_cast<int*>(n); }, &calls);
  loop.run_for(std::chrono::milliseconds(50));
  EXPECT_EQ(calls, 0) << "called before the peer hung up";
  ::close(std::exchange(a.fd[1], -1));
  loop.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(h->hung_up());
  poller.remove(h);
}

TEST(Poller, WaitEitherCompletesWithTheSocketThatBecameReadyAndWithdrawsTheOther) {
  asio::io_context loop;
  Poller poller(loop);
  Pair a, b;
  Poller::Handle* ha = poller.add(a.fd[0]);
  Poller::Handle* hb = poller.add(b.fd[0]);
  ha->clear_readable();
  hb->clear_readable();
  std::vector<int> which;
  auto wait = [&]() -> asio::awaitable<void> {
    auto [ec, w] =
        co_await poller.wait_either(*ha, false, *hb, false, asio::as_tuple(asio::use_awaitable));
    which.push_back(ec ? -1 : w);
  };
  asio::co_spawn(loop, wait(), asio::detached);
  loop.run_for(std::chrono::milliseconds(50));
  EXPECT_TRUE(which.empty()) << "completed before either socket was ready";
  ASSERT_EQ(::write(b.fd[1], "x", 1), 1);
  loop.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(which, std::vector<int>{1});
  // The wait on `a` was withdrawn: a later edge there resumes nothing twice.
  ASSERT_EQ(::write(a.fd[1], "x", 1), 1);
  loop.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(which, std::vector<int>{1});
  // A cancel ends a new wait with an error.
  hb->clear_readable();
  ha->clear_readable();
  asio::co_spawn(loop, wait(), asio::detached);
  loop.run_for(std::chrono::milliseconds(20));
  ha->cancel();
  loop.run_for(std::chrono::milliseconds(100));
  EXPECT_EQ(which, (std::vector<int>{1, -1}));
  poller.remove(ha);
  poller.remove(hb);
}

TEST(Poller, ClearedHangupWatchIsNotCalled) {
  asio::io_context loop;
  Poller poller(loop);
  Pair a;
  Poller::Handle* h = poller.add(a.fd[0]);
  int calls = 0;
  h->watch_hangup([](void* n) { ++*static_cast<int*>(n); }, &calls);
  h->clear_hangup_watch();
  ::close(std::exchange(a.fd[1], -1));
  loop.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(calls, 0);
  poller.remove(h);
}

TEST(Poller, WritersParkedAtBatchEndResumeAfterEveryEventOfTheBatch) {
  asio::io_context loop;
  Poller poller(loop);
  Pair a, b, c;
  std::vector<Poller::Handle*> hs = {poller.add(a.fd[0]), poller.add(b.fd[0]), poller.add(c.fd[0])};
  std::vector<std::string> log;
  const char* names[] = {"a", "b", "c"};
  for (std::size_t i = 0; i < hs.size(); ++i) {
    hs[i]->clear_readable();
    asio::co_spawn(loop, reader(poller, hs[i], names[i], true, log), asio::detached);
  }
  loop.poll();  // all three park on their reads
  ASSERT_TRUE(log.empty());
  // All three become ready before the loop looks: one epoll batch delivers them together.
  for (int fd : {a.fd[1], b.fd[1], c.fd[1]}) ASSERT_EQ(::write(fd, "x", 1), 1);
  loop.run_for(std::chrono::milliseconds(200));
  ASSERT_EQ(log.size(), 6u);
  // Every read of the batch happens before any of the parked sends; the sends still run
  // while the batch is being delivered (before the next epoll_wait), in the order parked.
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(log[i].rfind("read ", 0), 0u) << log[i];
    EXPECT_NE(log[i].find("in batch"), std::string::npos) << log[i];
  }
  std::vector<std::string> sends(log.begin() + 3, log.end());
  std::vector<std::string> reads_order;
  for (std::size_t i = 0; i < 3; ++i)
    reads_order.push_back("send " + log[i].substr(5, 1) + " in batch");
  EXPECT_EQ(sends, reads_order);
  EXPECT_FALSE(poller.in_batch());
  for (auto* h : hs) poller.remove(h);
}

TEST(Poller, TimersStillRunWhileSocketsKeepBecomingReady) {
  // Two sockets play ping-pong through the same Poller: every read makes the other readable,
  // so each epoll_wait of a pass finds work and a pass alone would never end. A 20 ms timer
  // must still fire, and soon.
  asio::io_context loop;
  Poller poller(loop);
  Pair pp;
  Poller::Handle* h[2] = {poller.add(pp.fd[0]), poller.add(pp.fd[1])};
  bool stop = false;
  long bounces = 0;
  const auto started = std::chrono::steady_clock::now();
  auto player = [&](int me) -> asio::awaitable<void> {
    char c;
    // The players give up after 3 s, so a pass that never yields ends and the test fails on
    // the timer's lateness instead of hanging.
    while (!stop && std::chrono::steady_clock::now() - started < std::chrono::seconds(3)) {
      if (::read(pp.fd[me], &c, 1) != 1) {
        h[me]->clear_readable();
        auto [ec] = co_await h[me]->wait_readable(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        continue;
      }
      ++bounces;
      if (::write(pp.fd[me], &c, 1) != 1) co_return;
    }
  };
  asio::co_spawn(loop, player(0), asio::detached);
  asio::co_spawn(loop, player(1), asio::detached);
  std::chrono::steady_clock::duration fired_after{};
  asio::steady_timer timer(loop, std::chrono::milliseconds(20));
  timer.async_wait([&](const error_code&) {
    fired_after = std::chrono::steady_clock::now() - started;
    stop = true;
    poller.remove(h[0]);
    poller.remove(h[1]);
  });
  ASSERT_EQ(::write(pp.fd[1], "x", 1), 1);  // the serve
  loop.run_for(std::chrono::seconds(5));
  EXPECT_GT(bounces, 10) << "the ping-pong never ran";
  ASSERT_NE(fired_after, std::chrono::steady_clock::duration{}) << "the timer never fired";
  EXPECT_LT(fired_after, std::chrono::seconds(2));
}

TEST(Poller, AtBatchEndOutsideABatchCompletesThroughTheLoop) {
  asio::io_context loop;
  Poller poller(loop);
  int done = 0;
  error_code seen = asio::error::would_block;
  auto parker = [&]() -> asio::awaitable<void> {
    auto [ec] = co_await poller.at_batch_end(asio::as_tuple(asio::use_awaitable));
    seen = ec;
    ++done;
  };
  asio::co_spawn(loop, parker(), asio::detached);
  loop.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(done, 1);
  EXPECT_FALSE(seen);
  poller.shutdown();
  asio::co_spawn(loop, parker(), asio::detached);
  loop.restart();
  loop.run_for(std::chrono::milliseconds(200));
  EXPECT_EQ(done, 2);
  EXPECT_EQ(seen, asio::error::operation_aborted);
}

}  // namespace
}  // namespace tenx::core
