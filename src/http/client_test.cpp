// In-process tests of http::Client: connection reuse and its rules, timeouts, and responses the
// tenx server never sends (close-delimited, malformed, interim), from hand-written upstreams.
#include "http/client.h"

#include "http/router.h"
#include "http/server.h"
#include "http/test_harness.h"

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace tenx::http {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using test_support::exchange_streamed;
using test_support::open_raw_listener;
using test_support::read_until_async;
using test_support::request_head;
using test_support::send;
using test_support::serve_raw_once;
using test_support::sleep_for;
using test_support::StreamedExchange;
using test_support::TestRuntime;
using test_support::TestServer;

// Requests seen by the server, per client port: one port per TCP connection.
struct PeerLog {
  std::mutex mu;
  std::map<unsigned short, int> by_port;

  void record(const Exchange& ex) {
    std::lock_guard lock(mu);
    ++by_port[ex.peer().port()];
  }
  std::map<unsigned short, int> snapshot() {
    std::lock_guard lock(mu);
    return by_port;
  }
};

// /keep answers normally, /close with Connection: close, /slow after a second, /trickle
// streams a byte every 50 ms for five seconds.
Handler upstream(std::shared_ptr<PeerLog> log) {
  Router r;
  r.get("/keep", [log](Exchange& ex) -> awaitable<void> {
    log->record(ex);
    ex.respond(200, "text/plain", "kept");
    co_return;
  });
  r.post("/keep", [log](Exchange& ex) -> awaitable<void> {
    log->record(ex);
    std::string body;
    co_await ex.read_body(body);
    ex.respond(200, "text/plain", "posted " + body);
  });
  r.get("/close", [log](Exchange& ex) -> awaitable<void> {
    log->record(ex);
    ex.close_after();
    ex.respond(200, "text/plain", "closing");
    co_return;
  });
  r.get("/slow", [log](Exchange& ex) -> awaitable<void> {
    log->record(ex);
    co_await sleep_for(1s);
    ex.respond(200, "text/plain", "late");
  });
  r.get("/trickle", [log](Exchange& ex) -> awaitable<void> {
    log->record(ex);
    if (co_await ex.start_response(200, {}, std::nullopt)) co_return;
    for (int i = 0; i < 100; ++i) {
      co_await sleep_for(50ms);
      if (co_await ex.write_body("x")) co_return;  // the client went away
    }
    co_await ex.end_response();
  });
  return Router::into_handler(std::move(r));
}

struct Upstream {
  explicit Upstream(ServerLimits limits = {})
      : log(std::make_shared<PeerLog>()), server(upstream(log), limits) {}
  std::shared_ptr<PeerLog> log;
  TestServer server;
};

using Pair = std::pair<Result<ClientResponse>, Result<ClientResponse>>;

// ---- connection reuse ----

TEST(Client, ReusesKeepAliveConnectionForSecondRequest) {
  Upstream up;
  const auto ep = up.server.endpoint();
  struct Out {
    Pair responses;
    std::size_t idle = 0;
  };
  auto out = up.server.on_loop([ep]() -> awaitable<Out> {
    Client client(co_await asio::this_coro::executor);
    auto a = co_await send(client, ep, Verb::get, "/keep");
    auto b = co_await send(client, ep, Verb::get, "/keep");
    co_return Out{{std::move(a), std::move(b)}, client.idle_connections()};
  });
  auto& [a, b] = out.responses;
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(a->body, "kept");
  EXPECT_EQ(b->body, "kept");
  EXPECT_FALSE(a->reused_connection);
  EXPECT_TRUE(b->reused_connection);
  EXPECT_EQ(out.idle, 1u);
  const auto seen = up.log->snapshot();
  ASSERT_EQ(seen.size(), 1u);  // one TCP connection on the server side
  EXPECT_EQ(seen.begin()->second, 2);
}

TEST(Client, PostOnReusedConnectionSendsBody) {
  Upstream up;
  const auto ep = up.server.endpoint();
  auto [a, b] = up.server.on_loop([ep]() -> awaitable<Pair> {
    Client client(co_await asio::this_coro::executor);
    auto a = co_await send(client, ep, Verb::post, "/keep", "one");
    auto b = co_await send(client, ep, Verb::post, "/keep", "two");
    co_return Pair{std::move(a), std::move(b)};
  });
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(a->body, "posted one");
  EXPECT_EQ(b->body, "posted two");
  EXPECT_TRUE(b->reused_connection);
}

TEST(Client, ReleaseDoesNotPoolConnectionAnsweredWithClose) {
  Upstream up;
  const auto ep = up.server.endpoint();
  struct Out {
    StreamedExchange closed, first_keep, second_keep;
  };
  auto out = up.server.on_loop([ep]() -> awaitable<Out> {
    Client client(co_await asio::this_coro::executor);
    Out o;
    const std::vector<std::string> close = {request_head(Verb::get, "/close", ep)};
    const std::vector<std::string> keep = {request_head(Verb::get, "/keep", ep)};
    o.closed = co_await exchange_streamed(client, ep, close);
    o.first_keep = co_await exchange_streamed(client, ep, keep);
    o.second_keep = co_await exchange_streamed(client, ep, keep);
    co_return o;
  });
  ASSERT_EQ(out.closed.error, "");
  EXPECT_EQ(out.closed.body, "closing");
  EXPECT_FALSE(out.closed.keep_alive);
  EXPECT_EQ(out.closed.idle_after_release, 0u);
  // The next exchange needed a new connection, which (answered normally) was pooled and reused.
  ASSERT_EQ(out.first_keep.error, "");
  EXPECT_FALSE(out.first_keep.reused);
  EXPECT_EQ(out.first_keep.idle_after_release, 1u);
  ASSERT_EQ(out.second_keep.error, "");
  EXPECT_TRUE(out.second_keep.reused);
  EXPECT_EQ(up.log->snapshot().size(), 2u);
}

TEST(Client, BufferedRequestAnsweredWithCloseLeavesPoolEmpty) {
  Upstream up;
  const auto ep = up.server.endpoint();
  struct Out {
    Pair responses;
    std::size_t idle_after_close = 0;
  };
  auto out = up.server.on_loop([ep]() -> awaitable<Out> {
    Client client(co_await asio::this_coro::executor);
    auto a = co_await send(client, ep, Verb::get, "/close");
    const auto idle = client.idle_connections();
    auto b = co_await send(client, ep, Verb::get, "/keep");
    co_return Out{{std::move(a), std::move(b)}, idle};
  });
  auto& [a, b] = out.responses;
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->header("Connection"), "close");
  EXPECT_EQ(out.idle_after_close, 0u);
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_FALSE(b->reused_connection);
}

// Waits (bounded) until the server has no connection open, then a little longer so the FIN
// it sent has reached the client's socket.
awaitable<bool> server_closed_all(const Server& server) {
  const auto deadline = std::chrono::steady_clock::now() + test_support::kWait;
  while (server.active_connections() > 0) {
    if (std::chrono::steady_clock::now() > deadline) co_return false;
    co_await sleep_for(10ms);
  }
  co_await sleep_for(20ms);
  co_return true;
}

TEST(Client, AcquireDropsPooledConnectionTheServerClosed) {
  ServerLimits limits;
  limits.idle_timeout = 100ms;
  Upstream up(limits);
  const auto ep = up.server.endpoint();
  const Server* server = &up.server.server();
  struct Out {
    std::string error;
    std::size_t idle_before = 0;
    bool acquired_reused = true;
    static Out failed(std::string e) {
      Out o;
      o.error = std::move(e);
      return o;
    }
  };
  auto out = up.server.on_loop([ep, server]() -> awaitable<Out> {
    Client client(co_await asio::this_coro::executor);
    auto a = co_await send(client, ep, Verb::get, "/keep");
    if (!a) co_return Out::failed("first request: " + a.error().message());
    if (!co_await server_closed_all(*server))
      co_return Out::failed("server kept its idle connection");
    Out o;
    o.idle_before = client.idle_connections();
    auto c = co_await client.acquire(ep);
    if (!c) co_return Out::failed("acquire: " + c.error().message());
    o.acquired_reused = (*c)->reused();
    co_return o;
  });
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.idle_before, 1u);  // still pooled: only the peek can tell it is dead
  EXPECT_FALSE(out.acquired_reused);
}

TEST(Client, RequestSucceedsAfterServerClosedPooledConnection) {
  ServerLimits limits;
  limits.idle_timeout = 100ms;
  Upstream up(limits);
  const auto ep = up.server.endpoint();
  const Server* server = &up.server.server();
  auto [a, b] = up.server.on_loop([ep, server]() -> awaitable<Pair> {
    Client client(co_await asio::this_coro::executor);
    auto a = co_await send(client, ep, Verb::get, "/keep");
    co_await server_closed_all(*server);
    auto b = co_await send(client, ep, Verb::get, "/keep");
    co_return Pair{std::move(a), std::move(b)};
  });
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "kept");
  EXPECT_FALSE(b->reused_connection);
  EXPECT_EQ(up.log->snapshot().size(), 2u);
}

// ---- failures ----

TEST(Client, ReportsRefusedConnect) {
  TestRuntime rt;
  rt.start();
  auto r = rt.on_loop([]() -> awaitable<Result<ClientResponse>> {
    auto ex = co_await asio::this_coro::executor;
    tcp::endpoint ep;
    {
      // Bound, then closed: nothing listens on the port now.
      tcp::acceptor a(ex, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
      ep = a.local_endpoint();
    }
    Client client(ex);
    co_return co_await send(client, ep, Verb::get, "/");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), asio::error::connection_refused) << r.error().message();
}

TEST(Client, TimesOutWaitingForSlowResponse) {
  Upstream up;
  const auto ep = up.server.endpoint();
  struct Out {
    Result<ClientResponse> response;
    std::size_t idle = 0;
  };
  auto out = up.server.on_loop([ep]() -> awaitable<Out> {
    ClientOptions opts;
    opts.read_timeout = 100ms;  // the handler answers after a second
    Client client(co_await asio::this_coro::executor, opts);
    auto r = co_await send(client, ep, Verb::get, "/slow");
    co_return Out{std::move(r), client.idle_connections()};
  });
  ASSERT_FALSE(out.response);
  EXPECT_EQ(out.response.error(), core::Errc::timeout) << out.response.error().message();
  EXPECT_EQ(out.idle, 0u);
}

TEST(Client, TotalTimeoutEndsResponseThatKeepsTrickling) {
  Upstream up;
  const auto ep = up.server.endpoint();
  auto r = up.server.on_loop([ep]() -> awaitable<Result<ClientResponse>> {
    ClientOptions opts;
    opts.read_timeout = 5s;  // never reached: a byte arrives every 50 ms
    opts.total_timeout = 300ms;
    Client client(co_await asio::this_coro::executor, opts);
    co_return co_await send(client, ep, Verb::get, "/trickle");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), core::Errc::timeout) << r.error().message();
}

TEST(Client, RefusesBufferedBodyOverMaxBodyBytes) {
  Upstream up;
  const auto ep = up.server.endpoint();
  auto r = up.server.on_loop([ep]() -> awaitable<Result<ClientResponse>> {
    ClientOptions opts;
    opts.max_body_bytes = 3;  // "kept" is four bytes
    Client client(co_await asio::this_coro::executor, opts);
    co_return co_await send(client, ep, Verb::get, "/keep");
  });
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), core::Errc::limit_exceeded) << r.error().message();
}

// ---- responses from hand-written upstreams ----

struct RawOut {
  Result<ClientResponse> response;
  std::size_t idle = 0;
};

// One request to an upstream that answers with `replies` (pausing between them) and closes.
RawOut request_raw(TestRuntime& rt, std::vector<std::string> replies,
                   std::chrono::milliseconds pause = 10ms) {
  return rt.on_loop([replies, pause]() mutable -> awaitable<RawOut> {
    auto acceptor = co_await open_raw_listener();
    const auto ep = acceptor->local_endpoint();
    asio::co_spawn(co_await asio::this_coro::executor,
                   serve_raw_once(acceptor, std::move(replies), pause), asio::detached);
    Client client(co_await asio::this_coro::executor);
    auto r = co_await send(client, ep, Verb::get, "/");
    RawOut out{std::move(r), client.idle_connections()};
    acceptor->close();
    co_return out;
  });
}

TEST(Client, ReadsBodyDelimitedByCloseAndDoesNotPoolIt) {
  TestRuntime rt;
  rt.start();
  const std::string big(100'000, 'z');
  // HTTP/1.1, no Content-Length, no chunking, no Connection: close: only the close ends it.
  auto out = request_raw(
      rt, {"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n", "first-", big, "-last"});
  ASSERT_TRUE(out.response) << out.response.error().message();
  EXPECT_EQ(out.response->status, 200u);
  EXPECT_EQ(out.response->body, "first-" + big + "-last");
  EXPECT_EQ(out.idle, 0u);
}

TEST(Client, ReadsHttp10ResponseDelimitedByClose) {
  TestRuntime rt;
  rt.start();
  auto out = request_raw(rt, {"HTTP/1.0 200 OK\r\n\r\n", "old ", "style"});
  ASSERT_TRUE(out.response) << out.response.error().message();
  EXPECT_EQ(out.response->body, "old style");
  EXPECT_EQ(out.idle, 0u);
}

// An upstream that answers its i-th connection with replies[i] (read the request, write the
// reply, close), counting the connections it accepted.
awaitable<void> answer_each_connection(std::shared_ptr<tcp::acceptor> acceptor,
                                       std::vector<std::string> replies,
                                       std::shared_ptr<int> accepted) {
  for (const auto& reply : replies) {
    auto [ec, s] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    ++*accepted;
    co_await read_until_async(s, "\r\n\r\n");
    co_await asio::async_write(s, asio::buffer(reply), asio::as_tuple(asio::use_awaitable));
    boost::system::error_code ignored;
    s.shutdown(tcp::socket::shutdown_send, ignored);
    s.close(ignored);
  }
}

// A GET whose first connection gets `first_reply`; a retry would be answered with "retried".
std::pair<Result<ClientResponse>, int> get_with_retry_bait(TestRuntime& rt,
                                                           std::string first_reply) {
  return rt.on_loop([first_reply]() -> awaitable<std::pair<Result<ClientResponse>, int>> {
    auto acceptor = co_await open_raw_listener();
    const auto ep = acceptor->local_endpoint();
    auto accepted = std::make_shared<int>(0);
    std::vector<std::string> replies = {first_reply,
                                        "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nretried"};
    asio::co_spawn(co_await asio::this_coro::executor,
                   answer_each_connection(acceptor, std::move(replies), accepted), asio::detached);
    Client client(co_await asio::this_coro::executor);
    auto r = co_await send(client, ep, Verb::get, "/");
    acceptor->close();
    co_return std::pair{std::move(r), *accepted};
  });
}

TEST(Client, ReportsTruncatedBodyAsClosedWithoutRetrying) {
  TestRuntime rt;
  rt.start();
  auto [r, accepted] =
      get_with_retry_bait(rt, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this");
  ASSERT_FALSE(r) << r->body;
  EXPECT_EQ(r.error(), core::Errc::closed) << r.error().message();
  // Part of the response arrived: sending the request again is not the documented retry.
  EXPECT_EQ(accepted, 1);
}

TEST(Client, DoesNotRetryWhenFreshConnectionClosesWithoutAnswer) {
  TestRuntime rt;
  rt.start();
  auto [r, accepted] = get_with_retry_bait(rt, "");
  ASSERT_FALSE(r) << r->body;
  EXPECT_EQ(r.error(), core::Errc::closed) << r.error().message();
  EXPECT_EQ(accepted, 1);  // only a reused connection is retried
}

TEST(Client, RejectsMalformedStatusLine) {
  TestRuntime rt;
  rt.start();
  auto out = request_raw(rt, {"garbage\r\n\r\n"});
  ASSERT_FALSE(out.response);
  EXPECT_EQ(out.response.error(), core::Errc::bad_input) << out.response.error().message();
  EXPECT_EQ(out.idle, 0u);
}

TEST(Client, SkipsInterimResponsesBeforeFinalOne) {
  TestRuntime rt;
  rt.start();
  // 100 alone, then 103 and the final response in one read.
  auto out = request_raw(rt, {"HTTP/1.1 100 Continue\r\n\r\n",
                              "HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                              "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Final: yes\r\n\r\nfinal"});
  ASSERT_TRUE(out.response) << out.response.error().message();
  EXPECT_EQ(out.response->status, 200u);
  EXPECT_EQ(out.response->body, "final");
  EXPECT_EQ(out.response->header("X-Final"), "yes");
  EXPECT_FALSE(out.response->header("Link"));  // headers are the final response's only
}

// Upstream for the retry tests: on its first connection it answers one request, then reads
// the next one and closes without answering (a keep-alive race the peek cannot see); a second
// connection, if any, is answered with "retried".
awaitable<void> answer_then_drop(std::shared_ptr<tcp::acceptor> acceptor,
                                 std::shared_ptr<int> accepted, std::string second_needle) {
  auto [e1, s1] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
  if (e1) co_return;
  ++*accepted;
  co_await read_until_async(s1, "\r\n\r\n");
  const std::string first = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst";
  co_await asio::async_write(s1, asio::buffer(first), asio::as_tuple(asio::use_awaitable));
  co_await read_until_async(s1, second_needle);
  boost::system::error_code ignored;
  s1.close(ignored);
  auto [e2, s2] = co_await acceptor->async_accept(asio::as_tuple(asio::use_awaitable));
  if (e2) co_return;
  ++*accepted;
  co_await read_until_async(s2, "\r\n\r\n");
  const std::string again = "HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\nretried";
  co_await asio::async_write(s2, asio::buffer(again), asio::as_tuple(asio::use_awaitable));
}

struct RetryOut {
  Pair responses;
  int accepted = 0;
};

RetryOut request_twice_on_dropping_upstream(TestRuntime& rt, Verb second, std::string second_body) {
  return rt.on_loop([second, second_body]() -> awaitable<RetryOut> {
    auto acceptor = co_await open_raw_listener();
    const auto ep = acceptor->local_endpoint();
    auto accepted = std::make_shared<int>(0);
    const std::string needle = second_body.empty() ? "\r\n\r\n" : second_body;
    asio::co_spawn(co_await asio::this_coro::executor, answer_then_drop(acceptor, accepted, needle),
                   asio::detached);
    Client client(co_await asio::this_coro::executor);
    auto a = co_await send(client, ep, Verb::get, "/");
    auto b = co_await send(client, ep, second, "/", second_body);
    acceptor->close();
    co_return RetryOut{{std::move(a), std::move(b)}, *accepted};
  });
}

TEST(Client, RetriesIdempotentRequestOnceWhenReusedConnectionWasDropped) {
  TestRuntime rt;
  rt.start();
  auto out = request_twice_on_dropping_upstream(rt, Verb::get, "");
  auto& [a, b] = out.responses;
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->body, "first");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "retried");
  EXPECT_FALSE(b->reused_connection);
  EXPECT_EQ(out.accepted, 2);
}

TEST(Client, DoesNotRetryPostWhenReusedConnectionWasDropped) {
  TestRuntime rt;
  rt.start();
  auto out = request_twice_on_dropping_upstream(rt, Verb::post, "payload");
  auto& [a, b] = out.responses;
  ASSERT_TRUE(a) << a.error().message();
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error(), core::Errc::closed) << b.error().message();
  EXPECT_EQ(out.accepted, 1);  // the request may have had an effect: it is not sent again
}

}  // namespace
}  // namespace tenx::http
