#include "gateway/proxy/proxy.h"

#include "core/log.h"
#include "core/net_address.h"
#include "core/runtime.h"
#include "core/text.h"
#include "gateway/proxy/headers.h"
#include "gateway/upstream/health_checker.h"
#include "http/client.h"
#include "metrics/registry.h"

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <stdexcept>

namespace tenx::gateway {
namespace asio = boost::asio;
using namespace std::string_view_literals;
using asio::awaitable;

namespace {

bool idempotent(http::Verb m) {
  using V = http::Verb;
  return m == V::get || m == V::head || m == V::options || m == V::put || m == V::delete_ ||
         m == V::trace;
}

bool contains(const std::vector<unsigned>& statuses, unsigned status) {
  return std::find(statuses.begin(), statuses.end(), status) != statuses.end();
}

// RFC 6265 §4.2.1: cookie-pairs separated by "; ".
std::string_view cookie_value(const http::HeaderList& headers, std::string_view name) {
  std::string_view found;
  for (const auto& h : headers) {
    if (h.id != http::Field::cookie) continue;
    core::split_list(h.value, ';', [&](std::string_view pair) {
      const auto eq = pair.find('=');
      if (eq == std::string_view::npos || pair.substr(0, eq) != name) return true;
      found = pair.substr(eq + 1);
      return false;  // the first one wins
    });
    if (!found.empty()) break;
  }
  return found;
}

std::size_t worker_index() {
  const auto i = core::Runtime::current_index();
  return i == core::Runtime::kNotWorker ? 0 : i;
}

// The client of the exchange went away while the upstream was asked: stop waiting for it.
void abort_upstream(void* conn) { static_cast<http::ClientConnection*>(conn)->abort(); }

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
      "gateway_no_server_total", "Requests answered 503 because no server may take requests.",
      {"pool"});
  metrics::Family& panic = metrics::Registry::global().counter(
      "gateway_upstream_panic_total",
      "Requests sent to a server marked down because every server of the pool was.", {"pool"});
  metrics::Family& tunnels = metrics::Registry::global().counter(
      "gateway_upgrades_total",
      "Connections switched to another protocol (WebSocket) and tunnelled.", {"pool"});
  metrics::Family& client_aborts = metrics::Registry::global().counter(
      "gateway_client_aborts_total",
      "Proxied requests whose client went away or failed first (not counted against servers).",
      {"pool"});
  static ProxyMetrics& get() {
    static ProxyMetrics m;
    return m;
  }
};

}  // namespace

// ---- per-worker state ----

struct Proxy::ThreadState {
  ThreadState(const config::UpstreamConfig& c, BalanceKind kind, std::uint64_t seed)
      : client(*core::Poller::current(), client_options(c)), balancer(make_balancer(kind, seed)) {}
  static http::ClientOptions client_options(const config::UpstreamConfig& c) {
    http::ClientOptions o;
    o.connect_timeout = c.connect_timeout;
    o.send_timeout = c.send_timeout;
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
    IdentityScratch identity;
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

// What one request has tried, and what it answers if every try fails.
struct Proxy::Attempts {
  unsigned count = 0;
  unsigned max = 1;
  bool may_retry = false;   // an idempotent method
  bool body_sent = false;   // a byte of the body may have been read upstream: never replay
  std::int64_t second = 0;  // the request's start, for the retry budget
  std::size_t worker = 0;
  unsigned fail_status = 0;  // 0: no server was tried
  std::string fail_message;
};

// How sending a request with a body ended.
struct Proxy::Sent {
  error_code upstream;          // the upstream connection failed
  bool client_failed = false;   // the client's body broke (gone, too slow, too large, bad)
  bool answered_early = false;  // the upstream began its answer before the body was sent
};

Proxy::Proxy(const config::UpstreamConfig& config, std::shared_ptr<const TrustedProxies> trusted,
             std::size_t threads, const core::Clock& clock, const Proxy* previous)
    : config_(config),
      clock_(clock),
      trusted_(std::move(trusted)),
      balance_(parse_balance(config.balance).value_or(BalanceKind::round_robin)),
      workers_(std::make_shared<Workers>(threads == 0 ? 1 : threads)),
      health_(std::make_shared<HealthMonitor>(config.name, config.health, clock)),
      budget_(config.retry_budget, config.retry_min_per_second, threads == 0 ? 1 : threads) {
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
  HealthMonitor::Servers servers;
  for (const auto& mem : members_->members) servers.push_back(mem.server);
  health_->set_servers(std::move(servers));
}

Proxy::Member Proxy::make_member(const std::string& address, std::uint32_t weight) const {
  const auto refuse = [&](const error_code& why) {
    return std::invalid_argument("upstream " + config_.name + ": server address '" + address +
                                 "' must be a numeric IP and port: " + why.message());
  };
  const auto hp = core::parse_host_port(address);
  if (!hp) throw refuse(hp.error());
  const auto addr = core::parse_address(hp->host == "localhost" ? "127.0.0.1" : hp->host);
  if (!addr) throw refuse(addr.error());
  ServerParams p;
  p.address = address;
  p.weight = weight == 0 ? 1 : weight;
  p.max_fails = config_.max_fails;
  p.fail_timeout = config_.fail_timeout;
  p.slow_start = config_.slow_start;
  Member member;
  member.server = std::make_shared<UpstreamServer>(p, asio::ip::tcp::endpoint(*addr, *hp->port));
  auto& metrics = ProxyMetrics::get();
  static const char* kClasses[] = {"1xx", "2xx", "3xx", "4xx", "5xx"};
  for (int c = 0; c < 5; ++c)
    member.by_class[c] = metrics.requests.series({config_.name, address, kClasses[c]});
  member.latency = metrics.latency.series({config_.name, address});
  return member;
}

std::shared_ptr<const Proxy::Membership> Proxy::members() const {
  core::MutexLock lock(members_mu_);
  return members_;
}

void Proxy::publish(const std::shared_ptr<const Membership>& next) {
  // Each worker swaps its snapshot on its own loop.
  members_ = next;
  HealthMonitor::Servers servers;
  for (const auto& mem : next->members) servers.push_back(mem.server);
  health_->set_servers(std::move(servers));
  if (!runtime_) {
    for (auto& slot : workers_->slots)
      if (slot) slot->members = next;
    return;
  }
  std::weak_ptr<Workers> weak = workers_;
  runtime_->for_each_loop([weak, next](std::size_t i) {
    auto w = weak.lock();
    if (!w || i >= w->slots.size() || !w->slots[i]) return;
    auto& slot = *w->slots[i];
    slot.members = next;
    // Idle connections to servers that left would stay open (nothing asks for them again).
    std::vector<asio::ip::tcp::endpoint> keep;
    for (const auto& m : next->members) keep.push_back(m.server->endpoint());
    slot.client.close_idle_except(keep);
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
  core::MutexLock lock(members_mu_);
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
  {
    core::MutexLock lock(members_mu_);
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
    if (!found) return false;
    publish(std::move(next));
  }
  retire_server_metrics(config_.name, address);
  return true;
}

void Proxy::retire_server_metrics(const std::string& pool, const std::string& address) {
  const auto match = [&](const std::vector<std::string>& v) {
    return v.size() >= 2 && v[0] == pool && v[1] == address;
  };
  auto& m = ProxyMetrics::get();
  for (auto* f : {&m.requests, &m.errors, &m.latency, &health_check_metrics()}) f->retire_if(match);
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
  core::MutexLock lock(members_mu_);
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
  if (runtime_)
    for (const auto id : drain_hooks_) runtime_->remove_drain_hook(id);
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
  auto& slots = workers_->slots;
  auto& slot = slots[worker_index() % slots.size()];
  if (!slot) {
    slot = std::make_unique<ThreadState>(config_, balance_, 0x5eed + worker_index());
    slot->members = members();
    if (workers_->draining.load()) slot->client.stop_pooling();
  }
  return *slot;
}

// ---- the steps of a request ----

int Proxy::pick_server(ThreadState& ts, const Membership& members, const PickRequest& pick,
                       const Attempts& at) const {
  const auto now = clock_.now();
  const int idx = ts.balancer->pick(members.view, pick, now);
  if (idx >= 0 || at.count > 0) return idx;
  // Every server is down: try one anyway (nginx resets its peers; Envoy's panic threshold)
  // rather than refuse everything until a check or fail_timeout brings one back.
  PickRequest panic = pick;
  panic.ignore_health = true;
  const int any = ts.balancer->pick(members.view, panic, now);
  if (any >= 0) ProxyMetrics::get().panic.series({config_.name}).inc();
  return any;
}

void Proxy::note_failure(UpstreamServer& server, Attempts& at, const char* kind, bool server_sick,
                         unsigned status, std::string message) const {
  const auto& address = server.params().address;
  ProxyMetrics::get().errors.series({config_.name, address, kind}).inc();
  if (server_sick && server.report_failure(clock_.now()))
    TENX_LOG_WARN("upstream down pool={} server={} reason={}", config_.name, address, kind);
  at.fail_status = status;
  at.fail_message = std::move(message);
}

bool Proxy::retry(Attempts& at) const {
  auto& m = ProxyMetrics::get();
  if (!at.may_retry || at.body_sent) {
    m.retries.series({config_.name, "not_retryable"}).inc();
    return false;
  }
  if (at.count >= at.max) return false;
  if (!budget_.try_spend(at.second, at.worker)) {
    m.retries.series({config_.name, "budget_exhausted"}).inc();
    return false;
  }
  m.retries.series({config_.name, "retried"}).inc();
  return true;
}

void Proxy::count_client_abort() const {
  ProxyMetrics::get().client_aborts.series({config_.name}).inc();
}

void Proxy::reply_failure(http::Exchange& ex, const Attempts& at) const {
  if (at.fail_status == 0) {
    ProxyMetrics::get().unavailable.series({config_.name}).inc();
    const http::Header retry_after[] = {{"Retry-After", "1"}};
    ex.respond_error(503, "no_upstream_available",
                     "no server of upstream '" + config_.name + "' takes requests", retry_after);
    return;
  }
  const std::string message = at.fail_message.empty()
                                  ? fmt::format("upstream answered {} on every try", at.fail_status)
                                  : at.fail_message;
  ex.respond_error(at.fail_status, at.fail_status == 504 ? "upstream_timeout" : "bad_gateway",
                   message);
}

awaitable<Proxy::Sent> Proxy::send_with_body(http::Exchange& ex, http::ClientConnection& conn,
                                             std::string_view head) const {
  const bool chunked = ex.request().chunked;
  Sent out;
  conn.watch_response_while_sending(true);
  const std::string_view parts[] = {head};
  out.upstream = co_await conn.write(parts);
  while (!out.upstream) {
    if (conn.response_waiting()) {  // an early 401 / 413: relay it, send no more
      out.answered_early = true;
      break;
    }
    // Waiting for the client, watch the upstream too: it may answer before the body is whole.
    if (co_await ex.wait_body_or_readable(conn.poller_handle())) continue;
    auto piece = co_await ex.read_body_some();
    if (!piece) {
      out.client_failed = true;
      break;
    }
    if (chunked) {
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
        out.upstream = co_await conn.write(last);
      } else {
        out.upstream = co_await conn.write(framed);
      }
    } else if (!piece->empty()) {
      const std::string_view data[] = {*piece};
      out.upstream = co_await conn.write(data);
    }
    if (piece->empty()) break;
  }
  conn.watch_response_while_sending(false);
  co_return out;
}

awaitable<void> Proxy::tunnel(http::Exchange& ex, http::ClientConnection& conn,
                              const http::ResponseHead& head) const {
  std::vector<std::string_view> tokens;
  std::vector<http::Header> fields;
  client_response_fields(head.headers, tokens, fields);
  fields.push_back({"Upgrade", head.headers.find(http::Field::upgrade).value_or("")});
  fields.push_back({"Connection", "upgrade"});
  if (co_await ex.accept_upgrade(fields)) co_return;
  auto& tunnels = ProxyMetrics::get().tunnels;
  tunnels.series({config_.name}).inc();
  for (;;) {
    bool moved = false;
    const auto from_client = ex.try_tunnel_read();
    if (!from_client) break;
    if (!from_client->empty()) {
      const std::string_view parts[] = {*from_client};
      if (co_await conn.write(parts)) break;
      moved = true;
    }
    const auto from_server = conn.try_raw_read();
    if (!from_server) break;
    if (!from_server->empty()) {
      if (co_await ex.tunnel_write(*from_server)) break;
      moved = true;
    }
    if (moved) continue;
    if (co_await ex.tunnel_wait(conn.poller_handle(), config_.read_timeout) < 0) break;
  }
}

// One coroutine for the whole request, its steps plain functions or awaited only where they
// must wait: every extra coroutine frame on this path costs about 1,100 instructions per
// request (bench/gateway_proxy_instructions.sh).
awaitable<void> Proxy::handle(http::Exchange& ex, const FilterContext& filtered) {
  auto& ts = thread_state();
  ThreadState::ScratchLease sc(ts);
  const auto& req = ex.request();

  Attempts at;
  at.second =
      std::chrono::duration_cast<std::chrono::seconds>(ex.started().time_since_epoch()).count();
  at.worker = worker_index();
  at.may_retry = idempotent(req.method);
  budget_.count_request(at.second, at.worker);

  // 1. client identity, 2. upstream head
  const ClientIdentity client = resolve_client(ex, trusted_.get(), sc->identity);
  std::string_view sticky_id;
  if (balance_ == BalanceKind::sticky_cookie)
    sticky_id = cookie_value(req.headers, config_.sticky.name);
  build_upstream_head(ex, filtered, client, config_.name, sc->tokens, sc->head);

  // This request's servers: a snapshot that stays alive (with its servers) until it is done,
  // even if the admin API removes a server meanwhile.
  const std::shared_ptr<const Membership> members = ts.members;
  const auto& view = members->view;
  sc->tried.assign(view.size(), false);
  at.max = config_.tries == 0 ? static_cast<unsigned>(view.size()) : config_.tries;
  const bool head_request = req.method == http::Verb::head;

  for (;;) {
    // 3. pick
    const int idx = pick_server(ts, *members, {client.ip, sticky_id, &sc->tried}, at);
    if (idx < 0) break;
    UpstreamServer& server = *view[static_cast<std::size_t>(idx)];
    sc->tried[static_cast<std::size_t>(idx)] = true;
    ++at.count;
    const std::string& sname = server.params().address;
    server.begin_request();
    struct EndRequest {
      UpstreamServer& s;
      ~EndRequest() { s.end_request(); }
    } end_request{server};
    // A pooled connection the upstream closed just before we used it: not the server's fault,
    // and the request goes again on a new connection as if this try never happened.
    auto stale_retry = [&] {
      sc->tried[static_cast<std::size_t>(idx)] = false;
      --at.count;
    };

    // 4. one attempt: a connection (pooled without a coroutine, else a new one; an if, not
    // `?:`: GCC 12 evaluates both arms of a conditional whose arm is a co_await)...
    Result<std::unique_ptr<http::ClientConnection>> acquired =
        ts.client.try_acquire(server.endpoint());
    if (!*acquired) acquired = co_await ts.client.acquire(server.endpoint());
    if (!acquired) {
      const bool timeout = acquired.error() == core::Errc::timeout;
      note_failure(
          server, at, timeout ? "connect_timeout" : "connect", true, timeout ? 504 : 502,
          fmt::format("cannot connect to upstream {}: {}", sname, acquired.error().message()));
      if (retry(at)) continue;
      break;
    }
    auto conn = std::move(*acquired);

    // ...the request...
    Sent sent;
    if (!req.has_body()) {
      if (auto* poller = core::Poller::current(); poller && poller->in_batch())
        co_await poller->at_batch_end(asio::as_tuple(asio::use_awaitable));
      const std::string_view parts[] = {sc->head};
      if (!conn->try_write(parts, sent.upstream)) sent.upstream = co_await conn->write_pending();
    } else {
      at.body_sent = true;  // from here the request cannot be replayed
      sent = co_await send_with_body(ex, *conn, sc->head);
      if (sent.client_failed) {
        // The client's body broke: the server answers it (400, 408, 413) or, the client
        // being gone, nobody. The upstream connection, mid-request, closes.
        if (ex.client_gone()) count_client_abort();
        co_return;
      }
      if (sent.answered_early) conn->no_reuse();
    }
    if (sent.upstream && !conn->response_waiting(/*after_send_error=*/true)) {
      if (conn->reused() && !conn->sent_any()) {  // none of it reached the server
        stale_retry();
        continue;
      }
      note_failure(
          server, at, "write", true, 502,
          fmt::format("upstream {} failed while sending: {}", sname, sent.upstream.message()));
      if (retry(at)) continue;
      break;
    }
    if (sent.upstream) conn->no_reuse();  // it answered, then stopped reading: relay the answer

    // ...and its response head, within header_timeout from now (the request is sent), while
    // watching the client: one that goes away cancels the wait.
    // (The deadline is the event loop's timer, on its own clock: it only wakes the wait.)
    const auto sent_at = clock_.now();
    conn->set_total_deadline(std::chrono::steady_clock::now() + config_.header_timeout);
    ex.watch_client(&abort_upstream, conn.get());
    Result<const http::ResponseHead*> h = make_error_code(core::Errc::closed);
    if (!ex.client_gone()) h = co_await conn->read_head(head_request);
    ex.unwatch_client();
    if (ex.client_gone()) {
      count_client_abort();
      ex.abandon();
      co_return;
    }
    if (!h) {
      const auto ec = h.error();
      if (conn->reused() && !conn->got_response_bytes() && ec == core::Errc::closed) {
        // Closed on reuse without a byte of answer: sent again only if replaying is safe.
        if (at.may_retry && !at.body_sent) {
          stale_retry();
          continue;
        }
        note_failure(
            server, at, "closed_on_reuse", false, 502,
            fmt::format("upstream {} closed a reused connection without answering", sname));
        break;
      }
      if (ec == core::Errc::timeout) {
        note_failure(server, at, "timeout", true, 504,
                     fmt::format("upstream {} did not answer within {} ms", sname,
                                 config_.header_timeout.count()));
      } else {
        note_failure(
            server, at, ec == core::Errc::closed ? "closed" : "bad_response", true, 502,
            fmt::format("upstream {} sent no valid response head: {}", sname, ec.message()));
      }
      if (retry(at)) continue;
      break;
    }
    conn->set_total_deadline(core::Clock::time_point::max());  // from here: read_timeout only
    const auto& rh = **h;
    const auto latency = clock_.now() - sent_at;
    server.record_latency(latency);
    const auto& ss = members->members[static_cast<std::size_t>(idx)];
    ss.latency.observe_ns(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(latency).count()));
    ss.by_class[std::min(4u, std::max(1u, rh.status / 100) - 1)].inc();
    if (contains(config_.fails_on, rh.status)) {
      note_failure(server, at, "status", true, rh.status, "");
    } else {
      server.report_success();
    }
    // 5. retry policy for answers: a `retry_on` status goes to the next server while allowed;
    // otherwise it is relayed as it is.
    if (contains(config_.retry_on, rh.status) && view.size() > at.count) {
      at.fail_status = rh.status;
      at.fail_message.clear();
      if (retry(at)) continue;
    }

    if (rh.status == 101) {
      if (!ex.upgrade_requested()) {
        note_failure(server, at, "bad_response", true, 502,
                     fmt::format("upstream {} switched protocols unasked", sname));
        break;
      }
      co_await tunnel(ex, *conn, rh);
      co_return;
    }

    // 6. relay the response
    client_response_fields(rh.headers, sc->tokens, sc->headers);
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
    // RFC 9110 §9.3.2: a HEAD response carries the framing a GET's would (a length, or
    // chunked when the upstream's is), without a body.
    std::optional<std::uint64_t> length;
    if (head_request) {
      length = rh.chunked ? std::nullopt : rh.content_length;
    } else if (!rh.has_body) {
      length = 0;
    } else if (rh.content_length && !rh.chunked) {
      length = rh.content_length;
    }
    std::string_view first;
    bool upstream_ok = true;
    if (rh.has_body && !head_request) {
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
      note_failure(server, at, "truncated", true, 502,
                   fmt::format("upstream {} closed before its body", sname));
      break;  // nothing answered yet: a 502 below
    }
    if (co_await ex.start_response(rh.status, sc->headers, length, first)) {
      count_client_abort();  // the client stopped reading
      co_return;
    }
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
        ProxyMetrics::get().errors.series({config_.name, sname, "truncated"}).inc();
        server.report_failure(clock_.now());
        ex.close_after();
        co_return;
      }
      if (piece->empty()) break;
      if (co_await ex.write_body(*piece)) {
        count_client_abort();
        co_return;
      }
    }
    if (!ex.try_end_response()) co_await ex.end_response();
    ts.client.release(std::move(conn));
    co_return;
  }
  // 7. error reply
  reply_failure(ex, at);
}

// ---- health checks, drain ----

void Proxy::start_health_checks(core::Runtime& runtime) {
  if (!config_.health.enabled) return;
  health_->start(runtime.loop(0));
  runtime_ = &runtime;
  std::weak_ptr<HealthMonitor> weak = health_;
  drain_hooks_.push_back(runtime.on_drain([weak] {
    if (auto h = weak.lock()) h->stop();
  }));
}

void Proxy::close_pools_on_drain(core::Runtime& runtime) {
  runtime_ = &runtime;
  std::weak_ptr<Workers> weak = workers_;
  drain_hooks_.push_back(runtime.on_drain([weak, &runtime] {
    // A worker state made from now on pools nothing; the existing ones are each closed on
    // their own loop, which owns them.
    if (auto w = weak.lock()) w->draining = true;
    runtime.for_each_loop([weak](std::size_t i) {
      auto w = weak.lock();
      if (w && i < w->slots.size() && w->slots[i]) w->slots[i]->client.stop_pooling();
    });
  }));
}

void Proxy::stop() { health_->stop(); }

}  // namespace tenx::gateway
