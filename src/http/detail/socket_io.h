#pragma once
// Socket I/O shared by the server and the client (not for use outside http/).
//
// Reads and writes are tried first as plain non-blocking system calls; only when the kernel
// says EAGAIN does the caller co_await readiness (socket.async_wait). On the common path of a
// request/response exchange this avoids a scheduler round trip per operation.
//
// Watchdog enforces deadlines without a timer operation per read: set() only stores a time
// point; one steady_timer wait is outstanding at most, re-armed lazily when it fires early.
// When a deadline passes, the owner's cancel callback runs (it cancels the pending socket
// operation or Poller wait) and fired() is true.
#include "core/poller.h"
#include "http/io_buffer.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include <sys/uio.h>

#include <chrono>
#include <functional>
#include <memory>

namespace tenx::http::detail {

enum class IoStatus { ok, again, eof, error };

// Reads what is available into buf (making room for at least `min_room` bytes first, within
// max_capacity). n receives the byte count.
IoStatus try_read(int fd, IoBuffer& buf, std::size_t& n, boost::system::error_code& ec);
// Writes as much of iov as the kernel takes; advances iov/iovcnt past what was written.
IoStatus try_writev(int fd, iovec*& iov, int& iovcnt, boost::system::error_code& ec);

// The two above with nginx-style readiness kept on a Poller handle, for every socket the
// server and the client own. read_ready reads only if the socket may be readable; a short
// read or EAGAIN clears the flag, except when the peer's FIN came with the data (no further
// edge would come; the next read returns 0). writev_ready writes only if the socket may be
// writable; EAGAIN clears the flag. `again` means: wait for the Poller's next edge.
IoStatus read_ready(int fd, core::Poller::Handle& h, IoBuffer& buf, boost::system::error_code& ec);
IoStatus writev_ready(int fd, core::Poller::Handle& h, iovec*& iov, int& iovcnt,
                      boost::system::error_code& ec);

class Watchdog : public std::enable_shared_from_this<Watchdog> {
 public:
  using clock = std::chrono::steady_clock;
  Watchdog(const boost::asio::any_io_executor& ex, std::function<void()> on_expire)
      : timer_(ex), on_expire_(std::move(on_expire)) {}

  void set(clock::time_point deadline);
  void set_after(clock::duration d) { set(clock::now() + d); }
  // No deadline; a timer wait in flight stays and does nothing when it fires (a pooled client
  // connection keeps it: re-arming per request costs more than one idle wake-up).
  void clear() { deadline_ = clock::time_point::max(); }
  bool fired() const { return fired_; }
  void reset_fired() { fired_ = false; }
  // Call before the socket is destroyed.
  void stop();

 private:
  void arm(clock::time_point at);
  void on_timer(const boost::system::error_code& ec);

  boost::asio::steady_timer timer_;
  std::function<void()> on_expire_;
  clock::time_point deadline_ = clock::time_point::max();
  clock::time_point armed_at_ = clock::time_point::max();
  bool pending_ = false;
  bool fired_ = false;
  bool stopped_ = false;
};

}  // namespace tenx::http::detail
