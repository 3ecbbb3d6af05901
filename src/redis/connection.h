#pragma once
// Connection: one TCP connection to Redis on one event loop, pipelining every command in
// flight (replies are matched to commands in order, RESP's rule), reconnecting by itself.
//
// Owned by one loop: create it, call exec() and destroy it on that loop's thread only; it
// needs no lock. The socket is a plain non-blocking descriptor watched by the loop's
// core::Poller (one recv per readiness edge, no epoll_ctl per wait, as the HTTP code), and
// every wait is a callback, not a coroutine: a parked connection costs no frame.
//
// Life of a command: exec() appends its RESP bytes to the output buffer and its completion to
// the in-flight queue; the buffer is written once per loop turn (commands issued together leave
// in one send); each reply read completes the oldest command, inline, on the loop.
//
// States and what exec() does in each:
//   idle        never connected: starts connecting, queues the command
//   connecting  TCP connect + handshake (AUTH, SELECT) in progress: queues it (it is sent
//               right after the handshake, whose replies come first)
//   ready       sends it
//   backoff     the last attempt failed or the connection was lost: fails it at once with
//               Errc::disconnected (no hang), until the next attempt; attempts are spaced by
//               exponential backoff with full jitter (reconnect_delay())
//   closing     close() was called: fails new commands; the socket closes once the commands
//               in flight have their replies
//   closed      fails every command with Errc::disconnected
// A connection that dies completes its in-flight commands with Errc::connection_lost (queued
// but unsent ones, when the connect itself failed, with Errc::disconnected).
//
// Timeouts: connect_timeout bounds connect + handshake; each command has a deadline
// (command_timeout unless given) after which it completes with Errc::timeout and its reply,
// when it comes, is dropped. Deadlines are checked by one timer per connection ticking while
// commands are in flight (every command_timeout / 4, within [1 ms, 250 ms]): a command times out
// between its deadline and one tick later. A server silent for command_timeout past the oldest
// deadline is taken for dead (a stopped process, a lost network): the connection is dropped
// and reconnects.
//
// Subscriber mode (subscriber.h): pub/sub pushes (`message`, `pmessage`) go to on_push, not to
// the command queue; only confirmations and PING replies complete commands.
//
// Lifetime: wait and timer callbacks hold a weak reference, so the owner's last shared_ptr
// ends it (on the loop thread); waits in flight then complete into nothing.
#include "core/poller.h"
#include "core/result.h"
#include "redis/command.h"
#include "redis/errors.h"
#include "redis/reply.h"
#include "redis/url.h"

#include <boost/asio/async_result.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>

namespace tenx::redis {

struct Options {
  Url url;
  std::chrono::milliseconds connect_timeout{1'000};
  std::chrono::milliseconds command_timeout{1'000};
  std::chrono::milliseconds reconnect_min{50};     // first retry after at most this
  std::chrono::milliseconds reconnect_max{5'000};  // backoff ceiling
  std::size_t max_in_flight = 100'000;             // beyond: Errc::overloaded
  std::size_t max_reply_bytes = 64 << 20;          // one reply; beyond: Errc::reply_too_large
  std::string client_name = "tenx";                // CLIENT SETNAME (empty: none)
};

// The wait before reconnect attempt `attempt` (0 for the first after a failure): full jitter
// over an exponential ceiling, min(reconnect_max, reconnect_min * 2^attempt) * u, u = `unit`
// in [0, 1) from the caller's random source; never below 1 ms.
std::chrono::milliseconds reconnect_delay(const Options& options, unsigned attempt, double unit);

class Metrics;  // redis/metrics.h

// A move-only `void(error_code, Reply)` completion (std::move_only_function is C++23).
class ReplyHandler {
 public:
  ReplyHandler() = default;
  template <class H>
  explicit ReplyHandler(H h) : impl_(std::make_unique<Impl<H>>(std::move(h))) {}
  void operator()(const error_code& ec, Reply r) {
    auto impl = std::move(impl_);
    impl->call(ec, std::move(r));
  }
  explicit operator bool() const { return impl_ != nullptr; }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call(const error_code& ec, Reply r) = 0;
  };
  template <class H>
  struct Impl final : Base {
    explicit Impl(H h) : h(std::move(h)) {}
    void call(const error_code& ec, Reply r) override { std::move(h)(ec, std::move(r)); }
    H h;
  };
  std::unique_ptr<Base> impl_;
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  enum class State { idle, connecting, ready, backoff, closing, closed };
  struct Events {
    std::function<void()> on_ready;        // after each successful connect + handshake
    std::function<void()> on_lost;         // a ready connection went down
    std::function<void(Reply&&)> on_push;  // subscriber mode: a pushed message
  };

  Connection(core::Poller& poller, Options options, Metrics& metrics, Events events = {},
             bool subscriber = false);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Completes with (error_code, Reply): a transport error (errors.h), or the server's reply,
  // an error reply included (Reply::server_error() names it). `timeout` zero: the default.
  template <class Token>
  auto exec(Command cmd, Token&& token, std::chrono::milliseconds timeout = {}) {
    return boost::asio::async_initiate<Token, void(error_code, Reply)>(
        [this](auto handler, Command c, std::chrono::milliseconds t) {
          submit(c, ReplyHandler(std::move(handler)), t);
        },
        token, std::move(cmd), timeout);
  }
  // Connects now rather than on the first command.
  void start();
  // Graceful: new commands fail, commands in flight get their replies, then the socket
  // closes and no reconnect follows.
  void close();

  State state() const { return state_; }
  std::size_t in_flight() const { return pending_.size(); }
  std::uint64_t connects() const { return connects_; }  // successful connects so far
  boost::asio::io_context& loop() { return poller_.loop(); }

  // Tests: the socket is shut down as if the network had dropped it (the peer sees nothing).
  void break_for_test();

 private:
  struct Pending {
    ReplyHandler handler;  // empty once completed (timeout): the reply is then dropped
    std::string name;      // command name, for metrics
    std::chrono::steady_clock::time_point started;
    std::chrono::steady_clock::time_point deadline;
    bool internal = false;  // handshake / subscriber bookkeeping: no metrics
  };

  void submit(const Command& cmd, ReplyHandler handler, std::chrono::milliseconds timeout);
  void fail_soon(ReplyHandler handler, Errc e, std::string_view name);
  void begin_connect();
  void connect_to(const boost::asio::ip::tcp::endpoint& ep);
  void on_connected();
  void queue_internal(const Command& cmd, std::function<void(Reply&&)> done, bool front);
  void schedule_flush();
  void flush();
  void wait_readable();
  void on_readable();
  void deliver(Reply&& reply);
  void complete(Pending& p, const error_code& ec, Reply r);
  void fail(const error_code& why);
  void enter_backoff();
  void arm_sweep();
  void sweep();
  void close_socket();
  void log_failure(const std::string& what) const;
  void maybe_finish_close();

  core::Poller& poller_;
  const Options options_;
  Metrics& metrics_;
  Events events_;
  const bool subscriber_;
  State state_ = State::idle;
  bool handshaken_ = false;  // the handshake's replies are in: on_ready ran
  int fd_ = -1;
  core::Poller::Handle* handle_ = nullptr;
  std::unique_ptr<ReplyReader> reader_;
  std::string out_;              // bytes not yet written
  std::size_t out_written_ = 0;  // of out_, already sent
  bool flush_posted_ = false;
  bool write_waiting_ = false;
  bool read_waiting_ = false;
  std::deque<Pending> pending_;      // in order of writing
  boost::asio::steady_timer timer_;  // connect timeout, backoff
  boost::asio::steady_timer sweep_;  // command deadlines
  bool sweep_armed_ = false;
  boost::asio::ip::tcp::resolver resolver_;
  unsigned attempt_ = 0;  // failed attempts since the last success
  std::uint64_t connects_ = 0;
  std::uint64_t epoch_ = 0;  // bumped per connect attempt: stale callbacks tell themselves apart
  std::uint64_t rng_;
};

}  // namespace tenx::redis
