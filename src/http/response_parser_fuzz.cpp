// libFuzzer target: the response-parsing path of the proxy and of `tenx bench`, fed arbitrary
// bytes (an upstream or a benchmarked server is untrusted too).
//
// The first byte picks the split point (responses arriving in two reads) and whether the
// responses answer HEAD requests; then responses are parsed back to back, as on a keep-alive
// connection, until the bytes run out or the parser refuses them. Invariants: no crash or
// sanitizer report; consumed counts never exceed the input; a refused response is classified;
// the body bytes of a finished response match a declared Content-Length.
#include "http/parser.h"

#include <boost/beast/http/error.hpp>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using tenx::http::ParseError;
using tenx::http::ResponseParser;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const bool head = data[0] & 0x80;
  const std::size_t split = (data[0] & 0x7f) % (size - 1);
  std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string buf(all.substr(0, split));
  std::string later(all.substr(split));

  static ResponseParser parser;  // reused across inputs, like a pooled connection's
  tenx::http::ParserLimits limits;
  limits.max_header_bytes = 4096;
  limits.max_body_bytes = 1 << 16;

  for (int message = 0; message < 16; ++message) {
    parser.reset(limits, head);
    std::uint64_t body = 0;
    bool more_input = true;
    while (!parser.done()) {
      if (buf.empty()) {
        if (!more_input || later.empty()) return 0;
        buf.swap(later);
        more_input = false;
      }
      boost::system::error_code ec;
      const std::size_t n = parser.put(buf, ec);
      check(n <= buf.size());
      body += parser.body_piece().size();
      buf.erase(0, n);
      if (ec == boost::beast::http::error::need_more) {
        if (!more_input || later.empty()) return 0;
        buf += later;
        later.clear();
        more_input = false;
        continue;
      }
      if (ec) {
        check(parser.classify(ec) != ParseError::none);
        return 0;
      }
      if (n == 0 && !parser.done()) return 0;
    }
    const auto& h = parser.head();
    if (!head && h.has_body && h.content_length && !h.chunked) check(body == *h.content_length);
  }
  return 0;
}
