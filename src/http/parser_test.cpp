#include "http/parser.h"

#include <boost/beast/http/error.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::http {
namespace {

using boost::system::error_code;
namespace beast_http = boost::beast::http;

// Feeds `data` the way a connection does: put() what is unconsumed, drop what was consumed,
// until the message is done or the input runs out. Body pieces are appended to *body.
// Returns need_more when the input ran out first, or the parser's error.
template <class Parser>
error_code feed(Parser& p, std::string_view& data, std::string* body = nullptr) {
  error_code ec;
  while (!p.done()) {
    if (data.empty()) return beast_http::error::need_more;
    const auto n = p.put(data, ec);
    if (body) body->append(p.body_piece());
    data.remove_prefix(n);
    if (ec == beast_http::error::need_more) {
      if (n == 0) return ec;
      continue;
    }
    if (ec) return ec;
  }
  return {};
}

// Parses one whole request from `text` with `limits`; returns the error (none when done).
struct Parsed {
  RequestParser parser;
  std::string body;
  error_code ec;
  ParseError classified = ParseError::none;
};

void parse_request(Parsed& out, std::string_view text, const ParserLimits& limits = {}) {
  out.parser.reset(limits);
  out.body.clear();
  out.ec = feed(out.parser, text, &out.body);
  out.classified = out.parser.classify(out.ec);
}

// Parses and returns the classification of the error (ParseError::none if the request parses).
ParseError classify(std::string_view text, const ParserLimits& limits = {}) {
  Parsed p;
  parse_request(p, text, limits);
  if (!p.ec) {
    EXPECT_TRUE(p.parser.done()) << text;
  }
  return p.classified;
}

TEST(RequestParser, ParsesSimpleGet) {
  Parsed p;
  parse_request(p,
                "GET /api/posts?page=2 HTTP/1.1\r\n"
                "Host: example.com\r\n"
                "User-Agent: test\r\n"
                "X-Custom:   padded value  \r\n"
                "\r\n");
  ASSERT_FALSE(p.ec) << p.ec.message();
  ASSERT_TRUE(p.parser.done());
  const auto& h = p.parser.head();
  EXPECT_EQ(h.method, Verb::get);
  EXPECT_EQ(h.method_string, "GET");
  EXPECT_EQ(h.target, "/api/posts?page=2");
  EXPECT_EQ(h.path(), "/api/posts");
  EXPECT_EQ(h.query(), "page=2");
  EXPECT_EQ(h.version, 11u);
  ASSERT_EQ(h.headers.size(), 3u);
  EXPECT_EQ(h.headers[0].id, Field::host);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "example.com");
  EXPECT_EQ(h.headers[1].id, Field::user_agent);
  EXPECT_EQ(h.headers[2].id, Field::unknown);
  EXPECT_EQ(h.headers[2].name, "X-Custom");
  EXPECT_EQ(h.headers[2].value, "padded value");
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.chunked);
  EXPECT_FALSE(h.has_body());
  EXPECT_FALSE(h.expect_continue);
  EXPECT_EQ(p.parser.body_bytes(), 0u);
}

TEST(RequestParser, ParkedStorageGoesToThePoolAndComesBackForTheNextRequest) {
  ParserStoragePool pool;
  Parsed p;
  parse_request(p, "GET /a HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\n");
  ASSERT_FALSE(p.ec) << p.ec.message();
  p.parser.reset({});
  p.parser.park_storage(pool);
  EXPECT_TRUE(p.parser.storage_parked());
  ASSERT_EQ(pool.parked.size(), 1u);
  EXPECT_GE(pool.parked[0].bytes.capacity(), 1024u) << "the head storage's capacity is parked";
  EXPECT_GE(pool.parked[0].fields.capacity(), 32u);
  p.parser.park_storage(pool);
  EXPECT_EQ(pool.parked.size(), 1u) << "parking twice parks once";
  p.parser.unpark_storage(pool);
  EXPECT_FALSE(p.parser.storage_parked());
  EXPECT_TRUE(pool.parked.empty());
  std::string_view next = "POST /b HTTP/1.1\r\nHost: b\r\nContent-Length: 2\r\n\r\nhi";
  p.ec = feed(p.parser, next, &p.body);
  ASSERT_FALSE(p.ec) << p.ec.message();
  EXPECT_EQ(p.parser.head().target, "/b");
  ASSERT_EQ(p.parser.head().headers.size(), 2u);
  EXPECT_EQ(p.parser.head().headers[0].value, "b");
  EXPECT_EQ(p.body, "hi");
}

TEST(RequestParser, ParkingBeyondThePoolsBoundFreesTheStorage) {
  ParserStoragePool pool;
  std::vector<std::unique_ptr<RequestParser>> parsers;
  for (std::size_t i = 0; i < ParserStoragePool::kMax + 3; ++i) {
    parsers.push_back(std::make_unique<RequestParser>());
    parsers.back()->reset({});
    parsers.back()->park_storage(pool);
  }
  EXPECT_EQ(pool.parked.size(), ParserStoragePool::kMax);
  // An empty pool gives fresh storage: the parser still works.
  ParserStoragePool empty;
  auto& last = *parsers.back();
  last.unpark_storage(empty);
  std::string body;
  std::string_view text = "GET /c HTTP/1.1\r\nHost: c\r\n\r\n";
  EXPECT_FALSE(feed(last, text, &body));
  EXPECT_EQ(last.head().target, "/c");
}

TEST(RequestParser, UnknownMethodKeepsItsString) {
  Parsed p;
  parse_request(p, "PURGEX /x HTTP/1.1\r\nHost: a\r\n\r\n");
  ASSERT_FALSE(p.ec) << p.ec.message();
  EXPECT_EQ(p.parser.head().method, Verb::unknown);
  EXPECT_EQ(p.parser.head().method_string, "PURGEX");
}

TEST(RequestParser, HeadViewsSurviveWhenTheInputBufferChanges) {
  std::string input =
      "POST /submit?x=1 HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "Content-Type: text/plain\r\n"
      "Content-Length: 5\r\n"
      "\r\n"
      "hello";
  RequestParser parser;
  parser.reset({});
  error_code ec;
  const auto n = parser.put(input, ec);
  ASSERT_FALSE(ec) << ec.message();
  ASSERT_TRUE(parser.header_done());
  // The caller reuses its buffer: overwrite it, then shrink and grow it.
  std::fill(input.begin(), input.end(), '#');
  input.erase(0, n);
  input.append(4096, '*');
  const auto& h = parser.head();
  EXPECT_EQ(h.method_string, "POST");
  EXPECT_EQ(h.target, "/submit?x=1");
  ASSERT_EQ(h.headers.size(), 3u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "example.com");
  EXPECT_EQ(h.headers[1].name, "Content-Type");
  EXPECT_EQ(h.headers[1].value, "text/plain");
  EXPECT_EQ(h.headers.find("content-length"), "5");
  EXPECT_EQ(h.content_length, 5u);
}

TEST(RequestParser, PipelinedRequestsParseOneAfterTheOther) {
  std::string input =
      "POST /one HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc"
      "GET /two HTTP/1.1\r\nHost: b\r\n\r\n"
      "GET /three HTTP/1.0\r\n\r\n";
  std::string_view rest = input;
  RequestParser parser;
  std::string body;

  parser.reset({});
  ASSERT_FALSE(feed(parser, rest, &body));
  EXPECT_EQ(parser.head().target, "/one");
  EXPECT_EQ(body, "abc");
  EXPECT_EQ(parser.body_bytes(), 3u);

  parser.reset({});
  body.clear();
  ASSERT_FALSE(feed(parser, rest, &body));
  EXPECT_EQ(parser.head().method, Verb::get);
  EXPECT_EQ(parser.head().target, "/two");
  EXPECT_EQ(parser.head().headers.find(Field::host), "b");
  EXPECT_FALSE(parser.head().content_length.has_value());
  EXPECT_EQ(body, "");
  EXPECT_EQ(parser.body_bytes(), 0u);

  parser.reset({});
  ASSERT_FALSE(feed(parser, rest, &body));
  EXPECT_EQ(parser.head().target, "/three");
  EXPECT_EQ(parser.head().version, 10u);
  EXPECT_TRUE(rest.empty());
}

TEST(RequestParser, BytesFedOneAtATime) {
  const std::string input =
      "POST /slow HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "5\r\nhello\r\n"
      "6;ext=1\r\n world\r\n"
      "0\r\n\r\n";
  RequestParser parser;
  parser.reset({});
  std::string buffer;  // what the connection has received and not yet consumed
  std::string body;
  error_code ec;
  std::size_t i = 0;
  while (!parser.done() && i < input.size()) {
    buffer += input[i++];
    const auto n = parser.put(buffer, ec);
    body.append(parser.body_piece());
    buffer.erase(0, n);
    if (ec == beast_http::error::need_more) continue;
    ASSERT_FALSE(ec) << ec.message() << " at byte " << i;
  }
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(i, input.size());
  EXPECT_EQ(parser.head().target, "/slow");
  EXPECT_EQ(parser.head().headers.find(Field::host), "example.com");
  EXPECT_TRUE(parser.head().chunked);
  EXPECT_EQ(body, "hello world");
}

TEST(RequestParser, ContentLengthBodyArrivesInPieces) {
  RequestParser parser;
  parser.reset({});
  error_code ec;
  std::string head = "PUT /f HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n";
  EXPECT_EQ(parser.put(head, ec), head.size());
  ASSERT_FALSE(ec);
  ASSERT_TRUE(parser.header_done());
  EXPECT_FALSE(parser.done());
  EXPECT_TRUE(parser.head().has_body());
  EXPECT_EQ(parser.head().content_length, 10u);

  std::string piece = "0123";
  EXPECT_EQ(parser.put(piece, ec), 4u);
  EXPECT_EQ(parser.body_piece(), "0123");
  EXPECT_FALSE(parser.done());

  // More bytes than the body needs: the rest belongs to the next message.
  piece = "456789GET ";
  EXPECT_EQ(parser.put(piece, ec), 6u);
  ASSERT_FALSE(ec);
  EXPECT_EQ(parser.body_piece(), "456789");
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(parser.body_bytes(), 10u);
}

TEST(RequestParser, ChunkedBodyIsDecodedWithExtensionsAndTrailers) {
  std::string input =
      "POST /c HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n"
      "4;name=value\r\nWiki\r\n"
      "5;quoted=\"a b\"\r\npedia\r\n"
      "E\r\n in\r\n\r\nchunks.\r\n"
      "0;last\r\n"
      "X-Checksum: abc123\r\n"
      "X-Trailer-Two: 2\r\n"
      "\r\n";
  Parsed p;
  parse_request(p, input);
  ASSERT_FALSE(p.ec) << p.ec.message();
  EXPECT_TRUE(p.parser.head().chunked);
  EXPECT_FALSE(p.parser.head().content_length.has_value());
  EXPECT_TRUE(p.parser.head().has_body());
  EXPECT_EQ(p.body, "Wikipedia in\r\n\r\nchunks.");
  EXPECT_EQ(p.parser.body_bytes(), p.body.size());
}

TEST(RequestParser, TrailersDoNotLeaveViewsIntoTheInputBuffer) {
  // The head must stay valid after the body (the handler reads it then); trailer fields
  // arrive in the caller's buffer, so they must not be recorded as views into it.
  std::string head =
      "POST /c HTTP/1.1\r\n"
      "Host: example.com\r\n"
      "Transfer-Encoding: chunked\r\n"
      "\r\n";
  std::string body = "3\r\nabc\r\n0\r\nX-Checksum: abc123\r\n\r\n";
  RequestParser parser;
  parser.reset({});
  error_code ec;
  ASSERT_EQ(parser.put(head, ec), head.size());
  ASSERT_FALSE(ec);
  std::string_view rest = body;
  ASSERT_FALSE(feed(parser, rest));
  ASSERT_TRUE(parser.done());
  std::fill(head.begin(), head.end(), '#');
  std::fill(body.begin(), body.end(), '#');
  for (const auto& h : parser.head().headers) {
    EXPECT_EQ(h.name.find('#'), std::string_view::npos) << h.name;
    EXPECT_EQ(h.value.find('#'), std::string_view::npos) << h.value;
  }
  EXPECT_EQ(parser.head().headers.size(), 2u);
  EXPECT_EQ(parser.head().headers.find(Field::host), "example.com");
  EXPECT_EQ(parser.head().target, "/c");
}

TEST(RequestParser, KeepAliveFollowsVersionAndConnectionHeader) {
  auto keep_alive = [](std::string_view text) {
    Parsed p;
    parse_request(p, text);
    EXPECT_FALSE(p.ec) << text << ": " << p.ec.message();
    return p.parser.head().keep_alive;
  };
  EXPECT_TRUE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
  EXPECT_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"));
  EXPECT_FALSE(keep_alive("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"));
  EXPECT_FALSE(keep_alive("GET / HTTP/1.0\r\n\r\n"));
  EXPECT_TRUE(keep_alive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
  EXPECT_TRUE(keep_alive("GET / HTTP/1.0\r\nHost: a\r\nConnection: Keep-Alive\r\n\r\n"));
}

TEST(RequestParser, ExpectContinueIsReported) {
  Parsed p;
  RequestParser parser;
  parser.reset({});
  error_code ec;
  std::string head =
      "POST /upload HTTP/1.1\r\nHost: a\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  parser.put(head, ec);
  ASSERT_FALSE(ec);
  ASSERT_TRUE(parser.header_done());
  EXPECT_TRUE(parser.head().expect_continue);
  EXPECT_FALSE(parser.done());

  parse_request(p, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n");
  EXPECT_FALSE(p.parser.head().expect_continue);
  parse_request(p, "POST /u HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n\r\n");
  EXPECT_FALSE(p.parser.head().expect_continue);
}

TEST(RequestParser, ResetClearsThePreviousHead) {
  RequestParser parser;
  std::string_view one =
      "POST /a HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nConnection: close\r\n"
      "Content-Length: 1\r\n\r\nx";
  parser.reset({});
  ASSERT_FALSE(feed(parser, one));
  EXPECT_TRUE(parser.head().expect_continue);
  std::string_view two = "GET /b HTTP/1.1\r\nHost: b\r\n\r\n";
  parser.reset({});
  ASSERT_FALSE(feed(parser, two));
  EXPECT_FALSE(parser.head().expect_continue);
  EXPECT_TRUE(parser.head().keep_alive);
  EXPECT_FALSE(parser.head().content_length.has_value());
  EXPECT_EQ(parser.head().headers.size(), 1u);
  EXPECT_EQ(parser.body_bytes(), 0u);
}

TEST(RequestParser, HeaderOverLimitIsHeaderTooLarge) {
  ParserLimits limits;
  limits.max_header_bytes = 256;
  const std::string big =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(1000, 'v') + "\r\n\r\n";
  EXPECT_EQ(classify(big, limits), ParseError::header_too_large);
  // Within the limit it parses.
  limits.max_header_bytes = 2048;
  EXPECT_EQ(classify(big, limits), ParseError::none);
}

TEST(RequestParser, HeaderLimitCountsTheWholeHeadExactly) {
  ParserLimits limits;
  limits.max_header_bytes = 1024;
  const std::string base = "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: \r\n\r\n";
  const std::string at_limit =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(1024 - base.size(), 'p') + "\r\n\r\n";
  ASSERT_EQ(at_limit.size(), 1024u);
  EXPECT_EQ(classify(at_limit, limits), ParseError::none);
  const std::string over =
      "GET / HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(1025 - base.size(), 'p') + "\r\n\r\n";
  EXPECT_EQ(classify(over, limits), ParseError::header_too_large);
}

TEST(RequestParser, HeaderLimitHoldsWhenTheHeadArrivesFieldByField) {
  // Each read ends one byte into the next field: Beast consumes the complete fields and
  // starts afresh on the next read, so its own per-read limit never trips.
  ParserLimits limits;
  limits.max_header_bytes = 1024;
  RequestParser parser;
  parser.reset(limits);
  std::string buffer = "GET / HTTP/1.1\r\nHost: a\r\nX";
  std::size_t sent = buffer.size();
  error_code ec;
  for (int i = 0; i < 1000 && !ec.failed(); ++i) {
    const auto n = parser.put(buffer, ec);
    buffer.erase(0, n);
    if (ec == beast_http::error::need_more) ec = {};
    const std::string more = "-Field-" + std::to_string(i) + ": some value\r\nX";
    buffer += more;
    sent += more.size();
  }
  ASSERT_TRUE(ec.failed()) << "a head of " << sent << " bytes was not refused";
  EXPECT_EQ(parser.classify(ec), ParseError::header_too_large);
  EXPECT_LE(sent, 2u * limits.max_header_bytes);
  EXPECT_FALSE(parser.header_done());
}

TEST(RequestParser, ContentLengthOverLimitIsBodyTooLarge) {
  ParserLimits limits;
  limits.max_body_bytes = 10;
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n01234567890", limits),
            ParseError::body_too_large);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789", limits),
            ParseError::none);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "6\r\n012345\r\n6\r\n678901\r\n0\r\n\r\n",
                     limits),
            ParseError::body_too_large);
  limits.max_body_bytes = std::nullopt;
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n01234567890", limits),
            ParseError::none);
}

TEST(RequestParser, ContentLengthWithChunkedIsBadRequestInEitherOrder) {
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ParseError::bad_request);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                     "Content-Length: 5\r\n\r\n0\r\n\r\n"),
            ParseError::bad_request);
}

TEST(RequestParser, DifferingContentLengthsAreBadRequest) {
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                     "Content-Length: 6\r\n\r\nhello!"),
            ParseError::bad_request);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 6\r\n\r\nhello!"),
            ParseError::bad_request);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
            ParseError::bad_request);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x5\r\n\r\n"),
            ParseError::bad_request);
}

TEST(RequestParser, IdenticalDuplicateContentLengthIsAccepted) {
  Parsed p;
  parse_request(p,
                "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
                "Content-Length: 5\r\n\r\nhello");
  ASSERT_FALSE(p.ec) << p.ec.message();
  EXPECT_EQ(p.parser.head().content_length, 5u);
  EXPECT_EQ(p.body, "hello");
}

TEST(RequestParser, BadChunkSizeIsBadRequest) {
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "zz\r\nhello\r\n0\r\n\r\n"),
            ParseError::bad_request);
  // A chunk whose data is not followed by CRLF.
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "3\r\nabcX\r\n0\r\n\r\n"),
            ParseError::bad_request);
}

TEST(RequestParser, ObsoleteLineFoldingIsBadRequest) {
  EXPECT_EQ(classify("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n two\r\n\r\n"),
            ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/1.1\r\nHost: a\r\nX-Folded: one\r\n\ttwo\r\n\r\n"),
            ParseError::bad_request);
}

TEST(RequestParser, TransferEncodingWhoseFinalCodingIsNotChunkedIsBadRequest) {
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n"),
            ParseError::bad_request);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
            ParseError::bad_request);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ParseError::bad_request);
}

TEST(RequestParser, UnknownCodingBeforeChunkedIsNotImplemented) {
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                     "0\r\n\r\n"),
            ParseError::not_implemented);
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
                     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ParseError::not_implemented);
  // The coding name is case-insensitive.
  EXPECT_EQ(classify("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: CHUNKED\r\n\r\n"
                     "0\r\n\r\n"),
            ParseError::none);
}

TEST(RequestParser, TransferEncodingInHttp10IsBadRequest) {
  EXPECT_EQ(classify("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
            ParseError::bad_request);
}

TEST(RequestParser, Http11NeedsExactlyOneHost) {
  EXPECT_EQ(classify("GET / HTTP/1.1\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/1.1\r\nHost:\r\n\r\n"), ParseError::none);
  // HTTP/1.0 may omit it, but must not repeat it.
  EXPECT_EQ(classify("GET / HTTP/1.0\r\n\r\n"), ParseError::none);
  EXPECT_EQ(classify("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), ParseError::bad_request);
}

TEST(RequestParser, OtherHttpVersionsAreBadRequest) {
  EXPECT_EQ(classify("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), ParseError::bad_request);
}

TEST(RequestParser, MalformedStartLineIsBadRequest) {
  EXPECT_EQ(classify("GET\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTX/1.1\r\nHost: a\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/1.1\r\nBad Header: x\r\n\r\n"), ParseError::bad_request);
  EXPECT_EQ(classify("GET / HTTP/1.1\nHost: a\n\n"), ParseError::bad_request);
}

TEST(RequestParser, RefusedHeadStaysReadable) {
  std::string input = "GET /refused HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n";
  RequestParser parser;
  parser.reset({});
  error_code ec;
  parser.put(input, ec);
  ASSERT_TRUE(ec);
  EXPECT_EQ(parser.classify(ec), ParseError::bad_request);
  std::fill(input.begin(), input.end(), '#');
  EXPECT_EQ(parser.head().target, "/refused");
}

TEST(RequestParser, IncompleteInputIsNeedMoreNotAnError) {
  RequestParser parser;
  parser.reset({});
  error_code ec;
  parser.put("GET / HTTP/1.1\r\nHo", ec);
  EXPECT_EQ(ec, beast_http::error::need_more);
  EXPECT_EQ(parser.classify(ec), ParseError::none);
  EXPECT_TRUE(parser.got_some());
  EXPECT_FALSE(parser.header_done());
  EXPECT_FALSE(parser.done());
}

// A connection's input buffer: bytes are appended at the back and consumed from the front,
// and consumed bytes are gone (here: overwritten, as a reused buffer would be).
struct Connection {
  std::string buffer;
  std::size_t begin = 0;
  std::string_view readable() const { return std::string_view(buffer).substr(begin); }
  void consume(std::size_t n) {
    std::fill_n(buffer.begin() + static_cast<std::ptrdiff_t>(begin), n, '#');
    begin += n;
  }
};

TEST(RequestParser, HeadArrivingInSeveralReadsKeepsWhatWasConsumedEarly) {
  // Beast consumes the start line and complete fields of an unfinished head; the caller
  // drops those bytes, so the parser must have kept them.
  const std::string parts[] = {
      "GET /split/target?q=1 HTTP/1.1\r\nHost: example.com\r\nX-One: 1\r\nX-Tw",
      "o: 2\r\nX-Three",
      ": 3\r\n\r\n",
  };
  Connection conn;
  RequestParser parser;
  parser.reset({});
  error_code ec;
  for (const auto& part : parts) {
    conn.buffer += part;
    const auto n = parser.put(conn.readable(), ec);
    conn.consume(n);
    if (ec == beast_http::error::need_more) continue;
    ASSERT_FALSE(ec) << ec.message();
  }
  ASSERT_TRUE(parser.done());
  const auto& h = parser.head();
  EXPECT_EQ(h.method, Verb::get);
  EXPECT_EQ(h.method_string, "GET");
  EXPECT_EQ(h.target, "/split/target?q=1");
  ASSERT_EQ(h.headers.size(), 4u);
  EXPECT_EQ(h.headers[0].name, "Host");
  EXPECT_EQ(h.headers[0].value, "example.com");
  EXPECT_EQ(h.headers[1].name, "X-One");
  EXPECT_EQ(h.headers[1].value, "1");
  EXPECT_EQ(h.headers[2].name, "X-Two");
  EXPECT_EQ(h.headers[2].value, "2");
  EXPECT_EQ(h.headers[3].name, "X-Three");
  EXPECT_EQ(h.headers[3].value, "3");

  // The next message on the same parser starts clean.
  conn.buffer += "DELETE /next HTTP/1.1\r\nHost: b\r\n\r\n";
  parser.reset({});
  std::string_view rest = conn.readable();
  ASSERT_FALSE(feed(parser, rest));
  EXPECT_EQ(parser.head().target, "/next");
  ASSERT_EQ(parser.head().headers.size(), 1u);
  EXPECT_EQ(parser.head().headers[0].value, "b");
}

// ---- ResponseParser ----

struct ParsedResponse {
  ResponseParser parser;
  std::string body;
  error_code ec;
};

void parse_response(ParsedResponse& out, std::string_view text, bool skip_body = false) {
  out.parser.reset({}, skip_body);
  out.body.clear();
  out.ec = feed(out.parser, text, &out.body);
}

TEST(ResponseParser, ReadsStatusReasonAndContentLengthBody) {
  ParsedResponse r;
  parse_response(r,
                 "HTTP/1.1 404 Not Here\r\n"
                 "Content-Type: text/plain\r\n"
                 "Content-Length: 7\r\n"
                 "\r\n"
                 "missing");
  ASSERT_FALSE(r.ec) << r.ec.message();
  const auto& h = r.parser.head();
  EXPECT_EQ(h.status, 404u);
  EXPECT_EQ(h.reason, "Not Here");
  EXPECT_EQ(h.version, 11u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_TRUE(h.has_body);
  EXPECT_EQ(h.content_length, 7u);
  EXPECT_EQ(h.headers.find(Field::content_type), "text/plain");
  EXPECT_EQ(r.body, "missing");
}

TEST(ResponseParser, DecodesChunkedBody) {
  ParsedResponse r;
  parse_response(r,
                 "HTTP/1.1 200 OK\r\n"
                 "Transfer-Encoding: chunked\r\n"
                 "\r\n"
                 "3\r\nabc\r\n"
                 "a\r\n0123456789\r\n"
                 "0\r\n\r\n");
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_TRUE(r.parser.head().chunked);
  EXPECT_EQ(r.body, "abc0123456789");
  EXPECT_EQ(r.parser.body_bytes(), 13u);
}

TEST(ResponseParser, BodyDelimitedByEof) {
  ResponseParser parser;
  parser.reset({});
  error_code ec;
  std::string head = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n";
  ASSERT_EQ(parser.put(head, ec), head.size());
  ASSERT_FALSE(ec);
  ASSERT_TRUE(parser.header_done());
  EXPECT_TRUE(parser.need_eof());
  EXPECT_FALSE(parser.done());
  EXPECT_TRUE(parser.head().has_body);

  std::string body;
  for (std::string piece : {"hello ", "world"}) {
    EXPECT_EQ(parser.put(piece, ec), piece.size());
    ASSERT_FALSE(ec);
    body.append(parser.body_piece());
  }
  EXPECT_FALSE(parser.done());
  parser.put_eof(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.done());
  EXPECT_EQ(body, "hello world");
}

TEST(ResponseParser, EofBeforeContentLengthIsAnError) {
  ResponseParser parser;
  parser.reset({});
  error_code ec;
  std::string msg = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
  std::string_view rest = msg;
  EXPECT_EQ(feed(parser, rest), beast_http::error::need_more);
  EXPECT_FALSE(parser.need_eof());
  parser.put_eof(ec);
  EXPECT_TRUE(ec);
  EXPECT_FALSE(parser.done());
}

TEST(ResponseParser, SkipBodyForHeadResponse) {
  ParsedResponse r;
  std::string_view text = "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n";
  parse_response(r, text, /*skip_body=*/true);
  ASSERT_FALSE(r.ec) << r.ec.message();
  EXPECT_TRUE(r.parser.done());
  EXPECT_FALSE(r.parser.head().has_body);
  EXPECT_EQ(r.parser.head().content_length, 1000u);
  EXPECT_EQ(r.parser.body_bytes(), 0u);
}

TEST(ResponseParser, NoContentAndNotModifiedHaveNoBody) {
  for (std::string_view text : {
           "HTTP/1.1 204 No Content\r\n\r\n",
           "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n",
           "HTTP/1.1 100 Continue\r\n\r\n",
       }) {
    ParsedResponse r;
    parse_response(r, text);
    ASSERT_FALSE(r.ec) << text << ": " << r.ec.message();
    EXPECT_TRUE(r.parser.done()) << text;
    EXPECT_FALSE(r.parser.head().has_body) << text;
    EXPECT_FALSE(r.parser.need_eof()) << text;
  }
}

TEST(ResponseParser, ResetAfterSkipBodyParsesBodiesAgain) {
  ParsedResponse r;
  parse_response(r, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", /*skip_body=*/true);
  ASSERT_FALSE(r.ec);
  parse_response(r, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc");
  ASSERT_FALSE(r.ec);
  EXPECT_TRUE(r.parser.head().has_body);
  EXPECT_EQ(r.body, "abc");
}

TEST(ResponseParser, Http10ResponseIsNotKeepAlive) {
  ParsedResponse r;
  parse_response(r, "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(r.ec);
  EXPECT_EQ(r.parser.head().version, 10u);
  EXPECT_FALSE(r.parser.head().keep_alive);
  parse_response(r, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
  ASSERT_FALSE(r.ec);
  EXPECT_FALSE(r.parser.head().keep_alive);
}

TEST(ResponseParser, HeadArrivingInSeveralReadsKeepsStatusLineAndFields) {
  const std::string parts[] = {
      "HTTP/1.1 503 Try Later\r\nRetry-After: 5\r\nCont",
      "ent-Length: 2\r\n\r\nok",
  };
  Connection conn;
  ResponseParser parser;
  parser.reset({});
  error_code ec;
  std::string body;
  for (const auto& part : parts) {
    conn.buffer += part;
    while (!parser.done() && !conn.readable().empty()) {
      const auto n = parser.put(conn.readable(), ec);
      body.append(parser.body_piece());
      conn.consume(n);
      if (ec == beast_http::error::need_more && n == 0) break;
      ASSERT_TRUE(!ec || ec == beast_http::error::need_more) << ec.message();
    }
  }
  ASSERT_TRUE(parser.done());
  EXPECT_EQ(parser.head().status, 503u);
  EXPECT_EQ(parser.head().reason, "Try Later");
  EXPECT_EQ(parser.head().headers.find(Field::retry_after), "5");
  EXPECT_EQ(parser.head().headers.find("content-length"), "2");
  EXPECT_EQ(body, "ok");
}

TEST(ResponseParser, HeaderOverLimitIsHeaderTooLarge) {
  ResponseParser parser;
  ParserLimits limits;
  limits.max_header_bytes = 256;
  parser.reset(limits);
  const std::string big =
      "HTTP/1.1 200 OK\r\nX-Big: " + std::string(1000, 'v') + "\r\nContent-Length: 0\r\n\r\n";
  std::string_view rest = big;
  const auto ec = feed(parser, rest);
  EXPECT_EQ(parser.classify(ec), ParseError::header_too_large);
}

}  // namespace
}  // namespace tenx::http
