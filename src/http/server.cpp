#include "http/server.h"

#include "core/check.h"
#include "core/log.h"
#include "core/poller.h"
#include "http/access_log.h"
#include "http/detail/socket_io.h"
#include "http/json.h"
#include "metrics/registry.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/intrusive/list.hpp>

#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <atomic>
#include <charconv>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <new>
#include <utility>

namespace tenx::http {
namespace asio = boost::asio;
using namespace std::string_view_literals;
using tcp = asio::ip::tcp;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;

namespace detail {
namespace {

constexpr std::size_t kReadChunk = 4096;
constexpr std::size_t kMaxBatch = 64 * 1024;          // pipelined responses held before a write
constexpr std::uint64_t kDiscardLimit = 1024 * 1024;  // unread body we read and drop
// Lingering close (nginx's lingering_time / lingering_timeout, shorter): how long a closing
// connection with unread request bytes keeps reading and dropping them, in all and per wait.
constexpr auto kLingerTime = std::chrono::seconds(5);
constexpr auto kLingerWait = std::chrono::seconds(1);

// "Date: Sat, 28 Nov 2026 03:16:48 GMT\r\n", rebuilt once per second per thread.
std::string_view date_line() {
  thread_local char buf[64];
  thread_local std::time_t last = 0;
  thread_local std::size_t len = 0;
  timespec ts{};
  ::clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  if (ts.tv_sec != last) {
    last = ts.tv_sec;
    std::tm tm{};
    ::gmtime_r(&last, &tm);
    len = std::strftime(buf, sizeof buf, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
  }
  return {buf, len};
}

std::string_view status_label(unsigned status) {
  static const auto table = [] {
    std::vector<std::string> t(600);
    for (unsigned i = 100; i < 600; ++i) t[i] = std::to_string(i);
    return t;
  }();
  return status < 600 && status >= 100 ? std::string_view(table[status]) : "other";
}

std::string_view method_label(const RequestHead& r) {
  if (r.method == Verb::unknown) return "OTHER";
  auto s = boost::beast::http::to_string(r.method);
  return {s.data(), s.size()};
}

bool has_crlf(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }

bool status_has_body(unsigned status) {
  return !(status / 100 == 1 || status == 204 || status == 304);
}

}  // namespace

struct ServerMetrics {
  metrics::Family& requests;
  metrics::Family& duration;
  metrics::Family& rejected;
  metrics::Series active;
  metrics::Series parked;
  metrics::Series accepted;

  ServerMetrics()
      : requests(metrics::Registry::global().counter(
            "http_requests_total", "HTTP requests answered.", {"method", "route", "status"})),
        duration(metrics::Registry::global().histogram(
            "http_request_duration_seconds",
            "Time from a complete request head to the end of the response.", {"method", "route"})),
        rejected(metrics::Registry::global().counter(
            "http_rejected_total", "Connections or requests refused by a server limit.",
            {"reason"})),
        active(metrics::Registry::global()
                   .gauge("http_connections_active", "Client connections open now.")
                   .series({})),
        parked(metrics::Registry::global()
                   .gauge("http_connections_parked",
                          "Idle keep-alive connections parked without a coroutine.")
                   .series({})),
        accepted(metrics::Registry::global()
                     .counter("http_connections_total", "Client connections accepted.")
                     .series({})) {}
};

class Connection;
using ConnectionHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

struct PerThread;
struct ServerShared;
struct Parked;

class Connection : public ConnectionHook {
 public:
  // `handle`: the socket's Poller handle when it has one already (a parked connection woken),
  // else null; `requests`: how many it has served before.
  Connection(ServerShared& shared, PerThread& thread, int fd, tcp::endpoint peer,
             core::Poller::Handle* handle, std::uint32_t requests);
  ~Connection();

  awaitable<void> run();
  // run() ended by parking: the socket lives on in a Parked record, not closed.
  bool parked() const { return parked_; }

  // Called by drain: closes the connection if it waits for a request.
  void close_if_idle() {
    if (idle_ && handle_) handle_->cancel();
  }

  // ---- used by Exchange ----
  const RequestHead& request() const { return parser_.head(); }
  const tcp::endpoint& peer() const { return peer_; }
  std::string_view peer_address() {
    if (peer_text_.empty()) peer_text_ = peer_.address().to_string();  // inet_ntop: not per request
    return peer_text_;
  }
  bool body_done() const { return parser_.done(); }
  void respond(Exchange& ex, unsigned status, std::string_view content_type, std::string_view body,
               std::span<const Header> headers);
  awaitable<Result<std::string_view>> read_body_some(Exchange& ex);
  awaitable<bool> wait_body_or_readable(Exchange& ex, core::Poller::Handle& other);
  awaitable<error_code> accept_upgrade(Exchange& ex, std::span<const Header> headers);
  Result<std::string_view> try_tunnel_read();
  awaitable<error_code> tunnel_write(std::string_view bytes);
  awaitable<int> tunnel_wait(core::Poller::Handle& other, std::chrono::milliseconds idle);
  awaitable<error_code> start_response(Exchange& ex, unsigned status,
                                       std::span<const Header> headers,
                                       std::optional<std::uint64_t> content_length,
                                       std::string_view first_body);
  awaitable<error_code> write_body(Exchange& ex, std::string_view data);
  awaitable<error_code> end_response(Exchange& ex);
  void watch_hangup(Exchange& ex);
  void clear_hangup_watch() {
    if (handle_) handle_->clear_hangup_watch();
  }

 private:
  // The Poller saw the client hang up while a handler works (ctx: the Exchange).
  static void on_hangup(void* ctx);
  // After a hang-up: true if bytes are still there to read (a pipelined request, the rest of
  // a body), so the client is not gone yet.
  bool peer_sent_more();
  // Stops sending and reads and drops what the client still sends (bounded): see server.h.
  awaitable<void> linger();
  // 414 when the request line alone is over the header limit, else 431.
  awaitable<void> reject_oversized_head();
  // An idle keep-alive connection parks its buffers in the thread's pool while it waits.
  void park_buffers();
  void unpark_buffers();
  bool decide_keep_alive(Exchange& ex);
  void write_head(Exchange& ex, unsigned status, std::string_view content_type,
                  std::span<const Header> headers, std::optional<std::uint64_t> content_length,
                  bool chunked);
  bool try_flush(boost::system::error_code& ec);
  awaitable<error_code> flush();
  awaitable<error_code> write_iov(iovec* iov, int cnt);
  // Reads what the socket has, waiting for readability within `deadline` (timeout after it).
  awaitable<error_code> read_more(std::chrono::steady_clock::time_point deadline);
  // Answers with an error and `Connection: close`; lingers when the client may still be
  // sending (everything but a timeout).
  awaitable<void> reject(unsigned status, std::string_view reason, std::string_view message);
  awaitable<bool> discard_body(Exchange& ex);
  void finish_exchange(Exchange& ex);
  ParseError skip_buffered_body();
  // ---- steps of run() ----
  void skip_blank_lines(std::size_t& skipped);
  awaitable<void> refuse_head(const boost::system::error_code& ec);  // 400 / 413 / 414 / 431 / 501
  // An idle connection parks its buffers and arms the idle timeout (or, sooner, the park
  // point) while it waits for its next request; end_idle() says what comes next.
  enum class IdleEnd { serve, close, park };
  void begin_idle();
  IdleEnd end_idle(const boost::system::error_code& ec);
  // Hands the socket to a Parked record waiting for its next bytes; run() then returns.
  void park();
  // When the next read of a head must end: the idle timeout before a head begins, then the
  // header timeout from its first byte; nullopt once that has passed (408).
  std::optional<std::chrono::steady_clock::time_point> head_read_deadline(
      bool partial, std::chrono::steady_clock::time_point& header_deadline) const;
  // After a failed read of a head: 408 for a timeout in a begun head, else nothing to say.
  awaitable<void> refuse_head_read(error_code ec, bool partial);
  // One request with a parsed head: the handler, the answers it left to the server, the
  // unread body, the keep-alive decision and the flush. False when the connection closes.
  awaitable<bool> serve_request();
  void handler_failed(Exchange& ex, const std::exception& e);
  void answer_if_unanswered(Exchange& ex);
  void check_unread_body(Exchange& ex, std::size_t out_mark);
  std::string too_large_message() const;
  // Responses to earlier pipelined requests wait in out_ to go out in one write; if the
  // handler now running suspends (a slow upstream, a timer), this posted flush sends them
  // meanwhile, so a fast answer never waits behind a slow one.
  void schedule_flush();
  // Sends out_ at the end of the current readiness batch (call only inside one).
  void flush_at_batch_end();
  void append_status_block(unsigned status);
  void shutdown();

  ServerShared& shared_;
  PerThread& thread_;
  int fd_;
  core::Poller::Handle* handle_;
  tcp::endpoint peer_;
  std::string peer_text_;
  std::shared_ptr<Watchdog> watchdog_;
  IoBuffer in_;
  std::string out_;
  RequestParser parser_;
  std::uint32_t requests_ = 0;
  clock_type::time_point idle_deadline_{};  // the idle timeout of the current idle wait
  bool idle_ = true;
  bool parked_ = false;
  bool continue_sent_ = false;
  bool keep_alive_ = true;
  bool broken_ = false;   // the byte stream can no longer be trusted: close after this request
  bool writing_ = false;  // a write is suspended on writability: out_ must not be touched
  bool flush_posted_ = false;
  std::size_t tunnel_taken_ = 0;  // bytes of in_ handed out by the last try_tunnel_read
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // The last request's metric series, reused while its method, route and status repeat (a
  // keep-alive client mostly asks the same route): two label lookups saved per request.
  // method_label and status_label return views of static storage, so pointers identify them.
  struct MetricsMemo {
    const char* method = nullptr;
    const char* status = nullptr;
    std::string route;
    metrics::Series requests, duration;
  } memo_;
};

// An idle keep-alive connection parked without its coroutine (ServerLimits::idle_park_after):
// the socket, its Poller handle, the peer, its request count and when its idle timeout ends,
// about 100 bytes beside the handle. Owned by the callback waiting on the handle: the next
// bytes start a connection coroutine on the socket (wake); a cancel (its idle timeout, drain)
// or the Poller's shutdown destroys it, which closes the socket.
using ParkedHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;
struct Parked;
// Parked records come from their thread's ParkedPool and go back to it.
struct ParkedDelete {
  void operator()(Parked* p) const;
};
using ParkedPtr = std::unique_ptr<Parked, ParkedDelete>;

struct Parked : ParkedHook {
  Parked(std::shared_ptr<ServerShared> s, PerThread& t, int socket, core::Poller::Handle* h,
         const tcp::endpoint& from, std::uint32_t served, clock_type::time_point until);
  ~Parked();
  Parked(const Parked&) = delete;
  Parked& operator=(const Parked&) = delete;

  // Waits for the socket's next bytes, owned by the wait.
  static void wait(ParkedPtr p);
  static void wake(ParkedPtr p, const error_code& ec);

  std::shared_ptr<ServerShared> shared;
  PerThread& thread;
  int fd;
  core::Poller::Handle* handle;
  tcp::endpoint peer;
  std::uint32_t requests;
  bool expired = false;  // closed by its idle timeout (counted as such)
  clock_type::time_point deadline;
};

// Storage for Parked records in blocks of 64, kept for reuse (bounded by the most connections
// this thread has held parked at once; freed with the server). A record per malloc chunk sat
// between the freed frames of the connections parked after it and pinned their pages: 8,000
// idle connections kept ~6 MiB of free heap resident (docs/benchmarks.md).
class ParkedPool {
 public:
  void* take() {
    if (!free_) grow();
    Slot* s = free_;
    free_ = s->next;
    return s;
  }
  void give(void* p) {
    auto* s = static_cast<Slot*>(p);
    s->next = free_;
    free_ = s;
  }

 private:
  union Slot {
    Slot* next;
    alignas(Parked) std::byte bytes[sizeof(Parked)];
  };
  static constexpr std::size_t kBlock = 64;
  void grow() {
    blocks_.push_back(std::make_unique<Slot[]>(kBlock));
    for (std::size_t i = 0; i < kBlock; ++i) give(&blocks_.back()[i]);
  }
  std::vector<std::unique_ptr<Slot[]>> blocks_;
  Slot* free_ = nullptr;
};

struct PerThread {
  // Buffers of idle keep-alive connections, handed back while they wait for a next request
  // and taken again when it comes (most recently used first: warm in cache). A few are kept
  // for reuse, about as many as connections turn from idle to busy together; the rest are
  // freed, so idle connections hold no buffer memory at all.
  static constexpr std::size_t kMaxPooled = 64;
  // A connection parking says this thread has connections to spare: each parking frees one
  // pooled buffer of each kind down to this floor, so a thread holding thousands of parked
  // connections does not also hold 64 buffers of each kind for them (3 MiB over two threads:
  // 0.4 KiB of each of 8,000 idle connections, bench/idle_connections.sh).
  static constexpr std::size_t kMinPooled = 4;
  void shrink_pools() {
    if (in_pool.size() > kMinPooled) in_pool.pop_back();
    if (out_pool.size() > kMinPooled) out_pool.pop_back();
    if (parser_pool.parked.size() > kMinPooled) parser_pool.parked.pop_back();
  }
  std::vector<std::unique_ptr<char[]>> in_pool;  // kReadChunk * 2 bytes each
  std::vector<std::string> out_pool;
  ParserStoragePool parser_pool;  // idle connections' request-head storage
  std::shared_ptr<const Handler> handler;
  core::Poller* poller = nullptr;  // the runtime's, for this thread's listener and connections
  int listen_fd = -1;
  core::Poller::Handle* listen_handle = nullptr;
  boost::intrusive::list<Connection, boost::intrusive::constant_time_size<false>> connections;
  // Parked idle connections, oldest first: parked idle_park_after into an idle wait whose
  // timeout is the same for all, so this order is also the order of their idle deadlines,
  // and one timer (armed for the front's) serves them all.
  boost::intrusive::list<Parked, boost::intrusive::constant_time_size<false>> parked;
  ParkedPool parked_pool;
  std::unique_ptr<asio::steady_timer> park_timer;
  bool park_timer_armed = false;
  // What the connections that parked freed (their frames, buffers, Connection objects) is free
  // heap that glibc keeps resident in the thread's arena: it returns only the arena's top on
  // its own (jemalloc and tcmalloc decay free pages; glibc does not). 100 ms after parkings,
  // when at least kTrimAfterParked parked since the last time, malloc_trim gives the free
  // pages back (measured: 8,000 idle connections, 1.11 -> see docs/benchmarks.md).
  static constexpr std::size_t kTrimAfterParked = 64;
  std::size_t parked_since_trim = 0;
  std::unique_ptr<asio::steady_timer> trim_timer;
  bool trim_timer_armed = false;
  std::unique_ptr<asio::steady_timer> log_timer;
  bool draining = false;
};

struct ServerShared : std::enable_shared_from_this<ServerShared> {
  ServerShared(core::Runtime& rt, ServerOptions opts, Handler h)
      : runtime(rt), options(std::move(opts)) {
    parser_limits.max_header_bytes = options.limits.max_header_bytes;
    parser_limits.max_body_bytes = options.limits.max_body_bytes;
    auto handler = std::make_shared<const Handler>(std::move(h));
    for (std::size_t i = 0; i < runtime.threads(); ++i) {
      threads.push_back(std::make_unique<PerThread>());
      threads.back()->handler = handler;
    }
    if (!options.server_name.empty()) server_line = "Server: " + options.server_name + "\r\n";
  }

  awaitable<void> accept_loop(std::size_t i);
  void drain(std::size_t i);
  // Runs a connection coroutine on the socket (accepted, or a parked one woken) until it
  // closes or parks.
  void run_connection(PerThread& t, int fd, const tcp::endpoint& peer, core::Poller::Handle* handle,
                      std::uint32_t requests);
  void connection_closed();
  void connections_changed() const {
    if (options.on_connections_changed) options.on_connections_changed();
  }
  void arm_park_timer(PerThread& t);
  // Closes the parked connections whose idle timeout has passed.
  void expire_parked(PerThread& t);
  void arm_trim_timer(PerThread& t);

  core::Runtime& runtime;
  ServerOptions options;
  ParserLimits parser_limits;
  std::string server_line;
  std::vector<std::unique_ptr<PerThread>> threads;
  std::atomic<std::uint32_t> connections{0};
  std::atomic<std::uint32_t> parked{0};
  tcp::endpoint bound;
  ServerMetrics metrics;
};

Parked::Parked(std::shared_ptr<ServerShared> s, PerThread& t, int socket, core::Poller::Handle* h,
               const tcp::endpoint& from, std::uint32_t served, clock_type::time_point until)
    : shared(std::move(s)),
      thread(t),
      fd(socket),
      handle(h),
      peer(from),
      requests(served),
      deadline(until) {
  shared->parked.fetch_add(1, std::memory_order_relaxed);
  shared->metrics.parked.inc();
  shared->connections_changed();
}

Parked::~Parked() {
  unlink();  // before `shared` goes: the list lives in it
  shared->parked.fetch_sub(1, std::memory_order_relaxed);
  shared->metrics.parked.dec();
  if (fd < 0) {  // woken: the socket went on to a connection
    shared->connections_changed();
    return;
  }
  thread.poller->remove(handle);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
  shared->connection_closed();
}

void ParkedDelete::operator()(Parked* p) const {
  const std::shared_ptr<ServerShared> keep = p->shared;  // the pool lives in it
  PerThread& t = p->thread;
  p->~Parked();
  t.parked_pool.give(p);
}

void Parked::wait(ParkedPtr p) {
  core::Poller::Handle* h = p->handle;
  h->wait_readable([p = std::move(p)](const error_code& ec) mutable { wake(std::move(p), ec); });
}

void Parked::wake(ParkedPtr p, const error_code& ec) {
  if (ec || p->thread.draining) {
    if (p->expired) p->shared->metrics.rejected.series({"idle_timeout"}).inc();
    return;  // p closes the socket
  }
  const auto shared = p->shared;
  PerThread& t = p->thread;
  const int socket = std::exchange(p->fd, -1);
  const tcp::endpoint from = p->peer;
  const std::uint32_t served = p->requests;
  core::Poller::Handle* h = p->handle;
  p.reset();
  shared->run_connection(t, socket, from, h, served);
}

Connection::Connection(ServerShared& shared, PerThread& thread, int fd, tcp::endpoint peer,
                       core::Poller::Handle* handle, std::uint32_t requests)
    : shared_(shared),
      thread_(thread),
      fd_(fd),
      handle_(handle ? handle : thread.poller->add(fd)),
      peer_(std::move(peer)),
      watchdog_(std::make_shared<Watchdog>(thread.poller->loop().get_executor(),
                                           [this] { handle_->cancel(); })),
      in_(kReadChunk * 2),
      requests_(requests) {
  out_.reserve(kReadChunk);
  thread_.connections.push_back(*this);
}

Connection::~Connection() {
  *alive_ = false;
  watchdog_->stop();
  shutdown();
}

// ---------------------------------------------------------------------------------------------

// Reads more bytes into in_ (room already reserved). Readiness is tracked as nginx does
// (core/poller.h): a short read means the socket is drained, so the next read waits for an
// edge instead of trying a recv that would fail with EAGAIN.
awaitable<error_code> Connection::read_more(clock_type::time_point deadline) {
  for (;;) {
    boost::system::error_code ec;
    const auto st = read_ready(fd_, *handle_, in_, ec);
    if (st == IoStatus::ok) co_return error_code{};
    if (st == IoStatus::eof) co_return make_error_code(core::Errc::closed);
    if (st == IoStatus::error) co_return ec;
    watchdog_->set(deadline);
    auto [wec] = co_await handle_->wait_readable(asio::as_tuple(asio::use_awaitable));
    if (watchdog_->fired()) co_return make_error_code(core::Errc::timeout);
    if (wec) co_return wec;
  }
}

bool Connection::try_flush(boost::system::error_code& ec) {
  if (out_.empty()) return true;
  iovec iov{out_.data(), out_.size()};
  iovec* p = &iov;
  int cnt = 1;
  const auto st = writev_ready(fd_, *handle_, p, cnt, ec);
  if (st == IoStatus::ok) {
    out_.clear();
    return true;
  }
  if (st == IoStatus::again) out_.erase(0, out_.size() - p->iov_len);
  return false;
}

awaitable<error_code> Connection::write_iov(iovec* iov, int cnt) {
  for (;;) {
    boost::system::error_code ec;
    const auto st = writev_ready(fd_, *handle_, iov, cnt, ec);
    if (st == IoStatus::ok) co_return error_code{};
    if (st != IoStatus::again) co_return ec;
    watchdog_->set_after(shared_.options.limits.send_timeout);
    writing_ = true;
    auto [wec] = co_await handle_->wait_writable(asio::as_tuple(asio::use_awaitable));
    writing_ = false;
    watchdog_->clear();
    if (watchdog_->fired()) co_return make_error_code(core::Errc::timeout);
    if (wec) co_return wec;
  }
}

void Connection::flush_at_batch_end() {
  thread_.poller->at_batch_end([this, alive = alive_](const error_code&) {
    if (!*alive || writing_ || fd_ < 0) return;
    boost::system::error_code ec;
    try_flush(ec);  // what the kernel does not take now goes with the connection's next write
  });
}

void Connection::schedule_flush() {
  if (flush_posted_) return;
  flush_posted_ = true;
  asio::post(thread_.poller->loop(), [this, alive = alive_] {
    if (!*alive) return;
    flush_posted_ = false;
    if (writing_ || fd_ < 0) return;
    boost::system::error_code ec;
    try_flush(ec);  // what the kernel does not take now goes with the connection's next write
  });
}

awaitable<error_code> Connection::flush() {
  boost::system::error_code ec;
  if (try_flush(ec)) co_return error_code{};
  if (ec) co_return ec;
  iovec iov{out_.data(), out_.size()};
  ec = co_await write_iov(&iov, 1);
  out_.clear();
  co_return ec;
}

void Connection::shutdown() {
  if (fd_ < 0) return;
  thread_.poller->remove(handle_);
  handle_ = nullptr;
  ::shutdown(fd_, SHUT_WR);
  ::close(fd_);
  fd_ = -1;
}

// "HTTP/1.1 200 OK", then the Server and Date fields every response carries.
void Connection::append_status_block(unsigned status) {
  out_ += "HTTP/1.1 "sv;
  out_ += status_label(status);
  out_ += ' ';
  out_ += reason_phrase(status);
  out_ += "\r\n"sv;
  out_ += shared_.server_line;
  out_ += date_line();
}

awaitable<void> Connection::reject(unsigned status, std::string_view reason,
                                   std::string_view message) {
  shared_.metrics.rejected.series({reason}).inc();
  // out_ may hold responses to earlier pipelined requests: they go out first, in order.
  const std::string body = error_body(reason, message);
  append_status_block(status);
  out_ += "Content-Type: application/json\r\nConnection: close\r\nContent-Length: "sv;
  out_ += std::to_string(body.size());
  out_ += "\r\n\r\n"sv;
  out_ += body;
  if (co_await flush()) co_return;
  if (status != 408) co_await linger();
}

void Connection::park_buffers() {
  parser_.park_storage(thread_.parser_pool);
  std::size_t cap = 0;
  auto storage = in_.release(cap);
  if (cap == kReadChunk * 2 && thread_.in_pool.size() < PerThread::kMaxPooled)
    thread_.in_pool.push_back(std::move(storage));
  if (out_.capacity() > 0 && thread_.out_pool.size() < PerThread::kMaxPooled) {
    thread_.out_pool.emplace_back();
    thread_.out_pool.back().swap(out_);
  } else {
    std::string().swap(out_);
  }
}

void Connection::unpark_buffers() {
  parser_.unpark_storage(thread_.parser_pool);
  if (!in_.parked()) return;
  if (thread_.in_pool.empty()) {
    in_.adopt(std::make_unique<char[]>(kReadChunk * 2), kReadChunk * 2);
  } else {
    in_.adopt(std::move(thread_.in_pool.back()), kReadChunk * 2);
    thread_.in_pool.pop_back();
  }
  if (!thread_.out_pool.empty()) {
    out_.swap(thread_.out_pool.back());
    thread_.out_pool.pop_back();
  }
  if (out_.capacity() < kReadChunk) out_.reserve(kReadChunk);
}

awaitable<void> Connection::reject_oversized_head() {
  // A request line that alone is over the limit is a target too long (RFC 9110 §15.5.15).
  const auto max = shared_.options.limits.max_header_bytes;
  const std::string limit = std::to_string(max);
  // The head so far: what the parser consumed (all of it once it refused), then the buffer.
  std::size_t line = 0;
  bool line_ended = false;
  for (const auto part : {parser_.seen_head(), in_.readable()}) {
    const auto nl = part.find('\n');
    line += nl == std::string_view::npos ? part.size() : nl;
    if (nl != std::string_view::npos) {
      line_ended = true;
      break;
    }
  }
  if (!line_ended || line > max) {
    co_await reject(414, "uri_too_long", "request target exceeds " + limit + " bytes");
  } else {
    co_await reject(431, "header_too_large", "request header fields exceed " + limit + " bytes");
  }
}

awaitable<void> Connection::linger() {
  if (fd_ < 0) co_return;
  ::shutdown(fd_, SHUT_WR);
  idle_ = true;  // a drain may cut it short
  const auto end = clock_type::now() + kLingerTime;
  for (;;) {
    const auto now = clock_type::now();
    if (now >= end || thread_.draining) break;
    in_.clear();
    if (!in_.reserve(kReadChunk, std::max<std::size_t>(in_.capacity(), kReadChunk))) break;
    if (co_await read_more(std::min(end, now + kLingerWait))) break;
  }
  in_.clear();
  watchdog_->clear();
  watchdog_->reset_fired();
}

void Connection::watch_hangup(Exchange& ex) {
  if (!handle_) return;
  if (handle_->hung_up() && !peer_sent_more()) {
    ex.client_gone_ = true;
    return;
  }
  handle_->watch_hangup(&Connection::on_hangup, &ex);
}

void Connection::on_hangup(void* ctx) {
  auto& ex = *static_cast<Exchange*>(ctx);
  if (ex.conn_.peer_sent_more()) return;
  ex.client_gone_ = true;
  if (auto fn = std::exchange(ex.gone_fn_, nullptr)) fn(ex.gone_ctx_);
}

bool Connection::peer_sent_more() {
  if (!in_.empty()) return true;
  char probe;
  const ssize_t r = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
  return r > 0;  // 0: closed; an error (a reset): gone; EAGAIN after a hang-up: nothing left
}

bool Connection::decide_keep_alive(Exchange& ex) {
  const auto& req = parser_.head();
  const auto& limits = shared_.options.limits;
  bool keep =
      req.keep_alive && !ex.close_ && !thread_.draining && !broken_ &&
      ex.body_error_ == ParseError::none &&
      (limits.max_requests_per_connection == 0 || requests_ < limits.max_requests_per_connection);
  if (keep && !parser_.done()) {
    // The body was not (fully) read. A client waiting for 100 Continue will not send it; a
    // large remainder is cheaper to drop with the connection than to read.
    if (req.expect_continue && !continue_sent_)
      keep = false;
    else if (!req.chunked && req.content_length &&
             *req.content_length - parser_.body_bytes() > kDiscardLimit)
      keep = false;
  }
  keep_alive_ = keep;
  return keep;
}

void Connection::write_head(Exchange& ex, unsigned status, std::string_view content_type,
                            std::span<const Header> headers,
                            std::optional<std::uint64_t> content_length, bool chunked) {
  const auto& req = parser_.head();
  const bool keep = decide_keep_alive(ex);
  append_status_block(status);
  if (!content_type.empty()) {
    out_ += "Content-Type: "sv;
    out_ += content_type;
    out_ += "\r\n"sv;
  }
  for (const auto& h : headers) {
    if (has_crlf(h.name) || has_crlf(h.value) || h.name.empty()) {
      TENX_BUG(false, "response header with CR/LF or empty name dropped");
      continue;
    }
    out_ += h.name;
    out_ += ": "sv;
    out_ += h.value;
    out_ += "\r\n"sv;
  }
  for (const auto& [name, value] : ex.extra_response_headers_) {
    out_ += name;
    out_ += ": "sv;
    out_ += value;
    out_ += "\r\n"sv;
  }
  if (status_has_body(status)) {
    if (content_length) {
      char num[24];
      auto r = std::to_chars(num, num + sizeof num, *content_length);
      out_ += "Content-Length: "sv;
      out_.append(num, r.ptr);
      out_ += "\r\n"sv;
    } else if (chunked) {
      out_ += "Transfer-Encoding: chunked\r\n"sv;
    }
  }
  if (req.version >= 11) {
    if (!keep) out_ += "Connection: close\r\n"sv;
  } else if (keep) {
    out_ += "Connection: keep-alive\r\n"sv;
  }
  out_ += "\r\n"sv;
}

void Connection::respond(Exchange& ex, unsigned status, std::string_view content_type,
                         std::string_view body, std::span<const Header> headers) {
  if (ex.status_ != 0) {
    TENX_BUG(false, "a handler responded twice");
    return;
  }
  ex.status_ = status;
  const std::size_t before = out_.size();
  write_head(ex, status, content_type, headers, body.size(), false);
  const bool with_body = status_has_body(status) && parser_.head().method != Verb::head;
  if (with_body) out_ += body;
  ex.bytes_sent_ = out_.size() - before;
  if (!ex.observers_.empty()) {
    std::vector<Header> all(headers.begin(), headers.end());
    if (!content_type.empty()) all.push_back({"Content-Type", content_type});
    for (auto& o : ex.observers_) {
      o->on_response_head(status, all);
      if (with_body && !body.empty()) o->on_response_body(body);
    }
  }
}

awaitable<error_code> Connection::accept_upgrade(Exchange& ex, std::span<const Header> headers) {
  if (ex.status_ != 0) {
    TENX_BUG(false, "an upgrade accepted after a response started");
    co_return make_error_code(core::Errc::internal);
  }
  ex.status_ = 101;
  ex.upgraded_ = true;
  keep_alive_ = false;
  const std::size_t before = out_.size();
  append_status_block(101);
  for (const auto& h : headers) {
    if (has_crlf(h.name) || has_crlf(h.value) || h.name.empty()) continue;
    out_ += h.name;
    out_ += ": "sv;
    out_ += h.value;
    out_ += "\r\n"sv;
  }
  out_ += "\r\n"sv;
  ex.bytes_sent_ += out_.size() - before;
  co_return co_await flush();
}

Result<std::string_view> Connection::try_tunnel_read() {
  in_.consume(std::exchange(tunnel_taken_, 0));
  if (in_.empty()) {
    in_.clear();
    if (!in_.reserve(kReadChunk, std::max<std::size_t>(in_.capacity(), kReadChunk)))
      return make_error_code(core::Errc::limit_exceeded);
    boost::system::error_code ec;
    switch (read_ready(fd_, *handle_, in_, ec)) {
      case IoStatus::ok:
        break;
      case IoStatus::again:
        return std::string_view{};
      case IoStatus::eof:
        return make_error_code(core::Errc::closed);
      case IoStatus::error:
        return ec;
    }
  }
  const auto v = in_.readable();
  tunnel_taken_ = v.size();
  return v;
}

awaitable<error_code> Connection::tunnel_write(std::string_view bytes) {
  iovec iov{const_cast<char*>(bytes.data()), bytes.size()};
  co_return co_await write_iov(&iov, 1);
}

awaitable<int> Connection::tunnel_wait(core::Poller::Handle& other,
                                       std::chrono::milliseconds idle) {
  if (handle_->readable() || in_.size() > tunnel_taken_) co_return 0;
  watchdog_->set(clock_type::now() + idle);
  auto [ec, which] = co_await thread_.poller->wait_either(*handle_, false, other, false,
                                                          asio::as_tuple(asio::use_awaitable));
  watchdog_->clear();
  if (ec || watchdog_->fired()) co_return -1;
  co_return which;
}

awaitable<bool> Connection::wait_body_or_readable(Exchange& ex, core::Poller::Handle& other) {
  if (parser_.done() || !in_.empty() || handle_->readable() || ex.body_io_error_ ||
      ex.body_error_ != ParseError::none)
    co_return false;
  // A client waiting for 100 Continue sends nothing until it gets it: read_body_some sends it.
  if (parser_.head().expect_continue && !continue_sent_ && ex.status_ == 0) co_return false;
  watchdog_->set(clock_type::now() + shared_.options.limits.body_timeout);
  auto [ec, which] = co_await thread_.poller->wait_either(*handle_, false, other, false,
                                                          asio::as_tuple(asio::use_awaitable));
  watchdog_->clear();
  if (watchdog_->fired()) {  // the body timeout passed while waiting: read_body_some says so
    ex.body_io_error_ = make_error_code(core::Errc::timeout);
    broken_ = true;
    co_return false;
  }
  co_return !ec && which == 1;
}

awaitable<Result<std::string_view>> Connection::read_body_some(Exchange& ex) {
  if (ex.body_error_ != ParseError::none) co_return make_error_code(core::Errc::bad_input);
  if (ex.body_io_error_) co_return ex.body_io_error_;
  const auto& req = parser_.head();
  if (req.expect_continue && !continue_sent_ && ex.status_ == 0 && !parser_.done()) {
    continue_sent_ = true;
    out_ += "HTTP/1.1 100 Continue\r\n\r\n"sv;
    if (auto ec = co_await flush()) co_return ec;
  }
  for (;;) {
    if (parser_.done()) co_return std::string_view{};
    if (!in_.empty()) {
      boost::system::error_code ec;
      bool progressed = false;
      const auto piece = take_body_piece(parser_, in_, ec, progressed);
      if (!piece.empty()) co_return piece;
      if (ec) {
        ex.body_error_ = parser_.classify(ec);
        broken_ = true;
        co_return make_error_code(ex.body_error_ == ParseError::body_too_large
                                      ? core::Errc::limit_exceeded
                                      : core::Errc::bad_input);
      }
      if (progressed) continue;  // a chunk header or trailer was consumed
    }
    if (!in_.reserve(kReadChunk, in_.capacity() > 64 * 1024 ? in_.capacity() : 64 * 1024)) {
      broken_ = true;
      co_return make_error_code(core::Errc::limit_exceeded);
    }
    auto wec = co_await read_more(clock_type::now() + shared_.options.limits.body_timeout);
    watchdog_->clear();
    if (wec) {
      broken_ = true;
      ex.body_io_error_ = wec;
      if (wec != core::Errc::timeout) ex.client_gone_ = true;  // closed or reset mid-body
      co_return wec;
    }
  }
}

awaitable<error_code> Connection::start_response(Exchange& ex, unsigned status,
                                                 std::span<const Header> headers,
                                                 std::optional<std::uint64_t> content_length,
                                                 std::string_view first_body) {
  if (ex.status_ != 0) {
    TENX_BUG(false, "a handler started a response twice");
    co_return make_error_code(core::Errc::internal);
  }
  const auto& req = parser_.head();
  ex.status_ = status;
  ex.streaming_ = true;
  const bool body = status_has_body(status);
  // A HEAD response, 1xx, 204 and 304 carry no body whatever length the head announces, so
  // there is nothing left to send (and nothing to fall short of).
  ex.stream_left_ =
      body && req.method != Verb::head ? content_length : std::optional<std::uint64_t>(0);
  ex.stream_chunked_ = body && !content_length && req.version >= 11;
  if (body && !content_length && req.version < 11) ex.close_ = true;  // close-delimited
  const std::size_t before = out_.size();
  write_head(ex, status, {}, headers, content_length, ex.stream_chunked_);
  ex.bytes_sent_ += out_.size() - before;
  for (auto& o : ex.observers_) o->on_response_head(status, headers);
  // The first piece of body goes out with the head, in one write (a proxied small response
  // costs one sendmsg, as nginx's writev).
  if (!first_body.empty() && ex.stream_left_.value_or(1) > 0) {
    if (ex.stream_left_ && first_body.size() > *ex.stream_left_) {
      TENX_BUG(false, "streamed body longer than its Content-Length");
      first_body = first_body.substr(0, *ex.stream_left_);
    }
    if (ex.stream_left_) *ex.stream_left_ -= first_body.size();
    if (ex.stream_chunked_) {
      char hex[24];
      auto r = std::to_chars(hex, hex + sizeof hex, first_body.size(), 16);
      out_.append(hex, r.ptr);
      out_ += "\r\n"sv;
      out_ += first_body;
      out_ += "\r\n"sv;
    } else {
      out_ += first_body;
    }
    ex.bytes_sent_ += first_body.size();
    for (auto& o : ex.observers_) o->on_response_body(first_body);
  }
  // A response already complete waits in out_ until the end of the readiness batch and goes
  // out with the batch's other sends (core/poller.h, at_batch_end), even if the handler is
  // still busy then; one still streaming goes now.
  if (!ex.stream_chunked_ && ex.stream_left_ == 0u && thread_.poller->in_batch()) {
    flush_at_batch_end();
    co_return error_code{};
  }
  co_return co_await flush();
}

awaitable<error_code> Connection::write_body(Exchange& ex, std::string_view data) {
  if (!ex.streaming_ || ex.stream_ended_) {
    TENX_BUG(false, "write_body without start_response");
    co_return make_error_code(core::Errc::internal);
  }
  if (data.empty() || parser_.head().method == Verb::head || !status_has_body(ex.status_))
    co_return error_code{};
  if (ex.stream_left_) {
    if (data.size() > *ex.stream_left_) {
      TENX_BUG(false, "streamed body longer than its Content-Length");
      data = data.substr(0, *ex.stream_left_);
    }
    *ex.stream_left_ -= data.size();
  }
  ex.bytes_sent_ += data.size();
  for (auto& o : ex.observers_) o->on_response_body(data);
  if (!ex.stream_chunked_) {
    iovec iov{const_cast<char*>(data.data()), data.size()};
    co_return co_await write_iov(&iov, 1);
  }
  char head[24];
  auto r = std::to_chars(head, head + sizeof head - 2, data.size(), 16);
  *r.ptr++ = '\r';
  *r.ptr++ = '\n';
  static const char crlf[] = "\r\n";
  iovec iov[3] = {{head, static_cast<std::size_t>(r.ptr - head)},
                  {const_cast<char*>(data.data()), data.size()},
                  {const_cast<char*>(crlf), 2}};
  co_return co_await write_iov(iov, 3);
}

awaitable<error_code> Connection::end_response(Exchange& ex) {
  if (!ex.streaming_ || ex.stream_ended_) co_return error_code{};
  ex.stream_ended_ = true;
  if (ex.stream_left_ && *ex.stream_left_ > 0) {
    // Fewer bytes than announced: the client can only tell by the connection closing.
    broken_ = true;
    co_return make_error_code(core::Errc::closed);
  }
  if (ex.stream_chunked_ && parser_.head().method != Verb::head) {
    static const char last[] = "0\r\n\r\n";
    iovec iov{const_cast<char*>(last), 5};
    co_return co_await write_iov(&iov, 1);
  }
  co_return error_code{};
}

awaitable<bool> Connection::discard_body(Exchange& ex) {
  std::uint64_t dropped = 0;
  while (!parser_.done()) {
    auto piece = co_await read_body_some(ex);
    if (!piece) co_return false;
    if (piece->empty()) break;
    dropped += piece->size();
    if (dropped > kDiscardLimit) co_return false;
  }
  co_return true;
}

ParseError Connection::skip_buffered_body() {
  while (!parser_.done() && !in_.empty()) {
    boost::system::error_code ec;
    const auto n = parser_.put(in_.readable(), ec);
    in_.consume(n);
    if (ec && ec != boost::beast::http::error::need_more) return parser_.classify(ec);
    if (n == 0) break;
  }
  return ParseError::none;
}

void Connection::finish_exchange(Exchange& ex) {
  if (!ex.observers_.empty()) {
    const bool complete = ex.status_ != 0 && !broken_ && (!ex.streaming_ || ex.stream_ended_);
    for (auto& o : ex.observers_) o->on_response_end(complete);
  }
  const auto& req = parser_.head();
  const auto elapsed = clock_type::now() - ex.started_;
  const auto ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
  const auto method = method_label(req);
  const auto status = status_label(ex.abandoned_ ? 499 : ex.status_);
  if (memo_.method != method.data() || memo_.status != status.data() || memo_.route != ex.route_) {
    memo_.method = method.data();
    memo_.status = status.data();
    memo_.route.assign(ex.route_);
    memo_.requests = shared_.metrics.requests.series({method, ex.route_, status});
    memo_.duration = shared_.metrics.duration.series({method, ex.route_});
  }
  memo_.requests.inc();
  memo_.duration.observe_ns(ns);
  if (auto& log = shared_.options.access_log) {
    std::string line;
    line.reserve(256);
    char ts[40];
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    std::tm tm{};
    ::gmtime_r(&now.tv_sec, &tm);
    const auto len = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
    line += "{\"time\":\""sv;
    line.append(ts, len);
    const auto msec = static_cast<int>(now.tv_nsec / 1'000'000) % 1000;
    const char ms[] = {'.', static_cast<char>('0' + msec / 100),
                       static_cast<char>('0' + msec / 10 % 10), static_cast<char>('0' + msec % 10),
                       'Z'};
    line.append(ms, sizeof ms);
    line += "\",\"remote\":"sv;
    append_json_string(line, peer_address());
    line += ",\"method\":"sv;
    append_json_string(line, req.method_string);
    line += ",\"target\":"sv;
    append_json_string(line, req.target);
    line += ",\"route\":"sv;
    append_json_string(line, ex.route_);
    line += ",\"status\":"sv;
    line += status;
    line += ",\"bytes\":"sv;
    line += std::to_string(ex.bytes_sent_);
    line += ",\"duration_us\":"sv;
    line += std::to_string(ns / 1000);
    line += ",\"user_agent\":"sv;
    append_json_string(line, req.headers.find(Field::user_agent).value_or(""));
    line += '}';
    log->write(line);
  }
}

// The request loop. While a connection waits for its next request, only this frame (the
// head-reading state) is alive: each request's Exchange lives in serve_request()'s frame,
// freed when the answer is done, so an idle keep-alive connection holds no per-request state.
awaitable<void> Connection::run() {
  for (;;) {
    parser_.reset(shared_.parser_limits);
    continue_sent_ = false;
    idle_ = true;
    // ---- read a request head ----
    clock_type::time_point header_deadline{};
    std::size_t blank_bytes = 0;
    for (;;) {
      if (!in_.empty() && (in_.readable()[0] == '\r' || in_.readable()[0] == '\n'))
        skip_blank_lines(blank_bytes);
      if (!in_.empty()) {
        boost::system::error_code ec;
        const auto n = parser_.put(in_.readable(), ec);
        in_.consume(n);
        if (ec && ec != boost::beast::http::error::need_more) {
          co_await refuse_head(ec);
          co_return shutdown();
        }
        if (parser_.header_done()) break;
      }
      if (!out_.empty()) {  // pipelined responses must not wait for the next request
        if (co_await flush()) co_return shutdown();
      }
      const bool partial = !in_.empty() || parser_.got_some();
      if (thread_.draining && !partial) co_return shutdown();
      if (!partial && out_.empty() && !handle_->readable()) {
        begin_idle();
        auto [wec] = co_await handle_->wait_readable(asio::as_tuple(asio::use_awaitable));
        const IdleEnd next = end_idle(wec);
        if (next == IdleEnd::park) co_return park();
        if (next == IdleEnd::close) co_return shutdown();
      }
      if (!in_.reserve(kReadChunk, shared_.options.limits.max_header_bytes + 2 * kReadChunk)) {
        co_await reject_oversized_head();
        co_return shutdown();
      }
      const auto deadline = head_read_deadline(partial, header_deadline);
      if (!deadline) {
        co_await reject(408, "request_timeout", "request head not received in time");
        co_return shutdown();
      }
      if (auto wec = co_await read_more(*deadline)) {
        co_await refuse_head_read(wec, partial);
        co_return shutdown();
      }
      if (header_deadline == clock_type::time_point{})
        header_deadline = clock_type::now() + shared_.options.limits.header_timeout;
    }
    idle_ = false;
    watchdog_->clear();
    ++requests_;
    if (!co_await serve_request()) co_return shutdown();
  }
}

void Connection::skip_blank_lines(std::size_t& skipped) {
  if (in_.empty() || parser_.got_some()) return;
  // RFC 9112 §2.2: ignore empty lines before a request line (some clients send a CRLF after a
  // body). A few bytes only: a stream of them is left to the parser to refuse.
  auto r = in_.readable();
  std::size_t skip = 0;
  while (skip < r.size() && skipped + skip < 8 && (r[skip] == '\r' || r[skip] == '\n')) ++skip;
  in_.consume(skip);
  skipped += skip;
}

awaitable<void> Connection::refuse_head(const boost::system::error_code& ec) {
  switch (parser_.classify(ec)) {
    case ParseError::header_too_large:
      co_await reject_oversized_head();
      break;
    case ParseError::body_too_large:
      co_await reject(413, "body_too_large", too_large_message());
      break;
    case ParseError::not_implemented:
      co_await reject(501, "not_implemented", "unsupported transfer coding");
      break;
    default:
      co_await reject(400, "bad_request", "malformed request: " + ec.message());
  }
}

std::string Connection::too_large_message() const {
  return "request body exceeds " + std::to_string(shared_.options.limits.max_body_bytes) + " bytes";
}

void Connection::begin_idle() {
  // Idle keep-alive: wait for the next request holding no buffers (nginx frees its header
  // buffer too); an idle connection then costs its socket, this object and run()'s frame,
  // until it is parked (park()) and costs its socket's handle and a Parked record.
  park_buffers();
  idle_ = true;
  const auto& limits = shared_.options.limits;
  const auto now = clock_type::now();
  idle_deadline_ = now + limits.idle_timeout;
  const bool parks = limits.idle_park_after < limits.idle_timeout;
  watchdog_->set(parks ? now + limits.idle_park_after : idle_deadline_);
}

Connection::IdleEnd Connection::end_idle(const boost::system::error_code& ec) {
  watchdog_->clear();
  if (watchdog_->fired()) {
    watchdog_->reset_fired();
    if (thread_.draining) return IdleEnd::close;  // the drain's close, not an idle timeout
    // The park point, before the idle timeout: the buffers stay parked, with the connection.
    if (clock_type::now() < idle_deadline_) return IdleEnd::park;
    unpark_buffers();
    shared_.metrics.rejected.series({"idle_timeout"}).inc();
    return IdleEnd::close;
  }
  unpark_buffers();
  return ec ? IdleEnd::close : IdleEnd::serve;  // an error, or cancelled by drain
}

void Connection::park() {
  handle_->clear_hangup_watch();
  ParkedPtr p(new (thread_.parked_pool.take()) Parked(shared_.shared_from_this(), thread_, fd_,
                                                      handle_, peer_, requests_, idle_deadline_));
  fd_ = -1;  // the socket is the record's now: shutdown() and ~Connection leave it
  handle_ = nullptr;
  parked_ = true;
  thread_.parked.push_back(*p);
  Parked::wait(std::move(p));
  thread_.shrink_pools();
  ++thread_.parked_since_trim;
  shared_.arm_trim_timer(thread_);
  shared_.arm_park_timer(thread_);
}

std::optional<clock_type::time_point> Connection::head_read_deadline(
    bool partial, clock_type::time_point& header_deadline) const {
  const auto& limits = shared_.options.limits;
  if (!partial) return clock_type::now() + limits.idle_timeout;
  if (header_deadline == clock_type::time_point{})
    header_deadline = clock_type::now() + limits.header_timeout;
  if (header_deadline <= clock_type::now()) return std::nullopt;
  return header_deadline;
}

awaitable<void> Connection::refuse_head_read(error_code ec, bool partial) {
  if (ec != core::Errc::timeout) co_return;  // closed by the peer, cancelled by drain, an error
  watchdog_->reset_fired();
  if (partial) {
    co_await reject(408, "request_timeout", "request head not received in time");
  } else {
    shared_.metrics.rejected.series({"idle_timeout"}).inc();
  }
}

awaitable<bool> Connection::serve_request() {
  Exchange ex(*this);
  ex.started_ = clock_type::now();
  const std::size_t out_mark = out_.size();
  const auto handler = thread_.handler;  // a reload swaps it; this request keeps its own
  if (!out_.empty()) schedule_flush();
  try {
    co_await (*handler)(ex);
    clear_hangup_watch();
  } catch (const std::exception& e) {
    clear_hangup_watch();
    handler_failed(ex, e);
  }
  answer_if_unanswered(ex);
  if (ex.streaming_ && !ex.stream_ended_) {
    if (!ex.stream_chunked_ && (!ex.stream_left_ || *ex.stream_left_ == 0) && !broken_) {
      ex.stream_ended_ = true;  // close-delimited or complete: nothing more to send
    } else {
      broken_ = true;
    }
  }
  if (!parser_.done() && !ex.streaming_ && ex.body_error_ == ParseError::none)
    check_unread_body(ex, out_mark);
  bool keep = keep_alive_ && !broken_ && !ex.close_ && !ex.upgraded_;
  if (keep && !parser_.done()) {
    if (co_await flush())
      keep = false;
    else
      keep = co_await discard_body(ex);
  }
  finish_exchange(ex);
  if (!keep) {
    const bool unread = !parser_.done() || !in_.empty();
    if (!co_await flush() && unread && !ex.client_gone_ && !ex.abandoned_) co_await linger();
    co_return false;
  }
  if (in_.empty() || out_.size() >= kMaxBatch) {
    if (thread_.poller->in_batch() && !out_.empty()) {
      // Send with the batch's other responses (core/poller.h, at_batch_end).
      co_await thread_.poller->at_batch_end(asio::as_tuple(asio::use_awaitable));
    }
    boost::system::error_code ec;
    if (!try_flush(ec)) {
      if (ec) co_return false;
      if (co_await flush()) co_return false;
    }
  }
  co_return true;
}

void Connection::handler_failed(Exchange& ex, const std::exception& e) {
  TENX_LOG_ERROR("handler failed route={} error=\"{}\"", ex.route_, e.what());
  if (ex.status_ == 0)
    respond(ex, 500, "application/json", error_body("internal", "the handler failed"), {});
  else
    broken_ = true;
}

void Connection::answer_if_unanswered(Exchange& ex) {
  if (ex.status_ != 0) return;
  if (ex.client_gone_) {
    ex.abandoned_ = true;  // nobody to answer: close (logged as 499)
    broken_ = true;
  } else if (ex.body_error_ == ParseError::body_too_large) {
    respond(ex, 413, "application/json", error_body("body_too_large", too_large_message()), {});
  } else if (ex.body_error_ != ParseError::none) {
    respond(ex, 400, "application/json", error_body("bad_request", "malformed request body"), {});
  } else if (ex.body_io_error_ == core::Errc::timeout) {
    respond(ex, 408, "application/json",
            error_body("request_timeout", "request body not received in time"), {});
  } else {
    TENX_BUG(false, "handler returned without responding");
    respond(ex, 500, "application/json", error_body("internal", "the handler did not respond"), {});
  }
}

void Connection::check_unread_body(Exchange& ex, std::size_t out_mark) {
  // The handler answered without reading the body. Check the part already received, as nginx
  // does when it discards a body: a framing error there (a bad chunk size) turns the queued
  // answer into 400 / 413 and the connection closes, so the bytes are never taken for a next
  // request.
  const auto err = skip_buffered_body();
  if (err == ParseError::none) return;
  out_.resize(out_mark);
  ex.status_ = 0;
  ex.bytes_sent_ = 0;
  ex.body_error_ = err;
  broken_ = true;
  if (err == ParseError::body_too_large) {
    respond(ex, 413, "application/json", error_body("body_too_large", too_large_message()), {});
  } else {
    respond(ex, 400, "application/json",
            error_body("bad_request", "malformed request body framing"), {});
  }
}

// ---------------------------------------------------------------------------------------------

awaitable<void> ServerShared::accept_loop(std::size_t i) {
  auto self = shared_from_this();
  auto& t = *threads[i];
  auto& ex = runtime.loop(i);
  for (;;) {
    if (t.listen_fd < 0) co_return;  // drained
    if (!t.listen_handle->readable()) {
      auto [ec] = co_await t.listen_handle->wait_readable(asio::as_tuple(asio::use_awaitable));
      if (ec || t.listen_fd < 0) co_return;
      continue;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int fd = ::accept4(t.listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                             SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        t.listen_handle->clear_readable();
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      // EMFILE and friends: back off briefly instead of spinning.
      TENX_LOG_WARN("accept failed error=\"{}\"", std::strerror(errno));
      asio::steady_timer pause(ex, std::chrono::milliseconds(50));
      co_await pause.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    metrics.accepted.inc();
    if (connections.fetch_add(1, std::memory_order_relaxed) >= options.limits.max_connections) {
      connections.fetch_sub(1, std::memory_order_relaxed);
      metrics.rejected.series({"too_many_connections"}).inc();
      static const std::string busy = [] {
        const std::string body = error_body("too_many_connections", "server at connection limit");
        return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
               "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
               std::to_string(body.size()) + "\r\n\r\n" + body;
      }();
      ::send(fd, busy.data(), busy.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      ::close(fd);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    tcp::endpoint peer;
    if (len <= peer.capacity()) {
      std::memcpy(peer.data(), &ss, len);
      peer.resize(len);
    }
    metrics.active.inc();
    run_connection(t, fd, peer, nullptr, 0);
  }
}

void ServerShared::run_connection(PerThread& t, int fd, const tcp::endpoint& peer,
                                  core::Poller::Handle* handle, std::uint32_t requests) {
  asio::co_spawn(
      t.poller->loop(),
      [self = shared_from_this(), &t, fd, peer, handle, requests]() mutable -> awaitable<void> {
        bool parked = false;  // then the Parked record closes and counts the socket
        try {
          Connection conn(*self, t, fd, peer, handle, requests);
          try {
            co_await conn.run();
          } catch (...) {
            parked = conn.parked();
            throw;
          }
          parked = conn.parked();
        } catch (const std::exception& e) {
          TENX_LOG_ERROR("connection failed error=\"{}\"", e.what());
        }
        if (!parked) self->connection_closed();
      },
      asio::detached);
}

void ServerShared::connection_closed() {
  metrics.active.dec();
  connections.fetch_sub(1, std::memory_order_relaxed);
  connections_changed();
}

void ServerShared::arm_park_timer(PerThread& t) {
  if (t.park_timer_armed || t.parked.empty()) return;
  t.park_timer->expires_at(t.parked.front().deadline);
  t.park_timer->async_wait([weak = weak_from_this(), &t](const error_code& ec) {
    const auto self = weak.lock();
    if (!self) return;  // the server is gone, and t with it
    t.park_timer_armed = false;
    if (!ec) self->expire_parked(t);
  });
  t.park_timer_armed = true;  // after the wait is registered: a throw leaves it unarmed
}

void ServerShared::arm_trim_timer(PerThread& t) {
  if (t.trim_timer_armed || t.draining) return;
  t.trim_timer->expires_after(std::chrono::milliseconds(100));
  t.trim_timer->async_wait([weak = weak_from_this(), &t](const error_code& ec) {
    const auto self = weak.lock();
    if (!self) return;
    t.trim_timer_armed = false;
    if (ec || t.parked_since_trim < PerThread::kTrimAfterParked) return;
    t.parked_since_trim = 0;
    ::malloc_trim(0);
  });
  t.trim_timer_armed = true;
}

void ServerShared::expire_parked(PerThread& t) {
  const auto now = clock_type::now();
  while (!t.parked.empty() && t.parked.front().deadline <= now) {
    Parked& p = t.parked.front();
    p.unlink();
    p.expired = true;
    p.handle->cancel();  // its callback runs with operation_aborted and closes it
  }
  arm_park_timer(t);
}

void ServerShared::drain(std::size_t i) {
  auto& t = *threads[i];
  t.draining = true;
  if (t.listen_fd >= 0) {
    t.poller->remove(t.listen_handle);  // wakes the accept loop with operation_aborted
    t.listen_handle = nullptr;
    ::close(t.listen_fd);
    t.listen_fd = -1;
  }
  if (t.log_timer) t.log_timer->cancel();
  std::size_t n = 0;
  for (auto& c : t.connections) {
    c.close_if_idle();
    ++n;
  }
  while (!t.parked.empty()) {
    Parked& p = t.parked.front();
    p.unlink();
    p.handle->cancel();
    ++n;
  }
  if (t.park_timer) t.park_timer->cancel();
  if (t.trim_timer) t.trim_timer->cancel();
  TENX_LOG_INFO("drain thread={} open_connections={}", i, n);
  if (options.access_log) options.access_log->flush_local();
}

}  // namespace detail

// ---- Exchange ----

const RequestHead& Exchange::request() const { return conn_.request(); }
const tcp::endpoint& Exchange::peer() const { return conn_.peer(); }
std::string_view Exchange::peer_address() const { return conn_.peer_address(); }
std::string_view Exchange::path() const {
  return path_.empty() ? conn_.request().path() : std::string_view(path_);
}

std::optional<std::string_view> Exchange::param(std::string_view name) const {
  for (const auto& [k, v] : params_)
    if (k == name) return v;
  return std::nullopt;
}

awaitable<Result<std::string_view>> Exchange::read_body_some() {
  return conn_.read_body_some(*this);
}

bool Exchange::upgrade_requested() const {
  const auto& req = conn_.request();
  return !req.has_body() && req.headers.find(Field::upgrade) &&
         field_has_token(req.headers, Field::connection, "upgrade");
}

awaitable<error_code> Exchange::accept_upgrade(std::span<const Header> headers) {
  return conn_.accept_upgrade(*this, headers);
}
Result<std::string_view> Exchange::try_tunnel_read() { return conn_.try_tunnel_read(); }
awaitable<error_code> Exchange::tunnel_write(std::string_view bytes) {
  return conn_.tunnel_write(bytes);
}
awaitable<int> Exchange::tunnel_wait(core::Poller::Handle& other, std::chrono::milliseconds idle) {
  return conn_.tunnel_wait(other, idle);
}

awaitable<bool> Exchange::wait_body_or_readable(core::Poller::Handle& other) {
  return conn_.wait_body_or_readable(*this, other);
}

awaitable<error_code> Exchange::read_body(std::string& out) {
  for (;;) {
    auto piece = co_await conn_.read_body_some(*this);
    if (!piece) co_return piece.error();
    if (piece->empty()) co_return error_code{};
    out.append(*piece);
  }
}

bool Exchange::body_done() const { return conn_.body_done(); }

void Exchange::watch_client(void (*on_gone)(void*), void* ctx) {
  gone_fn_ = on_gone;
  gone_ctx_ = ctx;
  conn_.watch_hangup(*this);
}

void Exchange::unwatch_client() {
  gone_fn_ = nullptr;
  conn_.clear_hangup_watch();
}

void Exchange::respond(unsigned status, std::string_view content_type, std::string_view body,
                       std::span<const Header> headers) {
  conn_.respond(*this, status, content_type, body, headers);
}

void Exchange::respond_error(unsigned status, std::string_view code, std::string_view message,
                             std::span<const Header> headers) {
  conn_.respond(*this, status, "application/json", error_body(code, message), headers);
}

awaitable<error_code> Exchange::start_response(unsigned status, std::span<const Header> headers,
                                               std::optional<std::uint64_t> content_length,
                                               std::string_view first_body) {
  return conn_.start_response(*this, status, headers, content_length, first_body);
}

awaitable<error_code> Exchange::write_body(std::string_view data) {
  return conn_.write_body(*this, data);
}

awaitable<error_code> Exchange::end_response() { return conn_.end_response(*this); }

bool Exchange::try_end_response() {
  if (!streaming_ || stream_ended_) return true;
  if (stream_chunked_ && conn_.request().method != Verb::head) return false;  // "0\r\n\r\n"
  if (stream_left_ && *stream_left_ > 0) return false;  // short: end_response reports it
  stream_ended_ = true;
  return true;
}

// ---- Server ----

Server::Server(core::Runtime& runtime, ServerOptions options, Handler handler)
    : shared_(std::make_shared<detail::ServerShared>(runtime, std::move(options),
                                                     std::move(handler))) {}

Server::~Server() = default;

void Server::start() {
  auto& s = *shared_;
  auto ep = core::parse_endpoint(s.options.listen);
  core::check_port_free(ep);  // only this process's workers share the port
  for (std::size_t i = 0; i < s.runtime.threads(); ++i) {
    auto acceptor = core::listen_reuseport(s.runtime.loop(i), ep);
    if (i == 0) {
      ep = acceptor.local_endpoint();  // the real port when asked for port 0
      s.bound = ep;
    }
    auto& t = *s.threads[i];
    t.poller = &s.runtime.poller(i);
    t.listen_fd = acceptor.release();  // from here on readiness comes from the Poller
    t.listen_handle = t.poller->add(t.listen_fd);
    // Made here, not when first needed: Connection::park() must not throw once the Parked
    // record owns the socket.
    t.park_timer = std::make_unique<asio::steady_timer>(s.runtime.loop(i));
    t.trim_timer = std::make_unique<asio::steady_timer>(s.runtime.loop(i));
  }
  for (std::size_t i = 0; i < s.runtime.threads(); ++i) {
    asio::co_spawn(s.runtime.loop(i), s.accept_loop(i), asio::detached);
    if (s.options.access_log) {
      // Flush this thread's access-log buffer every second until drain.
      auto timer = std::make_unique<asio::steady_timer>(s.runtime.loop(i));
      auto* raw = timer.get();
      s.threads[i]->log_timer = std::move(timer);
      asio::co_spawn(
          s.runtime.loop(i),
          [raw, log = s.options.access_log]() -> awaitable<void> {
            for (;;) {
              raw->expires_after(std::chrono::seconds(1));
              auto [ec] = co_await raw->async_wait(asio::as_tuple(asio::use_awaitable));
              log->flush_local();
              if (ec) co_return;
            }
          },
          asio::detached);
    }
  }
  std::weak_ptr<detail::ServerShared> weak = shared_;
  s.runtime.on_drain([weak] {
    if (auto self = weak.lock())
      self->runtime.for_each_loop([weak](std::size_t i) {
        if (auto s2 = weak.lock()) s2->drain(i);
      });
  });
}

tcp::endpoint Server::local_endpoint() const { return shared_->bound; }

void Server::set_handler(Handler handler, std::function<void()> on_installed) {
  auto h = std::make_shared<const Handler>(std::move(handler));
  std::weak_ptr<detail::ServerShared> weak = shared_;
  auto left = std::make_shared<std::atomic<std::size_t>>(shared_->threads.size());
  auto done = std::make_shared<std::function<void()>>(std::move(on_installed));
  shared_->runtime.for_each_loop([weak, h, left, done](std::size_t i) {
    if (auto s = weak.lock()) s->threads[i]->handler = h;
    if (left->fetch_sub(1) == 1 && *done) (*done)();
  });
}

std::size_t Server::active_connections() const {
  return shared_->connections.load(std::memory_order_relaxed);
}

std::size_t Server::parked_connections() const {
  return shared_->parked.load(std::memory_order_relaxed);
}

}  // namespace tenx::http
