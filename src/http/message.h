#pragma once
// Message heads as views, without per-request allocation.
//
// A RequestHead / ResponseHead is filled by the parser (http/parser.h). Every string_view in
// it points into storage owned by the connection that parsed it (copied out of the socket
// buffer once, then reused for the next message), so a head stays valid while the handler
// reads the body, and until the next message on that connection is parsed. Copy what you
// need to keep longer. Not thread-safe: a head belongs to its connection's thread.
// Boost 1.81 string_view.hpp needs <ostream> before it (a known header-order bug).
#include <ostream>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/verb.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::http {

using Verb = boost::beast::http::verb;
using Field = boost::beast::http::field;
using Status = boost::beast::http::status;

// ASCII case-insensitive comparison (header names, tokens).
bool iequals(std::string_view a, std::string_view b) noexcept;

struct HeaderView {
  Field id;  // Field::unknown for names Beast does not know
  std::string_view name;
  std::string_view value;
};

// The fields of one message, in arrival order (duplicates kept).
class HeaderList {
 public:
  void clear() { items_.clear(); }
  void push_back(HeaderView h) { items_.push_back(h); }
  std::size_t size() const { return items_.size(); }
  auto begin() const { return items_.begin(); }
  auto end() const { return items_.end(); }
  const HeaderView& operator[](std::size_t i) const { return items_[i]; }
  std::vector<HeaderView>& items() { return items_; }

  // First value of a field, or nullopt.
  std::optional<std::string_view> find(Field id) const;
  std::optional<std::string_view> find(std::string_view name) const;
  std::size_t count(Field id) const;

 private:
  std::vector<HeaderView> items_;
};

// True if any field `id` lists `token` (case-insensitive): `Connection: keep-alive, Upgrade`.
// The elements of a list are read with core::split_list (core/text.h).
bool field_has_token(const HeaderList& headers, Field id, std::string_view token);

struct RequestHead {
  Verb method = Verb::unknown;
  std::string_view method_string;
  std::string_view target;  // origin-form "/path?query" as received (not decoded)
  unsigned version = 11;    // 10 or 11
  HeaderList headers;

  // Set by the parser from the fields:
  bool keep_alive = true;
  bool chunked = false;
  bool expect_continue = false;
  std::optional<std::uint64_t> content_length;

  bool has_body() const { return chunked || content_length.value_or(0) > 0; }
  // Target without the query, not decoded. For an absolute-form target
  // ("http://host/path?q", RFC 9112 §3.2.2) the scheme and authority are skipped.
  std::string_view path() const;
  // The host a request is for: the authority of an absolute-form target, which RFC 9112
  // §3.2.2 says replaces the Host field, else the Host field (empty if none).
  std::string_view authority() const;
  std::string_view query() const;  // after '?', or empty
};

struct ResponseHead {
  unsigned status = 0;
  std::string_view reason;
  unsigned version = 11;
  HeaderList headers;
  bool keep_alive = true;
  bool chunked = false;
  bool has_body = true;  // false for 1xx/204/304 and responses to HEAD
  std::optional<std::uint64_t> content_length;
};

// "OK", "Not Found", ...; "Unknown" for codes without a registered reason.
std::string_view reason_phrase(unsigned status);

// The value of a hex digit (0-9, a-f, A-F), or -1.
int hex_digit_value(char c);

// Percent-decodes `in` into `out`; false on a malformed escape. '+' is kept as is unless
// plus_as_space (for application/x-www-form-urlencoded and query strings).
bool percent_decode(std::string_view in, std::string& out, bool plus_as_space = false);

// Finds `key` in a query string "a=1&b=2" and decodes its value into out.
bool query_param(std::string_view query, std::string_view key, std::string& out);

}  // namespace tenx::http

namespace tenx::http {
// A header to send: name and value, both borrowed for the duration of the call.
struct Header {
  std::string_view name;
  std::string_view value;
};
}  // namespace tenx::http
