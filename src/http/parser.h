#pragma once
// MessageParser: incremental HTTP/1.1 message parser built on Beast's basic_parser, used
// only to find message boundaries and decode framing (Content-Length, chunked). It never
// builds a header map: fields are recorded as views into one per-parser storage string that
// is reused for the next message, so a steady stream of requests allocates nothing.
//
// Usage (one parser per connection, one message at a time):
//   parser.reset(limits);                 // before each message
//   n = parser.put(bytes, ec);            // feed; consume n bytes from your buffer
//   parser.header_done() -> parser.head() is valid (views into parser storage)
//   while (!parser.done()) { n = parser.put(bytes, ec); use parser.body_piece(); }
//
// Beyond Beast's own checks (differing Content-Length, Content-Length with chunked, invalid
// chunk sizes, header and body limits) requests are rejected when they carry obsolete line
// folding, a Transfer-Encoding whose final coding is not chunked (400), a coding other than
// chunked (501), Transfer-Encoding in HTTP/1.0, or a missing / repeated Host in HTTP/1.1.
// These are the request-smuggling guards of RFC 9112 §6.1, §6.3 and §3.2.
//
// Not thread-safe; belongs to its connection's thread.
#include "http/io_buffer.h"
#include "http/message.h"

#include <boost/system/error_code.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tenx::http {

// Why a message was refused; maps to the response status the server sends.
enum class ParseError {
  none = 0,
  bad_request,       // 400
  header_too_large,  // 431 (431 for requests; 502 when an upstream sends it)
  body_too_large,    // 413
  not_implemented,   // 501 (unknown transfer coding)
};

struct ParserLimits {
  std::uint32_t max_header_bytes = 16 * 1024;
  std::optional<std::uint64_t> max_body_bytes = 8 * 1024 * 1024;  // nullopt: unlimited
};

// Head storage handed back by idle parsers, kept for the next message of any connection on the
// same thread (one pool per event loop; not thread-safe). Bounded: beyond kMax, parked
// storage is freed.
struct ParserStoragePool {
  static constexpr std::size_t kMax = 64;
  struct Parked {
    std::string bytes;
    std::vector<HeaderView> fields;
  };
  std::vector<Parked> parked;
};

template <bool IsRequest>
class MessageParser {
 public:
  using Head = std::conditional_t<IsRequest, RequestHead, ResponseHead>;

  MessageParser();
  ~MessageParser();
  MessageParser(const MessageParser&) = delete;
  MessageParser& operator=(const MessageParser&) = delete;

  // Starts a new message. For responses, skip_body means "this answers a HEAD request".
  void reset(const ParserLimits& limits, bool skip_body = false);

  // Parses from `data`; returns the number of bytes consumed. ec is need_more when more input
  // is needed (consume the returned count and call again with more). body_piece() holds the
  // body bytes decoded by this call (a view into `data`, valid until `data` changes).
  std::size_t put(std::string_view data, boost::system::error_code& ec);
  // For a response delimited by connection close.
  void put_eof(boost::system::error_code& ec);

  bool got_some() const;
  // The bytes of the head consumed so far (all of it once refused): for telling a request
  // line that is too long (414) from too many fields (431).
  std::string_view seen_head() const { return storage_; }
  bool header_done() const;
  bool done() const;
  bool need_eof() const;
  Head& head() { return head_; }
  const Head& head() const { return head_; }
  std::string_view body_piece() const { return body_piece_; }
  std::uint64_t body_bytes() const { return body_bytes_; }

  // Classifies an error returned by put().
  ParseError classify(const boost::system::error_code& ec) const;

  // Between messages (after reset()), an idle connection's parser gives its head storage
  // (about 2.3 KiB of capacity) to `pool` and takes storage back before the next message:
  // moves of a string and a vector, no allocation while the pool has some.
  void park_storage(ParserStoragePool& pool);
  void unpark_storage(ParserStoragePool& pool);
  bool storage_parked() const { return parked_; }

 private:
  friend class ParserAccess;
  struct Impl;
  void rebase(const char* base, std::size_t n);

  Head head_;
  std::string storage_;  // the header bytes the views in head_ point into
  std::unique_ptr<Impl> impl_;
  std::string_view body_piece_;
  std::uint64_t body_bytes_ = 0;
  ParseError pending_error_ = ParseError::none;
  const char* input_begin_ = nullptr;
  const char* input_end_ = nullptr;
  std::uint32_t max_header_bytes_ = 0;  // for the whole head, however it arrives
  bool header_seen_ = false;
  bool parked_ = false;
  // Request-only checks, collected while fields arrive.
  unsigned host_count_ = 0;
  bool te_seen_ = false;
  bool te_chunked_final_ = false;
  bool te_unknown_ = false;
};

using RequestParser = MessageParser<true>;
using ResponseParser = MessageParser<false>;

// One step of reading a body out of a connection buffer (head already parsed): feeds the
// buffered bytes, drops what the parser consumed, and returns the body piece it produced
// (empty if none yet; valid until `in` changes). `ec` is set on a framing or limit error
// (never to need_more); `progressed` tells whether any byte was consumed.
template <bool IsRequest>
std::string_view take_body_piece(MessageParser<IsRequest>& parser, IoBuffer& in,
                                 boost::system::error_code& ec, bool& progressed);

}  // namespace tenx::http
