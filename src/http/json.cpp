#include "http/json.h"

#include "http/server.h"

#include <boost/json.hpp>

#include <cstdio>

namespace tenx::http {

void append_json_string(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
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
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
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
  if (auto ct = ex.request().headers.find(Field::content_type);
      ct && ct->find("json") == std::string_view::npos) {
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

}  // namespace tenx::http
