#pragma once
// HTTP/1.1 client with a keep-alive connection pool per (thread, upstream).
//
// A Client belongs to one event-loop thread (create one per runtime thread); it is not
// thread-safe and needs no lock. Its sockets are plain descriptors watched by the loop's
// core::Poller (nginx-style readiness: one recv per read, no epoll_ctl per wait), the same
// machinery as the server's connections. Two ways to use it:
//
//   1. Buffered: `co_await client.request(endpoint, req)` -> status, headers, body.
//   2. Streamed (the gateway's proxy path): `auto c = co_await client.acquire(endpoint)`, then
//      c->write(bytes...), c->read_head(), c->read_body_some() until empty, and
//      client.release(std::move(c)) — which pools it only if it is clean to reuse.
//
// Reuse rules: a connection goes back to the pool only when the response was read to its
// end, neither side said `Connection: close`, the response was not delimited by close, and
// no error or timeout happened. An idle pooled connection that the server has closed (or
// that has unexpected bytes waiting) is detected with a non-blocking peek and dropped before
// use. Idle connections older than idle_timeout are dropped. A buffered request that fails
// on a reused connection before any response byte arrived is retried once on a new
// connection if its method is idempotent (RFC 9110 §9.2.2, RFC 9112 §9.3.1).
//
// Timeouts: connect, send (longest wait for the server to take more request bytes), read
// (longest wait for the next bytes of the response) and total (the whole buffered request; on
// the streamed path the caller sets a deadline per phase: the proxy bounds the wait for the
// response head, then only the waits between bytes, as nginx's proxy_read_timeout). Errors:
// Errc::timeout, Errc::closed (peer closed early), Errc::bad_input (malformed response),
// Errc::limit_exceeded, or the socket's error code.
#include "core/poller.h"
#include "core/result.h"
#include "http/io_buffer.h"
#include "http/message.h"
#include "http/parser.h"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <sys/uio.h>

#include <chrono>
#include <cstdint>
#include <deque>

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tenx::http {

namespace detail {
class Watchdog;
}

struct ClientOptions {
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds send_timeout{30'000};
  std::chrono::milliseconds read_timeout{30'000};
  std::chrono::milliseconds total_timeout{60'000};
  std::chrono::milliseconds idle_timeout{60'000};  // pooled connections older than this close
  std::size_t max_idle_per_upstream = 64;
  std::uint32_t max_header_bytes = 64 * 1024;
  std::uint64_t max_body_bytes = 64 * 1024 * 1024;  // buffered request() only
};

struct ClientRequest {
  Verb method = Verb::get;
  std::string_view target = "/";
  std::span<const Header> headers;  // Host is added unless given; Content-Length from body
  std::string_view body;
};

struct ClientResponse {
  unsigned status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  bool reused_connection = false;
  std::optional<std::string_view> header(std::string_view name) const;
};

class ClientConnection {
 public:
  ClientConnection(core::Poller& poller, boost::asio::ip::tcp::endpoint ep,
                   const ClientOptions& options);
  ~ClientConnection();
  ClientConnection(const ClientConnection&) = delete;
  ClientConnection& operator=(const ClientConnection&) = delete;

  boost::asio::awaitable<error_code> connect();
  // Writes all of `parts` (a request head and body pieces, already framed).
  boost::asio::awaitable<error_code> write(std::span<const std::string_view> parts);
  // Fast path without a coroutine: writes what the kernel takes now. True when done (ec set
  // on failure); false when the rest must wait: then co_await write_pending().
  bool try_write(std::span<const std::string_view> parts, error_code& ec);
  boost::asio::awaitable<error_code> write_pending();
  // Fast path: the next body piece if the buffered bytes decide it (a piece, the end, or an
  // error in ec); false when more bytes must be read: then co_await read_body_some().
  bool try_body_piece(std::string_view& piece, error_code& ec);
  // Reads the response head (skipping 1xx interim responses). head_request: the request was
  // HEAD, so the response has no body whatever its headers say.
  boost::asio::awaitable<Result<const ResponseHead*>> read_head(bool head_request);
  // Next body piece; empty at the end. Valid until the next call.
  boost::asio::awaitable<Result<std::string_view>> read_body_some();
  // After a 101 answer: raw bytes from the server now (those that followed the head first),
  // without waiting; empty when none, Errc::closed once it closed. Valid until the next call.
  Result<std::string_view> try_raw_read();

  // Deadline for the exchange under way (no wait goes past it); time_point::max() for none.
  void set_total_deadline(std::chrono::steady_clock::time_point t) { total_deadline_ = t; }
  // While the request is still being sent: has the server started to answer (or closed)?
  // Reads what is there without waiting, so a following read_head() sees it. An upstream
  // that answers before the whole body arrived (401, 413) is answered from this.
  // after_send_error: a send just failed; read even before the Poller reports the socket.
  bool response_waiting(bool after_send_error = false);
  // While on, a write that must wait for room also ends when the server starts answering:
  // it returns operation_aborted and response_waiting() is true (an upstream that refused a
  // body and stopped reading it).
  void watch_response_while_sending(bool on) { watch_response_ = on; }
  core::Poller::Handle& poller_handle() { return *handle_; }
  // The exchange ended early (a request not sent whole, an abandoned response): never pool.
  void no_reuse() { failed_ = true; }
  // Ends the wait in progress (it completes with operation_aborted) and keeps the connection
  // out of the pool: the request's client has gone. Callable from a Poller callback.
  void abort();
  bool reusable() const;
  bool reused() const { return uses_ > 1; }
  bool got_response_bytes() const { return got_bytes_; }
  // Some byte of this exchange's request reached the kernel (so the server may have read it).
  bool sent_any() const { return sent_any_; }
  // Prepares a pooled connection for its next exchange; false if it went stale.
  bool begin_exchange();
  const boost::asio::ip::tcp::endpoint& endpoint() const { return endpoint_; }
  std::chrono::steady_clock::time_point idle_since() const { return idle_since_; }
  void mark_idle();

 private:
  // One read of what the socket has, without a coroutine. True when it ended (ec empty: bytes
  // arrived; else closed / limit_exceeded / the error); false: wait for readability, then again.
  bool try_fill(error_code& ec);
  boost::asio::awaitable<error_code> write_iov(iovec* iov, int cnt);
  void arm_wait();
  error_code wait_outcome(error_code ec);
  boost::asio::awaitable<error_code> wait_writable();
  void close();

  core::Poller& poller_;
  int fd_ = -1;
  core::Poller::Handle* handle_ = nullptr;
  boost::asio::ip::tcp::endpoint endpoint_;
  const ClientOptions& options_;
  std::shared_ptr<detail::Watchdog> watchdog_;
  IoBuffer in_;
  ResponseParser parser_;
  std::chrono::steady_clock::time_point total_deadline_ =
      std::chrono::steady_clock::time_point::max();
  std::chrono::steady_clock::time_point idle_since_{};
  std::uint64_t uses_ = 0;
  bool connected_ = false;
  bool failed_ = false;
  bool got_bytes_ = false;
  bool sent_any_ = false;
  bool watch_response_ = false;
  std::size_t raw_taken_ = 0;  // bytes of in_ handed out by the last try_raw_read
  bool head_read_ = false;
  std::string pending_;  // unwritten tail after try_write
};

class Client {
 public:
  // Uses the Poller of the runtime loop it is created on (Poller::current()); created
  // elsewhere (a test's own io_context), it makes one on the executor's io_context.
  Client(const boost::asio::any_io_executor& ex, ClientOptions options = {});
  Client(core::Poller& poller, ClientOptions options = {});
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  boost::asio::awaitable<Result<ClientResponse>> request(const boost::asio::ip::tcp::endpoint& ep,
                                                         const ClientRequest& req);

  // A pooled connection if a clean one exists (no coroutine: the common case), else null.
  std::unique_ptr<ClientConnection> try_acquire(const boost::asio::ip::tcp::endpoint& ep);
  // A pooled connection if a clean one exists, else a new connected one.
  boost::asio::awaitable<Result<std::unique_ptr<ClientConnection>>> acquire(
      const boost::asio::ip::tcp::endpoint& ep);
  void release(std::unique_ptr<ClientConnection> c);

  // Closes the idle connections and pools none from now on (release() closes them): while
  // registered with the Poller they would keep a draining loop running.
  void stop_pooling();

  // Closes the idle connections to every endpoint not in `keep` (servers that left a pool).
  void close_idle_except(std::span<const boost::asio::ip::tcp::endpoint> keep);
  std::size_t idle_connections() const;
  const ClientOptions& options() const { return options_; }

  // Serializes a request head (with Host and Content-Length) into out.
  static void write_request_head(std::string& out, const ClientRequest& req,
                                 const boost::asio::ip::tcp::endpoint& ep);

 private:
  // retryable: set when the failure is the retry case (a reused connection that failed
  // before any response byte arrived).
  boost::asio::awaitable<Result<ClientResponse>> attempt(const boost::asio::ip::tcp::endpoint& ep,
                                                         const ClientRequest& req, bool fresh,
                                                         bool& retryable);
  std::unique_ptr<core::Poller> own_poller_;
  core::Poller* poller_;
  ClientOptions options_;
  // Idle connections by upstream, each a vector used as a stack (most recently used on top: a
  // deque at a block boundary frees and allocates a block on every pop/push pair). Hashed:
  // an ordered map's endpoint comparisons cost 165 instructions per proxied request.
  struct EndpointHash {
    std::size_t operator()(const boost::asio::ip::tcp::endpoint& ep) const noexcept;
  };
  std::unordered_map<boost::asio::ip::tcp::endpoint, std::vector<std::unique_ptr<ClientConnection>>,
                     EndpointHash>
      idle_;
  bool pooling_ = true;
};

}  // namespace tenx::http
