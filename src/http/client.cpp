#include "http/client.h"

#include "core/check.h"

#include "http/detail/socket_io.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/error.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/query.hpp>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <utility>

namespace tenx::http {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;

std::optional<std::string_view> ClientResponse::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return std::string_view(v);
  return std::nullopt;
}

ClientConnection::ClientConnection(core::Poller& poller, tcp::endpoint ep,
                                   const ClientOptions& options)
    : poller_(poller),
      endpoint_(std::move(ep)),
      options_(options),
      watchdog_(std::make_shared<detail::Watchdog>(poller.loop().get_executor(),
                                                   [this] {
                                                     if (handle_) handle_->cancel();
                                                   })),
      in_(8 * 1024) {}

ClientConnection::~ClientConnection() {
  watchdog_->stop();
  close();
}

void ClientConnection::close() {
  if (fd_ < 0) return;
  poller_.remove(handle_);
  handle_ = nullptr;
  ::close(fd_);
  fd_ = -1;
}

awaitable<error_code> ClientConnection::connect() {
  fd_ = ::socket(endpoint_.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    failed_ = true;
    co_return error_code(errno, boost::system::system_category());
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  const int rc = ::connect(fd_, endpoint_.data(), static_cast<socklen_t>(endpoint_.size()));
  const int connect_errno = rc == 0 ? 0 : errno;
  if (rc != 0 && connect_errno != EINPROGRESS) {
    failed_ = true;
    close();
    co_return error_code(connect_errno, boost::system::system_category());
  }
  handle_ = poller_.add(fd_);
  if (rc != 0) {
    // In progress: the connection is made (or refused) when the socket turns writable.
    handle_->clear_writable();
    watchdog_->set_after(options_.connect_timeout);
    auto [ec] = co_await handle_->wait_writable(asio::as_tuple(asio::use_awaitable));
    watchdog_->clear();
    if (watchdog_->fired()) {
      failed_ = true;
      co_return make_error_code(core::Errc::timeout);
    }
    if (ec) {
      failed_ = true;
      co_return ec;
    }
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      failed_ = true;
      co_return error_code(err, boost::system::system_category());
    }
  }
  connected_ = true;
  co_return error_code{};
}

bool ClientConnection::begin_exchange() {
  if (!connected_ || failed_) return false;
  if (uses_ > 0) {
    // A pooled connection: the server may have closed it, or sent bytes we never asked for.
    // Its socket stays registered while idle, so either shows as a readiness edge (as nginx
    // keeps the read event of a cached connection): no system call when nothing happened.
    if (handle_->hung_up()) return false;
    if (handle_->readable()) {
      char probe;
      const ssize_t r = ::recv(fd_, &probe, 1, MSG_PEEK | MSG_DONTWAIT);
      if (r >= 0) return false;  // 0: closed; >0: stray bytes
      if (errno != EAGAIN && errno != EWOULDBLOCK) return false;
      handle_->clear_readable();
    }
  }
  ++uses_;
  got_bytes_ = false;
  sent_any_ = false;
  head_read_ = false;
  total_deadline_ = clock_type::time_point::max();
  in_.clear();
  return true;
}

void ClientConnection::mark_idle() {
  idle_since_ = clock_type::now();
  // The timer wait in flight stays (the Watchdog re-arms lazily): cancelling it here and
  // waiting again on the next exchange cost a timer operation, a completion and an allocation
  // per request. It ends when it fires (within read_timeout of the last exchange) or when the
  // pool is cleared (a drain stops pooling: Client::stop_pooling).
  watchdog_->clear();
}

bool ClientConnection::reusable() const {
  return connected_ && !failed_ && head_read_ && parser_.done() && parser_.head().keep_alive &&
         !parser_.need_eof() && in_.empty();
}

namespace {
// The non-empty parts as an iovec array (at most 8: a head, chunk framing and a piece).
int make_iov(std::span<const std::string_view> parts, iovec (&iov)[8]) {
  int cnt = 0;
  for (auto p : parts) {
    if (p.empty()) continue;
    if (cnt == 8) {
      TENX_BUG(false, "ClientConnection writes take at most 8 parts");
      break;
    }
    iov[cnt++] = {const_cast<char*>(p.data()), p.size()};
  }
  return cnt;
}

std::size_t iov_bytes(const iovec* iov, int cnt) {
  std::size_t n = 0;
  for (int i = 0; i < cnt; ++i) n += iov[i].iov_len;
  return n;
}
}  // namespace

awaitable<error_code> ClientConnection::write_iov(iovec* iov, int cnt) {
  for (;;) {
    boost::system::error_code ec;
    const auto before = iov_bytes(iov, cnt);
    const auto st = detail::writev_ready(fd_, *handle_, iov, cnt, ec);
    if (st == detail::IoStatus::ok || iov_bytes(iov, cnt) < before) sent_any_ = true;
    if (st == detail::IoStatus::ok) co_return error_code{};
    if (st != detail::IoStatus::again) {
      failed_ = true;
      co_return ec;
    }
    if (auto wec = co_await wait_writable()) co_return wec;
  }
}

awaitable<error_code> ClientConnection::write(std::span<const std::string_view> parts) {
  iovec iov[8];
  const int cnt = make_iov(parts, iov);
  co_return co_await write_iov(iov, cnt);
}

bool ClientConnection::try_write(std::span<const std::string_view> parts, error_code& ec) {
  ec = {};
  iovec iov[8];
  int cnt = make_iov(parts, iov);
  iovec* cur = iov;
  const auto before = iov_bytes(cur, cnt);
  const auto st = detail::writev_ready(fd_, *handle_, cur, cnt, ec);
  if (st == detail::IoStatus::ok || iov_bytes(cur, cnt) < before) sent_any_ = true;
  if (st == detail::IoStatus::error) failed_ = true;
  if (st != detail::IoStatus::again) return true;
  pending_.clear();
  for (int i = 0; i < cnt; ++i)
    pending_.append(static_cast<const char*>(cur[i].iov_base), cur[i].iov_len);
  return false;
}

awaitable<error_code> ClientConnection::write_pending() {
  iovec iov{pending_.data(), pending_.size()};
  auto ec = co_await write_iov(&iov, 1);
  pending_.clear();
  co_return ec;
}

bool ClientConnection::try_body_piece(std::string_view& piece, error_code& ec) {
  ec = {};
  piece = {};
  if (parser_.done()) return true;
  if (in_.empty()) return false;
  bool progressed = false;
  boost::system::error_code pec;
  piece = take_body_piece(parser_, in_, pec, progressed);
  if (!piece.empty()) return true;
  if (pec) {
    failed_ = true;
    ec = make_error_code(core::Errc::bad_input);
    return true;
  }
  if (parser_.done()) return true;
  return false;  // a chunk header or partial bytes: the coroutine path continues
}

// A wait for readiness is bounded by the read timeout and the exchange's deadline:
// arm_wait() before it, wait_outcome() after (timeout if the watchdog fired).
void ClientConnection::arm_wait() {
  watchdog_->set(std::min(clock_type::now() + options_.read_timeout, total_deadline_));
}

error_code ClientConnection::wait_outcome(error_code ec) {
  watchdog_->clear();
  if (watchdog_->fired()) ec = make_error_code(core::Errc::timeout);
  if (ec) failed_ = true;
  return ec;
}

awaitable<error_code> ClientConnection::wait_writable() {
  watchdog_->set(std::min(clock_type::now() + options_.send_timeout, total_deadline_));
  if (!watch_response_) {
    auto [ec] = co_await handle_->wait_writable(asio::as_tuple(asio::use_awaitable));
    co_return wait_outcome(ec);
  }
  for (;;) {
    auto [ec, which] = co_await poller_.wait_either(*handle_, true, *handle_, false,
                                                    asio::as_tuple(asio::use_awaitable));
    if (ec || which == 0) co_return wait_outcome(ec);
    if (response_waiting()) {  // the server answered: stop sending
      watchdog_->clear();
      co_return make_error_code(asio::error::operation_aborted);
    }
    // A readable flag left from before, now cleared by the read that found nothing.
  }
}

bool ClientConnection::response_waiting(bool after_send_error) {
  if (!in_.empty()) return true;
  if (!handle_) return false;
  if (after_send_error) handle_->assume_readable();
  if (!handle_->readable() && !handle_->hung_up()) return false;
  error_code ec;
  return try_fill(ec);  // bytes, a close or an error: read_head() tells which
}

void ClientConnection::abort() {
  failed_ = true;
  if (handle_) handle_->cancel();
}

bool ClientConnection::try_fill(error_code& ec) {
  if (!in_.reserve(4096, static_cast<std::size_t>(options_.max_header_bytes) + 64 * 1024)) {
    failed_ = true;
    ec = make_error_code(core::Errc::limit_exceeded);
    return true;
  }
  boost::system::error_code rec;
  const auto st = detail::read_ready(fd_, *handle_, in_, rec);
  switch (st) {
    case detail::IoStatus::ok:
      got_bytes_ = true;
      ec = {};
      return true;
    case detail::IoStatus::eof:
      ec = make_error_code(core::Errc::closed);
      return true;
    case detail::IoStatus::error:
      failed_ = true;
      ec = rec;
      return true;
    case detail::IoStatus::again:
      break;
  }
  return false;
}

awaitable<Result<const ResponseHead*>> ClientConnection::read_head(bool head_request) {
  ParserLimits limits;
  limits.max_header_bytes = options_.max_header_bytes;
  limits.max_body_bytes = std::nullopt;
  for (;;) {
    parser_.reset(limits, head_request);
    for (;;) {
      if (!in_.empty()) {
        boost::system::error_code ec;
        const auto n = parser_.put(in_.readable(), ec);
        in_.consume(n);
        if (ec && ec != boost::beast::http::error::need_more) {
          failed_ = true;
          co_return make_error_code(parser_.classify(ec) == ParseError::header_too_large
                                        ? core::Errc::limit_exceeded
                                        : core::Errc::bad_input);
        }
        if (parser_.header_done()) break;
      }
      // Reads inline and waits on the Poller directly: no coroutine frame per read or wait.
      error_code ec;
      while (!try_fill(ec)) {
        arm_wait();
        auto [wec] = co_await handle_->wait_readable(asio::as_tuple(asio::use_awaitable));
        if ((ec = wait_outcome(wec))) break;
      }
      if (ec) {
        failed_ = true;
        co_return ec;
      }
    }
    const auto status = parser_.head().status;
    if (status >= 100 && status < 200 && status != 101) continue;  // interim: 100 Continue etc.
    head_read_ = true;
    co_return &parser_.head();
  }
}

awaitable<Result<std::string_view>> ClientConnection::read_body_some() {
  for (;;) {
    if (parser_.done()) co_return std::string_view{};
    if (!in_.empty()) {
      boost::system::error_code ec;
      bool progressed = false;
      const auto piece = take_body_piece(parser_, in_, ec, progressed);
      if (!piece.empty()) co_return piece;
      if (ec) {
        failed_ = true;
        co_return make_error_code(core::Errc::bad_input);
      }
      if (progressed) continue;
    }
    error_code ec;
    while (!try_fill(ec)) {
      arm_wait();
      auto [wec] = co_await handle_->wait_readable(asio::as_tuple(asio::use_awaitable));
      if ((ec = wait_outcome(wec))) break;
    }
    if (ec == core::Errc::closed) {
      if (parser_.need_eof()) {  // body delimited by close: the end
        boost::system::error_code eec;
        parser_.put_eof(eec);
        failed_ = true;  // never reuse
        co_return std::string_view{};
      }
      failed_ = true;
      co_return ec;  // truncated
    }
    if (ec) co_return ec;
  }
}

Result<std::string_view> ClientConnection::try_raw_read() {
  failed_ = true;  // a tunnelled connection is never pooled
  in_.consume(std::exchange(raw_taken_, 0));
  if (in_.empty()) {
    in_.clear();
    error_code ec;
    if (!try_fill(ec)) return std::string_view{};
    if (ec) return ec;
  }
  const auto v = in_.readable();
  raw_taken_ = v.size();
  return v;
}

// ---- Client ----

namespace {
core::Poller* poller_for(const asio::any_io_executor& ex, std::unique_ptr<core::Poller>& own) {
  auto& ctx = static_cast<asio::io_context&>(asio::query(ex, asio::execution::context));
  if (auto* p = core::Poller::current(); p && &p->loop() == &ctx) return p;
  own = std::make_unique<core::Poller>(ctx);
  return own.get();
}
}  // namespace

Client::Client(const asio::any_io_executor& ex, ClientOptions options)
    : poller_(poller_for(ex, own_poller_)), options_(options) {}

Client::Client(core::Poller& poller, ClientOptions options) : poller_(&poller), options_(options) {}

Client::~Client() {
  // A Client is usually destroyed by a coroutine that its own poller resumed inline (from
  // Poller::on_ready): destroying that poller here would pull it from under its own batch.
  // Its connections close now; the poller itself goes later, from the loop.
  idle_.clear();
  if (own_poller_) {
    auto& loop = own_poller_->loop();
    asio::post(loop, [p = std::shared_ptr<core::Poller>(std::move(own_poller_))] {});
  }
}

void Client::close_idle_except(std::span<const tcp::endpoint> keep) {
  std::erase_if(idle_, [&](const auto& entry) {
    return std::find(keep.begin(), keep.end(), entry.first) == keep.end();
  });
}

std::size_t Client::idle_connections() const {
  std::size_t n = 0;
  for (const auto& [ep, q] : idle_) n += q.size();
  return n;
}

void Client::write_request_head(std::string& out, const ClientRequest& req,
                                const tcp::endpoint& ep) {
  auto method = boost::beast::http::to_string(req.method);
  out.append(method.data(), method.size());
  out += ' ';
  out += req.target;
  out += " HTTP/1.1\r\n";
  bool has_host = false, has_length = false, has_te = false;
  for (const auto& h : req.headers) {
    if (h.name.find_first_of("\r\n") != std::string_view::npos ||
        h.value.find_first_of("\r\n") != std::string_view::npos)
      continue;  // never let a value split the head
    has_host = has_host || iequals(h.name, "host");
    has_length = has_length || iequals(h.name, "content-length");
    has_te = has_te || iequals(h.name, "transfer-encoding");
    out += h.name;
    out += ": ";
    out += h.value;
    out += "\r\n";
  }
  if (!has_host) {
    out += "Host: ";
    if (ep.address().is_v6()) {
      out += '[';
      out += ep.address().to_string();
      out += ']';
    } else {
      out += ep.address().to_string();
    }
    out += ':';
    out += std::to_string(ep.port());
    out += "\r\n";
  }
  const bool body_method =
      req.method == Verb::post || req.method == Verb::put || req.method == Verb::patch;
  if (!has_length && !has_te && (!req.body.empty() || body_method)) {
    out += "Content-Length: ";
    out += std::to_string(req.body.size());
    out += "\r\n";
  }
  out += "\r\n";
}

std::size_t Client::EndpointHash::operator()(const tcp::endpoint& ep) const noexcept {
  const auto port = static_cast<std::size_t>(ep.port());
  const auto& a = ep.address();
  if (a.is_v4()) return (static_cast<std::size_t>(a.to_v4().to_uint()) << 16) ^ port;
  const auto bytes = a.to_v6().to_bytes();
  std::uint64_t hi = 0, lo = 0;
  std::memcpy(&hi, bytes.data(), 8);
  std::memcpy(&lo, bytes.data() + 8, 8);
  return static_cast<std::size_t>((hi * 0x9E3779B97F4A7C15ULL) ^ lo ^ (port << 48));
}

std::unique_ptr<ClientConnection> Client::try_acquire(const tcp::endpoint& ep) {
  if (auto it = idle_.find(ep); it != idle_.end()) {
    auto& q = it->second;
    const auto now = clock_type::now();
    while (!q.empty()) {
      auto c = std::move(q.back());  // most recently used first: warmest, least likely stale
      q.pop_back();
      if (now - c->idle_since() > options_.idle_timeout) continue;
      if (c->begin_exchange()) return c;
    }
  }
  return nullptr;
}

awaitable<Result<std::unique_ptr<ClientConnection>>> Client::acquire(const tcp::endpoint& ep) {
  if (auto c = try_acquire(ep)) co_return c;
  auto c = std::make_unique<ClientConnection>(*poller_, ep, options_);
  if (auto ec = co_await c->connect()) co_return ec;
  c->begin_exchange();
  co_return c;
}

void Client::stop_pooling() {
  pooling_ = false;
  idle_.clear();
}

void Client::release(std::unique_ptr<ClientConnection> c) {
  if (!c || !pooling_ || !c->reusable()) return;
  auto& q = idle_[c->endpoint()];
  if (q.size() >= options_.max_idle_per_upstream) return;
  c->mark_idle();
  q.push_back(std::move(c));
}

awaitable<Result<ClientResponse>> Client::attempt(const tcp::endpoint& ep, const ClientRequest& req,
                                                  bool fresh, bool& retryable) {
  retryable = false;
  std::unique_ptr<ClientConnection> c;
  if (fresh) {
    c = std::make_unique<ClientConnection>(*poller_, ep, options_);
    if (auto ec = co_await c->connect()) co_return ec;
    c->begin_exchange();
  } else {
    auto acquired = co_await acquire(ep);
    if (!acquired) co_return acquired.error();
    c = std::move(*acquired);
  }
  c->set_total_deadline(clock_type::now() + options_.total_timeout);
  std::string head;
  head.reserve(256);
  write_request_head(head, req, ep);
  const std::string_view parts[] = {head, req.body};
  ClientResponse resp;
  resp.reused_connection = c->reused();
  if (auto ec = co_await c->write(parts)) {
    if (c->reused() && !c->got_response_bytes()) {
      retryable = true;
      co_return make_error_code(core::Errc::closed);
    }
    co_return ec;
  }
  auto h = co_await c->read_head(req.method == Verb::head);
  if (!h) {
    if (c->reused() && !c->got_response_bytes() && h.error() == core::Errc::closed) {
      retryable = true;
      co_return make_error_code(core::Errc::closed);
    }
    co_return h.error();
  }
  resp.status = (*h)->status;
  for (const auto& f : (*h)->headers) resp.headers.emplace_back(f.name, f.value);
  for (;;) {
    auto piece = co_await c->read_body_some();
    if (!piece) co_return piece.error();
    if (piece->empty()) break;
    if (resp.body.size() + piece->size() > options_.max_body_bytes)
      co_return make_error_code(core::Errc::limit_exceeded);
    resp.body.append(*piece);
  }
  release(std::move(c));
  co_return resp;
}

awaitable<Result<ClientResponse>> Client::request(const tcp::endpoint& ep,
                                                  const ClientRequest& req) {
  bool retryable = false;
  auto r = co_await attempt(ep, req, false, retryable);
  const bool idempotent = req.method == Verb::get || req.method == Verb::head ||
                          req.method == Verb::options || req.method == Verb::put ||
                          req.method == Verb::delete_ || req.method == Verb::trace;
  // A pooled connection the server closed just as we reused it: one retry on a new one. Not
  // after a truncated response or a close on a fresh connection, which Errc::closed also means.
  if (!r && retryable && idempotent) r = co_await attempt(ep, req, true, retryable);
  co_return r;
}

}  // namespace tenx::http
