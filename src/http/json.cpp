#include "http/json.h"

#include "http/server.h"

#include "core/text.h"

#include <boost/json.hpp>

#include <array>
#include <cstdio>

namespace tenx::http {

void append_json_string(std::string& out, std::string_view s) {
  // Runs of characters that need no escape are copied in one append (most strings are one
  // run): a character-at-a-time loop was the app's top symbol when it rendered feeds.
  static constexpr auto kPlain = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 256; ++c) t[static_cast<std::size_t>(c)] = c != '"' && c != '\\';
    return t;
  }();
  out.reserve(out.size() + s.size() + 2);
  out += '"';
  std::size_t run = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (kPlain[c]) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default: {
        char buf[8];
        std::snprintf(buf, sizeof buf, "\\u%04x", c);
        out += buf;
      }
    }
  }
  out.append(s.data() + run, s.size() - run);
  out += '"';
}

std::string error_body(std::string_view code, std::string_view message) {
  std::string out;
  out.reserve(32 + code.size() + message.size());
  out += "{\"error\":";
  append_json_string(out, code);
  out += ",\"message\":";
  append_json_string(out, message);
  out += '}';
  return out;
}

void respond_json(Exchange& ex, unsigned status, const boost::json::value& v,
                  std::span<const Header> headers) {
  const std::string body = boost::json::serialize(v);
  ex.respond(status, "application/json", body, headers);
}

boost::asio::awaitable<Result<boost::json::value>> read_json_body(Exchange& ex) {
  std::string body;
  auto ec = co_await ex.read_body(body);
  if (ec == core::Errc::limit_exceeded) {
    ex.respond_error(413, "body_too_large", "request body exceeds the configured limit");
    co_return ec;
  }
  if (ec) {
    ex.respond_error(400, "bad_body", "could not read the request body: " + ec.message());
    co_return ec;
  }
  if (const auto ct = ex.request().headers.find(Field::content_type);
      !ct || !is_json_media_type(*ct)) {
    ex.respond_error(415, "unsupported_media_type", "expected Content-Type: application/json");
    co_return make_error_code(core::Errc::bad_input);
  }
  boost::system::error_code jec;
  boost::json::value v = boost::json::parse(body, jec);
  if (jec) {
    ex.respond_error(400, "malformed_json", "request body is not valid JSON: " + jec.message());
    co_return make_error_code(core::Errc::bad_input);
  }
  co_return v;
}

bool is_json_media_type(std::string_view content_type) {
  const auto type = core::trim_ows(content_type.substr(0, content_type.find(';')));
  if (iequals(type, "application/json")) return true;
  constexpr std::string_view app = "application/", suffix = "+json";
  return type.size() > app.size() + suffix.size() && iequals(type.substr(0, app.size()), app) &&
         iequals(type.substr(type.size() - suffix.size()), suffix) &&
         type.find('/', app.size()) == std::string_view::npos;
}

}  // namespace tenx::http
