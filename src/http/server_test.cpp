// In-process tests of http::Server with Router, the JSON helpers, HealthChecks and the metrics
// handler, driven by http::Client (and a raw socket where framing must be hand-written).
#include "http/server.h"

#include "core/blocking_pool.h"
#include "core/check.h"
#include "http/client.h"
#include "http/health.h"
#include "http/json.h"
#include "http/router.h"
#include "http/test_harness.h"

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <atomic>
#include <future>
#include <initializer_list>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace tenx::http {
namespace {

namespace asio = boost::asio;
using asio::awaitable;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
using test_support::BlockingSocket;
using test_support::exchange_streamed;
using test_support::Gate;
using test_support::Notification;
using test_support::request_head;
using test_support::send;
using test_support::StreamedExchange;
using test_support::TestServer;

// Answers "<size>:<body>" so a test sees both the byte count and the de-chunked bytes.
awaitable<void> echo(Exchange& ex) {
  std::string body;
  if (auto ec = co_await ex.read_body(body)) {
    ex.respond_error(400, "bad_body", ec.message());
    co_return;
  }
  ex.respond(200, "text/plain", std::to_string(body.size()) + ":" + body);
}

awaitable<void> hello(Exchange& ex) {
  ex.respond(200, "text/plain", "hello");
  co_return;
}

boost::json::object json_of(const ClientResponse& r) {
  boost::system::error_code ec;
  auto v = boost::json::parse(r.body, ec);
  if (ec || !v.is_object()) return {};
  return v.as_object();
}

// The string at `path` in the JSON body, or "" when absent.
std::string json_str(const ClientResponse& r, std::initializer_list<std::string_view> path) {
  boost::json::value v = json_of(r);
  const boost::json::value* cur = &v;
  for (auto key : path) {
    if (!cur->is_object()) return {};
    cur = cur->as_object().if_contains(key);
    if (!cur) return {};
  }
  return cur->is_string() ? std::string(cur->as_string()) : std::string();
}

std::string error_code_of(const ClientResponse& r) { return json_str(r, {"error"}); }

// A response from one request on a fresh client.
Result<ClientResponse> fetch(TestServer& s, Verb method, std::string target, std::string body = {},
                             std::vector<Header> headers = {}) {
  const auto ep = s.endpoint();
  return s.on_loop([=]() -> awaitable<Result<ClientResponse>> {
    Client client(co_await asio::this_coro::executor);
    co_return co_await send(client, ep, method, target, body, headers);
  });
}

// Sends `target` twice on one client: the second exchange reuses the connection only if the
// first response was framed exactly.
std::pair<Result<ClientResponse>, Result<ClientResponse>> fetch_twice(TestServer& s, Verb first,
                                                                      Verb second,
                                                                      std::string target) {
  const auto ep = s.endpoint();
  return s.on_loop([=]() -> awaitable<std::pair<Result<ClientResponse>, Result<ClientResponse>>> {
    Client client(co_await asio::this_coro::executor);
    auto a = co_await send(client, ep, first, target);
    auto b = co_await send(client, ep, second, target);
    co_return std::pair{std::move(a), std::move(b)};
  });
}

// ---- request bodies ----

TEST(Server, ReadsContentLengthRequestBody) {
  Router r;
  r.post("/echo", echo);
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::post, "/echo", "hello world");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 200u);
  EXPECT_EQ(resp->body, "11:hello world");
}

TEST(Server, DechunksChunkedRequestBodySentInSeveralWrites) {
  Router r;
  r.post("/echo", echo);
  TestServer s(Router::into_handler(std::move(r)));
  const auto ep = s.endpoint();

  auto out = s.on_loop([ep]() -> awaitable<StreamedExchange> {
    Client client(co_await asio::this_coro::executor);
    // Separate writes, so the server reads the body in several pieces. (The list is built
    // outside the co_await: GCC rejects string literals in a braced list there.)
    std::vector<std::string> parts = {
        request_head(Verb::post, "/echo", ep, {{"Transfer-Encoding", "chunked"}}), "5\r\nhello\r\n",
        "6\r\n world\r\n", "1a\r\nabcdefghijklmnopqrstuvwxyz\r\n", "0\r\n\r\n"};
    co_return co_await exchange_streamed(client, ep, std::move(parts), 10ms);
  });
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.status, 200u);
  EXPECT_EQ(out.body, "37:hello worldabcdefghijklmnopqrstuvwxyz");
  EXPECT_EQ(out.idle_after_release, 1u);  // the chunked request was read to its end
}

TEST(Server, SendsInterim100ContinueWhenHandlerReadsBody) {
  Router r;
  r.post("/echo", echo);
  TestServer s(Router::into_handler(std::move(r)));

  // Raw, so the test sees the interim response that Client skips.
  BlockingSocket sock(s.endpoint());
  sock.send("POST /echo HTTP/1.1\r\nHost: t\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n");
  const auto interim = sock.read_until("\r\n\r\n");
  EXPECT_EQ(interim.rfind("HTTP/1.1 100 Continue\r\n", 0), 0u) << interim;
  sock.send("abc");
  const auto all = sock.read_until("3:abc");
  EXPECT_NE(all.find("HTTP/1.1 200 OK\r\n"), std::string::npos) << all;
  EXPECT_NE(all.find("3:abc"), std::string::npos) << all;
}

// ---- streamed responses ----

TEST(Server, StreamsChunkedResponseThatArrivesWhole) {
  Router r;
  r.get("/stream", [](Exchange& ex) -> awaitable<void> {
    const Header h[] = {{"Content-Type", "text/plain"}};
    if (co_await ex.start_response(200, h, std::nullopt)) co_return;
    for (std::string_view piece : {"alpha,", "beta,", "gamma"})
      if (co_await ex.write_body(piece)) co_return;
    co_await ex.end_response();
  });
  TestServer s(Router::into_handler(std::move(r)));

  auto [a, b] = fetch_twice(s, Verb::get, Verb::get, "/stream");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->status, 200u);
  EXPECT_EQ(a->body, "alpha,beta,gamma");
  EXPECT_EQ(a->header("Transfer-Encoding"), "chunked");
  EXPECT_FALSE(a->header("Content-Length"));
  // The last chunk ended the message exactly, so the connection was clean to reuse.
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "alpha,beta,gamma");
  EXPECT_TRUE(b->reused_connection);
}

TEST(Server, StreamsResponseWithContentLength) {
  Router r;
  r.get("/sized", [](Exchange& ex) -> awaitable<void> {
    const Header h[] = {{"Content-Type", "text/plain"}};
    if (co_await ex.start_response(200, h, 11)) co_return;
    if (co_await ex.write_body("hello ")) co_return;
    if (co_await ex.write_body("world")) co_return;
    co_await ex.end_response();
  });
  TestServer s(Router::into_handler(std::move(r)));

  auto [a, b] = fetch_twice(s, Verb::get, Verb::get, "/sized");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->status, 200u);
  EXPECT_EQ(a->body, "hello world");
  EXPECT_EQ(a->header("Content-Length"), "11");
  EXPECT_FALSE(a->header("Transfer-Encoding"));
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_TRUE(b->reused_connection);
}

TEST(Server, CompleteStartedResponseGoesOutWhileTheHandlerKeepsWorking) {
  // A response whose whole body came with start_response waits for the end of the readiness
  // batch, not for the handler: here the handler stays busy for 2 s after answering.
  Router r;
  r.get("/answer-then-work", [](Exchange& ex) -> awaitable<void> {
    const Header h[] = {{"Content-Type", "text/plain"}};
    if (co_await ex.start_response(200, h, 5, "hello")) co_return;
    asio::steady_timer work(co_await asio::this_coro::executor, std::chrono::seconds(2));
    co_await work.async_wait(asio::as_tuple(asio::use_awaitable));
  });
  TestServer s(Router::into_handler(std::move(r)));
  const auto started = std::chrono::steady_clock::now();
  auto resp = fetch(s, Verb::get, "/answer-then-work");
  const auto took = std::chrono::steady_clock::now() - started;
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 200u);
  EXPECT_EQ(resp->body, "hello");
  EXPECT_LT(took, std::chrono::milliseconds(1500)) << "the response waited for the handler";
}

TEST(Server, ClosesConnectionWhenStreamedBodyIsShorterThanAnnounced) {
  std::atomic<bool> end_failed{false};
  Router r;
  r.get("/short", [&end_failed](Exchange& ex) -> awaitable<void> {
    if (co_await ex.start_response(200, {}, 10)) co_return;
    if (co_await ex.write_body("abc")) co_return;
    end_failed = static_cast<bool>(co_await ex.end_response());
  });
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/short");
  // The head promised 10 bytes; the client can only learn of the shortfall by the close.
  ASSERT_FALSE(resp);
  EXPECT_EQ(resp.error(), core::Errc::closed);
  EXPECT_TRUE(end_failed);
}

// ---- HEAD ----

TEST(Server, AnswersHeadOnGetRouteWithLengthButNoBody) {
  Router r;
  r.get("/doc", hello);
  TestServer s(Router::into_handler(std::move(r)));

  auto [head, get] = fetch_twice(s, Verb::head, Verb::get, "/doc");
  ASSERT_TRUE(head) << head.error().message();
  EXPECT_EQ(head->status, 200u);
  EXPECT_EQ(head->body, "");
  EXPECT_EQ(head->header("Content-Length"), "5");
  // Had the body been sent, it would have been read as the next response's status line.
  ASSERT_TRUE(get) << get.error().message();
  EXPECT_EQ(get->body, "hello");
  EXPECT_TRUE(get->reused_connection);
}

TEST(Server, AnswersHeadOnStreamedChunkedRouteWithoutChunks) {
  Router r;
  r.get("/stream", [](Exchange& ex) -> awaitable<void> {
    if (co_await ex.start_response(200, {}, std::nullopt)) co_return;
    if (co_await ex.write_body("data")) co_return;
    co_await ex.end_response();
  });
  TestServer s(Router::into_handler(std::move(r)));

  auto [head, get] = fetch_twice(s, Verb::head, Verb::get, "/stream");
  ASSERT_TRUE(head) << head.error().message();
  EXPECT_EQ(head->status, 200u);
  EXPECT_EQ(head->body, "");
  ASSERT_TRUE(get) << get.error().message();
  EXPECT_EQ(get->body, "data");
  EXPECT_TRUE(get->reused_connection);
}

TEST(Server, AnswersHeadOnStreamedSizedRouteAndKeepsConnection) {
  std::atomic<int> end_errors{0};
  Router r;
  r.get("/sized", [&end_errors](Exchange& ex) -> awaitable<void> {
    if (co_await ex.start_response(200, {}, 4)) co_return;
    if (co_await ex.write_body("data")) co_return;
    if (co_await ex.end_response()) ++end_errors;
  });
  TestServer s(Router::into_handler(std::move(r)));

  auto [head, get] = fetch_twice(s, Verb::head, Verb::get, "/sized");
  ASSERT_TRUE(head) << head.error().message();
  EXPECT_EQ(head->status, 200u);
  EXPECT_EQ(head->header("Content-Length"), "4");
  EXPECT_EQ(head->body, "");
  ASSERT_TRUE(get) << get.error().message();
  EXPECT_EQ(get->body, "data");
  // The HEAD response said keep-alive; the server must not then close the connection.
  EXPECT_TRUE(get->reused_connection);
  EXPECT_EQ(end_errors, 0);
}

// ---- routing ----

TEST(Server, PassesPathParamsToHandler) {
  Router r;
  r.get("/users/{id}/posts/{post}", [](Exchange& ex) -> awaitable<void> {
    ex.respond(200, "text/plain",
               std::string(ex.param("id").value_or("?")) + "|" +
                   std::string(ex.param("post").value_or("?")) + "|" +
                   std::string(ex.param("missing").value_or("none")));
    co_return;
  });
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/users/42/posts/7?sort=new");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 200u);
  EXPECT_EQ(resp->body, "42|7|none");
}

TEST(Server, AnswersUnknownPathWith404Json) {
  Router r;
  r.get("/doc", hello);
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/nope");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 404u);
  EXPECT_EQ(resp->header("Content-Type"), "application/json");
  EXPECT_EQ(error_code_of(*resp), "not_found");
}

TEST(Server, AnswersWrongMethodWith405JsonAndAllow) {
  Router r;
  r.get("/doc", hello);
  r.put("/doc", hello);
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::post, "/doc", "x");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 405u);
  EXPECT_EQ(resp->header("Content-Type"), "application/json");
  EXPECT_EQ(error_code_of(*resp), "method_not_allowed");
  auto allow = std::string(resp->header("Allow").value_or(""));
  EXPECT_NE(allow.find("GET"), std::string::npos) << allow;
  EXPECT_NE(allow.find("PUT"), std::string::npos) << allow;
  EXPECT_EQ(allow.find("POST"), std::string::npos) << allow;
}

// ---- failures inside handlers ----

TEST(Server, AnswersHandlerExceptionWith500AndKeepsServing) {
  Router r;
  r.get("/boom", [](Exchange&) -> awaitable<void> {
    throw std::runtime_error("handler exploded");
    co_return;
  });
  r.get("/doc", hello);
  TestServer s(Router::into_handler(std::move(r)));
  const auto ep = s.endpoint();

  auto [boom, after] =
      s.on_loop([ep]() -> awaitable<std::pair<Result<ClientResponse>, Result<ClientResponse>>> {
        Client client(co_await asio::this_coro::executor);
        auto a = co_await send(client, ep, Verb::get, "/boom");
        auto b = co_await send(client, ep, Verb::get, "/doc");
        co_return std::pair{std::move(a), std::move(b)};
      });
  ASSERT_TRUE(boom) << boom.error().message();
  EXPECT_EQ(boom->status, 500u);
  EXPECT_EQ(boom->header("Content-Type"), "application/json");
  EXPECT_EQ(error_code_of(*boom), "internal");
  ASSERT_TRUE(after) << after.error().message();
  EXPECT_EQ(after->status, 200u);
  EXPECT_EQ(after->body, "hello");
  // A fresh client too: the server itself is still accepting.
  auto fresh = fetch(s, Verb::get, "/doc");
  ASSERT_TRUE(fresh) << fresh.error().message();
  EXPECT_EQ(fresh->status, 200u);
}

// ---- JSON bodies ----

awaitable<void> json_echo(Exchange& ex) {
  auto v = co_await read_json_body(ex);
  if (!v) co_return;  // read_json_body answered
  respond_json(ex, 200, boost::json::object{{"got", *v}});
}

Handler json_router() {
  Router r;
  r.post("/json", json_echo);
  return Router::into_handler(std::move(r));
}

const std::vector<Header> kJson = {{"Content-Type", "application/json"}};

TEST(Server, ReadsWellFormedJsonBody) {
  TestServer s(json_router());
  auto resp = fetch(s, Verb::post, "/json", R"({"a":[1,2]})", kJson);
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 200u);
  EXPECT_EQ(resp->header("Content-Type"), "application/json");
  EXPECT_EQ(boost::json::value(json_of(*resp)), boost::json::parse(R"({"got":{"a":[1,2]}})"));
}

TEST(Server, RejectsMalformedJsonWith400) {
  TestServer s(json_router());
  auto resp = fetch(s, Verb::post, "/json", R"({"a":)", kJson);
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 400u);
  EXPECT_EQ(error_code_of(*resp), "malformed_json");
}

TEST(Server, RejectsNonJsonContentTypeWith415) {
  TestServer s(json_router());
  auto resp = fetch(s, Verb::post, "/json", R"({"a":1})", {{"Content-Type", "text/plain"}});
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 415u);
  EXPECT_EQ(error_code_of(*resp), "unsupported_media_type");
}

TEST(Server, RejectsContentLengthOverBodyLimitWith413) {
  ServerLimits limits;
  limits.max_body_bytes = 64;
  TestServer s(json_router(), limits);
  const std::string big = R"({"pad":")" + std::string(200, 'x') + R"("})";
  auto resp = fetch(s, Verb::post, "/json", big, kJson);
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 413u);
  EXPECT_EQ(error_code_of(*resp), "body_too_large");
  EXPECT_EQ(resp->header("Connection"), "close");
}

TEST(Server, RejectsChunkedJsonBodyOverLimitWith413) {
  ServerLimits limits;
  limits.max_body_bytes = 64;
  TestServer s(json_router(), limits);
  const auto ep = s.endpoint();

  // Chunked, so the size is only known while reading: read_json_body answers the 413.
  const std::string chunk = "28\r\n" + std::string(40, ' ') + "\r\n";
  auto out = s.on_loop([ep, chunk]() -> awaitable<StreamedExchange> {
    Client client(co_await asio::this_coro::executor);
    std::vector<std::string> parts = {
        request_head(Verb::post, "/json", ep,
                     {{"Transfer-Encoding", "chunked"}, {"Content-Type", "application/json"}}) +
        chunk + chunk + chunk + "0\r\n\r\n"};
    co_return co_await exchange_streamed(client, ep, std::move(parts));
  });
  ASSERT_EQ(out.error, "");
  EXPECT_EQ(out.status, 413u);
  EXPECT_NE(out.body.find("body_too_large"), std::string::npos) << out.body;
  EXPECT_FALSE(out.keep_alive);  // the rest of the body is unread: the connection must close
}

// ---- blocking work ----

TEST(Server, HandlerResumesOnLoopThreadAfterBlockingPoolRun) {
  core::BlockingPool pool(1, 8);
  struct Seen {
    std::thread::id before, job, after;
    std::size_t index_after = 99;
  };
  auto seen = std::make_shared<Seen>();
  Router r;
  r.get("/pool", [&pool, seen](Exchange& ex) -> awaitable<void> {
    seen->before = std::this_thread::get_id();
    // A named job, not a temporary lambda inside the co_await: GCC 12 destroys such a
    // temporary's captures twice (a compiler bug ASan caught here).
    auto job = [seen] {
      seen->job = std::this_thread::get_id();
      return 6 * 7;
    };
    auto v = co_await pool.run(std::move(job));
    seen->after = std::this_thread::get_id();
    seen->index_after = core::Runtime::current_index();
    ex.respond(200, "text/plain", v ? std::to_string(*v) : "error: " + v.error().message());
  });
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/pool");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->body, "42");
  EXPECT_NE(seen->job, seen->before);  // the job ran on a pool thread
  EXPECT_EQ(seen->after, seen->before);
  EXPECT_EQ(seen->index_after, 0u);
}

// ---- health and metrics ----

HealthCheck passing(std::string message) {
  return [message]() -> awaitable<CheckResult> { co_return CheckResult{true, message}; };
}

TEST(Server, ReportsHealthyWhenEveryCheckPasses) {
  HealthChecks health;
  health.add("db", 1s, passing("reachable"));
  health.add("disk", 1s, passing("plenty"));
  Router r;
  r.get("/health", health.handler());
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/health");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 200u);
  EXPECT_EQ(resp->header("Cache-Control"), "no-store");
  EXPECT_EQ(json_str(*resp, {"status"}), "healthy") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "db", "status"}), "pass") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "db", "message"}), "reachable") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "disk", "status"}), "pass") << resp->body;
}

TEST(Server, ReportsUnhealthyWith503WhenOneCheckFails) {
  HealthChecks health;
  health.add("db", 1s, passing("reachable"));
  health.add("disk", 1s, []() -> awaitable<CheckResult> {
    co_return CheckResult{false, "disk full"};
  });
  Router r;
  r.get("/health", health.handler());
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/health");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 503u);
  EXPECT_EQ(resp->header("Cache-Control"), "no-store");
  EXPECT_EQ(json_str(*resp, {"status"}), "unhealthy") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "db", "status"}), "pass") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "disk", "status"}), "fail") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "disk", "message"}), "disk full") << resp->body;
}

TEST(Server, ReportsDegradedWith200WhenOnlyAnOptionalCheckFails) {
  auto failing = []() -> awaitable<CheckResult> { co_return CheckResult{false, "redis down"}; };
  HealthChecks health;
  health.add("db", 1s, passing("reachable"));
  health.add("cache", 1s, failing, HealthChecks::Need::optional);
  Router r;
  r.get("/health", health.handler());
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/health");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 200u) << "a load balancer keeps it in service";
  EXPECT_EQ(json_str(*resp, {"status"}), "degraded") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "cache", "status"}), "warn") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "cache", "message"}), "redis down") << resp->body;

  HealthChecks both;
  both.add("db", 1s, failing);
  both.add("cache", 1s, failing, HealthChecks::Need::optional);
  Router r2;
  r2.get("/health", both.handler());
  TestServer s2(Router::into_handler(std::move(r2)));
  auto down = fetch(s2, Verb::get, "/health");
  ASSERT_TRUE(down);
  EXPECT_EQ(down->status, 503u) << "a required check failing is still unhealthy";
  EXPECT_EQ(json_str(*down, {"status"}), "unhealthy");
}

TEST(Server, ReportsCheckSlowerThanItsTimeoutAsFailed) {
  // The slow check waits on a timer far longer than the test's own bound; the report must not
  // wait for it. The gate lets it finish afterwards so the runtime drains cleanly.
  Gate release;
  HealthChecks health;
  health.add("fast", 1s, passing("ok"));
  health.add("slow", 50ms, [release]() -> awaitable<CheckResult> {
    co_await release.wait();
    co_return CheckResult{true, "late"};
  });
  Router r;
  r.get("/health", health.handler());
  TestServer s(Router::into_handler(std::move(r)));

  auto resp = fetch(s, Verb::get, "/health");
  release.open(s.rt().loop());
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 503u);
  EXPECT_EQ(json_str(*resp, {"status"}), "unhealthy") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "fast", "status"}), "pass") << resp->body;
  EXPECT_EQ(json_str(*resp, {"checks", "slow", "status"}), "fail") << resp->body;
  EXPECT_NE(json_str(*resp, {"checks", "slow", "message"}).find("timed out"), std::string::npos)
      << resp->body;
  EXPECT_EQ(s.stop(), 0);
}

TEST(Server, AHangingDiskCheckDoesNotHoldTheLoop) {
  // statvfs stuck on a dead mount: the loop must go on serving while it hangs.
  static std::promise<void>* release = nullptr;
  std::promise<void> p;
  release = &p;
  HealthChecks::set_statvfs_for_test([](const char*, struct statvfs*) {
    release->get_future().wait();
    return -1;
  });
  HealthChecks health;
  health.add("disk", 100ms, HealthChecks::disk_space("/", 0));
  Router r;
  r.get("/health", health.handler());
  r.get("/hello", hello);
  TestServer s(Router::into_handler(std::move(r)));
  auto resp = fetch(s, Verb::get, "/health");  // the check times out; statvfs still hangs
  auto hello_resp = fetch(s, Verb::get, "/hello");
  p.set_value();
  HealthChecks::set_statvfs_for_test(nullptr);
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 503u);
  EXPECT_NE(json_str(*resp, {"checks", "disk", "message"}).find("timed out"), std::string::npos)
      << resp->body;
  ASSERT_TRUE(hello_resp) << hello_resp.error().message();
  EXPECT_EQ(hello_resp->body, "hello");
}

TEST(Server, MetricsCountRequestsPerRouteAndStatus) {
  // The registry is process-wide: a route label of this test's own keeps counts apart.
  static std::atomic<int> run{0};
  const std::string pattern = "/metrics-probe-" + std::to_string(run++) + "/{id}";
  Router r;
  r.get(pattern, hello);
  r.get("/metrics", metrics_handler());
  TestServer s(Router::into_handler(std::move(r)));
  const std::string base = pattern.substr(0, pattern.find("/{id}"));

  for (const auto* id : {"/1", "/2"}) {
    auto resp = fetch(s, Verb::get, base + id);
    ASSERT_TRUE(resp) << resp.error().message();
    ASSERT_EQ(resp->status, 200u);
  }
  auto refused = fetch(s, Verb::delete_, base + "/3");
  ASSERT_TRUE(refused) << refused.error().message();
  ASSERT_EQ(refused->status, 405u);

  auto m = fetch(s, Verb::get, "/metrics");
  ASSERT_TRUE(m) << m.error().message();
  EXPECT_EQ(m->status, 200u);
  EXPECT_NE(m->body.find("http_requests_total{method=\"GET\",route=\"" + pattern +
                         "\",status=\"200\"} 2\n"),
            std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("http_requests_total{method=\"DELETE\",route=\"" + pattern +
                         "\",status=\"405\"} 1\n"),
            std::string::npos)
      << m->body;
}

// ---- hot reload ----

Handler answering(std::string text) {
  return [text](Exchange& ex) -> awaitable<void> {
    ex.respond(200, "text/plain", text);
    co_return;
  };
}

TEST(Server, SetHandlerSwapsHandlerForNewRequests) {
  TestServer s(answering("first"));
  auto a = fetch(s, Verb::get, "/");
  ASSERT_TRUE(a) << a.error().message();
  EXPECT_EQ(a->body, "first");

  s.server().set_handler(answering("second"));
  auto b = fetch(s, Verb::get, "/");
  ASSERT_TRUE(b) << b.error().message();
  EXPECT_EQ(b->body, "second");
}

TEST(Server, SetHandlerLeavesInFlightRequestOnOldHandler) {
  Gate gate;
  Notification started;
  TestServer s([gate, started](Exchange& ex) -> awaitable<void> {
    started.notify();
    co_await gate.wait();
    ex.respond(200, "text/plain", "old");
  });
  const auto ep = s.endpoint();
  auto in_flight = s.spawn([ep]() -> awaitable<Result<ClientResponse>> {
    Client client(co_await asio::this_coro::executor);
    co_return co_await send(client, ep, Verb::get, "/");
  });
  ASSERT_TRUE(started.wait());

  s.server().set_handler(answering("new"));
  auto fresh = fetch(s, Verb::get, "/");
  gate.open(s.rt().loop());
  ASSERT_EQ(in_flight.wait_for(test_support::kWait), std::future_status::ready);
  auto old = in_flight.get();

  ASSERT_TRUE(fresh) << fresh.error().message();
  EXPECT_EQ(fresh->body, "new");
  ASSERT_TRUE(old) << old.error().message();
  EXPECT_EQ(old->body, "old");
}

// ---- pipelining ----

TEST(Server, AnswersPipelinedRequestsInOrder) {
  Router r;
  r.get("/a", answering("A"));
  r.get("/b", answering("B"));
  TestServer s(Router::into_handler(std::move(r)));

  BlockingSocket sock(s.endpoint());
  sock.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\n");
  const auto got = sock.read_until("\r\n\r\nB");
  const auto a = got.find("\r\n\r\nA");
  const auto b = got.find("\r\n\r\nB");
  ASSERT_NE(a, std::string::npos) << got;
  ASSERT_NE(b, std::string::npos) << got;
  EXPECT_LT(a, b);
}

TEST(Server, AnswersPipelinedRequestBeforeRejectingMalformedOne) {
  Router r;
  r.get("/a", answering("A"));
  TestServer s(Router::into_handler(std::move(r)));

  BlockingSocket sock(s.endpoint());
  // One write, so the good request's response is still queued when the bad head is parsed.
  sock.send("GET /a HTTP/1.1\r\nHost: t\r\n\r\nNOT AN HTTP REQUEST\r\n\r\n");
  EXPECT_TRUE(sock.read_to_eof());
  const auto& got = sock.received();
  const auto ok = got.find("HTTP/1.1 200 OK\r\n");
  const auto bad = got.find("HTTP/1.1 400 Bad Request\r\n");
  ASSERT_NE(ok, std::string::npos) << got;
  ASSERT_NE(bad, std::string::npos) << got;
  EXPECT_LT(ok, bad);
}

// ---- drain ----

// ---- clients that go away, refused uploads ----

TEST(Server, WatchSeesTheClientGoWhileTheHandlerWorks) {
  Notification seen;
  struct Watch {
    Notification seen;
    asio::steady_timer* wake = nullptr;  // the handler's wait, ended by the watch
  };
  auto watch = std::make_shared<Watch>(Watch{seen});
  const auto bugs = core::bug_count();
  TestServer s([watch](Exchange& ex) -> awaitable<void> {
    if (ex.request().target == "/quick") {
      ex.respond(200, "text/plain", "quick");
      co_return;
    }
    // Waits for the watch itself, not a poll: the callback ends the timer's wait (kWait only
    // bounds a broken test).
    asio::steady_timer wake(co_await asio::this_coro::executor, test_support::kWait);
    watch->wake = &wake;
    ex.watch_client(
        [](void* p) {
          auto* w = static_cast<Watch*>(p);
          w->seen.notify();
          if (w->wake) w->wake->cancel();
        },
        watch.get());
    // The close may already have been seen when the watch begins (the FIN came with the
    // request): then client_gone() says so at once and the callback is not called.
    if (ex.client_gone()) {
      watch->seen.notify();
    } else {
      co_await wake.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    watch->wake = nullptr;
    ex.unwatch_client();
    ex.abandon();  // no response: nobody is there
  });
  {
    BlockingSocket c(s.endpoint());
    c.send(request_head(Verb::get, "/slow", s.endpoint()));
  }  // closes
  EXPECT_TRUE(seen.wait()) << "the handler never learnt that its client left";
  auto r = fetch(s, Verb::get, "/quick");
  ASSERT_TRUE(r) << r.error().message();
  EXPECT_EQ(r->body, "quick");
  EXPECT_EQ(core::bug_count(), bugs);
}

TEST(Server, ClientThatStopsMidBodyGets408) {
  ServerLimits limits;
  limits.body_timeout = 200ms;
  // As the proxy: a body that fails is the server's to answer.
  TestServer s(
      [](Exchange& ex) -> awaitable<void> {
        std::string body;
        if (co_await ex.read_body(body)) co_return;
        ex.respond(200, "text/plain", body);
      },
      limits);
  BlockingSocket c(s.endpoint());
  c.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nonly ten b");
  const auto got = c.read_until("\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 408 ", 0), 0u) << got;
}

TEST(Server, RefusedUploadLingersSoTheClientCanFinishSending) {
  ServerLimits limits;
  limits.max_body_bytes = 64;
  TestServer s(echo, limits);
  BlockingSocket c(s.endpoint());
  // One send: the body is on its way when the head is refused, as with any real upload.
  c.send("POST /x HTTP/1.1\r\nHost: t\r\nContent-Length: 400000\r\n\r\n" +
         std::string(100'000, 'x'));
  const auto got = c.read_until("\r\n\r\n");
  EXPECT_EQ(got.rfind("HTTP/1.1 413 ", 0), 0u) << got.substr(0, 80);
  // The server's next move is the signal: a lingering close stops sending (FIN: end of
  // stream here) and goes on reading; closing outright with the body unread resets instead.
  EXPECT_TRUE(c.read_to_eof()) << "the connection was reset, not closed";
  // A client that sends its whole body before it reads (most do) must not be reset midway:
  // a reset can destroy the answer before it is read.
  bool sends_ok = true;
  for (int i = 0; i < 3 && sends_ok; ++i) {
    try {
      c.send(std::string(100'000, 'y'));
    } catch (const std::exception&) {
      sends_ok = false;
    }
  }
  EXPECT_TRUE(sends_ok) << "the server reset the connection while the client was still sending";
}

// ---- parked idle connections (ServerLimits::idle_park_after) ----

ServerLimits parking_limits() {
  ServerLimits l;
  l.idle_park_after = 20ms;
  return l;
}

TEST(Server, AnIdleConnectionIsParkedAndServesItsNextRequestsAsBefore) {
  Router r;
  r.get("/n/{i}", [](Exchange& ex) -> awaitable<void> {
    ex.respond(200, "text/plain", "answer-" + std::string(ex.param("i").value_or("?")));
    co_return;
  });
  ServerLimits limits = parking_limits();
  limits.max_requests_per_connection = 3;
  TestServer s(Router::into_handler(std::move(r)), limits);
  BlockingSocket c(s.endpoint());
  for (int i = 1; i <= 3; ++i) {
    const std::string n = std::to_string(i);
    c.send("GET /n/" + n + " HTTP/1.1\r\nHost: t\r\n\r\n");
    const std::string got = c.read_until("answer-" + n);
    ASSERT_NE(got.find("answer-" + n), std::string::npos) << "request " << i;
    if (i < 3) {
      ASSERT_TRUE(s.connection_changes().wait_until([&] {
        return s.server().parked_connections() == 1;
      })) << "request "
          << i << ": not parked";
      EXPECT_EQ(s.server().active_connections(), 1u) << "a parked connection is still open";
    }
  }
  // The request count went on across the parkings: the third was the last.
  EXPECT_NE(c.received().find("Connection: close"), std::string::npos) << c.received();
  EXPECT_TRUE(c.read_to_eof());
  EXPECT_TRUE(
      s.connection_changes().wait_until([&] { return s.server().active_connections() == 0; }));
  EXPECT_EQ(s.server().parked_connections(), 0u);
}

TEST(Server, AParkedConnectionIsClosedAtItsIdleTimeout) {
  Router r;
  r.get("/doc", hello);
  ServerLimits limits = parking_limits();
  limits.idle_timeout = 300ms;
  TestServer s(Router::into_handler(std::move(r)), limits);
  BlockingSocket c(s.endpoint());
  c.send("GET /doc HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_NE(c.read_until("hello").find("hello"), std::string::npos);
  ASSERT_TRUE(
      s.connection_changes().wait_until([&] { return s.server().parked_connections() == 1; }));
  const auto parked_at = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.read_to_eof()) << "closed by the server, quietly";
  EXPECT_GE(std::chrono::steady_clock::now() - parked_at, 200ms)
      << "kept until its idle timeout (300 ms from its last request), not closed on parking";
  EXPECT_TRUE(
      s.connection_changes().wait_until([&] { return s.server().active_connections() == 0; }));
  EXPECT_EQ(s.server().parked_connections(), 0u);
}

TEST(Server, DrainClosesParkedConnections) {
  Router r;
  r.get("/doc", hello);
  TestServer s(Router::into_handler(std::move(r)), parking_limits());
  BlockingSocket a(s.endpoint()), b(s.endpoint());
  for (auto* c : {&a, &b}) {
    c->send("GET /doc HTTP/1.1\r\nHost: t\r\n\r\n");
    ASSERT_NE(c->read_until("hello").find("hello"), std::string::npos);
  }
  ASSERT_TRUE(
      s.connection_changes().wait_until([&] { return s.server().parked_connections() == 2; }));
  EXPECT_EQ(s.stop(), 0) << "the drain did not wait for the parked connections";
  EXPECT_TRUE(a.read_to_eof());
  EXPECT_TRUE(b.read_to_eof());
}

TEST(Server, DrainFinishesInFlightRequestWithConnectionClose) {
  Gate gate;
  Notification started;
  Router r;
  r.get("/slow", [gate, started](Exchange& ex) -> awaitable<void> {
    started.notify();
    co_await gate.wait();
    ex.respond(200, "text/plain", "finished");
  });
  r.get("/doc", hello);
  TestServer s(Router::into_handler(std::move(r)));
  const auto ep = s.endpoint();

  // An idle keep-alive connection, which the drain must close rather than wait for.
  BlockingSocket idle(ep);
  idle.send("GET /doc HTTP/1.1\r\nHost: t\r\n\r\n");
  ASSERT_NE(idle.read_until("hello").find("hello"), std::string::npos);

  auto slow = s.spawn([ep]() -> awaitable<Result<ClientResponse>> {
    Client client(co_await asio::this_coro::executor);
    co_return co_await send(client, ep, Verb::get, "/slow");
  });
  ASSERT_TRUE(started.wait());
  // Hooks run in order after the server's own, and post to the loop after its drain step: the
  // slow handler resumes only once the server is draining.
  auto& loop = s.rt().loop();
  s.rt().runtime().on_drain([gate, &loop] { gate.open(loop); });

  EXPECT_EQ(s.stop(), 0);  // run() returned: every connection finished before drain_timeout
  ASSERT_EQ(slow.wait_for(0s), std::future_status::ready);
  auto resp = slow.get();
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 200u);
  EXPECT_EQ(resp->body, "finished");
  EXPECT_EQ(resp->header("Connection"), "close");
  EXPECT_TRUE(idle.read_to_eof());

  // The listener is closed too.
  asio::io_context io;
  tcp::socket probe(io);
  boost::system::error_code ec;
  probe.connect(ep, ec);
  EXPECT_EQ(ec, asio::error::connection_refused);
}

}  // namespace
}  // namespace tenx::http

// ---- response observers (what the gateway's filters build on) ----

namespace tenx::http {
namespace {

struct Seen {
  unsigned status = 0;
  std::string content_type;
  std::string body;
  int heads = 0, ends = 0;
  bool complete = false;
};

class Recorder final : public ResponseObserver {
 public:
  explicit Recorder(std::shared_ptr<Seen> seen) : seen_(std::move(seen)) {}
  void on_response_head(unsigned status, std::span<const Header> headers) override {
    seen_->status = status;
    ++seen_->heads;
    for (const auto& h : headers)
      if (iequals(h.name, "content-type")) seen_->content_type = std::string(h.value);
  }
  void on_response_body(std::string_view piece) override { seen_->body += piece; }
  void on_response_end(bool complete) override {
    ++seen_->ends;
    seen_->complete = complete;
  }

 private:
  std::shared_ptr<Seen> seen_;
};

TEST(ServerObservers, SeeABufferedResponse) {
  auto seen = std::make_shared<Seen>();
  Router r;
  r.get("/b", [seen](Exchange& ex) -> awaitable<void> {
    ex.observe(std::make_unique<Recorder>(seen));
    ex.add_response_header("X-Extra", "1");
    ex.respond(201, "text/plain", "buffered body");
    co_return;
  });
  TestServer s(Router::into_handler(std::move(r)));
  auto resp = fetch(s, Verb::get, "/b");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->status, 201u);
  EXPECT_EQ(resp->header("x-extra").value_or(""), "1");
  EXPECT_EQ(seen->status, 201u);
  EXPECT_EQ(seen->content_type, "text/plain");
  EXPECT_EQ(seen->body, "buffered body");
  EXPECT_EQ(seen->heads, 1);
  EXPECT_EQ(seen->ends, 1);
  EXPECT_TRUE(seen->complete);
}

TEST(ServerObservers, SeeAStreamedResponsePieceByPiece) {
  auto seen = std::make_shared<Seen>();
  Router r;
  r.get("/s", [seen](Exchange& ex) -> awaitable<void> {
    ex.observe(std::make_unique<Recorder>(seen));
    const Header h[] = {{"Content-Type", "text/csv"}};
    if (co_await ex.start_response(200, h, std::nullopt, "a,")) co_return;
    if (co_await ex.write_body("b,")) co_return;
    if (co_await ex.write_body("c")) co_return;
    co_await ex.end_response();
  });
  TestServer s(Router::into_handler(std::move(r)));
  auto resp = fetch(s, Verb::get, "/s");
  ASSERT_TRUE(resp) << resp.error().message();
  EXPECT_EQ(resp->body, "a,b,c");
  EXPECT_EQ(seen->body, "a,b,c");
  EXPECT_EQ(seen->content_type, "text/csv");
  EXPECT_TRUE(seen->complete);
}

TEST(ServerObservers, SeeAnIncompleteStreamAsIncomplete) {
  auto seen = std::make_shared<Seen>();
  Router r;
  r.get("/short", [seen](Exchange& ex) -> awaitable<void> {
    ex.observe(std::make_unique<Recorder>(seen));
    if (co_await ex.start_response(200, {}, 100, "only ten b")) co_return;
    co_await ex.end_response();  // 90 bytes short: the connection must close
  });
  TestServer s(Router::into_handler(std::move(r)));
  (void)fetch(s, Verb::get, "/short");
  EXPECT_EQ(seen->ends, 1);
  EXPECT_FALSE(seen->complete);
}

}  // namespace
}  // namespace tenx::http
