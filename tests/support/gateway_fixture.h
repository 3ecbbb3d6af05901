#pragma once
// Fixtures of the proxy end-to-end tests (gateway_proxy_test.cpp: balancing, headers, bodies;
// gateway_proxy_failures_test.cpp: timeouts, health accounting, aborts), each a real
// `tenx gateway` in front of upstreams of two kinds:
//   - TenxUpstream: another `tenx gateway` process whose fixed routes answer with its name
//     (/who -> "a"), so the body says which upstream answered; /work answers after a delay,
//     /health with a configurable status, /metrics counts what it served. Its config is a
//     TempFile, so a test can rewrite it and SIGHUP it (active health checks).
//   - RawUpstream: a listening socket on a thread of the test, one thread per accepted
//     connection running the test's script (echo the request, send garbage, never answer,
//     reset, ...). It records every byte it receives, so a test can wait until the upstream
//     has seen part of a body (streaming) and count the requests it got.
// GatewayProxy starts the gateway from a config (gateway_toml + pool_toml), checks in TearDown
// that it still answers and drains cleanly, and reads its /metrics.
#include "support/process.h"
#include "support/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <csignal>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

namespace tenx::e2e {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using clock_type = std::chrono::steady_clock;

// ---- small text helpers ----

inline bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

inline std::size_t count_of(std::string_view text, std::string_view needle) {
  std::size_t n = 0;
  for (auto pos = text.find(needle); pos != std::string_view::npos;
       pos = text.find(needle, pos + needle.size()))
    ++n;
  return n;
}

// The fields of a request or response head ("LINE\r\nName: value\r\n..."), in order.
inline std::vector<std::pair<std::string, std::string>> head_fields(std::string_view head) {
  std::vector<std::pair<std::string, std::string>> out;
  auto pos = head.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < head.size()) {
    const auto start = pos + 2;
    pos = head.find("\r\n", start);
    const auto line = head.substr(start, pos == std::string_view::npos ? pos : pos - start);
    if (line.empty()) break;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    out.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  return out;
}

// Every value of field `name` (case-insensitive) in `head`.
inline std::vector<std::string> field_values(std::string_view head, std::string_view name) {
  std::vector<std::string> out;
  for (auto& [k, v] : head_fields(head))
    if (iequals(k, name)) out.push_back(v);
  return out;
}

// The value of the Prometheus sample `series VALUE` (labels exactly as exposed), if present.
inline std::optional<double> sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    if (line.size() > series.size() && line.compare(0, series.size(), series) == 0 &&
        line[series.size()] == ' ')
      return std::stod(line.substr(series.size() + 1));
  return std::nullopt;
}

// Compares long bodies without printing kilobytes of them.
inline void expect_same_bytes(const std::string& got, const std::string& want) {
  EXPECT_EQ(got.size(), want.size());
  EXPECT_TRUE(got == want) << "got begins \"" << got.substr(0, 60) << "\"\nwant begins \""
                           << want.substr(0, 60) << "\"";
}

// ---- requests ----

// One request on a connection of its own; nullopt (with the reason in `error`) if unanswered.
inline std::optional<Response> fetch(std::uint16_t port, const std::string& request,
                                     std::string* error = nullptr) {
  RawClient c(port);
  if (!c.ok()) {
    if (error) *error = "connect failed";
    return std::nullopt;
  }
  if (!c.send(request)) {
    if (error) *error = c.last_error();
    return std::nullopt;
  }
  auto r = c.read_response();
  if (!r && error) *error = c.last_error();
  return r;
}

// Which upstream answered GET `path`: the body of a 200, else a description of what came.
inline std::string who(std::uint16_t port, std::string_view path = "/who",
                       std::string_view extra_headers = {}) {
  std::string error;
  const auto r = fetch(port, get_request(path, extra_headers), &error);
  if (!r) return "no response (" + error + ")";
  if (r->status != 200) return "status " + std::to_string(r->status) + ": " + r->body;
  return r->body;
}

inline std::string post_request(std::string_view path, std::string_view body) {
  return fmt::format("POST {} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n{}", path,
                     body.size(), body);
}

// ---- processes ----

// Polls `text()` until it holds `needle` at least `times` times; false after `timeout`.
template <typename TextFn>
inline bool wait_for_count(TextFn text, std::string_view needle, std::size_t times,
                           std::chrono::milliseconds timeout) {
  const auto deadline = clock_type::now() + timeout;
  for (;;) {
    if (count_of(text(), needle) >= times) return true;
    if (clock_type::now() >= deadline) return false;
    std::this_thread::sleep_for(10ms);
  }
}

// "It happened", from an upstream script's thread to the test: set() any number of times (a
// script runs once per connection), wait() blocks until the first.
class OnceSignal {
 public:
  void set() {
    if (!set_.exchange(true)) promise_.set_value();
  }
  bool wait(std::chrono::milliseconds timeout) {
    return future_.wait_for(timeout) == std::future_status::ready;
  }

 private:
  std::atomic<bool> set_{false};
  std::promise<void> promise_;
  std::future<void> future_ = promise_.get_future();
};

struct UpstreamSpec {
  std::string name;              // what /who and /work answer
  unsigned health_status = 200;  // what /health answers
  int work_delay_ms = 0;         // how long /work takes
};

inline std::string upstream_toml(const UpstreamSpec& s) {
  return fmt::format(R"(# upstream "{0}" for the proxy tests
[server]
threads = 1
[log]
level = "info"
access_log = "off"

[[gateway.routes]]
path = "/who"
[gateway.routes.return]
body = "{0}"

[[gateway.routes]]
path = "/work"
[gateway.routes.return]
body = "{0}"
delay_ms = {1}

[[gateway.routes]]
path = "/health"
[gateway.routes.return]
status = {2}
body = "health {2}"

[[gateway.routes]]
path = "/metrics"
metrics = true
)",
                     s.name, s.work_delay_ms, s.health_status);
}

// A tenx gateway with fixed routes, standing in for an application server.
class TenxUpstream {
 public:
  explicit TenxUpstream(UpstreamSpec spec) : spec_(std::move(spec)), config_(upstream_toml(spec_)) {
    proc_ = std::make_unique<TenxProcess>(gateway_args(config_.path()));
    port_ = proc_->wait_listening().value_or(0);
  }
  bool started() const { return port_ != 0; }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  TenxProcess& process() { return *proc_; }

  // Rewrites the config with `spec` and SIGHUPs; true once the upstream says it applied it.
  bool reload(UpstreamSpec spec) {
    spec_ = std::move(spec);
    const auto before = count_of(proc_->stderr_text(), "reload: config applied");
    config_.write(upstream_toml(spec_));
    if (!proc_->signal(SIGHUP)) return false;
    return wait_for_count([&] { return proc_->stderr_text(); }, "reload: config applied",
                          before + 1, 5s);
  }
  // SIGKILL, and reaped: its port refuses connections from here on.
  bool kill() { return proc_->signal(SIGKILL) && proc_->wait_exit(5s).has_value(); }

  // This upstream's own /metrics text.
  std::string metrics() const {
    const auto r = fetch(port_, get_request("/metrics"));
    return r ? r->body : std::string();
  }

 private:
  UpstreamSpec spec_;
  TempFile config_;
  std::unique_ptr<TenxProcess> proc_;
  std::uint16_t port_ = 0;
};

// A hand-written upstream on a thread of the test; see the file comment.
class RawUpstream {
 public:
  // One accepted connection, as the script sees it. Every byte read is also recorded by the
  // server (received()).
  class Conn {
   public:
    Conn(RawUpstream& server, std::size_t index, int fd)
        : server_(server), index_(index), fd_(fd) {}

    // The next request head, blank line included; nullopt when the peer closes first.
    std::optional<std::string> read_head() {
      std::size_t end;
      while ((end = buf_.find("\r\n\r\n")) == std::string::npos)
        if (!fill()) return std::nullopt;
      std::string head = buf_.substr(0, end + 4);
      buf_.erase(0, end + 4);
      server_.requests_.fetch_add(1);
      return head;
    }

    // The body of the request with this head (Content-Length or chunked), de-chunked;
    // nullopt when the peer closes first.
    std::optional<std::string> read_body(const std::string& head) {
      const auto te = field_values(head, "Transfer-Encoding");
      if (!te.empty() && iequals(te.back(), "chunked")) {
        std::string body;
        for (;;) {
          const auto line = read_line();
          if (!line) return std::nullopt;
          const std::size_t size = std::stoul(*line, nullptr, 16);
          if (size == 0) {
            for (;;) {  // trailer fields up to the blank line
              const auto trailer = read_line();
              if (!trailer) return std::nullopt;
              if (trailer->empty()) return body;
            }
          }
          if (!need(size + 2)) return std::nullopt;
          body.append(buf_, 0, size);
          buf_.erase(0, size + 2);
        }
      }
      const auto cl = field_values(head, "Content-Length");
      const std::size_t size = cl.empty() ? 0 : std::stoul(cl.front());
      if (!need(size)) return std::nullopt;
      std::string body = buf_.substr(0, size);
      buf_.erase(0, size);
      return body;
    }

    // Whatever bytes come next (after a head: a tunnelled protocol's data); nullopt at close.
    std::optional<std::string> read_some() {
      if (buf_.empty() && !fill()) return std::nullopt;
      return std::exchange(buf_, {});
    }

    bool write(std::string_view bytes) {
      while (!bytes.empty()) {
        const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
      }
      return true;
    }

    // Blocks until the peer closes the connection (or the server stops).
    void wait_for_close() {
      while (fill()) buf_.clear();
    }
    // An orderly close (FIN) of both directions.
    void close() { ::shutdown(fd_, SHUT_RDWR); }
    // An abortive close: the peer gets a reset.
    void reset() {
      const linger abort_on_close{1, 0};
      ::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &abort_on_close, sizeof abort_on_close);
      server_.close_fd(index_);
    }

   private:
    bool fill() {
      char tmp[16 * 1024];
      for (;;) {
        const ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        buf_.append(tmp, static_cast<std::size_t>(n));
        server_.record(std::string_view(tmp, static_cast<std::size_t>(n)));
        return true;
      }
    }
    bool need(std::size_t n) {
      while (buf_.size() < n)
        if (!fill()) return false;
      return true;
    }
    std::optional<std::string> read_line() {
      std::size_t eol;
      while ((eol = buf_.find("\r\n")) == std::string::npos)
        if (!fill()) return std::nullopt;
      std::string line = buf_.substr(0, eol);
      buf_.erase(0, eol + 2);
      return line;
    }

    RawUpstream& server_;
    std::size_t index_;
    int fd_;
    std::string buf_;
  };
  using Script = std::function<void(Conn&)>;

  // receive_buffer_bytes: SO_RCVBUF of the accepted sockets (0: the system's, which grows to
  // megabytes on loopback). ipv6: listen on [::1] instead of 127.0.0.1.
  explicit RawUpstream(Script script, int receive_buffer_bytes = 0, bool ipv6 = false)
      : script_(std::move(script)), ipv6_(ipv6) {
    listen_fd_ = ::socket(ipv6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (receive_buffer_bytes > 0)
      ::setsockopt(listen_fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer_bytes,
                   sizeof receive_buffer_bytes);
    sockaddr_storage addr{};
    socklen_t len;
    if (ipv6) {
      auto& a6 = reinterpret_cast<sockaddr_in6&>(addr);
      a6.sin6_family = AF_INET6;
      a6.sin6_addr = in6addr_loopback;
      len = sizeof a6;
    } else {
      auto& a4 = reinterpret_cast<sockaddr_in&>(addr);
      a4.sin_family = AF_INET;
      a4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      len = sizeof a4;
    }
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return;
    port_ = ntohs(ipv6 ? reinterpret_cast<sockaddr_in6&>(addr).sin6_port
                       : reinterpret_cast<sockaddr_in&>(addr).sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~RawUpstream() { stop(); }
  RawUpstream(const RawUpstream&) = delete;
  RawUpstream& operator=(const RawUpstream&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:PORT", or "[::1]:PORT" for an IPv6 one.
  std::string address() const { return (ipv6_ ? "[::1]:" : "127.0.0.1:") + std::to_string(port_); }
  // Request heads read by scripts so far.
  int requests() const { return requests_.load(); }
  // Every byte received so far, over all connections.
  std::string received() const {
    std::lock_guard lock(mu_);
    return received_;
  }
  bool wait_received(std::string_view needle, std::chrono::milliseconds timeout) const {
    return wait_for_count([&] { return received(); }, needle, 1, timeout);
  }

  // Closes the listener and every connection, and joins every thread.
  void stop() {
    if (stopping_.exchange(true)) return;
    if (listen_fd_ >= 0) ::shutdown(listen_fd_, SHUT_RDWR);  // wakes accept()
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard lock(mu_);
      for (int fd : fds_)
        if (fd >= 0) ::shutdown(fd, SHUT_RDWR);  // wakes recv() and send()
      threads = std::move(threads_);
    }
    for (auto& t : threads) t.join();
    std::lock_guard lock(mu_);
    for (int& fd : fds_)
      if (fd >= 0) ::close(std::exchange(fd, -1));
    if (listen_fd_ >= 0) ::close(std::exchange(listen_fd_, -1));
  }

 private:
  void accept_loop() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR && !stopping_) continue;
        return;
      }
      std::lock_guard lock(mu_);
      if (stopping_) {
        ::close(fd);
        return;
      }
      const std::size_t index = fds_.size();
      fds_.push_back(fd);
      threads_.emplace_back([this, index, fd] {
        Conn c(*this, index, fd);
        script_(c);
      });
    }
  }
  void record(std::string_view bytes) {
    std::lock_guard lock(mu_);
    received_.append(bytes);
  }
  void close_fd(std::size_t index) {
    std::lock_guard lock(mu_);
    if (fds_[index] >= 0) ::close(std::exchange(fds_[index], -1));
  }

  Script script_;
  bool ipv6_ = false;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stopping_{false};
  std::atomic<int> requests_{0};
  std::thread acceptor_;
  mutable std::mutex mu_;
  std::vector<int> fds_;  // by connection index; -1 once closed
  std::vector<std::thread> threads_;
  std::string received_;
};

// True when this machine can listen on the IPv6 loopback address (::1), which tests of IPv6
// need; false where IPv6 is disabled or ::1 is not configured.
inline bool ipv6_loopback_available() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  ::close(fd);
  return ok;
}

// Answers every request with its own head and body: the body of the response is the request
// head as the upstream received it (blank line included) followed by the de-chunked body.
inline void echo_script(RawUpstream::Conn& c) {
  while (auto head = c.read_head()) {
    const auto body = c.read_body(*head);
    if (!body) return;
    const std::string echoed = *head + *body;
    if (!c.write(fmt::format("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                             "Content-Length: {}\r\n\r\n{}",
                             echoed.size(), echoed)))
      return;
  }
}

// Reads each request, then answers with `bytes` and waits for the gateway to close.
inline RawUpstream::Script canned_script(std::string bytes) {
  return [bytes = std::move(bytes)](RawUpstream::Conn& c) {
    if (!c.read_head()) return;
    c.write(bytes);
    c.wait_for_close();
  };
}

// A listener whose accept queue is full: connecting to it neither succeeds nor fails, the
// SYN is dropped and retried, as with a host that has gone silent.
class FullBacklogListener {
 public:
  FullBacklogListener() {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        ::listen(listen_fd_, 0) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      return;
    port_ = ntohs(addr.sin_port);
    // A backlog of 0 still queues one connection: this one, never accepted.
    filler_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (::connect(filler_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0) port_ = 0;
  }
  ~FullBacklogListener() {
    for (int fd : {filler_fd_, listen_fd_})
      if (fd >= 0) ::close(fd);
  }
  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // True when a new connection attempt is still pending after `within`: the premise of the
  // tests that use this listener.
  bool connects_hang(std::chrono::milliseconds within) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port_);
    const int r = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    bool pending = r < 0 && errno == EINPROGRESS;
    if (pending) {
      pollfd p{fd, POLLOUT, 0};
      pending = ::poll(&p, 1, static_cast<int>(within.count())) == 0;
    }
    ::close(fd);
    return pending;
  }

 private:
  int listen_fd_ = -1;
  int filler_fd_ = -1;
  std::uint16_t port_ = 0;
};

// ---- gateway configs ----

// A gateway config: the common head, `gateway` (trusted proxies, pools, their routes), then
// two fixed routes of the gateway's own: /metrics and /gateway-ok (exact, so they win over a
// pool's "/" prefix). `server_extra`: more [server] keys, one per line.
inline std::string gateway_toml(std::string_view gateway, int threads = 1,
                                std::string_view server_extra = {}) {
  return fmt::format(R"([server]
threads = {}
drain_timeout_ms = 5000
{}
[log]
level = "info"
access_log = "off"

{}

[[gateway.routes]]
path = "/metrics"
metrics = true

[[gateway.routes]]
path = "/gateway-ok"
[gateway.routes.return]
body = "gateway ok"
)",
                     threads, server_extra, gateway);
}

// `[[gateway.upstreams]]` NAME over SERVERS (already TOML values) with extra keys, and a
// prefix route to it.
inline std::string pool_toml(std::string_view name, const std::vector<std::string>& servers,
                             std::string_view extra = {}, std::string_view route_prefix = "/") {
  std::string list;
  for (const auto& s : servers) list += (list.empty() ? "" : ", ") + s;
  return fmt::format(R"([[gateway.upstreams]]
name = "{}"
servers = [{}]
{}

[[gateway.routes]]
prefix = "{}"
upstream = "{}"

)",
                     name, list, extra, route_prefix, name);
}

inline std::string quoted(const std::string& address) { return "\"" + address + "\""; }

class GatewayProxy : public ::testing::Test {
 protected:
  // Starts upstream tenx processes named `names`; fails the test if one does not start.
  void start_upstreams(const std::vector<std::string>& names) {
    for (const auto& n : names) start_upstream({.name = n});
  }
  TenxUpstream& start_upstream(UpstreamSpec spec) {
    auto u = std::make_unique<TenxUpstream>(std::move(spec));
    EXPECT_TRUE(u->started()) << u->process().stderr_text();
    upstreams_.push_back(std::move(u));
    return *upstreams_.back();
  }
  TenxUpstream& up(std::size_t i) { return *upstreams_.at(i); }

  // Starts the gateway with `args` (after `tenx`).
  void start_gateway_args(std::vector<std::string> args) {
    gateway_ = std::make_unique<TenxProcess>(std::move(args));
    port_ = gateway_->wait_listening().value_or(0);
    ASSERT_NE(port_, 0) << gateway_->listening_line() << "\n" << gateway_->stderr_text();
  }
  // Starts the gateway on a config with this text.
  void start_gateway(const std::string& toml) {
    config_ = std::make_unique<TempFile>(toml);
    start_gateway_args(gateway_args(config_->path()));
  }
  // `tenx gateway --upstream ...` over the started tenx upstreams.
  void start_quick_gateway(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"gateway", "--listen", "127.0.0.1:0", "--threads", "1"};
    for (const auto& u : upstreams_) {
      args.push_back("--upstream");
      args.push_back("http://" + u->address());
    }
    args.insert(args.end(), extra.begin(), extra.end());
    start_gateway_args(std::move(args));
  }

  // The gateway outlived what the test did to it, answers, and drains cleanly.
  void TearDown() override {
    if (!gateway_ || !gateway_->running()) return;
    EXPECT_EQ(who(port_, "/gateway-ok"), "gateway ok") << gateway_->stderr_text();
    ASSERT_TRUE(gateway_->signal(SIGTERM));
    EXPECT_EQ(gateway_->wait_exit(10s), 0) << gateway_->stderr_text();
  }

  std::string gateway_metrics() {
    const auto r = fetch(port_, get_request("/metrics"));
    return r ? r->body : std::string();
  }

  std::vector<std::unique_ptr<TenxUpstream>> upstreams_;
  std::unique_ptr<TempFile> config_;
  std::unique_ptr<TenxProcess> gateway_;
  std::uint16_t port_ = 0;
};

// The quick-flag gateway has no /gateway-ok route; its TearDown check uses the upstreams'.
class GatewayProxyQuick : public GatewayProxy {
 protected:
  void TearDown() override {
    if (!gateway_ || !gateway_->running()) return;
    ASSERT_TRUE(gateway_->signal(SIGTERM));
    EXPECT_EQ(gateway_->wait_exit(10s), 0) << gateway_->stderr_text();
  }
};

}  // namespace tenx::e2e
