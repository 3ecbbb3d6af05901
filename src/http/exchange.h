#pragma once
// Exchange: one request and its answer, as a handler sees them. The request head, the route's
// label and parameters, the request body (streamed or whole), the answer (buffered or
// streamed), the client going away, a protocol upgrade, and the edits every answer carries
// (extra response fields, observers of the response). Made by the connection that read the
// request (http/server.cpp, detail::Connection) and valid until the handler returns; the
// connection carries out its methods. Per-request state that only gateway filters use (fields
// to add or drop on the way upstream) is the gateway's (gateway/filter_context.h), not here.
#include "core/poller.h"
#include "core/result.h"
#include "http/message.h"
#include "http/parser.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tenx::http {

namespace detail {
class Connection;
struct ServerShared;
}  // namespace detail

// Sees the response sent for an exchange, whoever sends it (a fixed route, a proxy, static
// files): what the gateway's filters use to cache or measure responses without the actions
// knowing. Called on the connection's thread, in order: head once, body pieces (none for
// HEAD, 204, 304), then end once (complete: the whole response went out). Views are valid
// only during the call.
class ResponseObserver {
 public:
  virtual ~ResponseObserver() = default;
  virtual void on_response_head(unsigned status, std::span<const Header> headers) = 0;
  virtual void on_response_body(std::string_view piece) = 0;
  virtual void on_response_end(bool complete) = 0;
};

class Exchange {
 public:
  const RequestHead& request() const;
  const boost::asio::ip::tcp::endpoint& peer() const;
  // The peer's address as text ("127.0.0.1"), formatted once per connection.
  std::string_view peer_address() const;
  std::chrono::steady_clock::time_point started() const { return started_; }

  // The route label for metrics and logs (a pattern such as "/api/posts/{id}"). The view must
  // stay valid for the server's lifetime (routers keep their patterns).
  void set_route(std::string_view label) { route_ = label; }
  std::string_view route() const { return route_; }
  // The path the request is routed and forwarded by: the request's own, or the normal form a
  // router put in its place (http/path.h; nginx's $uri against $request_uri).
  std::string_view path() const;
  void set_path(std::string normalized) { path_ = std::move(normalized); }
  void add_param(std::string_view name, std::string_view value) {
    params_.push_back({name, value});
  }
  std::optional<std::string_view> param(std::string_view name) const;

  // ---- request body ----
  // The next piece of the (de-chunked) body; empty when the body is complete. The view is
  // valid until the next call. Errors: Errc::limit_exceeded (over max_body_bytes),
  // Errc::bad_input (bad framing), Errc::timeout, or the socket's error.
  boost::asio::awaitable<Result<std::string_view>> read_body_some();
  // Waits until the client sends more of the body or `other` (a socket on this loop: the
  // proxy's upstream) becomes readable, whichever is first, within the body timeout. True if
  // `other` was first (false: read the body; it may also hold an error to report).
  boost::asio::awaitable<bool> wait_body_or_readable(core::Poller::Handle& other);
  // Appends the whole body to out (bounded by max_body_bytes).
  boost::asio::awaitable<error_code> read_body(std::string& out);
  bool body_done() const;

  // ---- buffered response (sent when the handler returns) ----
  void respond(unsigned status, std::string_view content_type, std::string_view body,
               std::span<const Header> headers = {});
  // {"error": code, "message": message} with the given status.
  void respond_error(unsigned status, std::string_view code, std::string_view message,
                     std::span<const Header> headers = {});

  // ---- streamed response ----
  // content_length nullopt: chunked (HTTP/1.1) or delimited by close (HTTP/1.0). first_body,
  // if given, is the beginning of the body, sent in the same write as the head.
  boost::asio::awaitable<error_code> start_response(unsigned status,
                                                    std::span<const Header> headers,
                                                    std::optional<std::uint64_t> content_length,
                                                    std::string_view first_body = {});
  boost::asio::awaitable<error_code> write_body(std::string_view data);
  boost::asio::awaitable<error_code> end_response();
  // Fast path: ends the response without a coroutine when nothing is left to write (a body
  // with Content-Length, or no body). False when end_response() must be awaited.
  bool try_end_response();

  // ---- the client going away ----
  // Calls on_gone(ctx) once, from the event loop, if the client closes its connection while
  // the handler works on this request (nginx's broken-connection check: a half-close with
  // nothing more to read counts, as there). One watch at a time; it ends with the exchange
  // or with unwatch_client(). A client already gone shows in client_gone() at once.
  void watch_client(void (*on_gone)(void*), void* ctx);
  void unwatch_client();
  // The client has gone: the watch saw it, or a body read found the connection closed.
  bool client_gone() const { return client_gone_; }
  // The handler gives up on a client that went away: no response, the connection closes.
  // Counted and logged with status 499 (nginx's "client closed request").
  void abandon() { abandoned_ = true; }

  // ---- protocol upgrade (RFC 9110 §7.8: WebSocket and the like) ----
  // The request asks to switch protocols: an Upgrade field, `upgrade` among its Connection
  // tokens, and no body.
  bool upgrade_requested() const;
  // Answers 101 Switching Protocols with `headers` (Upgrade and Connection: upgrade are the
  // caller's to include) and turns the connection into a byte tunnel: from here try_tunnel_read
  // / tunnel_write move raw bytes, and the connection closes when the handler returns.
  boost::asio::awaitable<error_code> accept_upgrade(std::span<const Header> headers);
  // Bytes from the client now (those that followed the request head first), without waiting:
  // empty when none; Errc::closed once the client has closed. Valid until the next call.
  Result<std::string_view> try_tunnel_read();
  boost::asio::awaitable<error_code> tunnel_write(std::string_view bytes);
  // Waits up to `idle` for the client or `other` (on this loop) to become readable: 0 the
  // client, 1 other, -1 neither in time (or the wait was cancelled: a drain).
  boost::asio::awaitable<int> tunnel_wait(core::Poller::Handle& other,
                                          std::chrono::milliseconds idle);

  bool responded() const { return status_ != 0; }
  unsigned status() const { return status_; }
  std::uint64_t bytes_sent() const { return bytes_sent_; }
  // Answer with `Connection: close` and close afterwards.
  void close_after() { close_ = true; }

  // ---- response edits, applied by the server to whatever answer is sent ----
  // Adds an observer of the response (owned by the exchange).
  void observe(std::unique_ptr<ResponseObserver> o) { observers_.push_back(std::move(o)); }
  // Adds a field every response of this exchange carries, whoever answers (before the
  // response starts; a field of the same name already there stays: this adds, not replaces).
  void add_response_header(std::string name, std::string value) {
    extra_response_headers_.emplace_back(std::move(name), std::move(value));
  }

 private:
  friend class detail::Connection;
  explicit Exchange(detail::Connection& c) : conn_(c) {}
  detail::Connection& conn_;
  std::chrono::steady_clock::time_point started_;
  std::string_view route_ = "unmatched";
  std::string path_;  // empty: the request's own
  std::vector<std::pair<std::string_view, std::string_view>> params_;
  unsigned status_ = 0;
  std::uint64_t bytes_sent_ = 0;
  bool close_ = false;
  bool streaming_ = false;
  bool stream_chunked_ = false;
  bool stream_ended_ = false;
  bool client_gone_ = false;
  bool abandoned_ = false;
  bool upgraded_ = false;
  std::optional<std::uint64_t> stream_left_;
  ParseError body_error_ = ParseError::none;
  error_code body_io_error_;  // the socket failed or timed out while the body was read
  void (*gone_fn_)(void*) = nullptr;
  void* gone_ctx_ = nullptr;
  std::vector<std::unique_ptr<ResponseObserver>> observers_;
  std::vector<std::pair<std::string, std::string>> extra_response_headers_;
};

}  // namespace tenx::http
