#pragma once
// A deliberately dumb HTTP/1.1 client for the end-to-end tests: a blocking POSIX socket to
// 127.0.0.1:port (or another numeric address, IPv6 included) that sends exactly the bytes it is
// given (malformed ones included) and reads responses byte for byte, so tests see what any client
// would see on the wire.
//
// Every receive has a timeout (SO_RCVTIMEO), so a server that never answers fails the test
// instead of hanging it. Bytes received beyond one response are kept for the next
// read_response() (pipelining). Not thread-safe: one thread per client.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tenx::e2e {

struct Response {
  std::string version;  // "HTTP/1.1"
  int status = 0;
  std::string reason;
  std::vector<std::pair<std::string, std::string>> headers;  // in order, as received
  std::string body;                                          // de-chunked

  // The first header with this name (case-insensitive).
  std::optional<std::string> header(std::string_view name) const;
  std::size_t header_count(std::string_view name) const;
  // True when a Connection header lists `token` (case-insensitive).
  bool connection_has(std::string_view token) const;
};

class RawClient {
 public:
  // Connects to 127.0.0.1:port. ok() tells whether that worked, connect_errno() why not.
  explicit RawClient(std::uint16_t port,
                     std::chrono::milliseconds recv_timeout = std::chrono::seconds(5));
  // Connects to host:port, host a numeric IPv4 or IPv6 address ("::1", no brackets).
  RawClient(const std::string& host, std::uint16_t port,
            std::chrono::milliseconds recv_timeout = std::chrono::seconds(5));
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool ok() const { return fd_ >= 0; }
  int connect_errno() const { return connect_errno_; }

  // Sends all of `bytes`; false (errno in last_error()) if the socket failed.
  bool send(std::string_view bytes);
  // Reads one response. head_request: it answers a HEAD request, so it has no body whatever
  // its headers say. nullopt on timeout, connection close before a whole response, or
  // unparseable bytes; last_error() says which.
  std::optional<Response> read_response(bool head_request = false);
  // Reads until the unread bytes hold `needle` (a tunnelled protocol's data), then returns and
  // drops them up to and including it; nullopt on close or timeout first.
  std::optional<std::string> read_through(std::string_view needle);
  // Reads until the server closes (or the timeout passes) and returns all unread bytes.
  std::string read_to_close();
  // True when the server closes the connection (orderly close or reset) within `within`
  // (the receive timeout by default) and sends nothing more first. Bytes that arrive
  // instead are kept in leftover() and the answer is false.
  bool closed();
  bool closed(std::chrono::milliseconds within);
  // Received bytes not yet consumed by read_response().
  const std::string& leftover() const { return buf_; }
  const std::string& last_error() const { return error_; }
  void shutdown_write();

 private:
  enum class Fill { ok, eof, timeout, error };
  Fill fill();
  bool need(std::size_t n);  // fills until buf_ holds at least n bytes (false on failure)

  int fd_ = -1;
  int connect_errno_ = 0;
  std::chrono::milliseconds recv_timeout_;
  std::string buf_;
  std::string error_;
};

// "GET PATH HTTP/1.1\r\nHost: localhost\r\n" + extra_headers (each ending in \r\n) + "\r\n".
std::string get_request(std::string_view path, std::string_view extra_headers = {});

}  // namespace tenx::e2e
