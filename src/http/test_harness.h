#pragma once
// In-process harness for the HTTP server and client tests (server_test.cpp, client_test.cpp).
//
// TestRuntime runs a one-thread core::Runtime (no signal handling) on a background std::thread.
// Coroutines are spawned onto its worker loop with spawn() / on_loop(); anything that belongs
// to that loop (a Client, a raw acceptor) is created and used inside those coroutines.
// TestServer adds an http::Server on 127.0.0.1:0. Every wait is bounded by kWait, a generous
// upper bound that only keeps a broken test from hanging; no test depends on speed.
//
// Gate and Notification pass "go" / "happened" between the test thread and the loop; both
// share their state, so copies captured by handlers stay valid whatever the destruction order.
#include "core/runtime.h"
#include "http/client.h"
#include "http/server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace tenx::http::test_support {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Upper bound for any wait in these tests: generous, so only a hang trips it.
inline constexpr std::chrono::seconds kWait{10};

template <class A>
struct AwaitableValue;
template <class T, class E>
struct AwaitableValue<asio::awaitable<T, E>> {
  using type = T;
};

// Suspends the calling coroutine for d.
inline asio::awaitable<void> sleep_for(std::chrono::steady_clock::duration d) {
  asio::steady_timer t(co_await asio::this_coro::executor, d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

class TestRuntime {
 public:
  explicit TestRuntime(std::chrono::milliseconds drain_timeout = std::chrono::seconds(5))
      : runtime_(core::RuntimeOptions{1, drain_timeout, false}) {}
  ~TestRuntime() { stop(); }
  TestRuntime(const TestRuntime&) = delete;
  TestRuntime& operator=(const TestRuntime&) = delete;

  void start() {
    thread_ = std::thread([this] { exit_code_ = runtime_.run(); });
  }
  // Starts the drain and waits for run() to return; returns its status (0 clean).
  int stop() {
    if (thread_.joinable()) {
      runtime_.stop();
      thread_.join();
    }
    return exit_code_;
  }

  core::Runtime& runtime() { return runtime_; }
  asio::io_context& loop() { return runtime_.loop(0); }

  // Runs the coroutine f() on the worker loop; the future gets its value or exception.
  template <class F>
  auto spawn(F f) {
    using T = typename AwaitableValue<std::invoke_result_t<F&>>::type;
    auto done = std::make_shared<std::promise<T>>();
    auto fut = done->get_future();
    asio::co_spawn(
        loop(),
        [done, f = std::move(f)]() mutable -> asio::awaitable<void> {
          try {
            if constexpr (std::is_void_v<T>) {
              co_await f();
              done->set_value();
            } else {
              done->set_value(co_await f());
            }
          } catch (...) {
            done->set_exception(std::current_exception());
          }
        },
        asio::detached);
    return fut;
  }

  // spawn() and wait (bounded by kWait) for the value.
  template <class F>
  auto on_loop(F f) {
    auto fut = spawn(std::move(f));
    if (fut.wait_for(kWait) != std::future_status::ready)
      throw std::runtime_error("coroutine on the loop did not finish in time");
    return fut.get();
  }

 private:
  core::Runtime runtime_;
  std::thread thread_;
  int exit_code_ = -1;  // written by the runtime thread, read after join()
};

inline ServerOptions local_options(ServerLimits limits = {},
                                   std::function<void()> on_connections_changed = {}) {
  ServerOptions o;
  o.listen = "127.0.0.1:0";
  o.limits = limits;
  o.on_connections_changed = std::move(on_connections_changed);
  return o;
}

// State that another thread changes, waited on without polling: the changer calls changed()
// after each change; wait_until(pred) re-checks pred at each one and returns whether it held
// within kWait.
class Changes {
 public:
  void changed() const {
    std::lock_guard lock(state_->mu);
    ++state_->version;
    state_->cv.notify_all();
  }
  template <class Pred>
  bool wait_until(Pred pred) const {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, kWait, [&] { return pred(); });
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    std::uint64_t version = 0;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// A Server on 127.0.0.1:0 in its own running TestRuntime.
class TestServer {
 public:
  explicit TestServer(Handler handler, ServerLimits limits = {})
      : server_(rt_.runtime(), local_options(limits, [c = connection_changes_] { c.changed(); }),
                std::move(handler)) {
    server_.start();
    rt_.start();
  }
  ~TestServer() { rt_.stop(); }

  Server& server() { return server_; }
  TestRuntime& rt() { return rt_; }
  tcp::endpoint endpoint() const { return server_.local_endpoint(); }
  int stop() { return rt_.stop(); }

  template <class F>
  auto on_loop(F f) {
    return rt_.on_loop(std::move(f));
  }
  template <class F>
  auto spawn(F f) {
    return rt_.spawn(std::move(f));
  }

 private:
  TestRuntime rt_;
  Changes connection_changes_;  // before server_: the server's options hold a copy
  Server server_;

 public:
  // Signalled whenever the server's active or parked connection count changes.
  const Changes& connection_changes() const { return connection_changes_; }
};

// "Happened" from the loop to the test thread (like absl::Notification).
class Notification {
 public:
  void notify() const {
    std::lock_guard lock(state_->mu);
    state_->done = true;
    state_->cv.notify_all();
  }
  bool wait() const {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, kWait, [&] { return state_->done; });
  }

 private:
  struct State {
    std::mutex mu;
    std::condition_variable cv;
    bool done = false;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// "Go" from any thread to coroutines on one loop: wait() suspends until open() has run.
class Gate {
 public:
  asio::awaitable<void> wait() const {
    auto st = state_;
    if (st->open) co_return;
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
    st->waiting.push_back(&t);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    st->waiting.erase(std::find(st->waiting.begin(), st->waiting.end(), &t));
  }
  // Opens the gate; the waiters on `loop` resume there.
  void open(asio::io_context& loop) const {
    asio::post(loop, [st = state_] {
      st->open = true;
      for (auto* t : st->waiting) t->cancel();
    });
  }

 private:
  struct State {
    bool open = false;
    std::vector<asio::steady_timer*> waiting;  // touched only on the loop
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Sends one buffered request. Parameters are taken by value: they live in the coroutine frame.
inline asio::awaitable<Result<ClientResponse>> send(Client& client, tcp::endpoint ep, Verb method,
                                                    std::string target, std::string body = {},
                                                    std::vector<Header> headers = {}) {
  ClientRequest req;
  req.method = method;
  req.target = target;
  req.body = body;
  req.headers = headers;
  co_return co_await client.request(ep, req);
}

// GET `target` from `s` on a client of its own, waiting on the test thread.
inline Result<ClientResponse> get_once(TestServer& s, std::string target) {
  const auto ep = s.endpoint();
  return s.on_loop([ep, target]() -> asio::awaitable<Result<ClientResponse>> {
    Client client(co_await asio::this_coro::executor);
    co_return co_await send(client, ep, Verb::get, target);
  });
}

// What a hand-framed exchange over a ClientConnection produced.
struct StreamedExchange {
  std::string error;  // the step that failed and why, or "" when the exchange went through
  unsigned status = 0;
  bool keep_alive = true;
  bool reused = false;
  std::string body;
  std::size_t idle_after_release = 0;  // the client's pool size once the connection went back

  static StreamedExchange failed(std::string what) {
    StreamedExchange e;
    e.error = std::move(what);
    return e;
  }
};

// Acquires a connection, writes each of `parts` (already framed) with `pause` between them,
// reads the response to its end and releases the connection.
inline asio::awaitable<StreamedExchange> exchange_streamed(
    Client& client, tcp::endpoint ep, std::vector<std::string> parts,
    std::chrono::milliseconds pause = std::chrono::milliseconds(0), bool head_request = false) {
  auto c = co_await client.acquire(ep);
  if (!c) co_return StreamedExchange::failed("acquire: " + c.error().message());
  auto& conn = **c;
  StreamedExchange out;
  out.reused = conn.reused();
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0 && pause.count() > 0) co_await sleep_for(pause);
    const std::string_view part[] = {parts[i]};
    if (auto ec = co_await conn.write(part))
      co_return StreamedExchange::failed("write: " + ec.message());
  }
  auto head = co_await conn.read_head(head_request);
  if (!head) co_return StreamedExchange::failed("read_head: " + head.error().message());
  out.status = (*head)->status;
  out.keep_alive = (*head)->keep_alive;
  for (;;) {
    auto piece = co_await conn.read_body_some();
    if (!piece) co_return StreamedExchange::failed("body: " + piece.error().message());
    if (piece->empty()) break;
    out.body.append(*piece);
  }
  client.release(std::move(*c));
  out.idle_after_release = client.idle_connections();
  co_return out;
}

// A request head for `target` (Host added), as exchange_streamed() sends it.
inline std::string request_head(Verb method, std::string_view target, const tcp::endpoint& ep,
                                std::vector<Header> headers = {}) {
  ClientRequest req;
  req.method = method;
  req.target = target;
  req.headers = headers;
  std::string out;
  Client::write_request_head(out, req, ep);
  return out;
}

// Reads a socket until `needle` has arrived (or EOF / error); returns what was read.
inline asio::awaitable<std::string> read_until_async(tcp::socket& s, std::string_view needle) {
  std::string in;
  char buf[4096];
  while (in.find(needle) == std::string::npos) {
    auto [ec, n] =
        co_await s.async_read_some(asio::buffer(buf), asio::as_tuple(asio::use_awaitable));
    if (ec) break;
    in.append(buf, n);
  }
  co_return in;
}

// A hand-written upstream for the client tests: accepts one connection, reads a request head,
// writes each of `replies` (pausing between them so they arrive as separate reads), then closes.
inline asio::awaitable<void> serve_raw_once(std::shared_ptr<tcp::acceptor> acceptor,
                                            std::vector<std::string> replies,
                                            std::chrono::milliseconds pause) {
  auto [aec, s] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
  if (aec) co_return;
  co_await read_until_async(s, "\r\n\r\n");
  for (std::size_t i = 0; i < replies.size(); ++i) {
    if (i > 0 && pause.count() > 0) co_await sleep_for(pause);
    auto [wec, n] = co_await asio::async_write(s, asio::buffer(replies[i]),
                                               asio::as_tuple(asio::use_awaitable));
    if (wec) co_return;
  }
  boost::system::error_code ignored;
  s.shutdown(tcp::socket::shutdown_send, ignored);
  s.close(ignored);
}

// Opens a listener on 127.0.0.1:0 on the calling coroutine's loop.
inline asio::awaitable<std::shared_ptr<tcp::acceptor>> open_raw_listener() {
  auto a = std::make_shared<tcp::acceptor>(co_await asio::this_coro::executor,
                                           tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  co_return a;
}

// A blocking socket for the test thread, with a receive timeout so a read never hangs.
class BlockingSocket {
 public:
  explicit BlockingSocket(const tcp::endpoint& ep) : socket_(io_) {
    socket_.connect(ep);
    timeval tv{static_cast<time_t>(kWait.count()), 0};
    ::setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  }
  void send(std::string_view data) { asio::write(socket_, asio::buffer(data)); }
  // Reads until `needle` arrived, EOF, or an error (the receive timeout included).
  std::string read_until(std::string_view needle) {
    while (in_.find(needle) == std::string::npos) {
      if (!read_some()) break;
    }
    return in_;
  }
  // Reads until the peer closes; true if EOF was seen (false: error or timeout).
  bool read_to_eof() {
    for (;;) {
      char buf[4096];
      boost::system::error_code ec;
      const auto n = socket_.read_some(asio::buffer(buf), ec);
      if (ec == asio::error::eof) return true;
      if (ec) return false;
      in_.append(buf, n);
    }
  }
  const std::string& received() const { return in_; }

 private:
  bool read_some() {
    char buf[4096];
    boost::system::error_code ec;
    const auto n = socket_.read_some(asio::buffer(buf), ec);
    if (ec) return false;
    in_.append(buf, n);
    return true;
  }
  asio::io_context io_;
  tcp::socket socket_;
  std::string in_;
};

}  // namespace tenx::http::test_support
