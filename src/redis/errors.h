#pragma once
// Redis errors, as error_codes in their own category, in two families:
//
//   transport  the reply never came: not connected (a command issued while the connection is
//              down fails at once with `disconnected`), the connection died with the command
//              in flight (`connection_lost`), no reply within the command timeout (`timeout`),
//              the bytes were not RESP (`protocol`), a reply over the configured size limit
//              (`reply_too_large`), too many commands in flight (`overloaded`).
//   server     Redis answered with an error reply: `-ERR`, `-WRONGTYPE`, `-LOADING`, `-READONLY`,
//              `-NOSCRIPT`, `-BUSY`, `-NOAUTH` / `-WRONGPASS`, `-MOVED` / `-ASK` (a cluster: not
//              supported), anything else `server_error`. The message text travels in the Reply.
//
// is_transport() / is_server() tell the families apart; a caller falls back to its loader on
// a transport error and treats a server error as a bug or a configuration fault.
#include "core/result.h"

#include <string_view>

namespace tenx::redis {

enum class Errc {
  ok = 0,
  // transport
  disconnected = 1,
  connection_lost = 2,
  timeout = 3,
  protocol = 4,
  reply_too_large = 5,
  overloaded = 6,
  // server (error replies)
  server_error = 20,  // -ERR and any prefix not named below
  wrong_type = 21,    // -WRONGTYPE
  loading = 22,       // -LOADING: the server is loading its dataset
  read_only = 23,     // -READONLY: a replica
  no_script = 24,     // -NOSCRIPT: EVALSHA of a script the server does not have
  busy = 25,          // -BUSY: a script is running too long
  auth = 26,          // -NOAUTH, -WRONGPASS
  redirected = 27,    // -MOVED, -ASK: a cluster, which this client does not follow
  no_perm = 28,       // -NOPERM (ACL)
};

const boost::system::error_category& redis_category() noexcept;
inline error_code make_error_code(Errc e) noexcept {
  return {static_cast<int>(e), redis_category()};
}
bool is_transport(const error_code& ec) noexcept;
bool is_server(const error_code& ec) noexcept;
// The error of an error reply's text ("WRONGTYPE Operation against ...").
Errc server_errc(std::string_view message) noexcept;

}  // namespace tenx::redis

template <>
struct boost::system::is_error_code_enum<tenx::redis::Errc> : std::true_type {};
