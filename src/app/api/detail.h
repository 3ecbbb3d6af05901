#pragma once
// Helpers shared by the API's handler files (not for use outside src/app/api).
#include "app/api/api.h"
#include "http/message.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::app::detail {

Reply error(unsigned status, std::string_view code, std::string_view message,
            std::string_view field = {});
Reply bad_field(std::string_view field, std::string_view message);
// 503 for a busy / unreachable database, 404 / 409 for their codes, else 500.
Reply db_error(const error_code& ec);

// "2026-11-28T05:57:07.123456Z" (UTC, microseconds)
std::string iso_time(std::int64_t us);
void append_iso_time(std::string& out, std::int64_t us);
// ,"key":"<iso time>"
void append_time(std::string& out, std::string_view key, std::int64_t us, bool comma = true);
std::int64_t now_us();

// An integer query parameter: nullopt if absent; sets `bad` on a malformed / out-of-range one.
std::optional<std::int64_t> int_param(std::string_view query, std::string_view key, std::int64_t lo,
                                      std::int64_t hi, bool& bad);
bool has_param(std::string_view query, std::string_view key);

// Characters (Unicode code points) in UTF-8 text; nullopt when it is not UTF-8 (RFC 3629).
std::optional<std::size_t> utf8_length(std::string_view s);
// Nothing but ASCII white space (or nothing at all).
bool is_blank(std::string_view s);

// Statement parameters. Build them in a named variable before the co_await that uses them:
// GCC 12 destroys temporaries of a full-expression that contains a co_await twice (a
// std::string inside a Value was freed twice here), and rejects braced lists there.
template <class... T>
std::vector<Value> args(T&&... v) {
  std::vector<Value> out;
  out.reserve(sizeof...(T));
  (out.emplace_back(std::forward<T>(v)), ...);
  return out;
}

void append_str(std::string& out, std::string_view key, std::string_view value, bool comma = true);
void append_int(std::string& out, std::string_view key, std::int64_t value, bool comma = true);

}  // namespace tenx::app::detail
