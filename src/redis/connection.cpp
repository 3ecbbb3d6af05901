#include "redis/connection.h"

#include "core/log.h"
#include "redis/errors.h"
#include "redis/metrics.h"

#include <fmt/format.h>
#include <boost/asio/post.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>

namespace tenx::redis {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;

std::uint64_t next_random(std::uint64_t& s) {  // xorshift64*: backoff jitter only
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  return s * 0x2545F4914F6CDD1DULL;
}

bool is_push(const Reply& r) {
  if (!r.is_array() || r.elements().empty()) return false;
  const auto& kind = r.elements()[0].text();
  return kind == "message" || kind == "pmessage";
}
}  // namespace

std::chrono::milliseconds reconnect_delay(const Options& o, unsigned attempt, double unit) {
  const double ceiling = std::min(
      static_cast<double>(o.reconnect_max.count()),
      static_cast<double>(o.reconnect_min.count()) * std::pow(2.0, std::min(attempt, 30U)));
  const auto ms = static_cast<std::int64_t>(ceiling * std::clamp(unit, 0.0, 1.0));
  return std::chrono::milliseconds(std::max<std::int64_t>(1, ms));
}

Connection::Connection(core::Poller& poller, Options options, Metrics& metrics, Events events,
                       bool subscriber)
    : poller_(poller),
      options_(std::move(options)),
      metrics_(metrics),
      events_(std::move(events)),
      subscriber_(subscriber),
      timer_(poller.loop()),
      sweep_(poller.loop()),
      resolver_(poller.loop()),
      rng_(static_cast<std::uint64_t>(steady::now().time_since_epoch().count()) | 1) {}

Connection::~Connection() {
  close_socket();
  for (auto& p : pending_)
    if (p.handler && !p.internal) metrics_.in_flight(-1);
  // Handlers still queued are destroyed, not called: their coroutines are being torn down too
  // (the owner is destroyed on its loop after the work that used it).
}

void Connection::start() {
  if (state_ == State::idle) begin_connect();
}

void Connection::close() {
  if (state_ == State::closed || state_ == State::closing) return;
  const bool idle_socket = pending_.empty() || state_ != State::ready;
  timer_.cancel();
  resolver_.cancel();
  if (state_ != State::ready || idle_socket) {
    state_ = State::closing;
    fail(make_error_code(Errc::disconnected));
    return;
  }
  state_ = State::closing;  // the socket closes once the replies are in (maybe_finish_close)
}

void Connection::break_for_test() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_RDWR);
}

// ---- commands ----

void Connection::submit(const Command& cmd, ReplyHandler handler,
                        std::chrono::milliseconds timeout) {
  switch (state_) {
    case State::backoff:
    case State::closing:
    case State::closed:
      fail_soon(std::move(handler), Errc::disconnected, cmd.name());
      return;
    default:
      break;
  }
  if (pending_.size() >= options_.max_in_flight) {
    fail_soon(std::move(handler), Errc::overloaded, cmd.name());
    return;
  }
  const auto now = steady::now();
  pending_.push_back(Pending{std::move(handler), std::string(cmd.name()), now,
                             now + (timeout.count() > 0 ? timeout : options_.command_timeout)});
  metrics_.in_flight(1);
  cmd.append_to(out_);
  arm_sweep();
  if (state_ == State::idle) {
    begin_connect();
  } else if (state_ == State::ready) {
    schedule_flush();
  }
}

void Connection::fail_soon(ReplyHandler handler, Errc e, std::string_view name) {
  // Not inline: the caller is inside its own co_await (async_initiate).
  metrics_.command(name, make_error_code(e), false, {}, false);
  asio::post(poller_.loop(), [h = std::move(handler), e]() mutable { h(make_error_code(e), {}); });
}

void Connection::queue_internal(const Command& cmd, std::function<void(Reply&&)> done, bool front) {
  const auto now = steady::now();
  Pending p{ReplyHandler([done = std::move(done)](const error_code& ec, Reply r) {
              if (!ec) done(std::move(r));
            }),
            std::string(cmd.name()), now, now + options_.connect_timeout, true};
  std::string bytes;
  cmd.append_to(bytes);
  if (front) {
    pending_.push_front(std::move(p));
    out_.insert(out_written_, bytes);
  } else {
    pending_.push_back(std::move(p));
    out_ += bytes;
  }
}

void Connection::complete(Pending& p, const error_code& ec, Reply r) {
  if (!p.handler) return;
  if (!p.internal) {
    metrics_.in_flight(-1);
    metrics_.command(p.name, ec, !ec && r.is_error(), steady::now() - p.started, !ec);
  }
  p.handler(ec, std::move(r));
}

// ---- connecting ----

void Connection::begin_connect() {
  state_ = State::connecting;
  handshaken_ = false;
  const auto epoch = ++epoch_;
  std::weak_ptr<Connection> weak = weak_from_this();
  timer_.expires_after(options_.connect_timeout);
  timer_.async_wait([weak, epoch](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->epoch_ != epoch || self->state_ != State::connecting) return;
    if (self->handshaken_) return;
    self->log_failure(
        fmt::format("no connection within {} ms", self->options_.connect_timeout.count()));
    self->fail(make_error_code(Errc::timeout));
  });
  error_code ec;
  const auto address = asio::ip::make_address(options_.url.host, ec);
  if (!ec) {
    connect_to({address, options_.url.port});
    return;
  }
  resolver_.async_resolve(
      options_.url.host, std::to_string(options_.url.port),
      [weak, epoch](const error_code& rec, const asio::ip::tcp::resolver::results_type& results) {
        auto self = weak.lock();
        if (!self || self->epoch_ != epoch || self->state_ != State::connecting) return;
        if (rec || results.empty()) {
          self->log_failure(
              fmt::format("cannot resolve the host: {}", rec ? rec.message() : "no address"));
          self->fail(rec ? rec : make_error_code(Errc::disconnected));
          return;
        }
        self->connect_to(results.begin()->endpoint());
      });
}

void Connection::connect_to(const asio::ip::tcp::endpoint& ep) {
  fd_ = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    fail(error_code(errno, boost::system::system_category()));
    return;
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  ::setsockopt(fd_, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
  const int rc = ::connect(fd_, ep.data(), static_cast<socklen_t>(ep.size()));
  if (rc != 0 && errno != EINPROGRESS) {
    const error_code ec(errno, boost::system::system_category());
    log_failure(fmt::format("cannot connect: {}", ec.message()));
    fail(ec);
    return;
  }
  handle_ = poller_.add(fd_);
  if (rc == 0) {
    on_connected();
    return;
  }
  handle_->clear_writable();
  std::weak_ptr<Connection> weak = weak_from_this();
  const auto epoch = epoch_;
  write_waiting_ = true;
  handle_->wait_writable([weak, epoch](const error_code& ec) {
    auto self = weak.lock();
    if (!self || self->epoch_ != epoch || self->state_ != State::connecting) return;
    self->write_waiting_ = false;
    if (ec) return;  // cancelled: the connect timer or close() decides
    int err = 0;
    socklen_t len = sizeof err;
    ::getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      const error_code cec(err, boost::system::system_category());
      self->log_failure(fmt::format("cannot connect: {}", cec.message()));
      self->fail(cec);
      return;
    }
    self->on_connected();
  });
}

void Connection::on_connected() {
  reader_ = std::make_unique<ReplyReader>(options_.max_reply_bytes);
  // The handshake goes first, in front of the commands queued while connecting (none of them
  // has been written). Its replies come first too; the last one makes the connection ready.
  std::vector<Command> handshake;
  const auto& url = options_.url;
  if (!url.password.empty()) {
    if (url.user.empty())
      handshake.emplace_back("AUTH", url.password);
    else
      handshake.emplace_back("AUTH", url.user, url.password);
  }
  if (url.db != 0) handshake.emplace_back("SELECT", url.db);
  if (!options_.client_name.empty())
    handshake.emplace_back("CLIENT", "SETNAME", options_.client_name);
  // An empty handshake still sends PING: the connection is ready when Redis answers, not when
  // the kernel accepted the connect (a server still loading says -LOADING here).
  handshake.emplace_back("PING");
  std::weak_ptr<Connection> weak = weak_from_this();
  const auto epoch = epoch_;
  const std::size_t n = handshake.size();
  for (std::size_t i = n; i-- > 0;) {
    const bool last = i + 1 == n;
    std::string what(handshake[i].name());
    queue_internal(
        handshake[i],
        [weak, epoch, last, what](Reply&& r) {
          auto self = weak.lock();
          if (!self || self->epoch_ != epoch) return;
          if (r.is_error()) {
            TENX_LOG_ERROR("redis {}: {} refused: {}", self->options_.url.redacted(), what,
                           r.text());
            self->fail(r.server_error());
            return;
          }
          if (!last) return;
          self->handshaken_ = true;
          self->timer_.cancel();
          if (self->attempt_ > 0 || self->connects_ > 0)
            TENX_LOG_INFO("redis {}: connected again", self->options_.url.redacted());
          self->attempt_ = 0;
          ++self->connects_;
          if (self->events_.on_ready) self->events_.on_ready();
        },
        true);
  }
  state_ = State::ready;
  wait_readable();
  flush();
}

// ---- writing ----

void Connection::schedule_flush() {
  if (flush_posted_ || write_waiting_) return;
  flush_posted_ = true;
  std::weak_ptr<Connection> weak = weak_from_this();
  asio::post(poller_.loop(), [weak] {
    if (auto self = weak.lock()) {
      self->flush_posted_ = false;
      self->flush();
    }
  });
}

void Connection::flush() {
  if ((state_ != State::ready && state_ != State::closing) || fd_ < 0) return;
  while (out_written_ < out_.size()) {
    if (!handle_->writable()) break;
    const ssize_t n = ::send(fd_, out_.data() + out_written_, out_.size() - out_written_,
                             MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        handle_->clear_writable();
        break;
      }
      fail(make_error_code(Errc::connection_lost));
      return;
    }
    out_written_ += static_cast<std::size_t>(n);
  }
  if (out_written_ == out_.size()) {
    out_.clear();
    out_written_ = 0;
    return;
  }
  if (write_waiting_) return;
  write_waiting_ = true;
  std::weak_ptr<Connection> weak = weak_from_this();
  const auto epoch = epoch_;
  handle_->wait_writable([weak, epoch](const error_code& ec) {
    auto self = weak.lock();
    if (!self || self->epoch_ != epoch) return;
    self->write_waiting_ = false;
    if (!ec) self->flush();
  });
}

// ---- reading ----

void Connection::wait_readable() {
  if (read_waiting_ || !handle_) return;
  read_waiting_ = true;
  std::weak_ptr<Connection> weak = weak_from_this();
  const auto epoch = epoch_;
  handle_->wait_readable([weak, epoch](const error_code& ec) {
    auto self = weak.lock();
    if (!self || self->epoch_ != epoch) return;
    self->read_waiting_ = false;
    if (!ec) self->on_readable();
  });
}

void Connection::on_readable() {
  auto self = shared_from_this();  // a completed command's coroutine may drop the owner
  const auto epoch = epoch_;
  char buf[kReadChunk];
  while (fd_ >= 0 && epoch == epoch_) {
    const ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
    if (n == 0) {
      if (state_ != State::closing)
        TENX_LOG_WARN("redis {}: the server closed the connection", options_.url.redacted());
      fail(make_error_code(Errc::connection_lost));
      return;
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        handle_->clear_readable();
        break;
      }
      TENX_LOG_WARN("redis {}: connection lost: {}", options_.url.redacted(),
                    error_code(errno, boost::system::system_category()).message());
      fail(make_error_code(Errc::connection_lost));
      return;
    }
    if (auto ec = reader_->feed({buf, static_cast<std::size_t>(n)})) {
      fail(ec);
      return;
    }
    while (epoch == epoch_ && reader_) {
      auto next = reader_->next();
      if (!next) {
        TENX_LOG_ERROR("redis {}: {}; closing the connection", options_.url.redacted(),
                       next.error().message());
        fail(next.error());
        return;
      }
      if (!*next) break;
      deliver(std::move(**next));
    }
    // A short read drained the socket, unless the peer's FIN came with the data: then no
    // further edge comes, and the next recv returns 0.
    if (static_cast<std::size_t>(n) < sizeof buf && handle_ && !handle_->hung_up()) {
      handle_->clear_readable();
      break;
    }
  }
  if (epoch == epoch_ && fd_ >= 0) {
    maybe_finish_close();
    if (fd_ >= 0) wait_readable();
  }
}

void Connection::deliver(Reply&& reply) {
  if (subscriber_ && is_push(reply)) {
    if (events_.on_push) events_.on_push(std::move(reply));
    return;
  }
  if (pending_.empty()) {
    // A reply nobody asked for: the stream is out of step, nothing after it can be trusted.
    TENX_LOG_ERROR("redis {}: a reply with no command in flight; closing the connection",
                   options_.url.redacted());
    fail(make_error_code(Errc::protocol));
    return;
  }
  Pending p = std::move(pending_.front());
  pending_.pop_front();
  complete(p, {}, std::move(reply));
}

// ---- failure, backoff, deadlines ----

void Connection::log_failure(const std::string& what) const {
  // The first failure after a success is a warning; the retries that follow are not news.
  if (attempt_ == 0)
    TENX_LOG_WARN("redis {}: {} (retrying with backoff)", options_.url.redacted(), what);
  else
    TENX_LOG_DEBUG("redis {}: {} (attempt {})", options_.url.redacted(), what, attempt_ + 1);
}

void Connection::fail(const error_code& why) {  // `why` was logged where it happened
  const bool was_ready = handshaken_;
  const bool connected = fd_ >= 0 && state_ == State::ready;
  close_socket();
  ++epoch_;  // every callback of the old socket is stale now
  handshaken_ = false;
  timer_.cancel();
  // Commands that were written may have run on the server: connection_lost. Those that
  // never left (the connect failed): disconnected.
  // A refused handshake (wrong password) says so to every command waiting behind it.
  const auto code = is_server(why) ? why
                    : connected    ? make_error_code(Errc::connection_lost)
                                   : make_error_code(Errc::disconnected);
  auto failed = std::move(pending_);
  pending_.clear();
  out_.clear();
  out_written_ = 0;
  if (state_ == State::closing || state_ == State::closed) {
    state_ = State::closed;
  } else {
    metrics_.connection_failure();
    enter_backoff();
  }
  for (auto& p : failed) complete(p, code, {});
  if (was_ready && events_.on_lost) events_.on_lost();
}

void Connection::enter_backoff() {
  state_ = State::backoff;
  const double unit = static_cast<double>(next_random(rng_) >> 11) * 0x1.0p-53;
  const auto delay = reconnect_delay(options_, attempt_++, unit);
  std::weak_ptr<Connection> weak = weak_from_this();
  const auto epoch = epoch_;
  timer_.expires_after(delay);
  timer_.async_wait([weak, epoch](const error_code& ec) {
    auto self = weak.lock();
    if (ec || !self || self->epoch_ != epoch || self->state_ != State::backoff) return;
    self->metrics_.reconnect();
    self->begin_connect();
  });
}

void Connection::arm_sweep() {
  if (sweep_armed_) return;
  sweep_armed_ = true;
  const auto tick = std::clamp(options_.command_timeout / 4, std::chrono::milliseconds(1),
                               std::chrono::milliseconds(250));
  std::weak_ptr<Connection> weak = weak_from_this();
  sweep_.expires_after(tick);
  sweep_.async_wait([weak](const error_code& ec) {
    auto self = weak.lock();
    if (!self) return;
    self->sweep_armed_ = false;
    if (!ec) self->sweep();
  });
}

void Connection::sweep() {
  if (pending_.empty()) return;
  auto self = shared_from_this();
  const auto now = steady::now();
  const auto epoch = epoch_;
  // A server silent long past the oldest deadline is gone (stopped, or the network is):
  // reconnect rather than pile up commands behind it.
  const auto& oldest = pending_.front();
  if (state_ == State::ready && handshaken_ && now > oldest.deadline + options_.command_timeout) {
    TENX_LOG_WARN(
        "redis {}: no reply for {} ms; reconnecting", options_.url.redacted(),
        std::chrono::duration_cast<std::chrono::milliseconds>(now - oldest.started).count());
    fail(make_error_code(Errc::timeout));
    return;
  }
  // By index: a completion may queue more commands (deque iterators would not survive).
  for (std::size_t i = 0; i < pending_.size(); ++i) {
    auto& p = pending_[i];
    if (p.handler && p.deadline <= now && !p.internal)
      complete(p, make_error_code(Errc::timeout), {});
    if (epoch != epoch_) return;  // a completion closed the connection
  }
  if (!pending_.empty()) arm_sweep();
}

void Connection::close_socket() {
  if (fd_ < 0) return;
  resolver_.cancel();
  poller_.remove(handle_);
  handle_ = nullptr;
  ::close(fd_);
  fd_ = -1;
  read_waiting_ = false;
  write_waiting_ = false;
  reader_.reset();
}

void Connection::maybe_finish_close() {
  if (state_ != State::closing) return;
  for (const auto& p : pending_)
    if (p.handler) return;
  fail({});
}

}  // namespace tenx::redis
