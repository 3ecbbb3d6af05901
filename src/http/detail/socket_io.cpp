#include "http/detail/socket_io.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace tenx::http::detail {

IoStatus try_read(int fd, IoBuffer& buf, std::size_t& n, boost::system::error_code& ec) {
  for (;;) {
    const ssize_t r = ::recv(fd, buf.write_ptr(), buf.writable(), 0);
    if (r > 0) {
      buf.commit(static_cast<std::size_t>(r));
      n = static_cast<std::size_t>(r);
      return IoStatus::ok;
    }
    if (r == 0) return IoStatus::eof;
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::again;
    ec.assign(errno, boost::system::system_category());
    return IoStatus::error;
  }
}

IoStatus try_writev(int fd, iovec*& iov, int& iovcnt, boost::system::error_code& ec) {
  while (iovcnt > 0) {
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(iovcnt);
    const ssize_t r = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return IoStatus::again;
      ec.assign(errno, boost::system::system_category());
      return IoStatus::error;
    }
    auto left = static_cast<std::size_t>(r);
    while (iovcnt > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --iovcnt;
    }
    if (iovcnt > 0 && left > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return IoStatus::ok;
}

IoStatus read_ready(int fd, core::Poller::Handle& h, IoBuffer& buf, boost::system::error_code& ec) {
  if (!h.readable()) return IoStatus::again;
  const std::size_t room = buf.writable();
  std::size_t n = 0;
  const auto st = try_read(fd, buf, n, ec);
  if (st == IoStatus::again || (st == IoStatus::ok && n < room && !h.hung_up())) h.clear_readable();
  return st;
}

IoStatus writev_ready(int fd, core::Poller::Handle& h, iovec*& iov, int& iovcnt,
                      boost::system::error_code& ec) {
  if (!h.writable()) return IoStatus::again;
  const auto st = try_writev(fd, iov, iovcnt, ec);
  if (st == IoStatus::again) h.clear_writable();
  return st;
}

void Watchdog::set(clock::time_point deadline) {
  deadline_ = deadline;
  if (stopped_) return;
  if (!pending_ || deadline < armed_at_) arm(deadline);
}

void Watchdog::arm(clock::time_point at) {
  armed_at_ = at;
  pending_ = true;
  timer_.expires_at(at);  // cancels a wait in flight: its handler sees operation_aborted
  timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) { self->on_timer(ec); });
}

void Watchdog::on_timer(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::operation_aborted || stopped_) return;  // superseded or stopped
  pending_ = false;
  if (deadline_ == clock::time_point::max()) return;
  if (clock::now() >= deadline_) {
    fired_ = true;
    deadline_ = clock::time_point::max();
    on_expire_();
    return;
  }
  arm(deadline_);
}

void Watchdog::stop() {
  stopped_ = true;
  timer_.cancel();
}

}  // namespace tenx::http::detail
