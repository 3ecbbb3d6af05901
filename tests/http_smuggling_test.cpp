// Request smuggling guards (RFC 9112 §6.1, §6.3, §3.2 and §5.2): every request whose framing
// two servers could read differently is refused with 400 (501 for a coding we do not
// implement) and the connection is closed, so nothing after it on the connection is ever
// taken for a request. Each refused request below is followed by a smuggled `GET /bye` on the
// same write; the test asserts that exactly one response (the refusal) comes back.
#include "support/process.h"
#include "support/raw_client.h"
#include "support/smuggling_cases.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <memory>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;

const std::string kSmuggled = "GET /bye HTTP/1.1\r\nHost: localhost\r\n\r\n";

class GatewayFixture {
 public:
  static void start() {
    gateway_ = new TenxProcess(gateway_args(test_config("basic.toml")));
    port_ = gateway_->wait_listening().value_or(0);
  }
  static void stop() {
    gateway_->signal(SIGTERM);
    gateway_->wait_exit(10s);
    delete gateway_;
    gateway_ = nullptr;
  }
  static TenxProcess* gateway_;
  static std::uint16_t port_;
};
TenxProcess* GatewayFixture::gateway_ = nullptr;
std::uint16_t GatewayFixture::port_ = 0;

class RequestSmuggling : public ::testing::TestWithParam<SmugglingCase>, public GatewayFixture {
 protected:
  static void SetUpTestSuite() { start(); }
  static void TearDownTestSuite() { stop(); }
  void SetUp() override { ASSERT_NE(port_, 0) << gateway_->stderr_text(); }
};

TEST_P(RequestSmuggling, IsRefusedAndTheConnectionClosed) {
  const auto& p = GetParam();
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  c.send(p.request + kSmuggled);
  expect_refused_once(c, p.status, p.code);
}

const std::string kPost = "POST /hello HTTP/1.1\r\nHost: localhost\r\n";

// The cases are shared with gateway_proxy_edge_test.cpp (support/smuggling_cases.h).
INSTANTIATE_TEST_SUITE_P(Framing, RequestSmuggling, ::testing::ValuesIn(smuggling_cases()),
                         [](const ::testing::TestParamInfo<SmugglingCase>& info) {
                           return info.param.name;
                         });

class Smuggling : public ::testing::Test, public GatewayFixture {
 protected:
  static void SetUpTestSuite() { start(); }
  static void TearDownTestSuite() { stop(); }
  void SetUp() override { ASSERT_NE(port_, 0) << gateway_->stderr_text(); }
};

// The classic CL.TE attack: a front end that trusts Content-Length forwards the whole thing
// as one request; a back end that trusts Transfer-Encoding would answer the GET hidden in it.
TEST_F(Smuggling, RequestHiddenInAClTeBodyIsNeverAnswered) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  const std::string hidden = "0\r\n\r\n" + kSmuggled;
  c.send(kPost + "Content-Length: " + std::to_string(hidden.size()) +
         "\r\nTransfer-Encoding: chunked\r\n\r\n" + hidden);
  expect_refused_once(c, 400, "bad_request");
}

// TE.CL: the front end trusts Transfer-Encoding, the back end Content-Length.
TEST_F(Smuggling, RequestHiddenInATeClBodyIsNeverAnswered) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  char size[16];
  std::snprintf(size, sizeof size, "%zx", kSmuggled.size());
  c.send(kPost + "Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n" + size + "\r\n" +
         kSmuggled + "\r\n0\r\n\r\n");
  expect_refused_once(c, 400, "bad_request");
}

TEST_F(Smuggling, RequestHiddenBehindDifferingContentLengthsIsNeverAnswered) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  c.send(kPost + "Content-Length: 0\r\nContent-Length: " + std::to_string(kSmuggled.size()) +
         "\r\n\r\n" + kSmuggled);
  expect_refused_once(c, 400, "bad_request");
}

// The fixed route answers before reading the body; the bad chunk is already buffered, so the
// queued 200 must turn into 400 rather than leave the bytes after it to be parsed as a request.
TEST_F(Smuggling, BadChunkBufferedWithTheHeadTurnsTheAnswerInto400) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  c.send(kPost + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nnot-hex\r\n" + kSmuggled);
  expect_refused_once(c, 400, "bad_request");
}

// The bad chunk arrives after the 200 went out: no second response, the connection closes.
TEST_F(Smuggling, BadChunkAfterTheAnswerClosesWithoutAnsweringWhatFollows) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(kPost + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);
  c.send("zz\r\n" + kSmuggled);
  EXPECT_TRUE(c.closed()) << "a second response came: " << c.leftover();
}

TEST_F(Smuggling, RefusalComesAfterTheAnswersToEarlierPipelinedRequests) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  c.send(get_request("/bye") + "GET /hello HTTP/1.1\r\n\r\n" + kSmuggled);
  const auto first = c.read_response();
  ASSERT_TRUE(first) << c.last_error();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "bye");
  EXPECT_FALSE(first->connection_has("close"));
  expect_refused_once(c, 400, "bad_request");
}

TEST_F(Smuggling, ChunkedBodyThatEndsEarlyLeavesNoRequestBehind) {
  RawClient c(port_);
  ASSERT_TRUE(c.ok());
  // A valid chunked body, then a real pipelined request: that one must be answered, which
  // shows the body boundary is where chunked framing says, not where a naive reader stops.
  const std::string body = "9\r\n" + std::string("0\r\n\r\nGET ") + "\r\n0\r\n\r\n";
  ASSERT_TRUE(c.send(kPost + "Transfer-Encoding: chunked\r\n\r\n" + body + kSmuggled));
  const auto a = c.read_response();
  ASSERT_TRUE(a) << c.last_error();
  EXPECT_EQ(a->status, 200);
  const auto b = c.read_response();
  ASSERT_TRUE(b) << c.last_error();
  EXPECT_EQ(b->body, "bye");
  EXPECT_EQ(c.leftover(), "");
}

}  // namespace
}  // namespace tenx::e2e
