#pragma once
// Opaque keyset cursors for GET /api/posts: the position after the last post of a page,
// (created_at in µs, id), packed with a version byte and a keyed 64-bit tag, in base64url.
//
// The tag makes a tampered or truncated cursor a clean 400 instead of a query at a position
// nobody handed out. It is an integrity check against accidents and casual edits, not a
// secret: the position it carries is no secret either (it is the last post's time and id).
// Every app instance behind one gateway must share the key (--cursor-key; a built-in default
// otherwise), or one instance would refuse another's cursors.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tenx::app {

struct CursorPosition {
  std::int64_t created_at_us = 0;
  std::int64_t id = 0;
  bool operator==(const CursorPosition&) const = default;
};

class CursorCodec {
 public:
  explicit CursorCodec(std::string_view key);
  std::string encode(const CursorPosition& p) const;
  // nullopt for anything this codec did not produce.
  std::optional<CursorPosition> decode(std::string_view cursor) const;

 private:
  std::uint64_t tag(const unsigned char* data, std::size_t n) const;
  std::uint64_t seed_;
};

}  // namespace tenx::app
