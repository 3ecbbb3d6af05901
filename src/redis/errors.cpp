#include "redis/errors.h"

#include <string>

namespace tenx::redis {
namespace {
class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "redis"; }
  std::string message(int ev) const override {
    switch (static_cast<Errc>(ev)) {
      case Errc::ok:
        return "ok";
      case Errc::disconnected:
        return "not connected to Redis";
      case Errc::connection_lost:
        return "the Redis connection was lost with the command in flight";
      case Errc::timeout:
        return "no reply from Redis within the command timeout";
      case Errc::protocol:
        return "Redis sent bytes that are not RESP";
      case Errc::reply_too_large:
        return "Redis reply over the configured size limit";
      case Errc::overloaded:
        return "too many Redis commands in flight";
      case Errc::server_error:
        return "Redis error reply";
      case Errc::wrong_type:
        return "Redis: operation against a key holding the wrong kind of value";
      case Errc::loading:
        return "Redis is loading its dataset";
      case Errc::read_only:
        return "Redis is a read-only replica";
      case Errc::no_script:
        return "Redis does not have the script";
      case Errc::busy:
        return "Redis is busy running a script";
      case Errc::auth:
        return "Redis refused the credentials";
      case Errc::redirected:
        return "Redis redirected the command (a cluster; not supported)";
      case Errc::no_perm:
        return "Redis ACL refused the command";
    }
    return "unknown Redis error";
  }
};
}  // namespace

const boost::system::error_category& redis_category() noexcept {
  static const Category c;
  return c;
}

bool is_transport(const error_code& ec) noexcept {
  if (ec.category() != redis_category()) return static_cast<bool>(ec);  // sockets, timeouts
  return ec.value() > 0 && ec.value() < static_cast<int>(Errc::server_error);
}

bool is_server(const error_code& ec) noexcept {
  return ec.category() == redis_category() && ec.value() >= static_cast<int>(Errc::server_error);
}

Errc server_errc(std::string_view message) noexcept {
  const auto word = message.substr(0, message.find(' '));
  if (word == "WRONGTYPE") return Errc::wrong_type;
  if (word == "LOADING") return Errc::loading;
  if (word == "READONLY") return Errc::read_only;
  if (word == "NOSCRIPT") return Errc::no_script;
  if (word == "BUSY") return Errc::busy;
  if (word == "NOAUTH" || word == "WRONGPASS") return Errc::auth;
  if (word == "MOVED" || word == "ASK") return Errc::redirected;
  if (word == "NOPERM") return Errc::no_perm;
  return Errc::server_error;
}

}  // namespace tenx::redis
