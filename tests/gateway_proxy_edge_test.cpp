// Edges of the reverse proxy that the other proxy tests do not reach, each through the real
// `tenx gateway` process:
//   - request smuggling, judged by what the UPSTREAM receives (http_smuggling_test.cpp judges
//     it by what the client gets back from fixed routes): every refused request must leave
//     the upstream without a single complete request, and no request line from inside a body
//     may ever reach it;
//   - IPv6: a gateway on [::1] in front of an upstream on [::1], and the forwarding fields
//     that name an IPv6 client;
//   - configuration reloads under concurrent keep-alive load, with not one failed request.
// Everything listens on loopback only, binds port 0, and is stopped by the fixtures.
#include "support/gateway_fixture.h"
#include "support/smuggling_cases.h"

#include <condition_variable>
#include <regex>

namespace tenx::e2e {
namespace {

// ---- an upstream that records the requests it parses ----

// Sent by the test to the upstream itself, after the gateway has exited: see wait_quiet().
constexpr std::string_view kFence = "FENCE\r\n\r\n";

// A RawUpstream that parses what the gateway sends it into requests, as a strict HTTP/1.1
// server would (Content-Length or chunked), records each, and answers every complete one with
// 200 "seen TARGET" on a kept-alive connection, so the gateway may reuse the connection for
// the next request: the place where a smuggled request would hide. A request whose body the
// connection ends in the middle of is recorded as incomplete; framing it cannot parse is
// recorded with the error, and the rest of that connection is only kept as bytes.
class RecordingUpstream {
 public:
  struct Request {
    std::string head;                 // as received, blank line included
    std::optional<std::string> body;  // de-chunked; nullopt: the request never completed
    std::string error;                // why the body could not be parsed, if it could not
    std::string line() const { return head.substr(0, head.find("\r\n")); }
  };

  explicit RecordingUpstream(bool ipv6 = false)
      : server_([this](RawUpstream::Conn& c) { serve(c); }, 0, ipv6) {}

  std::uint16_t port() const { return server_.port(); }
  std::string address() const { return server_.address(); }
  std::string received() const { return server_.received(); }
  bool wait_received(std::string_view needle, std::chrono::milliseconds timeout) const {
    return server_.wait_received(needle, timeout);
  }
  std::vector<Request> requests() const {
    std::lock_guard lock(mu_);
    return requests_;
  }

  // Once the gateway has exited (so every connection it made is closed): true when every one
  // of them has been read to its end. The fence, a connection of the test's own, is accepted
  // after all of the gateway's (the accept queue is FIFO), so once its script has run, every
  // earlier connection has a script too, and each of those ends at the gateway's FIN.
  bool wait_quiet(std::chrono::milliseconds timeout) {
    RawClient fence(port());
    if (!fence.ok() || !fence.send(kFence)) return false;
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return fence_seen_ && started_ == ended_; });
  }

 private:
  void serve(RawUpstream::Conn& c) {
    {
      std::lock_guard lock(mu_);
      ++started_;
    }
    while (auto head = c.read_head()) {
      if (head->starts_with(kFence)) {
        {
          std::lock_guard lock(mu_);
          fence_seen_ = true;
          ++ended_;
        }
        cv_.notify_all();
        return;
      }
      Request r;
      r.head = *head;
      try {
        r.body = c.read_body(*head);
      } catch (const std::exception& e) {  // a chunk-size line that is not hex
        r.error = e.what();
      }
      const bool complete = r.body.has_value();
      const std::string target = r.line().substr(0, r.line().rfind(' '));
      {
        std::lock_guard lock(mu_);
        requests_.push_back(std::move(r));
      }
      if (!complete) break;
      const std::string body = "seen " + target.substr(target.find(' ') + 1);
      if (!c.write(
              fmt::format("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{}", body.size(), body)))
        break;
    }
    // Whatever else comes on this connection is recorded too (received()), up to the close.
    c.wait_for_close();
    {
      std::lock_guard lock(mu_);
      ++ended_;
    }
    cv_.notify_all();
  }

  // Declared before server_: its scripts use them from the first connection on.
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Request> requests_;
  int started_ = 0, ended_ = 0;
  bool fence_seen_ = false;
  RawUpstream server_;  // last: destroyed (threads joined) first
};

// The request lines of the complete requests, in the order the upstream finished them.
std::vector<std::string> complete_lines(const std::vector<RecordingUpstream::Request>& rs) {
  std::vector<std::string> out;
  for (const auto& r : rs)
    if (r.body) out.push_back(r.line());
  return out;
}

std::string describe(const std::vector<RecordingUpstream::Request>& rs) {
  std::string out;
  for (const auto& r : rs)
    out += fmt::format("  [{}] {}{}\n", r.body ? "complete" : "incomplete", r.line(),
                       r.error.empty() ? "" : " (" + r.error + ")");
  return out.empty() ? "  (none)\n" : out;
}

// ---- smuggling, as the upstream sees it ----

// The request every malicious one is followed by on the same connection (in the same write,
// so it is already buffered when the gateway reads the bad one). Its path appears nowhere else:
// if "/smuggled" ever reaches the upstream outside a body the gateway meant to send, a request
// was smuggled through.
const std::string kSmuggled = "GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n";
const std::string kPost = "POST /hello HTTP/1.1\r\nHost: localhost\r\n";

// The shared table, and the requests of http_smuggling_test.cpp's own TEST_Fs that carry a
// request inside a body, each of which must be refused too.
std::vector<SmugglingCase> edge_cases() {
  auto cases = smuggling_cases();
  const std::string hidden = "0\r\n\r\n" + kSmuggled;
  // CL.TE: a front end trusting Content-Length forwards it all as one request; a back end
  // trusting Transfer-Encoding would then answer the GET hidden in it.
  cases.push_back({"RequestHiddenInAClTeBody",
                   kPost + "Content-Length: " + std::to_string(hidden.size()) +
                       "\r\nTransfer-Encoding: chunked\r\n\r\n" + hidden,
                   400, "bad_request"});
  // TE.CL: the front end trusts Transfer-Encoding, the back end Content-Length.
  cases.push_back({"RequestHiddenInATeClBody",
                   kPost + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" +
                       fmt::format("{:x}", kSmuggled.size()) + "\r\n" + kSmuggled + "\r\n0\r\n\r\n",
                   400, "bad_request"});
  cases.push_back({"RequestHiddenBehindDifferingContentLengths",
                   kPost + "Content-Length: 0\r\nContent-Length: " +
                       std::to_string(kSmuggled.size()) + "\r\n\r\n" + kSmuggled,
                   400, "bad_request"});
  // A good chunk, then a bad one, all in the first write.
  cases.push_back({"BadChunkBufferedWithTheHead",
                   kPost + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nnot-hex\r\n", 400,
                   "bad_request", /*error_in_body=*/true});
  return cases;
}

// A gateway whose only pool is one RecordingUpstream (the "/" prefix: /hello, /smuggled and
// /sentinel all go to it).
class GatewayProxyEdgeSmugglingBase : public GatewayProxy {
 protected:
  void SetUp() override {
    ASSERT_NE(upstream_.port(), 0);
    start_gateway(gateway_toml(pool_toml("raw", {quoted(upstream_.address())})));
  }

  // Shows that the path to the upstream works (so "the upstream got nothing" means something),
  // then stops the gateway and waits until the upstream has read every byte it was sent.
  // Returns what the upstream recorded.
  std::vector<RecordingUpstream::Request> finish() {
    EXPECT_EQ(who(port_, "/sentinel"), "seen /sentinel");
    EXPECT_TRUE(gateway_->signal(SIGTERM));
    EXPECT_EQ(gateway_->wait_exit(10s), 0) << gateway_->stderr_text();
    EXPECT_TRUE(upstream_.wait_quiet(10s)) << "the upstream still reads a connection";
    return upstream_.requests();
  }

  RecordingUpstream upstream_;
};

class GatewayProxyEdgeSmuggling : public GatewayProxyEdgeSmugglingBase,
                                  public ::testing::WithParamInterface<SmugglingCase> {};

// What this catches: a gateway that forwards a request whose framing it could read two ways
// (the upstream then decides where it ends: the smuggling itself), that forwards the request
// pipelined after a refused one, that completes the framing of a body it found broken (the
// upstream gets a whole request the client never sent), or that reuses an upstream connection
// left mid-body (the next request's bytes become that body, or the body's bytes a request:
// the sentinel would then not be answered, or be recorded as broken framing).
TEST_P(GatewayProxyEdgeSmuggling, UpstreamReceivesNoRequestForARefusedOne) {
  const auto& p = GetParam();
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send(p.request + kSmuggled));
    expect_refused_once(c, p.status, p.code);
  }
  const auto seen = finish();
  RecordProperty("upstream_saw", describe(seen));
  // The only complete request the upstream ever got is the sentinel.
  EXPECT_THAT(complete_lines(seen), ElementsAre("GET /sentinel HTTP/1.1")) << describe(seen);
  const std::string received = upstream_.received();
  EXPECT_THAT(received, Not(HasSubstr("/smuggled"))) << received;
  if (p.error_in_body) {
    // The head was good, so the gateway may have streamed it (and the good chunks) on before
    // it met the error; then that upstream request must stay unfinished: the connection
    // ended mid-body, with no last-chunk sent for it.
    // A POST whose body may have been read is never tried again elsewhere.
    EXPECT_LE(seen.size(), 2u) << describe(seen);
    for (const auto& r : seen) {
      if (r.body) continue;
      EXPECT_EQ(r.line(), "POST /hello HTTP/1.1") << describe(seen);
      EXPECT_EQ(r.error, "") << "the gateway sent framing the upstream cannot parse";
    }
  } else {
    // Refused as soon as the head was read: not one byte of it went upstream.
    EXPECT_THAT(received, Not(HasSubstr("/hello"))) << received;
    EXPECT_EQ(seen.size(), 1u) << describe(seen);
  }
}

INSTANTIATE_TEST_SUITE_P(GatewayProxyEdgeFraming, GatewayProxyEdgeSmuggling,
                         ::testing::ValuesIn(edge_cases()),
                         [](const ::testing::TestParamInfo<SmugglingCase>& info) {
                           return info.param.name;
                         });

class GatewayProxyEdgeSmugglingStream : public GatewayProxyEdgeSmugglingBase {};

// The bad chunk comes after the gateway has certainly sent the head and the first chunk on
// (the upstream has them): the gateway must answer 400, leave the upstream request unfinished
// and close both connections, never forwarding what follows the bad chunk.
TEST_F(GatewayProxyEdgeSmugglingStream, BadChunkAfterTheHeadWentUpstreamLeavesItUnfinished) {
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send(kPost + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
    ASSERT_TRUE(upstream_.wait_received("hello", 5s)) << upstream_.received();
    ASSERT_TRUE(c.send("zz\r\n" + kSmuggled));
    expect_refused_once(c, 400, "bad_request");
  }
  const auto seen = finish();
  EXPECT_THAT(complete_lines(seen), ElementsAre("GET /sentinel HTTP/1.1")) << describe(seen);
  ASSERT_EQ(seen.size(), 2u) << describe(seen);
  // The upstream records requests as their connections end: the sentinel's may come first.
  const auto post = std::find_if(seen.begin(), seen.end(),
                                 [](const auto& r) { return r.line() == "POST /hello HTTP/1.1"; });
  ASSERT_NE(post, seen.end()) << describe(seen);
  EXPECT_FALSE(post->body) << "the gateway finished a body the client broke";
  EXPECT_EQ(post->error, "") << "the gateway sent framing the upstream cannot parse";
  EXPECT_THAT(upstream_.received(), Not(HasSubstr("/smuggled")));
}

// A good request answered, then a refused one on the same connection: the first reaches the
// upstream, nothing after it does.
TEST_F(GatewayProxyEdgeSmugglingStream, RefusalAfterAPipelinedGoodRequestForwardsOnlyTheGoodOne) {
  {
    RawClient c(port_);
    ASSERT_TRUE(c.ok());
    ASSERT_TRUE(c.send(get_request("/first") + "GET /hello HTTP/1.1\r\n\r\n" + kSmuggled));
    const auto first = c.read_response();
    ASSERT_TRUE(first) << c.last_error();
    EXPECT_EQ(first->status, 200);
    EXPECT_EQ(first->body, "seen /first");
    EXPECT_FALSE(first->connection_has("close"));
    expect_refused_once(c, 400, "bad_request");
  }
  const auto seen = finish();
  EXPECT_THAT(complete_lines(seen), ElementsAre("GET /first HTTP/1.1", "GET /sentinel HTTP/1.1"))
      << describe(seen);
  EXPECT_EQ(seen.size(), 2u) << describe(seen);
  EXPECT_THAT(upstream_.received(), Not(HasSubstr("/smuggled")));
}

// Accepted requests whose bodies look like the end of a chunked body and the start of a
// request: the upstream gets each as one request with exactly the body its framing says, and
// the requests pipelined after it, and on the same connection a normal GET afterwards, as
// requests of their own. A gateway that ended a body where a naive reader would (at "0\r\n\r\n"
// or at a request line) would hand the upstream a request line from inside the body.
TEST_F(GatewayProxyEdgeSmugglingStream, AcceptedBodiesReachTheUpstreamAsOneRequestEach) {
  const std::string chunked_body = "0\r\n\r\nGET ";  // one 9-byte chunk
  const std::string chunked =
      kPost + "Transfer-Encoding: chunked\r\n\r\n9\r\n" + chunked_body + "\r\n0\r\n\r\n";
  const std::string sized = post_request("/sized", kSmuggled);  // a request as the body
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(chunked + get_request("/after") + sized));
  for (const char* want : {"seen /hello", "seen /after", "seen /sized"}) {
    const auto r = c.read_response();
    ASSERT_TRUE(r) << want << ": " << c.last_error();
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->body, want);
    EXPECT_FALSE(r->connection_has("close"));
  }
  // The connection stays open and in step: a normal GET afterwards.
  ASSERT_TRUE(c.send(get_request("/again")));
  const auto again = c.read_response();
  ASSERT_TRUE(again) << c.last_error();
  EXPECT_EQ(again->body, "seen /again");
  EXPECT_EQ(c.leftover(), "");

  const auto seen = finish();
  EXPECT_THAT(complete_lines(seen),
              ElementsAre("POST /hello HTTP/1.1", "GET /after HTTP/1.1", "POST /sized HTTP/1.1",
                          "GET /again HTTP/1.1", "GET /sentinel HTTP/1.1"))
      << describe(seen);
  ASSERT_EQ(seen.size(), 5u) << describe(seen);
  expect_same_bytes(*seen[0].body, chunked_body);
  EXPECT_THAT(field_values(seen[0].head, "Transfer-Encoding"), ElementsAre("chunked"));
  EXPECT_THAT(field_values(seen[0].head, "Content-Length"), ElementsAre());
  expect_same_bytes(*seen[2].body, kSmuggled);
  EXPECT_THAT(field_values(seen[2].head, "Content-Length"),
              ElementsAre(std::to_string(kSmuggled.size())));
}

// ---- IPv6 ----

// A gateway listening on [::1] only, in front of an echo upstream on [::1] only.
class GatewayProxyEdgeIpv6 : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ipv6_loopback_available())
      GTEST_SKIP() << "no IPv6 loopback here: socket(AF_INET6) or bind to [::1] failed";
  }
  void start(std::string_view gateway_extra = {}) {
    echo_ = std::make_unique<RawUpstream>(echo_script, 0, /*ipv6=*/true);
    ASSERT_NE(echo_->port(), 0);
    ASSERT_EQ(echo_->address(), "[::1]:" + std::to_string(echo_->port()));
    config_ = std::make_unique<TempFile>(
        gateway_toml(std::string(gateway_extra) + pool_toml("v6", {quoted(echo_->address())})));
    gateway_ = std::make_unique<TenxProcess>(
        std::vector<std::string>{"gateway", "--config", config_->path(), "--listen", "[::1]:0"});
    port_ = gateway_->wait_listening().value_or(0);
    ASSERT_NE(port_, 0) << gateway_->listening_line() << "\n" << gateway_->stderr_text();
    EXPECT_EQ(gateway_->listening_line(),
              "tenx gateway listening on http://::1:" + std::to_string(port_));
  }
  void TearDown() override {
    if (!gateway_ || !gateway_->running()) return;
    const auto ok = get("/gateway-ok");
    EXPECT_TRUE(ok && ok->body == "gateway ok") << gateway_->stderr_text();
    ASSERT_TRUE(gateway_->signal(SIGTERM));
    EXPECT_EQ(gateway_->wait_exit(10s), 0) << gateway_->stderr_text();
  }
  // GET `path` from [::1] to the gateway on its own connection.
  std::optional<Response> get(std::string_view path, std::string_view extra = {}) {
    RawClient c("::1", port_);
    EXPECT_TRUE(c.ok()) << "connect to [::1]:" << port_ << ": errno " << c.connect_errno();
    if (!c.ok() || !c.send(get_request(path, extra))) return std::nullopt;
    auto r = c.read_response();
    EXPECT_TRUE(r) << c.last_error();
    return r;
  }
  // The request head the echo upstream got for GET `path`.
  std::string echoed_head(std::string_view path, std::string_view extra = {}) {
    const auto r = get(path, extra);
    if (!r) return {};
    EXPECT_EQ(r->status, 200) << r->body;
    return r->body.substr(0, r->body.find("\r\n\r\n") + 4);
  }

  std::unique_ptr<RawUpstream> echo_;
  std::unique_ptr<TempFile> config_;
  std::unique_ptr<TenxProcess> gateway_;
  std::uint16_t port_ = 0;
};

// The client is [::1] and not a trusted proxy: X-Forwarded-For is its address as the gateway
// formats it (inet_ntop's "::1", no brackets), whatever it claimed itself; no Forwarded is
// sent, as none came from a trusted peer.
TEST_F(GatewayProxyEdgeIpv6, ProxiesOverIpv6AndNamesTheClientByItsIpv6Address) {
  start();
  const auto head = echoed_head("/v6/path?q=1", "X-Forwarded-For: 203.0.113.7\r\n");
  ASSERT_FALSE(head.empty());
  EXPECT_EQ(head.substr(0, head.find("\r\n")), "GET /v6/path?q=1 HTTP/1.1");
  EXPECT_THAT(field_values(head, "Host"), ElementsAre("localhost"));
  EXPECT_THAT(field_values(head, "X-Forwarded-For"), ElementsAre("::1"));
  EXPECT_THAT(field_values(head, "X-Forwarded-Proto"), ElementsAre("http"));
  EXPECT_THAT(field_values(head, "Forwarded"), ElementsAre());
  // And again (the upstream connection kept alive from the first, or a new one).
  const auto again = echoed_head("/v6/again");
  EXPECT_EQ(again.substr(0, again.find("\r\n")), "GET /v6/again HTTP/1.1");
}

// From a trusted IPv6 peer the incoming lists are extended with the peer: X-Forwarded-For with
// "::1", Forwarded with the node quoted and bracketed (RFC 7239 §6: for="[::1]"; the gateway
// appends no port).
TEST_F(GatewayProxyEdgeIpv6, TrustedIpv6PeerIsAppendedToForwardedQuotedAndBracketed) {
  start("[gateway]\ntrusted_proxies = [\"::1/128\"]\n\n");
  const auto head = echoed_head("/v6",
                                "X-Forwarded-For: 2001:db8::7\r\n"
                                "Forwarded: for=\"[2001:db8::7]:4711\";proto=https\r\n");
  ASSERT_FALSE(head.empty());
  EXPECT_THAT(field_values(head, "X-Forwarded-For"), ElementsAre("2001:db8::7, ::1"));
  EXPECT_THAT(field_values(head, "Forwarded"),
              ElementsAre("for=\"[2001:db8::7]:4711\";proto=https, for=\"[::1]\""));
}

// ---- reload under load ----

// Two configs of pool "main" over upstreams a and b that differ in a weight (1:1, then 3:1),
// in what the gateway's own /variant route answers ("first", "second"), and in a route only
// the second has: /extra (under the first it goes to the pool, whose tenx upstreams answer 404).
std::string reload_toml(const std::string& a, const std::string& b, bool second) {
  std::string pool = fmt::format(R"([[gateway.upstreams]]
name = "main"
servers = [{{ address = "{}", weight = {} }}, {{ address = "{}", weight = 1 }}]

[[gateway.routes]]
prefix = "/"
upstream = "main"

[[gateway.routes]]
path = "/variant"
[gateway.routes.return]
body = "{}"
)",
                                 a, second ? 3 : 1, b, second ? "second" : "first");
  if (second)
    pool +=
        "\n[[gateway.routes]]\npath = \"/extra\"\n[gateway.routes.return]\n"
        "body = \"extra route\"\n";
  return gateway_toml(pool, /*threads=*/2);
}

// The admin port from the line that follows the listening line; 0 if it does not come.
std::uint16_t wait_admin_port(TenxProcess& gw) {
  if (!gw.wait_for_stdout("tenx gateway admin on http://127.0.0.1:", 10s)) return 0;
  std::smatch m;
  const std::string out = gw.stdout_text();
  if (!std::regex_search(out, m, std::regex("admin on http://127\\.0\\.0\\.1:(\\d+)"))) return 0;
  return static_cast<std::uint16_t>(std::stoi(m[1]));
}

// A gateway (2 worker threads, an admin listener) over tenx upstreams a and b, on the config
// file config_, which a test rewrites between the two variants of reload_toml.
class GatewayProxyEdgeReload : public GatewayProxy {
 protected:
  void SetUp() override {
    start_upstreams({"a", "b"});
    first_ = reload_toml(up(0).address(), up(1).address(), false);
    second_ = reload_toml(up(0).address(), up(1).address(), true);
    config_ = std::make_unique<TempFile>(second_);
    start_gateway_args(gateway_args(config_->path(), {"--admin", "127.0.0.1:0"}));
    admin_ = wait_admin_port(*gateway_);
    ASSERT_NE(admin_, 0) << gateway_->stdout_text();
    ASSERT_EQ(who(port_, "/variant"), "second");
    ASSERT_EQ(who(port_, "/extra"), "extra route");
  }

  // Writes the first or second config and starts a reload of it: by SIGHUP (asynchronous) or
  // by the admin API (synchronous: its 200 says it applied).
  ::testing::AssertionResult start_reload(bool second, bool by_signal) {
    config_->write(second ? second_ : first_);
    if (by_signal) {
      if (!gateway_->signal(SIGHUP)) return ::testing::AssertionFailure() << "SIGHUP failed";
      return ::testing::AssertionSuccess();
    }
    RawClient c(admin_);
    const auto r = c.send(fmt::format("POST /reload HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n"
                                      "Content-Type: application/json\r\n"
                                      "Content-Length: 0\r\n\r\n",
                                      admin_))
                       ? c.read_response()
                       : std::nullopt;
    if (!r) return ::testing::AssertionFailure() << "admin reload: " << c.last_error();
    if (r->status != 200)
      return ::testing::AssertionFailure() << "admin reload: " << r->status << " " << r->body;
    return ::testing::AssertionSuccess();
  }

  // Waits until the `n`-th reload is in service on every worker (the gateway logs it once
  // the last worker has the new handler), then checks that /variant answers what the first
  // or second config says: only the reload started while that config was in the file can
  // have put it in service.
  ::testing::AssertionResult wait_serving(std::size_t n, bool second) {
    if (!gateway_->wait_for_stderr_count("reload: in service on every worker", n, 10s))
      return ::testing::AssertionFailure() << "reload " << n << " not in service\n"
                                           << gateway_->stderr_text();
    const std::string want = second ? "second" : "first";
    const std::string got = who(port_, "/variant");
    if (got == want) return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure()
           << "/variant answers \"" << got << "\", not \"" << want << "\"\n"
           << gateway_->stderr_text();
  }

  std::string first_, second_;
  std::uint16_t admin_ = 0;
};

// One client of the load: GET /who on a keep-alive connection, each answer a 200 from a or b.
struct LoadClient {
  explicit LoadClient(std::uint16_t port) : port_(port), c_(std::make_unique<RawClient>(port)) {}
  // One request; false (with the reason in errors) on anything but a 200 from a or b.
  bool request() {
    std::optional<Response> r;
    if (c_->ok() && c_->send(get_request("/who"))) r = c_->read_response();
    if (!r) {
      errors += fmt::format("request {}: {} (connect errno {});", ok, c_->last_error(),
                            c_->connect_errno());
      return false;
    }
    if (r->status / 100 != 2 || (r->body != "a" && r->body != "b")) {
      errors += fmt::format("request {}: {} \"{}\";", ok, r->status, r->body);
      return false;
    }
    ++ok;
    ++(r->body == "a" ? from_a : from_b);
    // A close the gateway announces is orderly: reconnect (and count it).
    if (r->connection_has("close")) {
      ++reconnects;
      c_ = std::make_unique<RawClient>(port_);
    }
    return true;
  }

  int ok = 0, from_a = 0, from_b = 0, reconnects = 0;
  std::string errors;

 private:
  std::uint16_t port_;
  std::unique_ptr<RawClient> c_;
};

// 4 clients on keep-alive connections send 500 proxied GETs each while the config is reloaded
// 20 times (alternating SIGHUP and the admin API, between two configs that differ in a weight
// and in routes). The reloads are spread over the load by its progress: reload i waits for
// i * 2000/21 answers, and no client runs more than two such steps ahead of the reloads, so
// every reload happens with requests in flight and no sleep decides the interleaving. Every
// response must be a 200 from a or b, with no connection broken; each reload must show in the
// /variant route, and the added /extra route must answer after the last one.
// What this catches: a reload that drops or resets in-flight or idle keep-alive connections,
// answers 502/503 while the pools are swapped, loses pool state between configs, or is not
// applied.
TEST_F(GatewayProxyEdgeReload, TwentyReloadsUnderLoadLoseNoRequest) {
  constexpr int kClients = 4, kEach = 500, kReloads = 20;
  constexpr int kStep = kClients * kEach / (kReloads + 1);  // answers between two reloads
  // After the last reload the clients may run to the end.
  static_assert(kClients * kEach <= (kReloads + 2) * kStep);
  const auto deadline = clock_type::now() + 60s;
  // Shared by the clients and this thread.
  std::mutex mu;
  std::condition_variable cv;
  int answered = 0, reloads = 0, finished = 0;  // guarded by mu
  bool stop = false;                            // guarded by mu
  std::vector<LoadClient> load;
  for (int t = 0; t < kClients; ++t) load.emplace_back(port_);
  std::vector<std::thread> clients;
  for (int t = 0; t < kClients; ++t) {
    clients.emplace_back([&, t] {
      LoadClient& c = load[t];
      for (int i = 0; i < kEach; ++i) {
        {
          std::unique_lock lock(mu);
          if (!cv.wait_until(lock, deadline,
                             [&] { return stop || answered < (reloads + 2) * kStep; })) {
            c.errors += "deadline passed waiting for the reloads;";
            break;
          }
          if (stop) break;
        }
        if (!c.request()) break;
        {
          std::lock_guard lock(mu);
          ++answered;
        }
        cv.notify_all();
      }
      {
        std::lock_guard lock(mu);
        ++finished;
      }
      cv.notify_all();
    });
  }

  // No ASSERT until the clients are joined: a return would destroy joinable threads.
  int answered_during_reloads = 0;
  bool aborted = false;
  for (int i = 1; i <= kReloads; ++i) {
    int before;
    {
      std::unique_lock lock(mu);
      if (!cv.wait_until(lock, deadline,
                         [&] { return answered >= i * kStep || finished == kClients; }) ||
          finished == kClients) {
        ADD_FAILURE() << "the load ended before reload " << i << " (" << answered << " answers)";
        aborted = true;
        break;
      }
      before = answered;
    }
    const bool second = i % 2 == 0;  // the 20th reload ends on the second config
    // A SIGHUP reload reaches each worker a moment after the signal (only the admin API's
    // answer waits for it), so both kinds of reload are waited for the same way.
    auto applied = start_reload(second, /*by_signal=*/i % 2 == 1);
    if (applied) applied = wait_serving(static_cast<std::size_t>(i), second);
    EXPECT_TRUE(applied) << "reload " << i;
    {
      std::lock_guard lock(mu);
      answered_during_reloads += answered - before;
      ++reloads;
    }
    cv.notify_all();
    if (!applied) {
      aborted = true;
      break;
    }
  }
  if (aborted) {  // else the clients finish their requests: 2000 < (kReloads + 2) * kStep
    std::lock_guard lock(mu);
    stop = true;
  }
  cv.notify_all();
  for (auto& t : clients) t.join();

  int total = 0, reconnects = 0, from_a = 0, from_b = 0;
  for (int t = 0; t < kClients; ++t) {
    EXPECT_EQ(load[t].errors, "") << "client " << t << " after " << load[t].ok << " answers";
    total += load[t].ok;
    reconnects += load[t].reconnects;
    from_a += load[t].from_a;
    from_b += load[t].from_b;
  }
  EXPECT_EQ(total, kClients * kEach);
  EXPECT_GT(answered_during_reloads, 0) << "no request was answered while a reload ran";
  EXPECT_GT(from_a, 0);
  EXPECT_GT(from_b, 0);
  RecordProperty("requests", total);
  RecordProperty("answered_during_reloads", answered_during_reloads);
  RecordProperty("reconnects", reconnects);
  const auto log = [&] { return gateway_->stderr_text(); };
  EXPECT_TRUE(wait_for_count(log, "reload: config applied", kReloads, 10s)) << log();
  EXPECT_EQ(count_of(log(), "reload: config applied"), std::size_t{kReloads}) << log();
  EXPECT_EQ(count_of(log(), "reload: config rejected"), 0u) << log();
  // The last reload applied the second config: its added route answers.
  EXPECT_EQ(who(port_, "/extra"), "extra route");
  EXPECT_EQ(who(port_, "/variant"), "second");
}

// The admin API's 200 for a reload means the new config serves every new request: the
// answer waits until every worker has taken the new handler (http::Server::set_handler's
// on_installed). Before that fix the 200 came right after the swap was posted to the workers,
// and a request sent after it, on a new connection, was still routed by the previous config on
// 1 to 5 of the 20 reloads of every run (10 runs of 10 failed).
TEST_F(GatewayProxyEdgeReload, ARequestAfterTheAdminReloadAnsweredIsServedByTheNewConfig) {
  // Background load keeps both workers busy, which is when the swap lags.
  std::atomic<bool> stop{false};
  std::vector<LoadClient> load;
  for (int t = 0; t < 4; ++t) load.emplace_back(port_);
  std::vector<std::thread> clients;
  const auto deadline = clock_type::now() + 30s;
  for (auto& c : load)
    clients.emplace_back([&] {
      for (int i = 0; i < 100000 && !stop && clock_type::now() < deadline; ++i)
        if (!c.request()) break;
    });
  std::vector<std::string> stale;
  for (int i = 1; i <= 20; ++i) {
    const bool second = i % 2 == 0;
    if (!start_reload(second, /*by_signal=*/false)) {
      stale.push_back(fmt::format("reload {} failed", i));
      break;
    }
    const std::string got = who(port_, "/variant"), want = second ? "second" : "first";
    if (got != want)
      stale.push_back(fmt::format("reload {}: got \"{}\", want \"{}\"", i, got, want));
  }
  stop = true;
  for (auto& t : clients) t.join();
  EXPECT_THAT(stale, ElementsAre()) << "requests after the admin API's 200 saw the old config";
  for (const auto& c : load) EXPECT_EQ(c.errors, "");
}

}  // namespace
}  // namespace tenx::e2e
