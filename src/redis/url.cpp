#include "redis/url.h"

#include "core/net_address.h"

#include <boost/url/parse.hpp>

#include <charconv>
#include <stdexcept>

namespace tenx::redis {

std::string Url::redacted() const {
  std::string out = "redis://";
  if (!user.empty() || !password.empty()) out += user + (password.empty() ? "@" : ":***@");
  out += host.find(':') != std::string::npos ? "[" + host + "]" : host;
  out += ":" + std::to_string(port);
  if (db != 0) out += "/" + std::to_string(db);
  return out;
}

namespace {
// The text as given, its user info (which may hold the password) replaced: errors are logged.
std::string without_userinfo(std::string_view text) {
  const auto scheme_end = text.find("://");
  const auto at = text.rfind('@');
  if (scheme_end == std::string_view::npos || at == std::string_view::npos || at < scheme_end)
    return std::string(text);
  return std::string(text.substr(0, scheme_end + 3)) + "***" + std::string(text.substr(at));
}
}  // namespace

Url parse_url(std::string_view text) {
  auto fail = [&](const std::string& why) -> Url {
    throw std::invalid_argument("bad Redis URL '" + without_userinfo(text) + "': " + why);
  };
  auto parsed = boost::urls::parse_uri(text);
  if (!parsed) return fail("not a URL (expected redis://[user:password@]host:port[/db])");
  const auto& u = *parsed;
  if (u.scheme() == "rediss") return fail("TLS (rediss://) is not supported");
  if (u.scheme() != "redis") return fail("the scheme must be redis://");
  if (!u.has_authority() || u.host().empty()) return fail("no host");
  if (u.has_query()) return fail("query parameters are not accepted");
  if (u.has_fragment()) return fail("a fragment is not accepted");
  Url out;
  // IPv6 hosts arrive bracketed; the shared host:port parser strips them.
  auto hp = core::parse_host_port(u.encoded_host_and_port(), core::PortRule::optional);
  if (!hp) return fail("bad host or port");
  out.host = std::string(hp->host);
  if (hp->port) {
    if (*hp->port == 0) return fail("port 0");
    out.port = *hp->port;
  }
  if (u.has_userinfo()) {
    out.user = u.user();
    out.password = u.password();
    if (out.password.empty() && !u.has_password()) {
      // redis://secret@host: redis-py reads a lone userinfo as the password (requirepass).
      out.password = out.user;
      out.user.clear();
    }
  }
  const std::string_view path = u.encoded_path();
  if (!path.empty() && path != "/") {
    const auto digits = path.substr(1);
    int db = -1;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), db);
    if (ec != std::errc{} || end != digits.data() + digits.size() || db < 0 || db > 65535)
      return fail("the path must be a database number, as /0");
    out.db = db;
  }
  return out;
}

}  // namespace tenx::redis
