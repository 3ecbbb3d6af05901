// The reverse proxy as a client and an upstream see it: `tenx gateway` in front of upstream
// pools, with every policy, header rule and failure mode checked on the wire.
//
// Two kinds of upstream:
//   - TenxUpstream: another `tenx gateway` process whose fixed routes answer with its name
//     (/who -> "a"), so the body says which upstream answered; /work answers after a delay,
//     /health with a configurable status, /metrics counts what it served. Its config is a
//     TempFile, so a test can rewrite it and SIGHUP it (active health checks).
//   - RawUpstream: a listening socket on a thread of this test, one thread per accepted
//     connection running the test's script (echo the request, send garbage, never answer,
//     reset, ...). It records every byte it receives, so a test can wait until the upstream
//     has seen part of a body (streaming) and count the requests it got.
//
// Every gateway here runs with one event-loop thread unless a test says otherwise, which makes
// the per-thread balancer state (round-robin cursor) a single sequence the tests can predict.
// Waits poll with generous deadlines; the only time assertions are upper bounds far above
// what the work needs, and the lower bound a timeout must respect.
#include "support/gateway_fixture.h"

#include <cmath>
#include <future>

namespace tenx::e2e {
namespace {
// ---- balancing ----

TEST_F(GatewayProxyQuick, RoundRobinAlternatesBetweenTwoUpstreams) {
  start_upstreams({"a", "b"});
  start_quick_gateway();
  std::string seen;
  for (int i = 0; i < 10; ++i) seen += who(port_);
  EXPECT_EQ(seen, "ababababab");
}

TEST_F(GatewayProxyQuick, RoundRobinRotatesOverThreeUpstreams) {
  start_upstreams({"a", "b", "c"});
  start_quick_gateway({"--balance", "round_robin"});
  std::string seen;
  for (int i = 0; i < 12; ++i) seen += who(port_);
  EXPECT_EQ(seen, "abcabcabcabc");
}

TEST_F(GatewayProxy, RoundRobinHonoursWeightsThreeToOne) {
  start_upstreams({"a", "b"});
  start_gateway(
      gateway_toml(pool_toml("weighted", {"{ address = \"" + up(0).address() + "\", weight = 3 }",
                                          quoted(up(1).address())})));
  std::string seen;
  for (int i = 0; i < 40; ++i) seen += who(port_);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 'a'), 30) << seen;
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 'b'), 10) << seen;
  // Smooth: the light server's turns are spread out, one in every four requests.
  for (std::size_t i = 0; i + 4 <= seen.size(); i += 4)
    EXPECT_EQ(std::count(seen.begin() + i, seen.begin() + i + 4, 'b'), 1) << seen;
}

TEST_F(GatewayProxy, LeastConnSendsFewerRequestsToASlowUpstream) {
  start_upstream({.name = "a", .work_delay_ms = 300});
  start_upstream({.name = "b"});
  start_gateway(gateway_toml(pool_toml("lc", {quoted(up(0).address()), quoted(up(1).address())},
                                       "balance = \"least_conn\"")));

  // 10 clients, 10 requests each on a keep-alive connection: a request that lands on the
  // slow upstream keeps it busy for 300 ms, during which the fast one has fewer in flight.
  constexpr int kClients = 10, kEach = 10;
  std::vector<std::string> seen(kClients);
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      RawClient c(port_);
      for (int i = 0; i < kEach; ++i) {
        const auto r = c.send(get_request("/work")) ? c.read_response() : std::nullopt;
        seen[t] += !r ? 'x' : r->status == 200 && r->body.size() == 1 ? r->body[0] : '?';
        if (!r) break;
      }
    });
  }
  for (auto& t : clients) t.join();
  std::string all;
  for (const auto& s : seen) all += s;
  const auto slow = std::count(all.begin(), all.end(), 'a');
  const auto fast = std::count(all.begin(), all.end(), 'b');
  ASSERT_EQ(slow + fast, kClients * kEach) << all;
  // Round robin would split 50/50; least_conn gives the slow server a small share.
  EXPECT_LT(slow * 3, fast) << "slow=" << slow << " fast=" << fast;
}

TEST_F(GatewayProxy, ConcurrentRequestsEachGetTheAnswerToTheirOwnRequest) {
  // Requests of one worker interleave: while /work waits 50 ms on its upstream, others are
  // read, rewritten and sent. Each must carry its own head to the upstream (a worker-wide
  // scratch buffer once swapped them): /work answers 200 and /nope 404, so a swapped head
  // shows as a wrong status.
  start_upstream({.name = "a", .work_delay_ms = 50});
  start_upstream({.name = "b", .work_delay_ms = 50});
  start_gateway(
      gateway_toml(pool_toml("mix", {quoted(up(0).address()), quoted(up(1).address())}, "")));
  constexpr int kClients = 12, kEach = 8;
  std::vector<std::string> wrong(kClients);
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      RawClient c(port_);
      for (int i = 0; i < kEach; ++i) {
        const bool work = (i + t) % 2 == 0;
        const auto r =
            c.send(get_request(work ? "/work" : "/nope")) ? c.read_response() : std::nullopt;
        if (!r) {
          wrong[t] += "no answer;";
          break;
        }
        if (r->status != (work ? 200 : 404))
          wrong[t] += fmt::format("{} got {};", work ? "/work" : "/nope", r->status);
      }
    });
  }
  for (auto& t : clients) t.join();
  for (int t = 0; t < kClients; ++t) EXPECT_EQ(wrong[t], "") << "client " << t;
}

TEST_F(GatewayProxy, IpHashKeepsEachForwardedClientOnOneUpstream) {
  start_upstreams({"a", "b"});
  start_gateway(gateway_toml("[gateway]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\n" +
                             pool_toml("hash", {quoted(up(0).address()), quoted(up(1).address())},
                                       "balance = \"ip_hash\"")));
  std::map<std::string, std::string> first;  // client address -> upstream
  std::set<std::string> used;
  for (int round = 0; round < 3; ++round) {
    for (int i = 1; i <= 20; ++i) {
      const std::string client = "198.51.100." + std::to_string(i);
      const auto got = who(port_, "/who", "X-Forwarded-For: " + client + "\r\n");
      ASSERT_TRUE(got == "a" || got == "b") << got;
      auto [it, inserted] = first.emplace(client, got);
      EXPECT_EQ(it->second, got) << client << " moved in round " << round;
      used.insert(got);
    }
  }
  EXPECT_EQ(used.size(), 2u) << "20 clients all hashed to one upstream";
  // The connecting peer itself (no X-Forwarded-For) is a client too, and also stays put.
  const auto peer = who(port_);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(who(port_), peer);
}

TEST_F(GatewayProxy, IpHashIgnoresForwardedForFromAnUntrustedPeer) {
  start_upstreams({"a", "b"});
  start_gateway(gateway_toml(pool_toml("hash", {quoted(up(0).address()), quoted(up(1).address())},
                                       "balance = \"ip_hash\"")));
  std::set<std::string> used;
  for (int i = 1; i <= 20; ++i)
    used.insert(who(port_, "/who", "X-Forwarded-For: 198.51.100." + std::to_string(i) + "\r\n"));
  // Every request came from 127.0.0.1, whatever it claimed.
  EXPECT_EQ(used.size(), 1u) << ::testing::PrintToString(used);
}

TEST_F(GatewayProxy, StickyCookiePinsAClientAndRepinsItWhenItsUpstreamDies) {
  start_upstreams({"a", "b"});
  start_gateway(gateway_toml(pool_toml("sticky", {quoted(up(0).address()), quoted(up(1).address())},
                                       "balance = \"sticky_cookie\"")));

  const auto first = fetch(port_, get_request("/who"));
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200);
  const auto cookie = first->header("Set-Cookie");
  ASSERT_TRUE(cookie);
  EXPECT_THAT(*cookie, MatchesRegex("srv_id=[0-9a-f]+; Path=/(;.*)?"));
  const std::string pin = cookie->substr(0, cookie->find(';'));  // "srv_id=ID"
  const std::string id = pin.substr(pin.find('=') + 1);
  const std::string pinned = first->body;
  TenxUpstream& pinned_up = up(pinned == "a" ? 0 : 1);
  const std::string other = pinned == "a" ? "b" : "a";
  // The id is opaque: it names neither the address nor the port of the server.
  for (const auto& u : upstreams_) {
    EXPECT_THAT(id, Not(HasSubstr(std::to_string(u->port()))));
    EXPECT_THAT(id, Not(HasSubstr("127.0.0.1")));
  }

  // With the cookie, every request goes to the same upstream (round robin alone alternates)
  // and is not pinned again.
  for (int i = 0; i < 6; ++i) {
    const auto r = fetch(port_, get_request("/who", "Cookie: " + pin + "\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, pinned);
    EXPECT_FALSE(r->header("Set-Cookie")) << *r->header("Set-Cookie");
  }

  // The pinned upstream dies: the client moves to the other one, with a new pin.
  ASSERT_TRUE(pinned_up.kill());
  const auto moved = fetch(port_, get_request("/who", "Cookie: " + pin + "\r\n"));
  ASSERT_TRUE(moved);
  EXPECT_EQ(moved->status, 200);
  EXPECT_EQ(moved->body, other);
  const auto repin = moved->header("Set-Cookie");
  ASSERT_TRUE(repin);
  EXPECT_THAT(*repin, MatchesRegex("srv_id=[0-9a-f]+; Path=/(;.*)?"));
  const std::string new_pin = repin->substr(0, repin->find(';'));
  EXPECT_NE(new_pin, pin);
  for (int i = 0; i < 4; ++i) {
    const auto r = fetch(port_, get_request("/who", "Cookie: " + new_pin + "\r\n"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->body, other);
    EXPECT_FALSE(r->header("Set-Cookie"));
  }
}

// ---- what the upstream receives ----

// A request carrying every kind of hop-by-hop field, and forwarding fields of its own.
std::string hop_by_hop_request() {
  return "GET /echo/path?x=1&y=2 HTTP/1.1\r\n"
         "Host: app.example.test\r\n"
         "Connection: Foo, Keep-Alive\r\n"
         "Foo: bar\r\n"
         "Keep-Alive: timeout=5\r\n"
         "TE: trailers\r\n"
         "Upgrade: h2c\r\n"
         "Proxy-Connection: keep-alive\r\n"
         "X-Custom: kept\r\n"
         "X-Forwarded-For: 203.0.113.7\r\n"
         "X-Forwarded-Proto: https\r\n"
         "X-Forwarded-Host: public.example.test\r\n"
         "\r\n";
}

// The request head the echo upstream got for `request`.
std::string echoed_head(std::uint16_t port, const std::string& request) {
  std::string error;
  const auto r = fetch(port, request, &error);
  EXPECT_TRUE(r) << error;
  if (!r) return {};
  EXPECT_EQ(r->status, 200) << r->body;
  return r->body.substr(0, r->body.find("\r\n\r\n") + 4);
}

TEST_F(GatewayProxy, UpstreamGetsForwardedFieldsAndNoHopByHopFields) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  const auto head = echoed_head(port_, hop_by_hop_request());
  ASSERT_FALSE(head.empty());

  EXPECT_EQ(head.substr(0, head.find("\r\n")), "GET /echo/path?x=1&y=2 HTTP/1.1");
  EXPECT_THAT(field_values(head, "Host"), ElementsAre("app.example.test"));
  EXPECT_THAT(field_values(head, "X-Custom"), ElementsAre("kept"));
  for (const char* dropped :
       {"Connection", "Foo", "Keep-Alive", "TE", "Upgrade", "Proxy-Connection"})
    EXPECT_THAT(field_values(head, dropped), ElementsAre()) << dropped << " reached the upstream";
  // The peer (127.0.0.1) is not a trusted proxy: what it claims is replaced, not extended.
  EXPECT_THAT(field_values(head, "X-Forwarded-For"), ElementsAre("127.0.0.1"));
  EXPECT_THAT(field_values(head, "X-Forwarded-Proto"), ElementsAre("http"));
  EXPECT_THAT(field_values(head, "X-Forwarded-Host"), ElementsAre("app.example.test"));
}

TEST_F(GatewayProxy, TrustedPeersForwardedForIsAppendedTo) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml("[gateway]\ntrusted_proxies = [\"127.0.0.1/32\"]\n\n" +
                             pool_toml("echo", {quoted(echo.address())})));
  const auto head = echoed_head(port_, hop_by_hop_request());
  ASSERT_FALSE(head.empty());
  EXPECT_THAT(field_values(head, "X-Forwarded-For"), ElementsAre("203.0.113.7, 127.0.0.1"));
  EXPECT_THAT(field_values(head, "X-Forwarded-Proto"), ElementsAre("https"));
  EXPECT_THAT(field_values(head, "X-Forwarded-Host"), ElementsAre("public.example.test"));
  // Trust does not make hop-by-hop fields end-to-end.
  for (const char* dropped :
       {"Connection", "Foo", "Keep-Alive", "TE", "Upgrade", "Proxy-Connection"})
    EXPECT_THAT(field_values(head, dropped), ElementsAre()) << dropped << " reached the upstream";
}

TEST_F(GatewayProxy, SeveralForwardingFieldsFromATrustedPeerAreOneListInOrder) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml("[gateway]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n\n" +
                             pool_toml("echo", {quoted(echo.address())}, "balance = \"ip_hash\"")));
  const auto head = echoed_head(port_, get_request("/x",
                                                   "X-Forwarded-For: 198.51.100.1\r\n"
                                                   "X-Forwarded-For: 203.0.113.9, 10.1.2.3\r\n"
                                                   "Forwarded: for=192.0.2.60;proto=https\r\n"
                                                   "Forwarded: for=\"[2001:db8::7]:4711\"\r\n"
                                                   "X-Real-IP: 203.0.113.9\r\n"));
  ASSERT_FALSE(head.empty());
  EXPECT_THAT(field_values(head, "X-Forwarded-For"),
              ElementsAre("198.51.100.1, 203.0.113.9, 10.1.2.3, 127.0.0.1"));
  EXPECT_THAT(field_values(head, "Forwarded"),
              ElementsAre("for=192.0.2.60;proto=https, for=\"[2001:db8::7]:4711\", for=127.0.0.1"));
  EXPECT_THAT(field_values(head, "X-Real-IP"), ElementsAre("203.0.113.9"));
}

TEST_F(GatewayProxy, ForwardingFieldsFromAnUntrustedPeerAreAllRemoved) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  const auto head =
      echoed_head(port_, get_request("/x",
                                     "X-Forwarded-For: 198.51.100.1\r\n"
                                     "X-Forwarded-For: 203.0.113.9\r\n"
                                     "X-Forwarded-Proto: https\r\nX-Forwarded-Proto: https\r\n"
                                     "Forwarded: for=192.0.2.60\r\n"
                                     "X-Real-IP: 203.0.113.9\r\n"));
  ASSERT_FALSE(head.empty());
  EXPECT_THAT(field_values(head, "X-Forwarded-For"), ElementsAre("127.0.0.1"));
  EXPECT_THAT(field_values(head, "X-Forwarded-Proto"), ElementsAre("http"));
  EXPECT_THAT(field_values(head, "Forwarded"), ElementsAre());
  EXPECT_THAT(field_values(head, "X-Real-IP"), ElementsAre());
}

TEST_F(GatewayProxy, ClientBehindTwoForwardedForFieldsIsTheRightmostUntrusted) {
  // ip_hash keys on the client: the same client in one field or split over two must land on
  // the same server.
  start_upstreams({"a", "b", "c"});
  start_gateway(gateway_toml(
      "[gateway]\ntrusted_proxies = [\"127.0.0.1/32\", \"10.0.0.0/8\"]\n\n" +
      pool_toml("pool", {quoted(up(0).address()), quoted(up(1).address()), quoted(up(2).address())},
                "balance = \"ip_hash\"")));
  for (int i = 1; i <= 6; ++i) {
    const auto client = "198.51.100." + std::to_string(i);
    const auto one = who(port_, "/who", "X-Forwarded-For: 10.9.9.9, " + client + ", 10.0.0.1\r\n");
    const auto two =
        who(port_, "/who",
            "X-Forwarded-For: 10.9.9.9\r\nX-Forwarded-For: " + client + ", 10.0.0.1\r\n");
    EXPECT_EQ(one, two) << client;
  }
}

TEST_F(GatewayProxy, Http10RequestWithoutHostReachesTheUpstreamWithOne) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  const auto head = echoed_head(port_, "GET /old HTTP/1.0\r\n\r\n");
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "GET /old HTTP/1.1");
  EXPECT_THAT(field_values(head, "Host"), ElementsAre("echo"));  // the pool's name
}

TEST_F(GatewayProxy, AbsoluteFormTargetSendsTheRoutedAuthorityAsHost) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  const auto head = echoed_head(port_,
                                "GET http://routed.example.test/p?q=1 HTTP/1.1\r\n"
                                "Host: other.example.test\r\n\r\n");
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "GET /p?q=1 HTTP/1.1");
  EXPECT_THAT(field_values(head, "Host"), ElementsAre("routed.example.test"));
}

// ---- protocol details through the proxy ----

TEST_F(GatewayProxy, ExpectContinueIsAnsweredThenTheBodyReachesTheUpstream) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  RawClient c(port_);
  ASSERT_TRUE(
      c.send("POST /up HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\n"
             "Content-Length: 5\r\n\r\n"));
  ASSERT_TRUE(c.read_through("HTTP/1.1 100 Continue\r\n\r\n")) << c.last_error();
  ASSERT_TRUE(c.send("hello"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("\r\n\r\nhello"));
  EXPECT_THAT(r->body, Not(HasSubstr("Expect:"))) << "the gateway answered 100 itself";
}

TEST_F(GatewayProxy, Http10KeepAliveClientKeepsItsConnection) {
  start_upstreams({"a"});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(up(0).address())})));
  RawClient c(port_);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.send("GET /who HTTP/1.0\r\nHost: localhost\r\nConnection: keep-alive\r\n\r\n"));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << "request " << i << ": " << c.last_error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "a");
    EXPECT_TRUE(r->connection_has("keep-alive")) << "request " << i;
  }
}

TEST_F(GatewayProxy, NotModifiedIsRelayedWithoutABodyAndTheConnectionGoesOn) {
  RawUpstream revalidates([](RawUpstream::Conn& c) {
    while (c.read_head())
      if (!c.write("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\nCache-Control: max-age=60\r\n"
                   "Content-Length: 1234\r\n\r\n"))
        return;
  });
  start_gateway(gateway_toml(pool_toml("p", {quoted(revalidates.address())})));
  RawClient c(port_);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send(get_request("/doc", "If-None-Match: \"v1\"\r\n")));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->status, 304);
    EXPECT_EQ(r->header("ETag"), "\"v1\"");
    EXPECT_EQ(r->body, "");
  }
}

TEST_F(GatewayProxy, InterimResponsesBeforeTheAnswerDoNotConfuseTheRelay) {
  // 103 Early Hints, then the answer: the client gets the answer (tenx does not pass interim
  // responses other than 100 and 101 on), and the connection stays in step.
  RawUpstream hints([](RawUpstream::Conn& c) {
    while (c.read_head())
      if (!c.write("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n"
                   "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
        return;
  });
  start_gateway(gateway_toml(pool_toml("p", {quoted(hints.address())})));
  RawClient c(port_);
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(c.send(get_request("/page")));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, "ok");
  }
}

// ---- protocol upgrades (WebSocket) ----

TEST_F(GatewayProxy, WebSocketUpgradeIsTunnelledBothWays) {
  OnceSignal upstream_saw_close;
  // Answers 101, then echoes every byte upper-cased, so the test sees each round trip.
  RawUpstream echo([&](RawUpstream::Conn& c) {
    const auto head = c.read_head();
    if (!head) return;
    c.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "\r\nhello from upstream|");
    while (auto bytes = c.read_some()) {
      for (auto& ch : *bytes) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      if (!c.write(*bytes)) break;
    }
    upstream_saw_close.set();
  });
  start_gateway(gateway_toml(pool_toml("ws", {quoted(echo.address())})));
  {
    RawClient c(port_);
    ASSERT_TRUE(
        c.send("GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               "Connection: keep-alive, Upgrade\r\nSec-WebSocket-Version: 13\r\n"
               "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\nearly bytes|"));
    const auto r = c.read_response(/*head_request=*/true);
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->status, 101);
    EXPECT_EQ(r->header("Upgrade"), "websocket");
    EXPECT_TRUE(r->connection_has("upgrade"));
    EXPECT_TRUE(c.read_through("hello from upstream|")) << c.last_error();
    EXPECT_TRUE(c.read_through("EARLY BYTES|")) << "bytes sent with the head were lost";
    for (int i = 0; i < 3; ++i) {
      const auto msg = fmt::format("message {}|", i);
      ASSERT_TRUE(c.send(msg));
      auto upper = msg;
      for (auto& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      EXPECT_TRUE(c.read_through(upper)) << msg;
    }
  }  // the client closes: the upstream side of the tunnel closes too
  EXPECT_TRUE(upstream_saw_close.wait(5s)) << "the upstream side of the tunnel outlived the client";
  EXPECT_EQ(sample(gateway_metrics(), "gateway_upgrades_total{pool=\"ws\"}"), 1);
}

TEST_F(GatewayProxy, UpgradeTheUpstreamDeclinesIsAnOrdinaryResponse) {
  RawUpstream plain(echo_script);  // answers 200 with what it got
  start_gateway(gateway_toml(pool_toml("p", {quoted(plain.address())})));
  RawClient c(port_);
  ASSERT_TRUE(
      c.send("GET /x HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
             "Connection: Upgrade\r\n\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_THAT(r->body, HasSubstr("Upgrade: websocket"));
  // Still HTTP: a second request on the connection is answered.
  ASSERT_TRUE(c.send(get_request("/y")));
  const auto again = c.read_response();
  ASSERT_TRUE(again) << c.last_error();
  EXPECT_EQ(again->status, 200);
}

// ---- paths are normalised before routing ----

TEST_F(GatewayProxy, EverySpellingOfAPathMeetsItsRoute) {
  start_gateway(gateway_toml(R"([[gateway.routes]]
path = "/admin"
[gateway.routes.return]
body = "admin route"

[[gateway.routes]]
prefix = "/"
[gateway.routes.return]
body = "catch-all"
)"));
  for (const char* p : {"/admin", "/%61dmin", "//admin", "/./admin", "/a/../admin", "/%2e/admin",
                        "/x/%2E%2E/admin"})
    EXPECT_EQ(who(port_, p), "admin route") << p;
  EXPECT_EQ(who(port_, "/admin/"), "catch-all");
}

TEST_F(GatewayProxy, EncodedSlashAndNulInAPathAre400) {
  start_gateway(gateway_toml(R"([[gateway.routes]]
prefix = "/"
[gateway.routes.return]
body = "catch-all"
)"));
  for (const char* p : {"/a%2Fb", "/a%2fb", "/a%00b", "/a%zz"}) {
    const auto r = fetch(port_, get_request(p));
    ASSERT_TRUE(r) << p;
    EXPECT_EQ(r->status, 400) << p;
    EXPECT_THAT(r->body, HasSubstr(R"("error":"bad_path")")) << p;
  }
}

TEST_F(GatewayProxy, UpstreamSeesTheNormalisedPathAndTheQueryAsSent) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  const auto head = echoed_head(port_, get_request("/a/./b/../%63//d?x=%2F&y=1"));
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "GET /a/c/d?x=%2F&y=1 HTTP/1.1");
}

TEST_F(GatewayProxy, ClientGetsNoHopByHopFieldsFromTheUpstream) {
  RawUpstream up(
      canned_script("HTTP/1.1 200 OK\r\n"
                    "Connection: X-Secret, keep-alive\r\n"
                    "X-Secret: internal\r\n"
                    "Keep-Alive: timeout=99\r\n"
                    "Proxy-Connection: keep-alive\r\n"
                    "Upgrade: h2c\r\n"
                    "X-App: visible\r\n"
                    "Content-Length: 2\r\n"
                    "\r\n"
                    "ok"));
  start_gateway(gateway_toml(pool_toml("canned", {quoted(up.address())})));
  const auto r = fetch(port_, get_request("/x"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "ok");
  EXPECT_EQ(r->header("X-App"), "visible");
  for (const char* dropped : {"X-Secret", "Keep-Alive", "Proxy-Connection", "Upgrade"})
    EXPECT_FALSE(r->header(dropped)) << dropped << " reached the client";
  EXPECT_FALSE(r->connection_has("X-Secret"));
}

TEST_F(GatewayProxy, ContentLengthBodyIsStreamedToTheUpstream) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  const std::string part1 = "first-half:" + std::string(20'000, 'x');
  const std::string part2 = "second-half:" + std::string(20'000, 'y');
  RawClient c(port_);
  ASSERT_TRUE(
      c.send(fmt::format("POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                         "Content-Length: {}\r\n\r\n{}",
                         part1.size() + part2.size(), part1)));
  // The upstream sees the first half while the client still holds the second: the gateway
  // forwards as it reads, it does not buffer the body.
  ASSERT_TRUE(echo.wait_received(part1, 5s)) << "received " << echo.received().size() << " bytes";
  EXPECT_THAT(echo.received(), Not(HasSubstr("second-half")));
  ASSERT_TRUE(c.send(part2));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  ASSERT_EQ(r->status, 200);
  const auto split = r->body.find("\r\n\r\n");
  const auto head = r->body.substr(0, split + 4);
  EXPECT_THAT(field_values(head, "Content-Length"),
              ElementsAre(std::to_string(part1.size() + part2.size())));
  EXPECT_THAT(field_values(head, "Transfer-Encoding"), ElementsAre());
  expect_same_bytes(r->body.substr(split + 4), part1 + part2);
}

TEST_F(GatewayProxy, ChunkedBodyIsStreamedToTheUpstream) {
  RawUpstream echo(echo_script);
  start_gateway(gateway_toml(pool_toml("echo", {quoted(echo.address())})));
  const std::string part1 = "first-chunk:" + std::string(3000, 'x');
  const std::string part2 = "second-chunk:" + std::string(5000, 'y');
  RawClient c(port_);
  ASSERT_TRUE(
      c.send(fmt::format("POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{}\r\n",
                         part1.size(), part1)));
  ASSERT_TRUE(echo.wait_received(part1, 5s)) << "received " << echo.received().size() << " bytes";
  ASSERT_TRUE(c.send(fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", part2.size(), part2)));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  ASSERT_EQ(r->status, 200);
  const auto split = r->body.find("\r\n\r\n");
  const auto head = r->body.substr(0, split + 4);
  EXPECT_THAT(field_values(head, "Transfer-Encoding"), ElementsAre("chunked"));
  EXPECT_THAT(field_values(head, "Content-Length"), ElementsAre());
  expect_same_bytes(r->body.substr(split + 4), part1 + part2);
  // The connection is still in step: a second request on it is answered.
  ASSERT_TRUE(c.send(post_request("/again", "tail")));
  const auto again = c.read_response();
  ASSERT_TRUE(again) << c.last_error();
  EXPECT_THAT(again->body, HasSubstr("POST /again HTTP/1.1\r\n"));
  EXPECT_EQ(again->body.substr(again->body.find("\r\n\r\n") + 4), "tail");
}

TEST_F(GatewayProxy, LargeBodyReachesAnUpstreamThatReadsItLate) {
  // The upstream (with a small receive buffer) takes its time before reading the body, so the
  // gateway's writes to it fill the socket buffers and have to wait for room; then it answers
  // with the size it got.
  RawUpstream late(
      [](RawUpstream::Conn& c) {
        while (auto head = c.read_head()) {
          std::this_thread::sleep_for(200ms);
          const auto body = c.read_body(*head);
          if (!body) return;
          const auto size = std::to_string(body->size());
          if (!c.write(fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", size.size(),
                                   size)))
            return;
        }
      },
      /*receive_buffer_bytes=*/64 * 1024);
  start_gateway(gateway_toml(pool_toml("late", {quoted(late.address())},
                                       "header_timeout_ms = 10000\nread_timeout_ms = 5000")));
  const std::string body(6 * 1024 * 1024, 'b');
  const auto t0 = clock_type::now();
  const auto r = fetch(port_, post_request("/upload", body));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body, std::to_string(body.size()));
  // Well inside the upstream read timeout (5 s): the relay did not stall until it fired.
  EXPECT_LT(clock_type::now() - t0, 4s);
}

TEST_F(GatewayProxy, ChunkedResponseFromTheUpstreamArrivesWhole) {
  const std::string big(40'000, 'z');
  RawUpstream up([&big](RawUpstream::Conn& c) {
    while (auto head = c.read_head()) {
      // Head and chunks in separate writes, as an application flushing as it goes would.
      if (!c.write("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                   "Transfer-Encoding: chunked\r\n\r\n") ||
          !c.write("5\r\nhello\r\n") || !c.write(fmt::format("{:x}\r\n{}\r\n", big.size(), big)) ||
          !c.write("6\r\n world\r\n") || !c.write("0\r\n\r\n"))
        return;
    }
  });
  start_gateway(gateway_toml(pool_toml("chunked", {quoted(up.address())})));
  RawClient c(port_);
  for (int i = 0; i < 2; ++i) {  // twice on one connection: the framing stays in step
    ASSERT_TRUE(c.send(get_request("/stream")));
    const auto r = c.read_response();
    ASSERT_TRUE(r) << c.last_error();
    EXPECT_EQ(r->status, 200);
    expect_same_bytes(r->body, "hello" + big + " world");
    EXPECT_FALSE(r->header("Content-Length"));
  }
}

// ---- failures ----

TEST_F(GatewayProxy, KilledUpstreamCostsAStreamOfGetsNoErrors) {
  start_upstreams({"a", "b"});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(up(0).address()), quoted(up(1).address())}),
                             /*threads=*/2));
  std::string warm;
  for (int i = 0; i < 10; ++i) warm += who(port_);
  ASSERT_GT(std::count(warm.begin(), warm.end(), 'b'), 0) << warm;  // b is in rotation...
  ASSERT_TRUE(up(1).kill());                                        // ...and then it is not
  int errors = 0;
  std::string last_error;
  for (int i = 0; i < 100; ++i) {
    const auto got = who(port_);
    if (got != "a") {
      ++errors;
      last_error = got;
    }
  }
  EXPECT_EQ(errors, 0) << "e.g. " << last_error;
  // The metrics tell which server is out of rotation.
  const auto m = gateway_metrics();
  EXPECT_THAT(m,
              HasSubstr("gateway_upstream_up{pool=\"pool\",server=\"" + up(1).address() + "\"} 0"));
  EXPECT_THAT(m,
              HasSubstr("gateway_upstream_up{pool=\"pool\",server=\"" + up(0).address() + "\"} 1"));
}

TEST_F(GatewayProxy, PostIsNotReplayedOnAnotherUpstreamAfterAFailure) {
  // The first server reads each request whole, then closes without answering.
  RawUpstream closer([](RawUpstream::Conn& c) {
    if (const auto head = c.read_head()) c.read_body(*head);
    c.close();
  });
  start_upstreams({"a"});
  // max_fails = 0 keeps the closer in rotation, so a later GET meets it too.
  start_gateway(gateway_toml(
      pool_toml("pool", {quoted(closer.address()), quoted(up(0).address())}, "max_fails = 0")));

  // Round robin starts at the first server: the POST meets the closer.
  const auto r = fetch(port_, post_request("/who", "pay once"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 502);
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  EXPECT_THAT(r->body, HasSubstr(R"("error":"bad_gateway")"));
  EXPECT_EQ(closer.requests(), 1);
  EXPECT_THAT(closer.received(), HasSubstr("pay once"));
  const auto m = up(0).metrics();
  ASSERT_THAT(m, HasSubstr("http_requests_total"));  // the scrape worked
  EXPECT_THAT(m, Not(HasSubstr(R"(method="POST")"))) << "the POST was replayed on the other server";

  // A GET that meets the closer is retried on the other server: the setup would have seen a
  // replay.
  for (int i = 0; i < 4 && closer.requests() < 2; ++i) EXPECT_EQ(who(port_), "a");
  EXPECT_EQ(closer.requests(), 2);
}

TEST_F(GatewayProxy, ServerThatFailedOnceIsSkippedWithoutWaitingForItsConnect) {
  FullBacklogListener silent;
  ASSERT_NE(silent.port(), 0);
  ASSERT_TRUE(silent.connects_hang(200ms)) << "connects to a full backlog complete here";
  start_upstreams({"a"});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(silent.address()), quoted(up(0).address())},
                                       "max_fails = 1\nconnect_timeout_ms = 500\n"
                                       "fail_timeout_ms = 60000")));
  // The first request tries the silent server first, gives up on it after the connect
  // timeout, and is answered by the other one.
  EXPECT_EQ(who(port_), "a");
  const auto t0 = clock_type::now();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(who(port_), "a");
  // Waiting for the silent server's connect would take 10 x 500 ms.
  EXPECT_LT(clock_type::now() - t0, 4s);
  const auto m = gateway_metrics();
  EXPECT_EQ(
      sample(
          m,
          fmt::format(
              R"(gateway_upstream_errors_total{{pool="pool",server="{}",kind="connect_timeout"}})",
              silent.address())),
      1)
      << m;
  EXPECT_EQ(
      sample(m,
             fmt::format(R"(gateway_upstream_requests_total{{pool="pool",server="{}",code="2xx"}})",
                         up(0).address())),
      11)
      << m;
}

TEST_F(GatewayProxy, ActiveHealthCheckTakesAnUpstreamOutAndBringsItBack) {
  TenxUpstream& a = start_upstream({.name = "a", .health_status = 503});
  start_upstream({.name = "b"});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(a.address()), quoted(up(1).address())},
                                       "[gateway.upstreams.health]\npath = \"/health\"\n"
                                       "interval_ms = 100\ntimeout_ms = 1000\n"
                                       "healthy_threshold = 2\nunhealthy_threshold = 2\n")));
  // Two failed checks 100 ms apart take it out; the bound is generous.
  ASSERT_TRUE(gateway_->wait_for_stderr("upstream unhealthy pool=pool server=" + a.address(), 5s))
      << gateway_->stderr_text();
  std::string seen;
  for (int i = 0; i < 10; ++i) seen += who(port_);
  EXPECT_EQ(seen, "bbbbbbbbbb");

  // Its /health answers 200 again after a config reload: it comes back.
  ASSERT_TRUE(a.reload({.name = "a", .health_status = 200})) << a.process().stderr_text();
  ASSERT_TRUE(gateway_->wait_for_stderr("upstream healthy pool=pool server=" + a.address(), 5s))
      << gateway_->stderr_text();
  seen.clear();
  for (int i = 0; i < 10; ++i) seen += who(port_);
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 'a'), 5) << seen;
  EXPECT_EQ(std::count(seen.begin(), seen.end(), 'b'), 5) << seen;
}

TEST_F(GatewayProxy, AHangingServerDoesNotDelayTheChecksOfTheOthers) {
  // The silent server's checks each hang for their whole 6 s timeout. Checked one after
  // another, a's two failed checks would take at least 12 s to come; checked at once, a few
  // 100 ms intervals.
  FullBacklogListener silent;
  ASSERT_NE(silent.port(), 0);
  ASSERT_TRUE(silent.connects_hang(200ms)) << "connects to a full backlog complete here";
  TenxUpstream& a = start_upstream({.name = "a", .health_status = 503});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(silent.address()), quoted(a.address())},
                                       "[gateway.upstreams.health]\npath = \"/health\"\n"
                                       "interval_ms = 100\ntimeout_ms = 6000\n"
                                       "healthy_threshold = 2\nunhealthy_threshold = 2\n")));
  EXPECT_TRUE(gateway_->wait_for_stderr("upstream unhealthy pool=pool server=" + a.address(), 5s))
      << "a's checks waited behind the hanging server's\n"
      << gateway_->stderr_text();
}

TEST_F(GatewayProxy, RecoveredUpstreamRampsItsWeightOverSlowStart) {
  // a weighs 9 against b's 1, with a 2 s slow start. Taken out by its health check and back,
  // it starts again at weight 1 and only reaches 9 once slow_start has passed (nginx Plus's
  // slow_start: a server that just recovered is not flooded).
  TenxUpstream& a = start_upstream({.name = "a", .health_status = 503});
  start_upstream({.name = "b"});
  start_gateway(gateway_toml(pool_toml(
      "pool", {"{ address = \"" + a.address() + "\", weight = 9 }", quoted(up(1).address())},
      "slow_start_ms = 2000\n"
      "[gateway.upstreams.health]\npath = \"/health\"\n"
      "interval_ms = 100\ntimeout_ms = 1000\n"
      "healthy_threshold = 2\nunhealthy_threshold = 2\n")));
  ASSERT_TRUE(gateway_->wait_for_stderr("upstream unhealthy pool=pool server=" + a.address(), 5s))
      << gateway_->stderr_text();
  ASSERT_TRUE(a.reload({.name = "a", .health_status = 200})) << a.process().stderr_text();
  ASSERT_TRUE(gateway_->wait_for_stderr("upstream healthy pool=pool server=" + a.address(), 5s))
      << gateway_->stderr_text();
  // Its weight ramps from 1 to 9 over the 2 s: while the first 20 requests run it is at most
  // w = 9 x elapsed / 2 s (1 at first), so a gets at most w / (w + 1) of them: about half on a
  // quick machine, far from the 18 of 20 that weight 9 gets. The bound follows the time the
  // requests took, so a slow machine loosens it instead of skipping it.
  const auto recovered = std::chrono::steady_clock::now();
  std::string early;
  for (int i = 0; i < 20; ++i) early += who(port_);
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - recovered;
  const double w = std::clamp(9.0 * took.count() / 2.0, 1.0, 9.0);
  const auto bound = static_cast<long>(std::ceil(20 * w / (w + 1))) + 2;
  EXPECT_LE(std::count(early.begin(), early.end(), 'a'), bound)
      << early << " (weight at most " << w << " by then)";
  EXPECT_GE(std::count(early.begin(), early.end(), 'a'), 8) << early;
  // After slow_start it has its full weight.
  std::this_thread::sleep_until(recovered + 2200ms);
  std::string late;
  for (int i = 0; i < 20; ++i) late += who(port_);
  EXPECT_GE(std::count(late.begin(), late.end(), 'a'), 17) << late;
  EXPECT_EQ(std::count(late.begin(), late.end(), 'a') + std::count(late.begin(), late.end(), 'b'),
            20)
      << late;
}

TEST_F(GatewayProxy, NoLiveUpstreamIs502AndStillTriedWhileEveryServerIsDown) {
  start_upstreams({"a", "b"});
  start_gateway(
      gateway_toml(pool_toml("pool", {quoted(up(0).address()), quoted(up(1).address())})));
  ASSERT_TRUE(up(0).kill());
  ASSERT_TRUE(up(1).kill());
  // The request that finds both refusing connections answers for the last attempt: 502.
  const auto discovered = fetch(port_, get_request("/who"));
  ASSERT_TRUE(discovered);
  EXPECT_EQ(discovered->status, 502);
  EXPECT_EQ(discovered->header("Content-Type"), "application/json");
  EXPECT_THAT(discovered->body, HasSubstr(R"("error":"bad_gateway")"));
  EXPECT_THAT(discovered->body, HasSubstr("cannot connect to upstream"));
  // Both are now marked down, and still one is tried (nginx resets its peers rather than
  // refuse for fail_timeout): the answer is the attempt's, and the metrics say why.
  const auto again = fetch(port_, get_request("/who"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 502);
  EXPECT_THAT(again->body, HasSubstr("cannot connect to upstream"));
  EXPECT_EQ(sample(gateway_metrics(), "gateway_upstream_panic_total{pool=\"pool\"}"), 1);
}

// ---- upstreams that misbehave ----

class GatewayProxyBadUpstream : public GatewayProxy {
 protected:
  void start_in_front_of(const RawUpstream& bad) {
    start_gateway(gateway_toml(pool_toml("bad", {quoted(bad.address())},
                                         "header_timeout_ms = 300\nread_timeout_ms = 2000")));
  }
  // GET /x through the gateway: a JSON error with this status and code.
  void expect_error(int status, std::string_view code) {
    std::string error;
    const auto r = fetch(port_, get_request("/x"), &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->status, status) << r->body;
    EXPECT_EQ(r->header("Content-Type"), "application/json");
    EXPECT_THAT(r->body, HasSubstr("\"error\":\"" + std::string(code) + "\""));
  }
};

TEST_F(GatewayProxyBadUpstream, GarbageStatusLineIs502) {
  RawUpstream bad(canned_script("FOO BAR BAZ\r\nnonsense\r\n\r\n"));
  start_in_front_of(bad);
  expect_error(502, "bad_gateway");
}

TEST_F(GatewayProxyBadUpstream, OversizedResponseHeadIs502) {
  RawUpstream bad(canned_script("HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'h') +
                                "\r\nContent-Length: 2\r\n\r\nok"));
  start_in_front_of(bad);
  expect_error(502, "bad_gateway");
}

TEST_F(GatewayProxyBadUpstream, ResetAfterTheRequestIs502) {
  RawUpstream bad([](RawUpstream::Conn& c) {
    if (c.read_head()) c.reset();
  });
  start_in_front_of(bad);
  expect_error(502, "bad_gateway");
}

TEST_F(GatewayProxyBadUpstream, CloseAfterTheHeadBeforeAnyBodyIs502) {
  RawUpstream bad([](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n");
    c.close();
  });
  start_in_front_of(bad);
  expect_error(502, "bad_gateway");
}

TEST_F(GatewayProxyBadUpstream, TruncatedBodyClosesTheClientConnection) {
  RawUpstream bad([](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    c.write("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
    c.close();
  });
  start_in_front_of(bad);
  RawClient c(port_);
  ASSERT_TRUE(c.send(get_request("/x")));
  // The head went out before the upstream fell short; the client learns it from the close.
  EXPECT_FALSE(c.read_response()) << "a truncated body was passed off as a whole response";
  EXPECT_THAT(c.last_error(), MatchesRegex("connection (closed|reset) by the server"));
  EXPECT_LT(c.leftover().size(), 100u);
}

TEST_F(GatewayProxyBadUpstream, SilentUpstreamIs504AfterTheHeaderTimeout) {
  RawUpstream bad([](RawUpstream::Conn& c) {
    if (c.read_head()) c.wait_for_close();
  });
  start_in_front_of(bad);
  const auto t0 = clock_type::now();
  expect_error(504, "upstream_timeout");
  const auto waited = clock_type::now() - t0;
  EXPECT_GE(waited, 300ms);  // not before header_timeout_ms...
  EXPECT_LT(waited, 5s);     // ...and not much after it
  EXPECT_EQ(bad.requests(), 1);
}

// ---- drain ----

TEST_F(GatewayProxy, DrainIsNotHeldUpByPooledUpstreamConnections) {
  start_upstreams({"a"});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(up(0).address())}), /*threads=*/2));
  for (int i = 0; i < 6; ++i) ASSERT_EQ(who(port_), "a");  // keep-alive upstream connections
  const auto t0 = clock_type::now();
  ASSERT_TRUE(gateway_->signal(SIGTERM));
  // Exit 0, not 1: the drain ended by itself, the 5 s deadline did not cut it short.
  EXPECT_EQ(gateway_->wait_exit(10s), 0) << gateway_->stderr_text();
  EXPECT_LT(clock_type::now() - t0, 4s);
}

TEST_F(GatewayProxy, ProxiedRequestInFlightFinishesDuringTheDrain) {
  start_upstream({.name = "a", .work_delay_ms = 500});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(up(0).address())})));
  ASSERT_EQ(who(port_), "a");  // an idle pooled connection...
  RawClient slow(port_);       // ...and one busy with a slow request
  ASSERT_TRUE(slow.send(get_request("/work")));
  // One event loop: this answer means the loop has taken in the slow request.
  ASSERT_EQ(who(port_, "/gateway-ok"), "gateway ok");
  ASSERT_TRUE(gateway_->signal(SIGTERM));
  const auto r = slow.read_response();
  ASSERT_TRUE(r) << slow.last_error();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "a");
  EXPECT_EQ(gateway_->wait_exit(10s), 0) << gateway_->stderr_text();
}

// ---- reload ----

TEST_F(GatewayProxy, ReloadPointingTheRouteAtAnotherPoolMovesNewRequests) {
  start_upstreams({"a", "b"});
  const auto pools = [&](std::string_view target) {
    return gateway_toml(fmt::format(R"([[gateway.upstreams]]
name = "one"
servers = ["{}"]

[[gateway.upstreams]]
name = "two"
servers = ["{}"]

[[gateway.routes]]
prefix = "/"
upstream = "{}"
)",
                                    up(0).address(), up(1).address(), target));
  };
  start_gateway(pools("one"));
  RawClient kept(port_);  // a keep-alive connection opened before the reload
  ASSERT_TRUE(kept.send(get_request("/who")));
  const auto before = kept.read_response();
  ASSERT_TRUE(before) << kept.last_error();
  EXPECT_EQ(before->body, "a");
  EXPECT_EQ(who(port_), "a");

  config_->write(pools("two"));
  ASSERT_TRUE(gateway_->signal(SIGHUP));
  ASSERT_TRUE(gateway_->wait_for_stderr("reload: config applied")) << gateway_->stderr_text();
  for (int i = 0; i < 3; ++i) EXPECT_EQ(who(port_), "b");
  ASSERT_TRUE(kept.send(get_request("/who")));
  const auto after = kept.read_response();
  ASSERT_TRUE(after) << kept.last_error();
  EXPECT_EQ(after->body, "b");
}

}  // namespace
}  // namespace tenx::e2e

namespace tenx::e2e {
namespace {

// gateway_upstream_errors_total{pool,server,kind="connect"} for one server (0 if absent).
int connect_errors(const std::string& metrics, const std::string& pool, const std::string& server) {
  const std::string key = "gateway_upstream_errors_total{pool=\"" + pool + "\",server=\"" + server +
                          "\",kind=\"connect\"} ";
  const auto at = metrics.find(key);
  return at == std::string::npos ? 0 : std::atoi(metrics.c_str() + at + key.size());
}

TEST_F(GatewayProxy, ReloadKeepsAServerThatIsDownOutOfRotation) {
  start_upstreams({"a", "b"});
  start_gateway(gateway_toml(pool_toml("pool", {quoted(up(0).address()), quoted(up(1).address())},
                                       "fail_timeout_ms = 60000"),
                             /*threads=*/1));
  std::string warm;
  for (int i = 0; i < 4; ++i) warm += who(port_);
  ASSERT_GT(std::count(warm.begin(), warm.end(), 'b'), 0) << warm;
  ASSERT_TRUE(up(1).kill());
  for (int i = 0; i < 4; ++i) EXPECT_EQ(who(port_), "a");  // one of these finds b dead
  const int before = connect_errors(gateway_metrics(), "pool", up(1).address());
  ASSERT_EQ(before, 1);
  // A reload with the same pool: b keeps its state (down for fail_timeout) and is not tried.
  ASSERT_TRUE(gateway_->signal(SIGHUP));
  ASSERT_TRUE(gateway_->wait_for_stderr("reload: config applied")) << gateway_->stderr_text();
  for (int i = 0; i < 10; ++i) EXPECT_EQ(who(port_), "a");
  EXPECT_EQ(connect_errors(gateway_metrics(), "pool", up(1).address()), before);
}

}  // namespace
}  // namespace tenx::e2e

namespace tenx::e2e {
namespace {

// The retry budget: a GET that the first server resets is retried on the second while the
// budget allows, and answered 502 without a retry when the budget is zero (a sick pool is
// not hammered with retries).
class GatewayProxyRetryBudget : public GatewayProxy {
 protected:
  void run(std::string_view budget, int expected_status, std::string_view expected_outcome) {
    RawUpstream bad([](RawUpstream::Conn& c) {
      if (c.read_head()) c.reset();
    });
    start_upstream({.name = "b"});
    // Round robin with equal weights starts at the first server: the bad one.
    start_gateway(
        gateway_toml(pool_toml("rb", {quoted(bad.address()), quoted(up(0).address())}, budget)));
    std::string error;
    const auto r = fetch(port_, get_request("/who"), &error);
    ASSERT_TRUE(r) << error;
    EXPECT_EQ(r->status, expected_status) << r->body;
    EXPECT_THAT(gateway_metrics(), HasSubstr("gateway_retries_total{pool=\"rb\",outcome=\"" +
                                             std::string(expected_outcome) + "\"} 1"));
  }
};

TEST_F(GatewayProxyRetryBudget, RetriesOnTheNextServerWhileTheBudgetAllows) {
  run("", 200, "retried");
}

TEST_F(GatewayProxyRetryBudget, ExhaustedBudgetAnswersWithoutARetry) {
  run("retry_budget = 0\nretry_min_per_second = 0", 502, "budget_exhausted");
}

}  // namespace
}  // namespace tenx::e2e
