#pragma once
// The request-smuggling cases (RFC 9112 §6.1, §6.3, §3.2 and §5.2) shared by
// http_smuggling_test.cpp (the gateway's own fixed routes answer) and
// gateway_proxy_edge_test.cpp (the gateway proxies to a raw upstream that records what it gets).
// Every case is a request whose framing two servers could read differently; each must be
// refused with `status` (400, or 501 for a coding tenx does not implement) and error code
// `code`, and the connection closed. The requests are for /hello; the tests append a
// pipelined request of their own to each.
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

namespace tenx::e2e {

struct SmugglingCase {
  std::string name;
  std::string request;  // one whole request; the test appends a pipelined one
  int status;
  std::string code;
  // The head is well formed and the error is in the body (a chunk size, chunk data): a proxy
  // that streams bodies has already sent the head upstream when it meets the error.
  bool error_in_body = false;
};

inline std::vector<SmugglingCase> smuggling_cases() {
  const std::string post = "POST /hello HTTP/1.1\r\nHost: localhost\r\n";
  return {
      // RFC 9112 §6.3: Content-Length together with Transfer-Encoding.
      SmugglingCase{"ContentLengthAndTransferEncoding",
                    post + "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                    "bad_request"},
      SmugglingCase{"TransferEncodingAndContentLength",
                    post + "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n", 400,
                    "bad_request"},
      SmugglingCase{"DifferingDuplicateContentLength",
                    post + "Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", 400,
                    "bad_request"},
      SmugglingCase{"DifferingContentLengthList", post + "Content-Length: 5, 6\r\n\r\nhello!", 400,
                    "bad_request"},
      SmugglingCase{"NonNumericContentLength", post + "Content-Length: 5x\r\n\r\nhello", 400,
                    "bad_request"},
      SmugglingCase{"NegativeContentLength", post + "Content-Length: -1\r\n\r\n", 400,
                    "bad_request"},
      // Chunk sizes must be hex digits (RFC 9112 §7.1).
      SmugglingCase{"BadChunkSize",
                    post + "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n", 400,
                    "bad_request", true},
      SmugglingCase{"NegativeChunkSize",
                    post + "Transfer-Encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n", 400,
                    "bad_request", true},
      SmugglingCase{"OverflowingChunkSize",
                    post + "Transfer-Encoding: chunked\r\n\r\n1ffffffffffffffff\r\nhi\r\n0\r\n\r\n",
                    400, "bad_request", true},
      SmugglingCase{"ChunkDataLongerThanItsSize",
                    post + "Transfer-Encoding: chunked\r\n\r\n3\r\nhello\r\n0\r\n\r\n", 400,
                    "bad_request", true},
      // RFC 9112 §5.2: obsolete line folding is refused in requests.
      SmugglingCase{"ObsFoldedHeader",
                    post + "X-Folded: first\r\n second\r\nContent-Length: 0\r\n\r\n", 400,
                    "bad_request"},
      SmugglingCase{"ObsFoldedTransferEncoding",
                    post + "Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", 400, "bad_request"},
      // Folds right after the colon, which Beast takes for leading whitespace: a proxy
      // that does not unfold sees an empty Transfer-Encoding and no body.
      SmugglingCase{"ObsFoldRightAfterTheColonOfTransferEncoding",
                    post + "Transfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n", 400, "bad_request"},
      SmugglingCase{"ObsFoldRightAfterTheColonOfContentLength",
                    post + "Content-Length:\r\n 5\r\n\r\nhello", 400, "bad_request"},
      SmugglingCase{"ObsFoldRightAfterTheColonOfHost",
                    "GET /hello HTTP/1.1\r\nHost:\r\n api.example.test\r\n\r\n", 400,
                    "bad_request"},
      // RFC 9112 §6.1: chunked must be the final coding of a request.
      SmugglingCase{"TransferEncodingNotEndingInChunked",
                    post + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n", 400,
                    "bad_request"},
      SmugglingCase{"TransferEncodingWithoutChunked",
                    post + "Transfer-Encoding: gzip\r\n\r\n0\r\n\r\n", 400, "bad_request"},
      SmugglingCase{"SecondTransferEncodingHeaderNotChunked",
                    post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"
                           "0\r\n\r\n",
                    400, "bad_request"},
      // Chunked applied twice: a front end may decode it, Beast does not (no body).
      SmugglingCase{"ChunkedAppliedTwice",
                    post + "Transfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400,
                    "bad_request"},
      SmugglingCase{"TwoTransferEncodingHeaders",
                    post + "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "0\r\n\r\n",
                    400, "bad_request"},
      SmugglingCase{"UnsupportedCodingBeforeChunked",
                    post + "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501,
                    "not_implemented"},
      SmugglingCase{"TransferEncodingInHttp10",
                    "POST /hello HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400,
                    "bad_request"},
      // RFC 9112 §3.2: exactly one Host in HTTP/1.1.
      SmugglingCase{"MissingHostInHttp11", "GET /hello HTTP/1.1\r\n\r\n", 400, "bad_request"},
      SmugglingCase{"DuplicateHost",
                    "GET /hello HTTP/1.1\r\nHost: localhost\r\nHost: api.example.test\r\n\r\n", 400,
                    "bad_request"},
      SmugglingCase{"DuplicateHostInHttp10",
                    "GET /hello HTTP/1.0\r\nHost: localhost\r\nHost: api.example.test\r\n\r\n", 400,
                    "bad_request"},
      // RFC 9112 §5.1: no whitespace between a field name and the colon.
      SmugglingCase{"SpaceBeforeColon",
                    post + "Transfer-Encoding : chunked\r\nContent-Length: 0\r\n\r\n", 400,
                    "bad_request"},
      SmugglingCase{"UnsupportedHttpVersion", "GET /hello HTTP/1.2\r\nHost: localhost\r\n\r\n", 400,
                    "bad_request"},
  };
}

// Exactly one response, the refusal, then the server closes the connection: a request
// appended to the malicious one is never answered.
inline void expect_refused_once(RawClient& c, int status, std::string_view code) {
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, status) << r->body;
  EXPECT_THAT(r->body, ::testing::HasSubstr("\"error\":\"" + std::string(code) + "\""));
  EXPECT_TRUE(r->connection_has("close"));
  EXPECT_TRUE(c.closed()) << "a second response came: " << c.leftover();
}

}  // namespace tenx::e2e
