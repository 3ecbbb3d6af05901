#pragma once
// BlockingPool: a bounded set of threads for work that would block an event loop (SQLite,
// file I/O, DNS). An event-loop coroutine writes
//
//     auto job = [&] { return count_rows(db); };
//     Result<int> n = co_await pool.run(std::move(job));
//
// and its thread goes on serving other connections meanwhile; the coroutine resumes on its
// own executor with the value. The queue is bounded: when it is full, run() returns
// Errc::busy at once ("try again", distinct from failure) instead of queueing without end.
// An exception thrown by the job becomes Errc::internal (logged by the caller if it cares).
// Name the job before the co_await: GCC 12 destroys the captures of a temporary lambda
// written inside a co_await expression twice (seen under ASan).
//
// Shared across threads: the queue is guarded by a mutex (this is the blocking path, never
// the request hot path). The destructor finishes queued jobs and joins the threads.
#include "core/result.h"
#include "core/thread_annotations.h"
#include "core/unique_function.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <thread>
#include <type_traits>
#include <vector>

namespace tenx::core {

class BlockingPool {
 public:
  BlockingPool(std::size_t threads, std::size_t max_queue);
  ~BlockingPool();
  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Queues a job; false if the queue is full or the pool is stopping.
  bool submit(UniqueFunction job);
  std::size_t queued() const;
  std::size_t threads() const { return threads_.size(); }

  template <class F, class R = std::invoke_result_t<F&>>
  boost::asio::awaitable<Result<R>> run(F fn) {
    auto ex = co_await boost::asio::this_coro::executor;
    co_return co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                   void(Result<R>)>(
        [this, ex](auto handler, F fn) {
          auto work = boost::asio::make_work_guard(ex);
          auto shared = std::make_shared<decltype(handler)>(std::move(handler));
          const bool queued = submit([shared, fn = std::move(fn), work]() mutable {
            Result<R> r = invoke_caught(fn);
            boost::asio::post(work.get_executor(),
                              [shared, r = std::move(r)]() mutable { (*shared)(std::move(r)); });
          });
          if (!queued) {
            boost::asio::post(ex, [shared] {
              (*shared)(Result<R>(boost::system::in_place_error, make_error_code(Errc::busy)));
            });
          }
        },
        boost::asio::use_awaitable, std::move(fn));
  }

 private:
  template <class F, class R = std::invoke_result_t<F&>>
  static Result<R> invoke_caught(F& fn) noexcept {
    try {
      if constexpr (std::is_void_v<R>) {
        fn();
        return {};
      } else {
        return Result<R>(boost::system::in_place_value, fn());
      }
    } catch (...) {
      return Result<R>(boost::system::in_place_error, make_error_code(Errc::internal));
    }
  }
  void worker();

  const std::size_t max_queue_;
  mutable core::Mutex mu_;
  std::condition_variable_any cv_;  // waits on mu_ itself
  std::deque<UniqueFunction> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace tenx::core
