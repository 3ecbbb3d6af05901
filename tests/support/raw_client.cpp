#include "support/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

namespace tenx::e2e {
namespace {

constexpr std::size_t kMaxMessage = 64 * 1024 * 1024;  // a runaway response fails, not OOMs

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

void set_recv_timeout(int fd, std::chrono::milliseconds t) {
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(t.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((t.count() % 1000) * 1000);
  if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1000;  // 0 would mean "forever"
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
}

}  // namespace

std::optional<std::string> Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

std::size_t Response::header_count(std::string_view name) const {
  std::size_t n = 0;
  for (const auto& [k, v] : headers) n += iequals(k, name);
  return n;
}

bool Response::connection_has(std::string_view token) const {
  for (const auto& [k, v] : headers) {
    if (!iequals(k, "Connection")) continue;
    std::string_view rest = v;
    while (!rest.empty()) {
      const auto comma = rest.find(',');
      if (iequals(trim(rest.substr(0, comma)), token)) return true;
      if (comma == std::string_view::npos) break;
      rest.remove_prefix(comma + 1);
    }
  }
  return false;
}

RawClient::RawClient(std::uint16_t port, std::chrono::milliseconds recv_timeout)
    : RawClient("127.0.0.1", port, recv_timeout) {}

RawClient::RawClient(const std::string& host, std::uint16_t port,
                     std::chrono::milliseconds recv_timeout)
    : recv_timeout_(recv_timeout) {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    addr_len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    addr_len = sizeof *v6;
  } else {
    connect_errno_ = EINVAL;
    error_ = "not a numeric address: " + host;
    return;
  }
  fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    connect_errno_ = errno;
    return;
  }
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  set_recv_timeout(fd_, recv_timeout_);
  int r;
  do {
    r = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), addr_len);
  } while (r < 0 && errno == EINTR);
  if (r < 0) {
    connect_errno_ = errno;
    ::close(fd_);
    fd_ = -1;
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::send(std::string_view bytes) {
  if (fd_ < 0) {
    error_ = "not connected";
    return false;
  }
  while (!bytes.empty()) {
    const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      error_ = std::string("send: ") + std::strerror(errno);
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

RawClient::Fill RawClient::fill() {
  if (fd_ < 0) {
    error_ = "not connected";
    return Fill::error;
  }
  if (buf_.size() > kMaxMessage) {
    error_ = "response too large";
    return Fill::error;
  }
  char tmp[16 * 1024];
  for (;;) {
    const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<std::size_t>(n));
      return Fill::ok;
    }
    if (n == 0) {
      error_ = "connection closed by the server";
      return Fill::eof;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      error_ = "timed out waiting for the server";
      return Fill::timeout;
    }
    if (errno == ECONNRESET) {
      error_ = "connection reset by the server";
      return Fill::eof;
    }
    error_ = std::string("recv: ") + std::strerror(errno);
    return Fill::error;
  }
}

bool RawClient::need(std::size_t n) {
  while (buf_.size() < n)
    if (fill() != Fill::ok) return false;
  return true;
}

std::optional<Response> RawClient::read_response(bool head_request) {
  std::size_t head_end;
  while ((head_end = buf_.find("\r\n\r\n")) == std::string::npos)
    if (fill() != Fill::ok) return std::nullopt;

  Response r;
  const std::string head = buf_.substr(0, head_end);
  std::size_t pos = head.find("\r\n");
  const std::string status_line = head.substr(0, pos);
  // "HTTP/1.1 200 OK"
  const auto sp1 = status_line.find(' ');
  if (sp1 == std::string::npos || status_line.compare(0, 5, "HTTP/") != 0) {
    error_ = "bad status line: " + status_line;
    return std::nullopt;
  }
  r.version = status_line.substr(0, sp1);
  const auto sp2 = status_line.find(' ', sp1 + 1);
  const std::string code = status_line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (code.size() != 3 || code.find_first_not_of("0123456789") != std::string::npos) {
    error_ = "bad status code: " + status_line;
    return std::nullopt;
  }
  r.status = std::stoi(code);
  if (sp2 != std::string::npos) r.reason = status_line.substr(sp2 + 1);
  while (pos != std::string::npos) {
    const auto start = pos + 2;
    pos = head.find("\r\n", start);
    const std::string line = head.substr(start, pos == std::string::npos ? pos : pos - start);
    const auto colon = line.find(':');
    if (colon == std::string::npos || colon == 0) {
      error_ = "bad header line: " + line;
      return std::nullopt;
    }
    r.headers.emplace_back(line.substr(0, colon),
                           std::string(trim(std::string_view(line).substr(colon + 1))));
  }
  buf_.erase(0, head_end + 4);

  const bool no_body = head_request || r.status / 100 == 1 || r.status == 204 || r.status == 304;
  if (no_body) return r;
  const auto te = r.header("Transfer-Encoding");
  if (te && iequals(trim(*te), "chunked")) {
    for (;;) {
      std::size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (fill() != Fill::ok) return std::nullopt;
      const std::string size_line = buf_.substr(0, eol);
      std::size_t size = 0;
      try {
        size = std::stoul(size_line, nullptr, 16);
      } catch (const std::exception&) {
        error_ = "bad chunk size: " + size_line;
        return std::nullopt;
      }
      buf_.erase(0, eol + 2);
      if (size == 0) {
        // Trailer fields, then an empty line.
        for (;;) {
          while ((eol = buf_.find("\r\n")) == std::string::npos)
            if (fill() != Fill::ok) return std::nullopt;
          buf_.erase(0, eol + 2);
          if (eol == 0) return r;
        }
      }
      if (!need(size + 2)) return std::nullopt;
      r.body.append(buf_, 0, size);
      buf_.erase(0, size + 2);
    }
  }
  if (const auto cl = r.header("Content-Length")) {
    std::size_t n = 0;
    try {
      n = std::stoul(*cl);
    } catch (const std::exception&) {
      error_ = "bad Content-Length: " + *cl;
      return std::nullopt;
    }
    if (!need(n)) return std::nullopt;
    r.body = buf_.substr(0, n);
    buf_.erase(0, n);
    return r;
  }
  // Delimited by the server closing the connection.
  for (;;) {
    const auto f = fill();
    if (f == Fill::eof) break;
    if (f != Fill::ok) return std::nullopt;
  }
  r.body = std::move(buf_);
  buf_.clear();
  return r;
}

std::optional<std::string> RawClient::read_through(std::string_view needle) {
  std::size_t at;
  while ((at = buf_.find(needle)) == std::string::npos)
    if (fill() != Fill::ok) return std::nullopt;
  std::string out = buf_.substr(0, at + needle.size());
  buf_.erase(0, at + needle.size());
  return out;
}

std::string RawClient::read_to_close() {
  while (fill() == Fill::ok) {
  }
  std::string out = std::move(buf_);
  buf_.clear();
  return out;
}

bool RawClient::closed() { return closed(recv_timeout_); }

bool RawClient::closed(std::chrono::milliseconds within) {
  if (!buf_.empty()) {
    error_ = "unread bytes from the server";
    return false;
  }
  set_recv_timeout(fd_, within);
  const auto f = fill();
  set_recv_timeout(fd_, recv_timeout_);
  return f == Fill::eof;
}

void RawClient::shutdown_write() {
  if (fd_ >= 0) ::shutdown(fd_, SHUT_WR);
}

std::string get_request(std::string_view path, std::string_view extra_headers) {
  std::string r = "GET ";
  r += path;
  r += " HTTP/1.1\r\nHost: localhost\r\n";
  r += extra_headers;
  r += "\r\n";
  return r;
}

}  // namespace tenx::e2e
