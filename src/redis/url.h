#pragma once
// Where a Redis server is: `redis://[user:password@]host[:port][/db]`, as redis-cli and
// redis-py spell it. The password (and user) may be percent-encoded; the port defaults to 6379
// and the database to 0. No query parameters are accepted (an unknown one is refused, not
// ignored), and `rediss://` (TLS) is refused with a message saying TLS is not supported.
#include <cstdint>
#include <string>
#include <string_view>

namespace tenx::redis {

struct Url {
  std::string host = "127.0.0.1";
  std::uint16_t port = 6379;
  std::string user;      // empty: AUTH password only (requirepass), or no AUTH
  std::string password;  // empty: no AUTH
  int db = 0;
  // The URL without the password, for logs and messages.
  std::string redacted() const;
};

// Start-up and config parsing: throws std::invalid_argument with a message naming the bad part.
Url parse_url(std::string_view text);

}  // namespace tenx::redis
