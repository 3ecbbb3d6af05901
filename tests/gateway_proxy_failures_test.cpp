// The proxy when something goes wrong or takes long, as a client and an upstream see it:
// timeouts that bound waits rather than whole exchanges, which failures count against an
// upstream's health (only those that say the server is sick), clients that vanish mid-body or
// while their request waits, early answers from an upstream that has not read the body, and
// requests that must never be replayed. Fixtures: support/gateway_fixture.h.
#include "support/gateway_fixture.h"

#include <future>

namespace tenx::e2e {
namespace {

// A client socket that can end abortively (a reset), which RawClient does not do.
class ResettingClient {
 public:
  explicit ResettingClient(std::uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~ResettingClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool ok() const { return fd_ >= 0; }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  void reset() {
    const linger abort_on_close{1, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
    ::close(std::exchange(fd_, -1));
  }

 private:
  int fd_ = -1;
};

std::string up_series(const std::string& pool, const std::string& server) {
  return "gateway_upstream_up{pool=\"" + pool + "\",server=\"" + server + "\"}";
}

class GatewayProxyFailures : public GatewayProxy {
 protected:
  // The gateway's count of internal invariant violations (TENX_BUG): a client must never be
  // able to raise it.
  double bugs() { return sample(gateway_metrics(), "tenx_bugs_total").value_or(-1); }
  // 1 while the server is in rotation, 0 when taken out.
  double server_up(const std::string& server) {
    return sample(gateway_metrics(), up_series("pool", server)).value_or(-1);
  }
};

// ---- timeouts bound waits, not exchanges ----

TEST_F(GatewayProxyFailures, StreamedResponseOutlivesTheHeaderTimeout) {
  // The head comes at once; the body trickles in for three times the header timeout, each
  // piece well within the read timeout. (The pauses are the slow upstream under test, in
  // another thread than the gateway's process: no clock of the gateway's can stand in.)
  RawUpstream slow([](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    if (!c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
    for (int i = 0; i < 6; ++i) {
      std::this_thread::sleep_for(250ms);
      if (!c.write(fmt::format("7\r\npiece {}\r\n", i))) return;
    }
    c.write("0\r\n\r\n");
    c.wait_for_close();
  });
  start_gateway(gateway_toml(pool_toml("pool", {quoted(slow.address())},
                                       "header_timeout_ms = 500\nread_timeout_ms = 2000")));
  RawClient c(port_, 10s);
  ASSERT_TRUE(c.send(get_request("/stream")));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error() << "; received: " << c.leftover().substr(0, 200);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "piece 0piece 1piece 2piece 3piece 4piece 5");
}

TEST_F(GatewayProxyFailures, SlowUploadIsNotCutShortByTheHeaderTimeout) {
  // Echoes each request 100 ms after its body is complete: the header timeout starts then.
  // (Here too the pauses are the slow peers the test is about, not waits for an event.)
  RawUpstream echo([](RawUpstream::Conn& c) {
    while (auto head = c.read_head()) {
      const auto body = c.read_body(*head);
      if (!body) return;
      std::this_thread::sleep_for(100ms);
      const std::string echoed = *head + *body;
      if (!c.write(fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", echoed.size(),
                               echoed)))
        return;
    }
  });
  start_gateway(gateway_toml(pool_toml("pool", {quoted(echo.address())},
                                       "header_timeout_ms = 500\nread_timeout_ms = 2000")));
  RawClient c(port_, 10s);
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 60\r\n\r\n"));
  for (int i = 0; i < 6; ++i) {  // 1.5 s in all, three header timeouts
    std::this_thread::sleep_for(250ms);
    ASSERT_TRUE(c.send(fmt::format("part {:04}.", i)));
  }
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_THAT(r->body, HasSubstr("part 0000.part 0001.part 0002.part 0003.part 0004.part 0005."));
}

TEST_F(GatewayProxyFailures, SilentUpstreamAfterTheHeadIsCutAfterTheReadTimeout) {
  // The bound that does apply after the head: time between bytes.
  RawUpstream stalls([](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst bytes");
    c.wait_for_close();
  });
  start_gateway(gateway_toml(pool_toml("pool", {quoted(stalls.address())},
                                       "header_timeout_ms = 5000\nread_timeout_ms = 400")));
  RawClient c(port_, 10s);
  ASSERT_TRUE(c.send(get_request("/x")));
  const auto t0 = clock_type::now();
  EXPECT_FALSE(c.read_response()) << "a truncated body was passed off as a whole response";
  const auto waited = clock_type::now() - t0;
  EXPECT_GE(waited, 400ms);
  EXPECT_LT(waited, 4s) << "the read timeout did not apply";
}

// ---- what counts against an upstream ----

TEST_F(GatewayProxyFailures, RelayedServiceUnavailableKeepsTheServerInRotation) {
  // The app's own 503 ("database busy") is an answer, not a sick server.
  auto& a = start_upstream({.name = "a", .health_status = 503});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(a.address())}, "max_fails = 1")));
  for (int i = 0; i < 3; ++i) {
    const auto r = fetch(port_, get_request("/health"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->body, "health 503");
  }
  EXPECT_EQ(server_up(a.address()), 1);
  EXPECT_EQ(who(port_), "a");
}

TEST_F(GatewayProxyFailures, StatusesListedInFailsOnTakeTheServerOut) {
  auto& a = start_upstream({.name = "a", .health_status = 503});
  start_gateway(
      gateway_toml(pool_toml("pool", {quoted(a.address())}, "max_fails = 1\nfails_on = [503]")));
  const auto r = fetch(port_, get_request("/health"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(server_up(a.address()), 0);
}

TEST_F(GatewayProxyFailures, FailsOnRefusesStatusesOutsideTheRange) {
  TempFile config(gateway_toml(pool_toml("pool", {"\"127.0.0.1:9\""}, "fails_on = [99]")));
  const auto r = run_tenx({"config", "check", config.path()});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err + r.out, HasSubstr("fails_on"));
}

TEST_F(GatewayProxyFailures, ClientResetMidUploadDoesNotCountAgainstTheServer) {
  // The upstream's side closing is the signal that the gateway has dealt with the reset.
  OnceSignal upstream_closed;
  RawUpstream echo([&](RawUpstream::Conn& c) {
    echo_script(c);
    upstream_closed.set();
  });
  start_gateway(gateway_toml(pool_toml("pool", {quoted(echo.address())}, "max_fails = 1")));
  {
    ResettingClient c(port_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(
        c.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
               std::string(1000, 'x')));
    ASSERT_TRUE(echo.wait_received(std::string(1000, 'x'), 5s));
    c.reset();
  }
  ASSERT_TRUE(upstream_closed.wait(5s))
      << "the gateway kept the upstream exchange of a client that reset";
  EXPECT_EQ(server_up(echo.address()), 1);
  EXPECT_EQ(bugs(), 0);
  const auto r = fetch(port_, get_request("/after"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

TEST_F(GatewayProxyFailures, EveryServerDownStillTriesOne) {
  // The first connection is reset (the server is marked down); later ones are answered.
  std::atomic<int> connections{0};
  RawUpstream flaky([&](RawUpstream::Conn& c) {
    if (connections.fetch_add(1) == 0) {
      if (c.read_head()) c.reset();
      return;
    }
    echo_script(c);
  });
  start_gateway(gateway_toml(
      pool_toml("pool", {quoted(flaky.address())}, "max_fails = 1\nfail_timeout_ms = 30000")));
  const auto first = fetch(port_, get_request("/x"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 502);
  EXPECT_EQ(server_up(flaky.address()), 0);
  // nginx resets its peers rather than answer 503 for fail_timeout: the next request tries.
  const auto second = fetch(port_, get_request("/x"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200) << second->body;
}

// ---- clients that vanish ----

TEST_F(GatewayProxyFailures, ClientThatStopsSendingItsBodyGets408AndNoBug) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("pool", {quoted(echo.address())}, "max_fails = 1"),
                             /*threads=*/1, "body_timeout_ms = 300"));
  RawClient c(port_, 10s);
  ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n" +
                     std::string(10, 'x')));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 408);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_EQ(bugs(), 0);
  EXPECT_EQ(server_up(echo.address()), 1);
}

TEST_F(GatewayProxyFailures, ClientThatClosesMidBodyTripsNoBug) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("pool", {quoted(echo.address())}, "max_fails = 1")));
  {
    RawClient c(port_);
    ASSERT_TRUE(c.send("POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100\r\n\r\n" +
                       std::string(10, 'y')));
    ASSERT_TRUE(echo.wait_received(std::string(10, 'y'), 5s));
    c.shutdown_write();
    EXPECT_TRUE(c.closed(5s)) << "the gateway answered a request whose body never came";
  }
  EXPECT_EQ(bugs(), 0);
  EXPECT_EQ(server_up(echo.address()), 1);
}

TEST_F(GatewayProxyFailures, ClientThatHangsUpWhileWaitingReleasesTheUpstream) {
  OnceSignal upstream_saw_close;
  RawUpstream silent([&](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    c.wait_for_close();
    upstream_saw_close.set();
  });
  start_gateway(gateway_toml(
      pool_toml("pool", {quoted(silent.address())}, "header_timeout_ms = 20000\nmax_fails = 1")));
  {
    RawClient c(port_);
    ASSERT_TRUE(c.send(get_request("/slow")));
    ASSERT_TRUE(silent.wait_received("GET /slow", 5s));
  }  // the client closes
  EXPECT_TRUE(upstream_saw_close.wait(5s)) << "the upstream exchange outlived its client";
  const auto m = gateway_metrics();
  EXPECT_EQ(sample(m, "gateway_client_aborts_total{pool=\"pool\"}"), 1) << m;
  EXPECT_EQ(sample(m, up_series("pool", silent.address())), 1);
}

// ---- early answers ----

TEST_F(GatewayProxyFailures, EarlyAnswerBeforeTheBodyIsRelayedAndNotAFailure) {
  // The upstream refuses the body from its head alone, then closes with the body unread
  // (which resets the connection): what `tenx app` does with an oversized upload.
  // A small receive buffer: the body cannot vanish into the kernel before the reset.
  RawUpstream refuses(
      [](RawUpstream::Conn& c) {
        if (!c.read_head()) return;
        c.write(
            "HTTP/1.1 413 Payload Too Large\r\nContent-Type: text/plain\r\n"
            "Content-Length: 9\r\nConnection: close\r\n\r\ntoo large");
        c.reset();
      },
      /*receive_buffer_bytes=*/16 * 1024);
  start_gateway(gateway_toml(pool_toml("pool", {quoted(refuses.address())}, "max_fails = 1")));
  RawClient c(port_, 10s);
  const std::string body(3 * 1024 * 1024, 'z');
  c.send(fmt::format("POST /api/register HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
                     body.size()));
  c.send(body);  // may fail part-way once the gateway has answered and closed
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, "too large");
  EXPECT_EQ(server_up(refuses.address()), 1);
  EXPECT_EQ(bugs(), 0);
}

TEST_F(GatewayProxyFailures, EarlyAnswerFromAnUpstreamThatKeepsReadingIsRelayed) {
  // nginx-style: answer 401 at once, then read and drop the body.
  OnceSignal answered;
  RawUpstream refuses([&](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    c.write("HTTP/1.1 401 Unauthorized\r\nContent-Length: 6\r\nConnection: close\r\n\r\nwho?\r\n");
    answered.set();
    c.wait_for_close();
  });
  start_gateway(gateway_toml(pool_toml("pool", {quoted(refuses.address())}, "max_fails = 1")));
  RawClient c(port_, 10s);
  ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
                     std::string(20000, 'a')));
  // More body only once the answer is on its way: the gateway meets both in either order (it
  // may even see the answer before it has sent any of the body: that is allowed too).
  ASSERT_TRUE(answered.wait(5s));
  c.send(std::string(20000, 'b'));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(server_up(refuses.address()), 1);
  EXPECT_LT(refuses.received().size(), 100000u) << "the whole body went upstream anyway";
}

TEST_F(GatewayProxyFailures, EarlyAnswerReachesAClientThatWaitsBeforeSendingTheRest) {
  // The client sends part of its body and waits for an answer (as after Expect-less probing);
  // the gateway, waiting for the rest, must notice the upstream answering meanwhile.
  RawUpstream refuses([](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    c.write("HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nConnection: close\r\n\r\nwho?");
    c.wait_for_close();
  });
  start_gateway(gateway_toml(pool_toml("pool", {quoted(refuses.address())}, "max_fails = 1")));
  RawClient c(port_, 5s);
  ASSERT_TRUE(c.send("POST /x HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n" +
                     std::string(1000, 'a')));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << "no answer while the body was incomplete: " << c.last_error();
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(r->body, "who?");
}

TEST_F(GatewayProxyFailures, EarlyAnswerFromAnUpstreamThatStopsReadingEndsTheUpload) {
  // The upstream answers 413 and reads no more (its window fills): the gateway, unable to
  // send, must notice the answer rather than wait out the send timeout.
  std::promise<void> done;
  std::shared_future<void> test_over = done.get_future().share();
  RawUpstream refuses(
      [test_over](RawUpstream::Conn& c) {
        if (!c.read_head()) return;
        c.write(
            "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 9\r\nConnection: close\r\n"
            "\r\ntoo large");
        test_over.wait_for(10s);  // neither reads nor closes until the test is over
      },
      /*receive_buffer_bytes=*/16 * 1024);
  start_gateway(gateway_toml(
      pool_toml("pool", {quoted(refuses.address())}, "max_fails = 1\nsend_timeout_ms = 60000")));
  RawClient c(port_, 6s);
  const std::string body(8 * 1024 * 1024 - 1024, 'z');
  c.send(fmt::format("POST /up HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
                     body.size()));
  c.send(body);  // may be cut short once the gateway answered
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 413);
  EXPECT_EQ(r->body, "too large");
  EXPECT_EQ(server_up(refuses.address()), 1);
  done.set_value();
  refuses.stop();
}

// ---- never replay what may have been read ----

// An upstream whose first connection answers a GET and keeps alive, then reads the next
// request and closes without an answer (it may have acted on it); later connections echo.
// The gateway meets a reused connection that the upstream closed after reading the request.
class StaleAfterReading : public GatewayProxyFailures {
 protected:
  void SetUp() override {
    start_gateway(gateway_toml(pool_toml("pool", {quoted(closer_.address())}, "max_fails = 0")));
  }
  // The client's connection, after the warming GET that leaves the upstream's open.
  std::unique_ptr<RawClient> warmed() {
    auto c = std::make_unique<RawClient>(port_);
    EXPECT_TRUE(c->send(get_request("/warm")));
    const auto warm = c->read_response();
    EXPECT_TRUE(warm && warm->body == "first");
    return c;
  }
  std::atomic<int> connections_{0};
  RawUpstream closer_{[this](RawUpstream::Conn& c) {
    if (connections_.fetch_add(1) == 0) {
      if (!c.read_head()) return;
      c.write("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nfirst");
      if (c.read_head()) c.close();
      return;
    }
    echo_script(c);
  }};
};

TEST_F(StaleAfterReading, BodilessPostIsNotReplayed) {
  auto c = warmed();
  ASSERT_TRUE(c->send("POST /charge HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n"));
  const auto charged = c->read_response();
  ASSERT_TRUE(charged) << c->last_error();
  EXPECT_EQ(charged->status, 502) << charged->body;
  EXPECT_EQ(closer_.requests(), 2) << "the POST was sent again";
}

TEST_F(StaleAfterReading, IdempotentGetIsRetriedOnANewConnection) {
  auto c = warmed();
  ASSERT_TRUE(c->send(get_request("/again")));
  const auto again = c->read_response();
  ASSERT_TRUE(again) << c->last_error();
  EXPECT_EQ(again->status, 200);
  EXPECT_THAT(again->body, HasSubstr("GET /again"));
}

// ---- HEAD ----

TEST_F(GatewayProxyFailures, HeadToAChunkedUpstreamKeepsItsFraming) {
  RawUpstream chunked([](RawUpstream::Conn& c) {
    while (c.read_head())
      if (!c.write("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")) return;
  });
  start_gateway(gateway_toml(pool_toml("pool", {quoted(chunked.address())})));
  RawClient c(port_);
  ASSERT_TRUE(c.send("HEAD /x HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  const auto r = c.read_response(/*head_request=*/true);
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_NE(r->header("Content-Length"), "0") << "HEAD announced an empty body";
  EXPECT_EQ(r->header("Transfer-Encoding"), "chunked");
  // The connection is still in step: a second request is answered.
  ASSERT_TRUE(c.send("HEAD /y HTTP/1.1\r\nHost: localhost\r\n\r\n"));
  EXPECT_TRUE(c.read_response(true)) << c.last_error();
}

}  // namespace
}  // namespace tenx::e2e
