#pragma once
// Reply: one RESP2 reply as a value (nil, status, error, integer, bulk string, array), and
// ReplyReader, which turns the bytes of a connection into Replies.
//
// Parsing is hiredis's (`redisReader`, read.h: its RESP reader only; the connection is ours,
// redis/connection.h). What is ours is the conversion of hiredis's reply objects into these
// values and the limits around it: a reply that would buffer more than `max_reply_bytes` is
// refused with Errc::reply_too_large before it is complete, and bytes that are not RESP give
// Errc::protocol; either leaves the reader unusable (the connection is closed). Covered by the
// libFuzzer target reply_fuzz.cpp.
#include "core/result.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

struct redisReader;

namespace tenx::redis {

class Reply {
 public:
  enum class Type : std::uint8_t { nil, status, error, integer, string, array };

  Reply() = default;
  static Reply nil() { return {}; }
  static Reply status(std::string s) { return Reply(Type::status, std::move(s)); }
  static Reply error(std::string s) { return Reply(Type::error, std::move(s)); }
  static Reply string(std::string s) { return Reply(Type::string, std::move(s)); }
  static Reply integer(std::int64_t v) {
    Reply r;
    r.type_ = Type::integer;
    r.integer_ = v;
    return r;
  }
  static Reply array(std::vector<Reply> elements) {
    Reply r;
    r.type_ = Type::array;
    r.elements_ = std::move(elements);
    return r;
  }

  Type type() const { return type_; }
  bool is_nil() const { return type_ == Type::nil; }
  bool is_error() const { return type_ == Type::error; }
  bool is_array() const { return type_ == Type::array; }
  // Status, error and bulk string text; empty for the other types.
  const std::string& text() const { return text_; }
  std::string take_text() { return std::move(text_); }
  std::int64_t integer() const { return integer_; }
  const std::vector<Reply>& elements() const { return elements_; }
  std::vector<Reply>& elements() { return elements_; }

  // The error of an error reply (Errc::wrong_type for "-WRONGTYPE ..."); empty otherwise.
  error_code server_error() const;
  // True for `+OK`.
  bool is_ok() const { return type_ == Type::status && text_ == "OK"; }
  // For logs and tests: `"abc"`, `(nil)`, `(integer) 3`, `(error) ERR x`, `[...]`.
  std::string debug_string() const;

 private:
  Reply(Type t, std::string s) : type_(t), text_(std::move(s)) {}
  Type type_ = Type::nil;
  std::int64_t integer_ = 0;
  std::string text_;
  std::vector<Reply> elements_;
};

class ReplyReader {
 public:
  explicit ReplyReader(std::size_t max_reply_bytes = 64 << 20);
  ~ReplyReader();
  ReplyReader(const ReplyReader&) = delete;
  ReplyReader& operator=(const ReplyReader&) = delete;

  // Hands the reader bytes read from the connection (copied).
  error_code feed(std::string_view bytes);
  // The next complete reply, nullopt when more bytes are needed, or an error
  // (Errc::protocol, Errc::reply_too_large) after which the reader stays failed.
  Result<std::optional<Reply>> next();
  // Bytes fed and not yet consumed by a complete reply.
  std::size_t buffered() const;
  // For the reader's callbacks (reply.cpp).
  std::size_t max_reply_bytes() const { return max_reply_bytes_; }
  void refuse_array() { array_refused_ = true; }

 private:
  redisReader* reader_;
  std::size_t max_reply_bytes_;
  bool array_refused_ = false;   // an array count over the limit: reply_too_large
  std::size_t since_reply_ = 0;  // bytes fed since the last complete reply
  error_code failed_;
};

}  // namespace tenx::redis
