#pragma once
// HTTP/1.1 server: one accept loop per runtime thread (SO_REUSEPORT), one coroutine per
// connection, one Exchange per request.
//
// Data flow for a connection (all on the thread that accepted it):
//   socket -> IoBuffer -> RequestParser (head views) -> Exchange -> Handler
//          <- out buffer (responses batched while pipelined requests are waiting) <-
//
// The Exchange a handler gets (http/exchange.h) is the request and its answer; its methods are
// carried out by the connection (detail::Connection, server.cpp).
//
// Requests on a connection are handled one at a time, in order, so pipelined responses go
// out in order. A handler either queues a whole response with respond() (written when the
// handler returns, together with any other pipelined responses) or streams one with
// start_response() / write_body() / end_response(). Request bodies are streamed too:
// read_body_some() hands out pieces as they arrive (de-chunked), or read_body() collects a
// bounded body.
//
// Limits (ServerLimits) answer with the status a client expects and close the connection:
// 431 header too large, 413 body too large, 408 header or body not received in time, 400
// malformed or smuggling-prone framing, 501 unknown transfer coding, 503 too many
// connections. Idle keep-alive connections are closed after idle_timeout; one idle for
// idle_park_after is parked: its coroutine, Connection object and timer are freed, and what
// is left (the socket's Poller handle and a small record on the thread's parked list, about
// 0.3 KiB) waits for its next bytes with a plain callback, which starts a new connection
// coroutine on them (nginx keeps an idle connection as little more than its event too). A
// client that goes
// away mid-body gets no answer (logged as 499). A connection closed with request bytes still
// unread lingers (nginx's lingering_close): the server stops sending, then reads and drops
// what still arrives for up to 5 s (1 s of silence ends it), so the close does not reset the
// connection and destroy the answer before the client has read it.
//
// Drain (runtime drain hook): listeners close, idle connections close, busy ones finish their
// request and answer it with `Connection: close`.
//
// Metrics: http_requests_total{method,route,status}, http_request_duration_seconds{method,
// route}, http_connections_active, http_connections_parked, http_connections_total,
// http_rejected_total{reason}.
#include "core/result.h"
#include "core/runtime.h"
#include "http/exchange.h"
#include "http/message.h"
#include "http/parser.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tenx::http {

struct ServerLimits {
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds header_timeout{10'000};  // first byte -> end of head
  std::chrono::milliseconds idle_timeout{75'000};    // keep-alive wait for the next request
  // Idle this long (and idle_timeout not reached): parked without a coroutine (above). Not at
  // once: a busy keep-alive client's next request comes within microseconds, and starting a
  // coroutine and a Connection for each request would cost it more than the memory is worth.
  std::chrono::milliseconds idle_park_after{250};
  std::chrono::milliseconds body_timeout{30'000};  // longest wait for more body bytes
  std::chrono::milliseconds send_timeout{30'000};  // longest wait for the peer to take bytes
  std::uint32_t max_connections = 10'000;          // over all threads
  std::uint32_t max_requests_per_connection = 0;   // 0: unlimited
};

class AccessLog;

// A request handler. It must either respond (respond / respond_error / a streamed response)
// or the server answers 500 and counts a bug.
using Handler = std::function<boost::asio::awaitable<void>(Exchange&)>;

struct ServerOptions {
  std::string listen = "127.0.0.1:8080";
  ServerLimits limits;
  std::string server_name = "tenx";  // the Server header; empty: none
  std::shared_ptr<AccessLog> access_log;
  // Called on a worker thread after active_connections() or parked_connections() changed (a
  // connection closed, parked or woke); for observers that wait on those counts (tests).
  std::function<void()> on_connections_changed;
};

class Server {
 public:
  Server(core::Runtime& runtime, ServerOptions options, Handler handler);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Opens the listeners (one per runtime thread) and starts accepting. Throws at start-up if
  // the address cannot be bound. Registers a drain hook with the runtime.
  void start();
  // The bound address (the real port when listening on port 0).
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  // Installs `handler` for new requests on every worker loop (a request in progress keeps the
  // one it began with). Returns at once; `on_installed`, if given, runs on the last loop to
  // take the handler, once every loop serves new requests with it.
  void set_handler(Handler handler, std::function<void()> on_installed = {});
  std::size_t active_connections() const;
  // Of those, the idle ones parked without a coroutine (ServerLimits::idle_park_after).
  std::size_t parked_connections() const;

 private:
  std::shared_ptr<detail::ServerShared> shared_;
};

}  // namespace tenx::http
