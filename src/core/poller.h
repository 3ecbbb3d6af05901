#pragma once
// Poller: edge-triggered socket readiness for one event loop, tracked the way nginx does.
//
// Why not Asio's own socket operations: Asio cannot know that a short read drained a socket,
// so every async_read_some first tries a recv that fails with EAGAIN (measured: two recv
// calls per request instead of one), and async_wait re-arms the descriptor with an epoll_ctl
// call every time. The Poller keeps a private epoll set (EPOLLET) whose descriptor sits in
// the loop's Asio reactor, registered once for good (no epoll_ctl per wake-up); per socket it
// keeps `readable` / `writable` flags that the owner clears after a short read or EAGAIN and
// that edges set again. A coroutine waits only when the flag is clear, and the waiting costs
// no system call of its own: one epoll_wait on the private set serves every socket that
// became ready together. The price of the nesting, against nginx's single set: the loop's
// epoll_wait and the set's are two calls per wake-up where nginx makes one (measured at 8
// connections: 2.25 epoll_wait per proxied request against nginx's 0.85; docs/benchmarks.md).

// Usage (on the loop's thread only):
//   Poller::Handle* h = poller.add(fd);        // after accept/connect; fd is non-blocking
//   if (!h->readable()) co_await h->wait_readable(as_tuple(use_awaitable));
//   n = recv(fd, ...); if (n < asked) h->clear_readable();
//   ...
//   poller.remove(h); close(fd);              // remove before closing the descriptor
//
// A pass takes batches (one epoll_wait each) until one comes back empty, or for at most 16
// batches: a loop kept busy by sockets that never stop becoming ready still runs its timers and
// posted work in between. A wait completes with success when the flag becomes set (or already
// is), and with operation_aborted after cancel(). Waiters are resumed inline from the Poller's own
// completion handler, on the loop thread. Handles removed while a batch of events is being
// delivered are freed only after the batch, so a stale event never reaches freed memory.
//
// Lifetime: while handles are registered the Poller holds work on the loop (which keeps
// io_context::run() going); when the last one is removed it lets go, so a draining loop ends
// once its connections have. Destroy the Poller on (or after stopping) its loop, before the
// io_context.
#include "core/result.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>
#include <vector>

namespace tenx::core {

// A move-only `void(error_code)` callable stored inline when it fits (Asio's coroutine
// handlers do), so a wait allocates nothing.
class WaitHandler {
 public:
  WaitHandler() = default;
  WaitHandler(const WaitHandler&) = delete;
  WaitHandler& operator=(const WaitHandler&) = delete;
  WaitHandler(WaitHandler&& o) noexcept { take(o); }
  ~WaitHandler() { reset(); }

  // Moves o's handler (if any) into this one; o becomes empty.
  void take(WaitHandler& o) noexcept {
    reset();
    if (!o.target_) return;
    if (o.target_ == o.buf_) {
      o.relocate_(o.buf_, buf_);
      target_ = buf_;
    } else {
      target_ = o.target_;
    }
    invoke_ = o.invoke_;
    destroy_ = o.destroy_;
    relocate_ = o.relocate_;
    o.target_ = nullptr;
  }

  template <class F>
  void emplace(F&& f) {
    using T = std::decay_t<F>;
    reset();
    // NOLINTNEXTLINE(misc-redundant-expression): the alignments are equal for some T only
    if constexpr (sizeof(T) <= kInline && alignof(T) <= alignof(std::max_align_t)) {
      new (buf_) T(std::forward<F>(f));
      invoke_ = [](void* p, const error_code& ec) {
        T h(std::move(*static_cast<T*>(p)));
        static_cast<T*>(p)->~T();
        std::move(h)(ec);
      };
      destroy_ = [](void* p) { static_cast<T*>(p)->~T(); };
      relocate_ = [](void* from, void* to) {
        new (to) T(std::move(*static_cast<T*>(from)));
        static_cast<T*>(from)->~T();
      };
      target_ = buf_;
    } else {
      target_ = new T(std::forward<F>(f));
      invoke_ = [](void* p, const error_code& ec) {
        std::unique_ptr<T> h(static_cast<T*>(p));
        std::move (*h)(ec);
      };
      destroy_ = [](void* p) { delete static_cast<T*>(p); };
      relocate_ = nullptr;  // heap targets move by pointer
    }
  }
  explicit operator bool() const { return target_ != nullptr; }
  // Calls and clears. The handler may register a new wait on this same slot.
  void operator()(const error_code& ec) {
    void* t = target_;
    auto inv = invoke_;
    target_ = nullptr;
    inv(t, ec);
  }
  void reset() {
    if (target_) {
      destroy_(target_);
      target_ = nullptr;
    }
  }

 private:
  static constexpr std::size_t kInline = 64;
  alignas(std::max_align_t) unsigned char buf_[kInline];
  void* target_ = nullptr;
  void (*invoke_)(void*, const error_code&) = nullptr;
  void (*destroy_)(void*) = nullptr;
  void (*relocate_)(void*, void*) = nullptr;
};

class Poller {
 public:
  class Handle {
   public:
    int fd() const { return fd_; }
    bool readable() const { return readable_; }
    bool writable() const { return writable_; }
    // The owner saw a short read / EAGAIN: wait for the next edge before reading again.
    void clear_readable() { readable_ = false; }
    void clear_writable() { writable_ = false; }
    // The owner has reason to read before the next edge is delivered (a send just failed:
    // the peer's answer and its reset may be waiting in this very batch).
    void assume_readable() { readable_ = true; }
    // The peer hung up (EPOLLRDHUP / EPOLLHUP seen); reads will return what is left, then 0.
    bool hung_up() const { return hup_; }

    template <class Token>
    auto wait_readable(Token&& token) {
      return wait(reader_, readable_, std::forward<Token>(token));
    }
    template <class Token>
    auto wait_writable(Token&& token) {
      return wait(writer_, writable_, std::forward<Token>(token));
    }
    // Completes pending waits with operation_aborted (deadline passed, drain).
    void cancel();
    // Calls fn(ctx) once, from the Poller, when the peer hangs up (EPOLLRDHUP / EPOLLHUP)
    // while no reader waits: how an owner that is not reading notices a client going away.
    // Replaces an earlier watch; clear_hangup_watch() drops it. A plain function pointer, so a
    // watch per request costs two stores.
    void watch_hangup(void (*fn)(void*), void* ctx) {
      hangup_fn_ = fn;
      hangup_ctx_ = ctx;
    }
    void clear_hangup_watch() { hangup_fn_ = nullptr; }

   private:
    friend class Poller;
    template <class Token>
    auto wait(WaitHandler& slot, bool& flag, Token&& token) {
      return boost::asio::async_initiate<Token, void(error_code)>(
          [this, &slot, &flag](auto handler) {
            if (flag || dead_) {
              // Already ready (or torn down): complete at once, through the loop so the
              // caller's stack does not grow.
              poller_->post_now(std::move(handler), dead_);
              return;
            }
            slot.emplace(std::move(handler));
          },
          token);
    }
    Poller* poller_ = nullptr;
    int fd_ = -1;
    bool readable_ = true;
    bool writable_ = true;
    bool hup_ = false;
    bool dead_ = false;
    WaitHandler reader_;
    WaitHandler writer_;
    void (*hangup_fn_)(void*) = nullptr;
    void* hangup_ctx_ = nullptr;
    Handle* next_free_ = nullptr;
  };

  explicit Poller(boost::asio::io_context& loop);
  ~Poller();
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  // The Poller of the runtime loop running on this thread (null elsewhere).
  static Poller* current();
  static void set_current(Poller* p);

  // Registers a non-blocking socket. Throws std::system_error if epoll refuses it.
  Handle* add(int fd);
  // Deregisters; pending waits complete with operation_aborted. Call before close(fd).
  void remove(Handle* h);
  // Teardown, before the loop is destroyed: drops every parked waiter (their coroutines are
  // destroyed through the loop) and closes the private epoll set. Afterwards remove() only
  // marks handles dead.
  void shutdown();
  boost::asio::io_context& loop() { return loop_; }

  // Waits for the first of two readiness events: `a` readable (writable if a_write) or `b`
  // readable (writable if b_write); the handles may be the same socket's. Completes with
  // (error_code, which): which is 0 for a, 1 for b; the other wait is withdrawn. A cancel()
  // of either handle completes it with operation_aborted. How the proxy notices an upstream
  // answering early while it waits for the client's body, or for room to send it.
  template <class Token>
  auto wait_either(Handle& a, bool a_write, Handle& b, bool b_write, Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code, int)>(
        [this, &a, a_write, &b, b_write](auto handler) {
          using H = decltype(handler);
          const bool a_ready = (a_write ? a.writable_ : a.readable_) || a.dead_;
          const bool b_ready = (b_write ? b.writable_ : b.readable_) || b.dead_;
          if (a_ready || b_ready) {
            const int which = a_ready ? 0 : 1;
            const bool dead = a_ready ? a.dead_ : b.dead_;
            boost::asio::post(loop_, [h = std::move(handler), which, dead]() mutable {
              std::move(h)(dead ? error_code(boost::asio::error::operation_aborted) : error_code{},
                           which);
            });
            return;
          }
          auto st = std::make_shared<Either<H>>(std::move(handler));
          st->slots[0] = a_write ? &a.writer_ : &a.reader_;
          st->slots[1] = b_write ? &b.writer_ : &b.reader_;
          st->slots[0]->emplace([st](const error_code& ec) { st->fire(0, ec); });
          st->slots[1]->emplace([st](const error_code& ec) { st->fire(1, ec); });
        },
        token);
  }

  // True while the Poller is delivering a batch of readiness events (the caller runs inside
  // a waiter it resumed).
  bool in_batch() const { return in_batch_; }
  // Parks the caller until every event of the current batch has been delivered, then resumes
  // it (still inside the batch, before the next epoll_wait). Writers use it to send together
  // at the end of a batch: a peer woken by the first of those sends finds the rest ready when
  // it runs, instead of being woken (and preempting this thread) once per send spread over
  // the batch. Outside a batch it completes at once through the loop (operation_aborted
  // once shut down); callers check in_batch() first to skip that.
  template <class Token>
  auto at_batch_end(Token&& token) {
    return boost::asio::async_initiate<Token, void(error_code)>(
        [this](auto handler) {
          if (!in_batch_ || shut_down_) {
            post_now(std::move(handler), shut_down_);
            return;
          }
          batch_end_.emplace_back();
          batch_end_.back().emplace(std::move(handler));
        },
        token);
  }

 private:
  template <class H>
  struct Either {
    explicit Either(H h) : handler(std::move(h)) {}
    void fire(int which, const error_code& ec) {
      if (done) return;
      done = true;
      slots[1 - which]->reset();  // withdraw the other wait (it holds a copy of this state)
      std::move(handler)(ec, which);
    }
    H handler;
    WaitHandler* slots[2] = {nullptr, nullptr};
    bool done = false;
  };
  template <class H>
  void post_now(H handler, bool aborted);
  // Called by the loop's reactor whenever the set becomes ready: queues one pass.
  void schedule_pass();
  void on_ready();
  // After a pass: frees handles removed during it, and queues another pass when `more`
  // readiness may be waiting.
  void end_batch(bool more);
  void release(Handle* h);
  void hold_loop(bool hold);

  struct Registration;  // the set's entry in the loop's reactor (poller.cpp)

  boost::asio::io_context& loop_;
  int epfd_ = -1;
  std::unique_ptr<Registration> reg_;
  bool pass_queued_ = false;
  bool holding_loop_ = false;
  // Owns every Handle ever made, in blocks of kSlabBlock: handles live as long as their
  // sockets, the transient allocations of a connection (its coroutine frames, its buffers)
  // come and go between them, and a handle per malloc chunk pinned a page of freed memory
  // each (8,000 idle connections kept ~6 MiB of free heap resident; docs/benchmarks.md).
  static constexpr std::size_t kSlabBlock = 64;
  std::vector<std::unique_ptr<Handle[]>> slab_;
  std::size_t slab_used_ = kSlabBlock;  // handles taken from slab_.back()
  Handle* free_ = nullptr;
  std::vector<Handle*> deferred_;       // removed during a batch; freed after it
  std::vector<WaitHandler> batch_end_;  // parked by at_batch_end()
  std::vector<WaitHandler> resuming_;   // batch_end_ being resumed (capacity reused)
  std::size_t registered_ = 0;
  bool in_batch_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // false once shut down
  bool shut_down_ = false;
};

}  // namespace tenx::core

template <class H>
void tenx::core::Poller::post_now(H handler, bool aborted) {
  boost::asio::post(loop_, [h = std::move(handler), aborted]() mutable {
    std::move(h)(aborted ? error_code(boost::asio::error::operation_aborted) : error_code{});
  });
}
