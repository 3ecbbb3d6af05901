#include "core/blocking_pool.h"

#include "core/runtime.h"

#include <boost/asio/co_spawn.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <exception>
#include <future>
#include <latch>
#include <stdexcept>
#include <thread>

namespace tenx::core {
namespace {

namespace asio = boost::asio;

RuntimeOptions one_loop() {
  RuntimeOptions o;
  o.threads = 1;
  o.handle_signals = false;
  return o;
}

// Runs `body` as a coroutine on the runtime's loop 0, stops the runtime when it finishes, and
// returns what it returned (rethrowing what it threw).
template <class T, class Body>
T run_on_loop(Runtime& rt, Body body) {
  std::promise<T> promise;
  auto future = promise.get_future();
  asio::co_spawn(rt.loop(0), std::move(body), [&](std::exception_ptr e, T value) {
    if (e)
      promise.set_exception(e);
    else
      promise.set_value(std::move(value));
    rt.stop();
  });
  EXPECT_EQ(rt.run(), 0);
  return future.get();
}

// Opens a latch when it goes out of scope, so that a failed assertion never leaves a pool
// thread blocked (the pool's destructor would wait for it forever).
struct OpenOnExit {
  std::latch& latch;
  ~OpenOnExit() {
    if (!latch.try_wait()) latch.count_down();
  }
};

TEST(BlockingPool, RunReturnsTheValueAndResumesOnTheLoopThread) {
  Runtime rt(one_loop());
  BlockingPool pool(2, 16);
  struct Seen {
    std::thread::id before, job, after;
    std::size_t index_after = Runtime::kNotWorker;
    int value = 0;
  };
  const Seen seen = run_on_loop<Seen>(rt, [&]() -> asio::awaitable<Seen> {
    Seen s;
    s.before = std::this_thread::get_id();
    Result<int> r = co_await pool.run([&] {
      s.job = std::this_thread::get_id();
      return 42;
    });
    s.after = std::this_thread::get_id();
    s.index_after = Runtime::current_index();
    s.value = r ? *r : -1;
    co_return s;
  });
  EXPECT_EQ(seen.value, 42);
  EXPECT_EQ(seen.after, seen.before);
  EXPECT_EQ(seen.index_after, 0u);
  EXPECT_NE(seen.job, seen.before);  // the job ran on a pool thread, not the loop
  EXPECT_NE(seen.job, std::thread::id{});
}

TEST(BlockingPool, VoidJobsReportSuccess) {
  Runtime rt(one_loop());
  BlockingPool pool(1, 4);
  std::atomic<bool> ran{false};
  const bool ok = run_on_loop<bool>(rt, [&]() -> asio::awaitable<bool> {
    Result<void> r = co_await pool.run([&] { ran = true; });
    co_return r.has_value();
  });
  EXPECT_TRUE(ok);
  EXPECT_TRUE(ran.load());
}

TEST(BlockingPool, JobExceptionBecomesInternalError) {
  Runtime rt(one_loop());
  BlockingPool pool(1, 4);
  const error_code ec = run_on_loop<error_code>(rt, [&]() -> asio::awaitable<error_code> {
    Result<int> r = co_await pool.run([]() -> int { throw std::runtime_error("disk on fire"); });
    co_return r.has_error() ? r.error() : error_code{};
  });
  EXPECT_EQ(ec, make_error_code(Errc::internal));
}

TEST(BlockingPool, FullQueueAnswersBusyAtOnce) {
  BlockingPool pool(1, 1);
  std::latch started(1), release(1);
  OpenOnExit open{release};
  // The only thread takes this job and blocks; the queue is then empty.
  ASSERT_TRUE(pool.submit([&] {
    started.count_down();
    release.wait();
  }));
  started.wait();
  // One job fills the queue.
  std::atomic<int> later_ran{0};
  ASSERT_TRUE(pool.submit([&] { ++later_ran; }));
  EXPECT_EQ(pool.queued(), 1u);
  EXPECT_FALSE(pool.submit([&] { ++later_ran; }));

  Runtime rt(one_loop());
  const error_code ec = run_on_loop<error_code>(rt, [&]() -> asio::awaitable<error_code> {
    Result<int> r = co_await pool.run([&] {
      ++later_ran;
      return 1;
    });
    co_return r.has_error() ? r.error() : error_code{};
  });
  EXPECT_EQ(ec, make_error_code(Errc::busy));
  EXPECT_NE(ec, make_error_code(Errc::internal));  // "try again", not "failed"

  release.count_down();
  // Once the thread is free, the queued job runs and the queue accepts work again.
  std::latch done(1);
  while (!pool.submit([&] { done.count_down(); })) std::this_thread::yield();
  done.wait();
  EXPECT_EQ(later_ran.load(), 1);
}

TEST(BlockingPool, DestructorFinishesQueuedJobs) {
  std::atomic<int> ran{0};
  std::latch started(1), release(1);
  {
    BlockingPool pool(1, 100);
    OpenOnExit open{release};
    ASSERT_TRUE(pool.submit([&] {
      started.count_down();
      release.wait();
    }));
    started.wait();
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(pool.submit([&] { ++ran; }));
    EXPECT_EQ(pool.queued(), 10u);
    release.count_down();
  }  // the destructor runs what is queued before joining
  EXPECT_EQ(ran.load(), 10);
}

TEST(BlockingPool, ZeroThreadsMeansOne) {
  BlockingPool pool(0, 1);
  EXPECT_EQ(pool.threads(), 1u);
  std::latch done(1);
  ASSERT_TRUE(pool.submit([&] { done.count_down(); }));
  done.wait();
}

}  // namespace
}  // namespace tenx::core
