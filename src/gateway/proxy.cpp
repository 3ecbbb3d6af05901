#include "gateway/proxy.h"

#include "core/log.h"
#include "core/runtime.h"
#include "http/client.h"
#include "http/json.h"
#include "metrics/registry.h"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <charconv>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>

namespace tenx::gateway {
namespace asio = boost::asio;
using namespace std::string_view_literals;
using asio::awaitable;
using clock_type = std::chrono::steady_clock;

namespace {

bool idempotent(http::Verb m) {
  using V = http::Verb;
  return m == V::get || m == V::head || m == V::options || m == V::put || m == V::delete_ ||
         m == V::trace;
}

// RFC 9110 §7.6.1 hop-by-hop fields, and the framing fields the proxy writes itself.
bool hop_by_hop_or_framing(http::Field f) {
  using F = http::Field;
  switch (f) {
    case F::connection:
    case F::keep_alive:
    case F::proxy_connection:
    case F::te:
    case F::trailer:
    case F::transfer_encoding:
    case F::upgrade:
    case F::content_length:
      return true;
    default:
      return false;
  }
}

// Request fields not copied upstream: the above, Expect (the gateway answers 100 Continue
// when it reads the body) and the X-Forwarded-* fields it writes itself.
bool dropped_request_field(const http::HeaderView& h) {
  if (hop_by_hop_or_framing(h.id) || h.id == http::Field::expect) return true;
  // Beast has no enum value for the X-Forwarded-* fields.
  return h.id == http::Field::unknown &&
         (http::iequals(h.name, "x-forwarded-for") || http::iequals(h.name, "x-forwarded-proto") ||
          http::iequals(h.name, "x-forwarded-host"));
}

// Response fields not copied to the client: the above, and Server and Date (the gateway
// writes its own).
bool dropped_response_field(const http::HeaderView& h) {
  return hop_by_hop_or_framing(h.id) || h.id == http::Field::server || h.id == http::Field::date;
}

// Tokens of every Connection field (names of more hop-by-hop fields).
void connection_tokens(const http::HeaderList& headers, std::vector<std::string_view>& out) {
  out.clear();
  for (const auto& h : headers) {
    if (h.id != http::Field::connection) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      const auto comma = v.find(',');
      auto tok = v.substr(0, comma);
      while (!tok.empty() && (tok.front() == ' ' || tok.front() == '\t')) tok.remove_prefix(1);
      while (!tok.empty() && (tok.back() == ' ' || tok.back() == '\t')) tok.remove_suffix(1);
      if (!tok.empty()) out.push_back(tok);
      v = comma == std::string_view::npos ? std::string_view{} : v.substr(comma + 1);
    }
  }
}

bool listed(const std::vector<std::string_view>& tokens, std::string_view name) {
  for (auto t : tokens)
    if (http::iequals(t, name)) return true;
  return false;
}

std::string_view cookie_value(const http::HeaderList& headers, std::string_view name) {
  for (const auto& h : headers) {
    if (h.id != http::Field::cookie) continue;
    std::string_view v = h.value;
    while (!v.empty()) {
      const auto semi = v.find(';');
      auto pair = v.substr(0, semi);
      while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
      const auto eq = pair.find('=');
      if (eq != std::string_view::npos && pair.substr(0, eq) == name) return pair.substr(eq + 1);
      v = semi == std::string_view::npos ? std::string_view{} : v.substr(semi + 1);
    }
  }
  return {};
}

struct ProxyMetrics {
  metrics::Family& requests = metrics::Registry::global().counter(
      "gateway_upstream_requests_total", "Requests sent to upstream servers, by response class.",
      {"pool", "server", "code"});
  metrics::Family& errors = metrics::Registry::global().counter(
      "gateway_upstream_errors_total", "Upstream attempts that failed, by kind.",
      {"pool", "server", "kind"});
  metrics::Family& latency = metrics::Registry::global().histogram(
      "gateway_upstream_header_seconds", "Time from sending a request to its response head.",
      {"pool", "server"});
  metrics::Family& retries = metrics::Registry::global().counter(
      "gateway_retries_total", "Retry decisions: retried, budget_exhausted, not_retryable.",
      {"pool", "outcome"});
  metrics::Family& unavailable = metrics::Registry::global().counter(
      "gateway_no_server_total", "Requests answered 503 because no server was available.",
      {"pool"});
  static ProxyMetrics& get() {
    static ProxyMetrics m;
    return m;
  }
};

}  // namespace

// ---- trusted proxies ----

TrustedProxies::TrustedProxies(const std::vector<std::string>& cidrs) {
  for (const auto& c : cidrs) {
    const auto slash = c.find('/');
    auto addr = asio::ip::make_address(c.substr(0, slash));
    unsigned bits = addr.is_v4() ? 32 : 128;
    if (slash != std::string::npos) bits = static_cast<unsigned>(std::stoul(c.substr(slash + 1)));
    nets_.push_back({addr, bits});
  }
}

bool TrustedProxies::contains(const asio::ip::address& a) const {
  for (const auto& n : nets_) {
    if (n.addr.is_v4() != a.is_v4()) continue;
    if (a.is_v4()) {
      const auto x = a.to_v4().to_uint();
      const auto y = n.addr.to_v4().to_uint();
      const std::uint32_t mask = n.bits == 0 ? 0 : ~std::uint32_t{0} << (32 - n.bits);
      if ((x & mask) == (y & mask)) return true;
    } else {
      const auto x = a.to_v6().to_bytes();
      const auto y = n.addr.to_v6().to_bytes();
      unsigned left = n.bits;
      bool same = true;
      for (std::size_t i = 0; i < 16 && left > 0 && same; ++i) {
        const unsigned take = std::min(left, 8u);
        const auto mask = static_cast<std::uint8_t>(0xff << (8 - take));
        same = (x[i] & mask) == (y[i] & mask);
        left -= take;
      }
      if (same) return true;
    }
  }
  return false;
}

// ---- per-worker state ----

struct Proxy::ThreadState {
  ThreadState(const config::UpstreamConfig& c, BalanceKind kind, std::uint64_t seed)
      : client(*core::Poller::current(), client_options(c)), balancer(make_balancer(kind, seed)) {}
  static http::ClientOptions client_options(const config::UpstreamConfig& c) {
    http::ClientOptions o;
    o.connect_timeout = c.connect_timeout;
    o.read_timeout = c.read_timeout;
    o.idle_timeout = std::chrono::seconds(60);
    o.max_idle_per_upstream = c.keepalive;
    return o;
  }
  http::Client client;
  std::unique_ptr<Balancer> balancer;
  std::shared_ptr<const Membership> members;  // this worker's snapshot (swapped on its loop)

  // Per-request scratch buffers. A request keeps its own for its whole life (it suspends, and
  // other requests of this worker run meanwhile); finished ones go back to a free list, so a
  // steady load allocates nothing.
  struct Scratch {
    std::vector<bool> tried;
    std::string head;
    std::vector<http::Header> headers;
    std::vector<std::string_view> tokens;
    std::string forwarded_for;
    std::string cookie;
  };
  std::vector<std::unique_ptr<Scratch>> free_scratch;
  class ScratchLease {
   public:
    explicit ScratchLease(ThreadState& ts) : ts_(ts) {
      if (ts.free_scratch.empty()) {
        s_ = std::make_unique<Scratch>();
      } else {
        s_ = std::move(ts.free_scratch.back());
        ts.free_scratch.pop_back();
      }
    }
    ~ScratchLease() {
      if (ts_.free_scratch.size() < 1024) ts_.free_scratch.push_back(std::move(s_));
    }
    ScratchLease(const ScratchLease&) = delete;
    ScratchLease& operator=(const ScratchLease&) = delete;
    Scratch* operator->() { return s_.get(); }

   private:
    ThreadState& ts_;
    std::unique_ptr<Scratch> s_;
  };
};

struct Proxy::Workers {
  explicit Workers(std::size_t n) : slots(n) {}
  std::vector<std::unique_ptr<ThreadState>> slots;
  std::atomic<bool> draining{false};
};

struct Proxy::HealthState {
  std::atomic<bool> stopped{false};
  std::unique_ptr<asio::steady_timer> timer;  // on loop 0
  std::mutex mu;                              // guards members
  std::shared_ptr<const Membership> members;  // what the checker probes
};

Proxy::Proxy(const config::UpstreamConfig& config, std::shared_ptr<const TrustedProxies> trusted,
             std::size_t threads, const Proxy* previous)
    : config_(config),
      trusted_(std::move(trusted)),
      balance_(parse_balance(config.balance).value_or(BalanceKind::round_robin)),
      workers_(std::make_shared<Workers>(threads == 0 ? 1 : threads)),
      health_(std::make_shared<HealthState>()),
      budget_(std::make_unique<BudgetSlot[]>(threads == 0 ? 1 : threads)),
      budget_slots_(threads == 0 ? 1 : threads) {
  auto m = std::make_shared<Membership>();
  for (const auto& s : config_.servers) {
    auto member = make_member(s.address, s.weight);
    if (previous) {
      for (const auto& old : previous->members()->members) {
        const auto& a = old.server->params();
        const auto& b = member.server->params();
        if (a.address == b.address && a.weight == b.weight && a.max_fails == b.max_fails &&
            a.fail_timeout == b.fail_timeout && a.slow_start == b.slow_start) {
          member.server = old.server;  // same server, same state
          break;
        }
      }
    }
    m->members.push_back(std::move(member));
    m->view.push_back(m->members.back().server.get());
  }
  members_ = std::move(m);
  health_->members = members_;
}

Proxy::Member Proxy::make_member(const std::string& address, std::uint32_t weight) const {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 >= address.size())
    throw std::invalid_argument("server address '" + address + "' must be IP:PORT");
  boost::system::error_code ec;
  std::string host = address.substr(0, colon);
  if (host.size() > 2 && host.front() == '[') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  const auto addr = asio::ip::make_address(host, ec);
  const auto port_text = address.substr(colon + 1);
  if (ec || port_text.find_first_not_of("0123456789") != std::string::npos ||
      port_text.size() > 5 || std::stoul(port_text) > 65535)
    throw std::invalid_argument("upstream " + config_.name + ": server address '" + address +
                                "' must be a numeric IP and port");
  ServerParams p;
  p.address = address;
  p.weight = weight == 0 ? 1 : weight;
  p.max_fails = config_.max_fails;
  p.fail_timeout = config_.fail_timeout;
  p.slow_start = config_.slow_start;
  Member member;
  member.server = std::make_shared<UpstreamServer>(
      p, asio::ip::tcp::endpoint(addr, static_cast<unsigned short>(std::stoul(port_text))));
  auto& metrics = ProxyMetrics::get();
  static const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int c = 0; c < 5; ++c)
    member.by_class[c] = metrics.requests.series({config_.name, address, kClasses[c]});
  member.latency = metrics.latency.series({config_.name, address});
  return member;
}

std::shared_ptr<const Proxy::Membership> Proxy::members() const {
  std::lock_guard lock(members_mu_);
  return members_;
}

void Proxy::publish(std::shared_ptr<const Membership> next) {
  // Called with members_mu_ held. Each worker swaps its snapshot on its own loop.
  members_ = next;
  {
    std::lock_guard hl(health_->mu);
    health_->members = next;
  }
  if (!runtime_) {
    for (auto& slot : workers_->slots)
      if (slot) slot->members = next;
    return;
  }
  std::weak_ptr<Workers> weak = workers_;
  runtime_->for_each_loop([weak, next](std::size_t i) {
    auto w = weak.lock();
    if (w && i < w->slots.size() && w->slots[i]) w->slots[i]->members = next;
  });
}

bool Proxy::add_server(const std::string& address, std::uint32_t weight, std::string& error) {
  Member m;
  try {
    m = make_member(address, weight);
  } catch (const std::exception& e) {
    error = e.what();
    return false;
  }
  std::lock_guard lock(members_mu_);
  for (const auto& existing : members_->members) {
    if (existing.server->params().address == address) {
      error = "server " + address + " is already in upstream " + config_.name;
      return false;
    }
  }
  auto next = std::make_shared<Membership>(*members_);
  next->members.push_back(std::move(m));
  next->view.push_back(next->members.back().server.get());
  publish(std::move(next));
  return true;
}

bool Proxy::remove_server(const std::string& address) {
  std::lock_guard lock(members_mu_);
  auto next = std::make_shared<Membership>();
  bool found = false;
  for (const auto& m : members_->members) {
    if (m.server->params().address == address) {
      found = true;
      continue;
    }
    next->members.push_back(m);
    next->view.push_back(m.server.get());
  }
  if (found) publish(std::move(next));
  return found;
}

awaitable<void> Proxy::sync_workers() {
  if (!runtime_) co_return;
  auto ex = co_await asio::this_coro::executor;
  struct Barrier {
    explicit Barrier(const asio::any_io_executor& e, std::size_t n) : timer(e), left(n) {}
    asio::steady_timer timer;
    std::atomic<std::size_t> left;
  };
  auto b = std::make_shared<Barrier>(ex, runtime_->threads());
  b->timer.expires_after(std::chrono::seconds(5));  // a bound, should a loop be stuck
  // Posted after the membership updates from this thread: each loop runs them first (FIFO).
  for (std::size_t i = 0; i < runtime_->threads(); ++i) {
    asio::post(runtime_->loop(i), [b, ex] {
      if (b->left.fetch_sub(1) == 1) asio::post(ex, [b] { b->timer.cancel(); });
    });
  }
  co_await b->timer.async_wait(asio::as_tuple(asio::use_awaitable));
}

bool Proxy::drain_server(const std::string& address, bool draining) {
  std::lock_guard lock(members_mu_);
  for (const auto& m : members_->members) {
    if (m.server->params().address == address) {
      m.server->set_draining(draining);
      return true;
    }
  }
  return false;
}

Proxy::~Proxy() {
  stop();
  // Each worker's state (its upstream connections, registered with that worker's Poller) is
  // destroyed on its own loop: a reload may retire this proxy on any worker thread.
  if (runtime_) {
    for (std::size_t i = 0; i < workers_->slots.size() && i < runtime_->threads(); ++i) {
      if (auto& slot = workers_->slots[i])
        asio::post(runtime_->loop(i), [state = std::move(slot)]() mutable { state.reset(); });
    }
  }
}

Proxy::ThreadState& Proxy::thread_state() {
  auto i = core::Runtime::current_index();
  if (i == core::Runtime::kNotWorker) i = 0;
  auto& slots = workers_->slots;
  if (i >= slots.size()) i %= slots.size();
  auto& slot = slots[i];
  if (!slot) {
    slot = std::make_unique<ThreadState>(config_, balance_, 0x5eed + i);
    slot->members = members();
    if (workers_->draining.load()) slot->client.stop_pooling();
  }
  return *slot;
}

namespace {
std::size_t worker_slot(std::size_t slots) {
  const auto i = core::Runtime::current_index();
  return i == core::Runtime::kNotWorker ? 0 : i % slots;
}
// Single-writer increment (the owning worker): a plain load and store, no locked instruction.
void bump(std::atomic<std::uint64_t>& a) {
  a.store(a.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}
}  // namespace

void Proxy::count_request(std::int64_t second) {
  auto& b = budget_[worker_slot(budget_slots_)];
  const auto last = b.second.load(std::memory_order_relaxed);
  if (last != second) {
    // Entering a new second: its bucket starts empty; after a longer pause both do.
    const auto cur = static_cast<std::size_t>(second & 1);
    b.requests[cur].store(0, std::memory_order_relaxed);
    b.retries[cur].store(0, std::memory_order_relaxed);
    if (second - last > 1) {
      b.requests[cur ^ 1].store(0, std::memory_order_relaxed);
      b.retries[cur ^ 1].store(0, std::memory_order_relaxed);
    }
    b.second.store(second, std::memory_order_relaxed);
  }
  bump(b.requests[second & 1]);
}

bool Proxy::retry_allowed(std::int64_t second) {
  std::uint64_t requests = 0, retries = 0;
  for (std::size_t i = 0; i < budget_slots_; ++i) {
    const auto& b = budget_[i];
    const auto at = b.second.load(std::memory_order_relaxed);
    if (second - at > 1) continue;  // an idle worker: nothing recent
    for (int k = 0; k < 2; ++k) {
      requests += b.requests[k].load(std::memory_order_relaxed);
      retries += b.retries[k].load(std::memory_order_relaxed);
    }
  }
  const double allowed =
      config_.retry_min_per_second * 2.0 + config_.retry_budget * static_cast<double>(requests);
  if (static_cast<double>(retries) >= allowed) return false;
  bump(budget_[worker_slot(budget_slots_)].retries[second & 1]);
  return true;
}

awaitable<void> Proxy::handle(http::Exchange& ex) {
  auto& ts = thread_state();
  ThreadState::ScratchLease sc(ts);
  auto& m = ProxyMetrics::get();
  const auto& req = ex.request();
  const auto second =
      std::chrono::duration_cast<std::chrono::seconds>(ex.started().time_since_epoch()).count();
  count_request(second);

  // Who is the client? The peer, unless the peer is a trusted proxy that says otherwise.
  const auto peer_ip = ex.peer().address();
  const bool trusted_peer = trusted_ && !trusted_->empty() && trusted_->contains(peer_ip);
  const std::string_view peer_text = ex.peer_address();
  std::string_view client_ip = peer_text;
  const auto incoming_xff = req.headers.find("x-forwarded-for");
  if (trusted_peer && incoming_xff) {
    // The right-most address that is not itself a trusted proxy.
    std::string_view chain = *incoming_xff;
    while (!chain.empty()) {
      const auto comma = chain.rfind(',');
      auto hop = comma == std::string_view::npos ? chain : chain.substr(comma + 1);
      while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
      boost::system::error_code ec;
      const auto a = asio::ip::make_address(std::string(hop), ec);
      client_ip = hop;
      if (ec || !trusted_->contains(a)) break;
      chain = comma == std::string_view::npos ? std::string_view{} : chain.substr(0, comma);
    }
  }
  sc->forwarded_for.clear();
  if (trusted_peer && incoming_xff) {
    sc->forwarded_for.append(*incoming_xff);
    sc->forwarded_for += ", "sv;
  }
  sc->forwarded_for += peer_text;

  std::string_view sticky_id;
  if (balance_ == BalanceKind::sticky_cookie)
    sticky_id = cookie_value(req.headers, config_.sticky.name);

  // ---- the upstream request head, rewritten while copied ----
  connection_tokens(req.headers, sc->tokens);
  auto& head = sc->head;
  head.clear();
  head.append(req.method_string);
  head += ' ';
  {
    const auto path = req.path();
    head.append(path);
    const auto q = req.query();
    if (!q.empty() || req.target.find('?') != std::string_view::npos) {
      head += '?';
      head.append(q);
    }
  }
  head += " HTTP/1.1\r\n"sv;
  bool has_host = false;
  for (const auto& h : req.headers) {
    if (dropped_request_field(h) || listed(sc->tokens, h.name) || ex.request_header_dropped(h.name))
      continue;
    has_host = has_host || h.id == http::Field::host;
    head.append(h.name);
    head += ": "sv;
    head.append(h.value);
    head += "\r\n"sv;
  }
  for (const auto& [name, value] : ex.added_request_headers()) {  // from the filter chain
    head.append(name);
    head += ": "sv;
    head.append(value);
    head += "\r\n"sv;
  }
  const auto authority = req.authority();
  if (!has_host && !authority.empty()) {
    head += "Host: "sv;
    head.append(authority);
    head += "\r\n"sv;
  }
  head += "X-Forwarded-For: "sv;
  head += sc->forwarded_for;
  head += "\r\nX-Forwarded-Proto: "sv;
  const auto incoming_proto = req.headers.find("x-forwarded-proto");
  head.append(trusted_peer && incoming_proto ? *incoming_proto : std::string_view("http"));
  const auto incoming_fhost = req.headers.find("x-forwarded-host");
  if (trusted_peer && incoming_fhost) {
    head += "\r\nX-Forwarded-Host: "sv;
    head.append(*incoming_fhost);
  } else if (!authority.empty()) {
    head += "\r\nX-Forwarded-Host: "sv;
    head.append(authority);
  }
  head += "\r\n"sv;
  if (req.chunked) {
    head += "Transfer-Encoding: chunked\r\n"sv;
  } else if (req.content_length) {
    char num[24];
    auto r = std::to_chars(num, num + sizeof num, *req.content_length);
    head += "Content-Length: "sv;
    head.append(num, r.ptr);
    head += "\r\n"sv;
  }
  head += "\r\n"sv;

  // ---- attempts ----
  // This request's servers: a snapshot that stays alive (with its servers) until it is done,
  // even if the admin API removes a server meanwhile.
  const std::shared_ptr<const Membership> members = ts.members;
  const auto& view = members->view;
  const auto n = view.size();
  sc->tried.assign(n, false);
  const unsigned max_tries = config_.tries == 0 ? static_cast<unsigned>(n) : config_.tries;
  const bool may_retry = idempotent(req.method);
  bool body_sent = false;
  unsigned attempts = 0;
  unsigned fail_status = 0;  // what to answer if every attempt fails
  std::string fail_message;

  for (;;) {
    const auto now = clock_type::now();
    const int idx = ts.balancer->pick(view, {client_ip, sticky_id, &sc->tried}, now);
    if (idx < 0) break;
    UpstreamServer& server = *view[static_cast<std::size_t>(idx)];
    sc->tried[static_cast<std::size_t>(idx)] = true;
    ++attempts;
    const std::string& sname = server.params().address;

    server.begin_request();
    struct EndRequest {
      UpstreamServer& s;
      ~EndRequest() { s.end_request(); }
    } end_request{server};

    // A failure before anything was answered: count it, then retry or give up.
    auto fail = [&](const char* kind, unsigned status, std::string message) {
      m.errors.series({config_.name, sname, kind}).inc();
      if (server.report_failure(clock_type::now()))
        TENX_LOG_WARN("upstream down pool={} server={} reason={}", config_.name, sname, kind);
      fail_status = status;
      fail_message = std::move(message);
    };
    auto can_retry = [&]() {
      if (!may_retry || body_sent) {
        m.retries.series({config_.name, "not_retryable"}).inc();
        return false;
      }
      if (attempts >= max_tries) return false;
      if (!retry_allowed(second)) {
        m.retries.series({config_.name, "budget_exhausted"}).inc();
        return false;
      }
      m.retries.series({config_.name, "retried"}).inc();
      return true;
    };

    // A pooled connection without a coroutine; else connect. (An if, not `?:`: GCC 12
    // evaluates both arms of a conditional whose arm is a co_await.)
    Result<std::unique_ptr<http::ClientConnection>> acquired =
        ts.client.try_acquire(server.endpoint());
    if (!*acquired) acquired = co_await ts.client.acquire(server.endpoint());
    if (!acquired) {
      const bool timeout = acquired.error() == core::Errc::timeout;
      fail(timeout ? "connect_timeout" : "connect", timeout ? 504 : 502,
           fmt::format("cannot connect to upstream {}: {}", sname, acquired.error().message()));
      if (can_retry()) continue;
      break;
    }
    auto conn = std::move(*acquired);
    const auto sent_at = clock_type::now();
    conn->set_total_deadline(sent_at + config_.header_timeout);

    // Request head (and body).
    error_code wec;
    if (!req.has_body()) {
      if (auto* poller = core::Poller::current(); poller && poller->in_batch())
        co_await poller->at_batch_end(asio::as_tuple(asio::use_awaitable));
      const std::string_view parts[] = {head};
      if (!conn->try_write(parts, wec)) wec = co_await conn->write_pending();
    } else {
      body_sent = true;  // from here the request cannot be replayed
      const std::string_view parts[] = {head};
      wec = co_await conn->write(parts);
      while (!wec) {
        auto piece = co_await ex.read_body_some();
        if (!piece) {
          // The client's body is broken (too large, malformed, gone): the server answers.
          co_return;
        }
        if (req.chunked) {
          char hex[24];
          auto r = std::to_chars(hex, hex + sizeof hex - 2, piece->size(), 16);
          *r.ptr++ = '\r';
          *r.ptr++ = '\n';
          const std::string_view framed[] = {
              std::string_view(hex, static_cast<std::size_t>(r.ptr - hex)), *piece, "\r\n"};
          // An if, not `piece->empty() ? co_await write(last) : co_await write(framed)`: GCC 12
          // ran both writes of that conditional, sending a last-chunk before every chunk.
          if (piece->empty()) {
            const std::string_view last[] = {"0\r\n\r\n"};
            wec = co_await conn->write(last);
          } else {
            wec = co_await conn->write(framed);
          }
        } else if (!piece->empty()) {
          const std::string_view parts[] = {*piece};
          wec = co_await conn->write(parts);
        }
        if (piece->empty()) break;
      }
    }
    if (wec) {
      // A pooled connection the upstream had just closed: not the server's fault.
      if (conn->reused() && !conn->got_response_bytes() && !body_sent) {
        sc->tried[static_cast<std::size_t>(idx)] = false;
        --attempts;
        continue;
      }
      fail("write", 502, fmt::format("upstream {} failed while sending: {}", sname, wec.message()));
      if (can_retry()) continue;
      break;
    }

    auto h = co_await conn->read_head(req.method == http::Verb::head);
    if (!h) {
      const auto ec = h.error();
      if (conn->reused() && !conn->got_response_bytes() && ec == core::Errc::closed && !body_sent) {
        sc->tried[static_cast<std::size_t>(idx)] = false;  // stale keep-alive: once more, fresh
        --attempts;
        continue;
      }
      if (ec == core::Errc::timeout) {
        fail("timeout", 504,
             fmt::format("upstream {} did not answer within {} ms", sname,
                         config_.header_timeout.count()));
      } else {
        fail(ec == core::Errc::closed ? "closed" : "bad_response", 502,
             fmt::format("upstream {} sent no valid response head: {}", sname, ec.message()));
      }
      if (can_retry()) continue;
      break;
    }
    const auto& rh = **h;
    const auto latency = clock_type::now() - sent_at;
    server.record_latency(latency);
    const auto& ss = members->members[static_cast<std::size_t>(idx)];
    ss.latency.observe_ns(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
    ss.by_class[std::min(4u, std::max(1u, rh.status / 100) - 1)].inc();
    if (rh.status == 502 || rh.status == 503 || rh.status == 504) {
      fail(rh.status == 504   ? "status_504"
           : rh.status == 503 ? "status_503"
                              : "status_502",
           rh.status, "");
      // 502 and 503 are retried elsewhere while allowed; otherwise relayed as they are.
      if (rh.status != 504 && may_retry && !body_sent && attempts < max_tries &&
          view.size() > attempts && can_retry())
        continue;
    } else {
      server.report_success();
    }

    // ---- relay the response ----
    connection_tokens(rh.headers, sc->tokens);
    sc->headers.clear();
    for (const auto& f : rh.headers)
      if (!dropped_response_field(f) && !listed(sc->tokens, f.name))
        sc->headers.push_back({f.name, f.value});
    if (balance_ == BalanceKind::sticky_cookie && sticky_id != server.id()) {
      // Pin (or re-pin) the client. The value is the server's opaque id, not its address.
      auto& c = sc->cookie;
      c = config_.sticky.name + "=" + server.id() + "; Path=" + config_.sticky.path;
      if (config_.sticky.expires.count() > 0)
        c += "; Max-Age=" + std::to_string(config_.sticky.expires.count());
      if (!config_.sticky.domain.empty()) c += "; Domain=" + config_.sticky.domain;
      c += "; HttpOnly"sv;
      sc->headers.push_back({"Set-Cookie", c});
    }
    std::optional<std::uint64_t> length;
    if (!rh.has_body || req.method == http::Verb::head) {
      length = rh.content_length.value_or(0);
    } else if (rh.content_length && !rh.chunked) {
      length = rh.content_length;
    }
    std::string_view first;
    bool upstream_ok = true;
    if (rh.has_body && req.method != http::Verb::head) {
      error_code bec;
      if (conn->try_body_piece(first, bec)) {
        upstream_ok = !bec;
      } else {
        auto piece = co_await conn->read_body_some();
        if (piece)
          first = *piece;
        else
          upstream_ok = false;
      }
    }
    if (!upstream_ok) {
      fail("truncated", 502, fmt::format("upstream {} closed before its body", sname));
      break;  // nothing answered yet: a 502 below
    }
    if (auto ec = co_await ex.start_response(rh.status, sc->headers, length, first)) co_return;
    while (!first.empty()) {
      std::string_view next;
      error_code bec;
      Result<std::string_view> piece = std::string_view{};
      if (conn->try_body_piece(next, bec)) {
        piece = bec ? Result<std::string_view>(bec) : Result<std::string_view>(next);
      } else {
        piece = co_await conn->read_body_some();
      }
      if (!piece) {
        // Truncated upstream body after the head went out: the client can only learn it by
        // the connection closing.
        m.errors.series({config_.name, sname, "truncated"}).inc();
        server.report_failure(clock_type::now());
        ex.close_after();
        co_return;
      }
      if (piece->empty()) break;
      if (auto ec = co_await ex.write_body(*piece)) co_return;
    }
    if (!ex.try_end_response()) co_await ex.end_response();
    ts.client.release(std::move(conn));
    co_return;
  }

  if (fail_status == 0) {
    m.unavailable.series({config_.name}).inc();
    const http::Header retry[] = {{"Retry-After", "1"}};
    ex.respond_error(503, "no_upstream_available",
                     "no healthy server in upstream '" + config_.name + "'", retry);
    co_return;
  }
  if (fail_message.empty())
    fail_message = fmt::format("upstream answered {} on every try", fail_status);
  ex.respond_error(fail_status, fail_status == 504 ? "upstream_timeout" : "bad_gateway",
                   fail_message);
}

// ---- active health checks ----

void Proxy::start_health_checks(core::Runtime& runtime) {
  if (!config_.health.enabled) return;
  auto health = health_;
  const auto cfg = config_.health;
  const auto name = config_.name;
  asio::co_spawn(
      runtime.loop(0),
      [health, cfg, name]() -> awaitable<void> {
        health->timer = std::make_unique<asio::steady_timer>(co_await asio::this_coro::executor);
        http::ClientOptions opts;
        opts.connect_timeout = cfg.timeout;
        opts.read_timeout = cfg.timeout;
        opts.total_timeout = cfg.timeout;
        opts.max_idle_per_upstream = 1;
        http::Client client(co_await asio::this_coro::executor, opts);
        struct Streak {
          unsigned ok = 0, fail = 0;
        };
        std::map<std::shared_ptr<UpstreamServer>, Streak> streaks;
        auto& registry = metrics::Registry::global();
        auto& checks =
            registry.counter("gateway_health_checks_total", "Active health checks, by result.",
                             {"pool", "server", "result"});
        while (!health->stopped.load()) {
          std::shared_ptr<const Membership> members;
          {
            std::lock_guard lock(health->mu);
            members = health->members;
          }
          // Forget servers that left the pool.
          for (auto it = streaks.begin(); it != streaks.end();) {
            bool present = false;
            for (const auto& m : members->members) present = present || m.server == it->first;
            it = present ? std::next(it) : streaks.erase(it);
          }
          for (std::size_t i = 0; i < members->members.size() && !health->stopped.load(); ++i) {
            const auto server = members->members[i].server;
            auto& s = *server;
            auto& streak = streaks[server];
            http::ClientRequest req;
            req.target = cfg.path;
            const http::Header hdr[] = {{"User-Agent", "tenx-health-check"}};
            req.headers = hdr;
            auto r = co_await client.request(s.endpoint(), req);
            const bool ok = r && r->status >= 200 && r->status < 300;
            checks.series({name, s.params().address, ok ? "pass" : "fail"}).inc();
            s.set_last_check_unix_ms(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
            if (ok) {
              streak.fail = 0;
              if (++streak.ok >= cfg.healthy_threshold && !s.healthy()) {
                s.set_healthy(true, clock_type::now());
                TENX_LOG_INFO("upstream healthy pool={} server={}", name, s.params().address);
              }
            } else {
              streak.ok = 0;
              if (++streak.fail >= cfg.unhealthy_threshold && s.healthy()) {
                s.set_healthy(false, clock_type::now());
                TENX_LOG_WARN("upstream unhealthy pool={} server={} reason=\"{}\"", name,
                              s.params().address,
                              r ? fmt::format("status {}", r->status) : r.error().message());
              }
            }
          }
          if (health->stopped.load()) break;
          health->timer->expires_after(cfg.interval);
          co_await health->timer->async_wait(asio::as_tuple(asio::use_awaitable));
        }
        health->timer.reset();
      },
      asio::detached);
  std::weak_ptr<HealthState> weak = health_;
  runtime.on_drain([weak, &runtime] {
    asio::post(runtime.loop(0), [weak] {
      if (auto h = weak.lock()) {
        h->stopped = true;
        if (h->timer) h->timer->cancel();
      }
    });
  });
}

void Proxy::close_pools_on_drain(core::Runtime& runtime) {
  runtime_ = &runtime;
  std::weak_ptr<Workers> weak = workers_;
  runtime.on_drain([weak, &runtime] {
    // A worker state made from now on pools nothing; the existing ones are each closed on
    // their own loop, which owns them.
    if (auto w = weak.lock()) w->draining = true;
    runtime.for_each_loop([weak](std::size_t i) {
      auto w = weak.lock();
      if (w && i < w->slots.size() && w->slots[i]) w->slots[i]->client.stop_pooling();
    });
  });
}

void Proxy::stop() {
  health_->stopped = true;
  // The timer lives on loop 0; the checker sees the flag at its next wake-up at the latest.
}

}  // namespace tenx::gateway
