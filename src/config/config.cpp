#include "config/config.h"
#include "config/policies.h"
#include "core/net_address.h"

#include <filesystem>

#include <toml++/toml.h>

#include <fmt/format.h>

#include <limits>
#include <set>

namespace tenx::config {

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) {
    if (!out.empty()) out += '\n';
    out += s;
  }
  return out;
}

const char* type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    case toml::node_type::date:
      return "a date";
    case toml::node_type::time:
      return "a time";
    case toml::node_type::date_time:
      return "a date-time";
    default:
      return "nothing";
  }
}

struct Ctx {
  std::string source;
  std::vector<std::string> errors;

  void error_at(const toml::source_region& where, const std::string& msg) {
    if (where.begin.line == 0 || (where.path && *where.path == "--set")) {
      errors.push_back("--set: " + msg);
    } else {
      errors.push_back(fmt::format("{}:{}: {}", source, where.begin.line, msg));
    }
  }
};

class Reader {
 public:
  Reader(Ctx& ctx, const toml::table& t, std::string prefix)
      : ctx_(ctx), t_(t), prefix_(std::move(prefix)) {}

  std::string full(std::string_view key) const {
    return prefix_.empty() ? std::string(key) : prefix_ + "." + std::string(key);
  }
  int line() const { return static_cast<int>(t_.source().begin.line); }

  const toml::node* node(std::string_view key) {
    used_.insert(std::string(key));
    return t_.get(key);
  }

  bool str(std::string_view key, std::string& out) {
    auto* n = node(key);
    if (!n) return false;
    if (auto v = n->value<std::string>(); v && n->is_string()) {
      out = *v;
      return true;
    }
    ctx_.error_at(n->source(),
                  fmt::format("'{}' must be a string, not {}", full(key), type_name(*n)));
    return false;
  }

  bool boolean(std::string_view key, bool& out) {
    auto* n = node(key);
    if (!n) return false;
    if (n->is_boolean()) {
      out = *n->value<bool>();
      return true;
    }
    ctx_.error_at(n->source(),
                  fmt::format("'{}' must be true or false, not {}", full(key), type_name(*n)));
    return false;
  }

  template <class T>
  bool integer(std::string_view key, T& out, std::int64_t min, std::int64_t max) {
    auto* n = node(key);
    if (!n) return false;
    if (!n->is_integer()) {
      ctx_.error_at(n->source(),
                    fmt::format("'{}' must be an integer, not {}", full(key), type_name(*n)));
      return false;
    }
    const auto v = *n->value<std::int64_t>();
    if (v < min || v > max) {
      ctx_.error_at(n->source(),
                    fmt::format("'{}' = {} is out of range [{}, {}]", full(key), v, min, max));
      return false;
    }
    out = static_cast<T>(v);
    return true;
  }

  bool millis(std::string_view key, std::chrono::milliseconds& out, std::int64_t min,
              std::int64_t max) {
    std::int64_t v = 0;
    if (!integer(key, v, min, max)) return false;
    out = std::chrono::milliseconds(v);
    return true;
  }

  // Sub-table; null when absent (or reported when of another type).
  const toml::table* table(std::string_view key) {
    auto* n = node(key);
    if (!n) return nullptr;
    if (auto* t = n->as_table()) return t;
    ctx_.error_at(n->source(),
                  fmt::format("'{}' must be a table, not {}", full(key), type_name(*n)));
    return nullptr;
  }

  const toml::array* array(std::string_view key) {
    auto* n = node(key);
    if (!n) return nullptr;
    if (auto* a = n->as_array()) return a;
    ctx_.error_at(n->source(),
                  fmt::format("'{}' must be an array, not {}", full(key), type_name(*n)));
    return nullptr;
  }

  void error(std::string_view key, const std::string& msg) {
    auto* n = t_.get(key);
    ctx_.error_at(n ? n->source() : t_.source(), msg);
  }

  // Every key present but never asked for is unknown.
  void done() {
    for (auto&& [k, v] : t_) {
      if (!used_.count(std::string(k.str())))
        ctx_.error_at(k.source().begin.line ? k.source() : v.source(),
                      fmt::format("unknown key '{}'", full(k.str())));
    }
  }

 private:
  Ctx& ctx_;
  const toml::table& t_;
  std::string prefix_;
  std::set<std::string> used_;
};

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

// What the listeners and the proxy accept as a host: a numeric IPv4 / IPv6 address or
// localhost (they never resolve names: no DNS on the start-up or request path).
bool numeric_host(std::string_view host) {
  return host == "localhost" || core::parse_address(host).has_value();
}

// A listen address: HOST:PORT, :PORT or PORT (core::parse_host_port), the host numeric when
// given.
bool valid_listen(const std::string& listen) {
  const auto address = core::parse_host_port(listen);
  return address && (address->host.empty() || numeric_host(address->host));
}

void read_server(Reader r, ServerSection& s) {
  r.str("listen", s.listen);
  r.integer("threads", s.threads, 0, 256);
  r.millis("drain_timeout_ms", s.drain_timeout, 0, kDay);
  r.integer("max_header_bytes", s.max_header_bytes, 256, 1 << 20);
  r.integer("max_body_bytes", s.max_body_bytes, 0, std::int64_t{1} << 40);
  r.millis("header_timeout_ms", s.header_timeout, 1, kDay);
  r.millis("idle_timeout_ms", s.idle_timeout, 1, kDay);
  r.millis("idle_park_after_ms", s.idle_park_after, 0, kDay);
  r.millis("body_timeout_ms", s.body_timeout, 1, kDay);
  r.millis("send_timeout_ms", s.send_timeout, 1, kDay);
  r.integer("max_connections", s.max_connections, 1, 10'000'000);
  r.integer("max_requests_per_connection", s.max_requests_per_connection, 0, 1'000'000'000);
  r.str("server_name", s.server_name);
  if (s.server_name.find_first_of("\r\n") != std::string::npos)
    r.error("server_name", "'server.server_name' must not contain line breaks");
  if (!valid_listen(s.listen))
    r.error("listen",
            "'server.listen' must be HOST:PORT, :PORT or PORT with a numeric port "
            "up to 65535 (e.g. \"127.0.0.1:8080\"); not '" +
                s.listen + "'");
  r.done();
}

void read_log(Reader r, LogSection& s) {
  if (r.str("level", s.level)) {
    static const std::set<std::string> ok = {"trace", "debug", "info", "warn", "error", "off"};
    if (!ok.count(s.level))
      r.error("level", "'log.level' must be one of trace, debug, info, warn, error, off; not '" +
                           s.level + "'");
  }
  r.str("file", s.file);
  r.str("access_log", s.access_log);
  r.done();
}

bool loopback_listen(const std::string& listen) {
  const auto address = core::parse_host_port(listen);
  const auto host = address ? address->host : std::string_view{};
  return host.starts_with("127.") || host == "::1" || host == "localhost";
}

void read_admin(Reader r, AdminSection& a) {
  r.str("listen", a.listen);
  r.str("token", a.token);
  if (!a.listen.empty()) {
    if (!valid_listen(a.listen))
      r.error("listen",
              "'admin.listen' must be HOST:PORT with a numeric port; not '" + a.listen + "'");
    else if (!loopback_listen(a.listen) && a.token.empty())
      r.error("listen", "the admin listener ('admin.listen' or --admin) is not on loopback ('" +
                            a.listen +
                            "'): set admin.token (in [admin], or --set admin.token=\"...\") so "
                            "the admin API needs a bearer token");
  }
  if (a.token.find_first_of(" \t\r\n") != std::string::npos)
    r.error("token", "'admin.token' must not contain spaces or line breaks");
  r.done();
}

void read_health(Reader r, HealthSection& s) {
  r.str("disk_path", s.disk_path);
  std::uint64_t mb = 0;
  if (r.integer("disk_min_free_mb", mb, 0, 1 << 30)) s.disk_min_free_bytes = mb << 20;
  if (r.integer("max_rss_mb", mb, 1, 1 << 30)) s.max_rss_bytes = mb << 20;
  r.millis("check_timeout_ms", s.check_timeout, 1, 600'000);
  r.done();
}

void read_app(Reader r, AppSection& a) {
  if (r.str("listen", a.listen) && !valid_listen(a.listen))
    r.error("listen", "'app.listen' must be HOST:PORT with a numeric port; not '" + a.listen + "'");
  r.integer("threads", a.threads, 1, 256);
  if (r.str("database", a.database) && !a.database.starts_with("sqlite://") &&
      !a.database.starts_with("postgresql://") && !a.database.starts_with("postgres://"))
    r.error("database",
            "'app.database' must be sqlite://PATH or postgresql://...; not '" + a.database + "'");
  r.boolean("debug_headers", a.debug_headers);
  r.boolean("demo", a.demo);
  r.boolean("create", a.create);
  r.millis("slow_query_ms", a.slow_query, 0, 3'600'000);
  r.integer("n_plus_one_threshold", a.n_plus_one_threshold, 1, 1'000'000);
  r.millis("refresh_interval_ms", a.refresh_interval, 1'000, 86'400'000);
  r.integer("read_threads", a.read_threads, 1, 64);
  r.integer("pool_size", a.pool_size, 1, 1'000);
  r.str("cursor_key", a.cursor_key);
  r.integer("per_page_max", a.per_page_max, 1, 10'000);
  if (r.str("cache", a.cache) && a.cache != "memory" && a.cache != "off" &&
      !a.cache.starts_with("redis://"))
    r.error("cache", "'app.cache' must be \"memory\", \"off\" or redis://host:port[/db]; not '" +
                         a.cache + "'");
  r.integer("cache_memory_mb", a.cache_memory_mb, 1, 1 << 20);
  r.millis("cache_ttl_trending_ms", a.cache_ttl_trending, 1, 86'400'000);
  r.millis("cache_ttl_user_ms", a.cache_ttl_user, 1, 86'400'000);
  r.millis("cache_ttl_feed_ms", a.cache_ttl_feed, 1, 86'400'000);
  r.done();
}

void read_route(Ctx& ctx, const toml::table& t, const std::string& prefix, RouteConfig& route) {
  Reader r(ctx, t, prefix);
  route.line = r.line();
  r.str("host", route.host);
  std::string exact, pre;
  const bool has_path = r.str("path", exact);
  const bool has_prefix = r.str("prefix", pre);
  if (has_path == has_prefix) {
    ctx.error_at(t.source(), prefix + ": give exactly one of 'path' (exact match) or 'prefix'");
  } else {
    route.prefix = has_prefix;
    route.path = has_prefix ? pre : exact;
    if (route.path.empty() || route.path.front() != '/')
      r.error(has_prefix ? "prefix" : "path", prefix + ": a path must start with '/'");
  }
  bool metrics = false, health = false;
  r.boolean("metrics", metrics);
  r.boolean("health", health);
  const bool upstream = r.str("upstream", route.upstream);
  const bool static_files = r.str("static_root", route.static_root);
  if (r.str("cache_control", route.cache_control) &&
      route.cache_control.find_first_of("\r\n") != std::string::npos)
    r.error("cache_control", prefix + ".cache_control must not contain line breaks");
  const toml::table* ret = r.table("return");
  const int kinds =
      int(metrics) + int(health) + int(ret != nullptr) + int(upstream) + int(static_files);
  if (kinds != 1) {
    ctx.error_at(t.source(), prefix +
                                 ": give exactly one action: upstream = \"POOL\", static_root = "
                                 "\"DIR\", a [return] table, metrics = true or health = true");
  }
  if (static_files) {
    route.kind = RouteConfig::Kind::static_files;
    std::error_code ec;
    if (!std::filesystem::is_directory(route.static_root, ec))
      r.error("static_root", prefix + ".static_root '" + route.static_root +
                                 "' is not a directory (relative paths start at the working "
                                 "directory)");
  }
  if (metrics) route.kind = RouteConfig::Kind::metrics;
  if (health) route.kind = RouteConfig::Kind::health;
  if (upstream) route.kind = RouteConfig::Kind::upstream;
  if (ret) {
    route.kind = RouteConfig::Kind::fixed;
    Reader rr(ctx, *ret, prefix + ".return");
    rr.integer("status", route.status, 100, 599);
    rr.str("content_type", route.content_type);
    rr.str("body", route.body);
    rr.millis("delay_ms", route.delay, 0, 600'000);
    if (const auto* h = rr.table("headers")) {
      for (auto&& [k, v] : *h) {
        auto s = v.value<std::string>();
        if (!v.is_string() || !s) {
          ctx.error_at(v.source(),
                       fmt::format("{}.return.headers.{} must be a string", prefix, k.str()));
          continue;
        }
        const std::string name(k.str());
        if (name.empty() || name.find_first_of(" \t\r\n:") != std::string::npos ||
            s->find_first_of("\r\n") != std::string::npos) {
          ctx.error_at(v.source(), fmt::format("{}.return.headers: bad header '{}'", prefix, name));
          continue;
        }
        route.headers.emplace_back(name, *s);
      }
    }
    rr.done();
  }
  r.done();
}

// A list of HTTP statuses (fails_on, retry_on): error statuses, 400 to 599.
void read_statuses(Ctx& ctx, Reader& r, const std::string& prefix, std::string_view key,
                   std::vector<unsigned>& out) {
  const auto* a = r.array(key);
  if (!a) return;
  out.clear();
  for (auto&& el : *a) {
    const auto v = el.value<std::int64_t>();
    if (!el.is_integer() || !v || *v < 400 || *v > 599) {
      ctx.error_at(el.source(),
                   fmt::format("{}.{} takes HTTP error statuses (400 to 599)", prefix, key));
      continue;
    }
    out.push_back(static_cast<unsigned>(*v));
  }
}

void read_upstream(Ctx& ctx, const toml::table& t, const std::string& prefix, UpstreamConfig& u) {
  Reader r(ctx, t, prefix);
  u.line = r.line();
  if (!r.str("name", u.name) || u.name.empty())
    ctx.error_at(t.source(), prefix + ": 'name' is required");
  if (r.str("balance", u.balance) && !known_policy(kBalancers, u.balance))
    r.error("balance",
            prefix + ".balance must be " + policy_names(kBalancers) + "; not '" + u.balance + "'");
  if (const auto* servers = r.array("servers")) {
    std::size_t i = 0;
    for (auto&& el : *servers) {
      const auto sp = fmt::format("{}.servers[{}]", prefix, i++);
      UpstreamServerConfig sc;
      if (auto v = el.value<std::string>(); v && el.is_string()) {
        sc.address = *v;
      } else if (auto* st = el.as_table()) {
        Reader sr(ctx, *st, sp);
        sr.str("address", sc.address);
        sr.integer("weight", sc.weight, 1, 1000);
        sr.done();
      } else {
        ctx.error_at(el.source(), sp + " must be \"HOST:PORT\" or {address = ..., weight = ...}");
        continue;
      }
      const auto address = core::parse_host_port(sc.address);
      if (!address || address->host.empty() || !numeric_host(address->host))
        ctx.error_at(el.source(), sp +
                                      ": address must be IP:PORT (a numeric address, or "
                                      "localhost, and port), not '" +
                                      sc.address + "'");
      u.servers.push_back(std::move(sc));
    }
  }
  if (u.servers.empty()) ctx.error_at(t.source(), prefix + ": 'servers' needs at least one server");
  r.integer("max_fails", u.max_fails, 0, 1000);
  r.millis("fail_timeout_ms", u.fail_timeout, 1, kDay);
  r.millis("slow_start_ms", u.slow_start, 0, kDay);
  r.millis("connect_timeout_ms", u.connect_timeout, 1, kDay);
  r.millis("header_timeout_ms", u.header_timeout, 1, kDay);
  r.millis("read_timeout_ms", u.read_timeout, 1, kDay);
  r.millis("send_timeout_ms", u.send_timeout, 1, kDay);
  read_statuses(ctx, r, prefix, "fails_on", u.fails_on);
  read_statuses(ctx, r, prefix, "retry_on", u.retry_on);
  r.integer("keepalive", u.keepalive, 0, 100'000);
  r.integer("tries", u.tries, 0, 100);
  if (auto* n = r.node("retry_budget")) {
    if (auto v = n->value<double>();
        v && (n->is_floating_point() || n->is_integer()) && *v >= 0 && *v <= 1)
      u.retry_budget = *v;
    else
      ctx.error_at(n->source(), prefix + ".retry_budget must be a number from 0 to 1");
  }
  r.integer("retry_min_per_second", u.retry_min_per_second, 0, 1'000'000);
  if (const auto* h = r.table("health")) {
    Reader hr(ctx, *h, prefix + ".health");
    u.health.enabled = true;
    hr.boolean("enabled", u.health.enabled);
    hr.str("path", u.health.path);
    if (u.health.path.empty() || u.health.path.front() != '/')
      hr.error("path", prefix + ".health.path must start with '/'");
    hr.millis("interval_ms", u.health.interval, 10, kDay);
    hr.millis("timeout_ms", u.health.timeout, 1, kDay);
    hr.integer("healthy_threshold", u.health.healthy_threshold, 1, 100);
    hr.integer("unhealthy_threshold", u.health.unhealthy_threshold, 1, 100);
    hr.done();
  }
  if (const auto* st = r.table("sticky")) {
    Reader sr(ctx, *st, prefix + ".sticky");
    sr.str("name", u.sticky.name);
    std::int64_t secs = 0;
    if (sr.integer("expires_s", secs, 0, 10LL * 365 * 24 * 3600))
      u.sticky.expires = std::chrono::seconds(secs);
    sr.str("domain", u.sticky.domain);
    sr.str("path", u.sticky.path);
    if (u.sticky.name.empty() || u.sticky.name.find_first_of(" \t;,=\r\n") != std::string::npos)
      sr.error("name", prefix + ".sticky.name must be a cookie name");
    for (const auto* v : {&u.sticky.domain, &u.sticky.path})
      if (v->find_first_of(";\r\n") != std::string::npos)
        ctx.error_at(st->source(),
                     prefix + ".sticky: domain and path must not contain ';' or line breaks");
    sr.done();
  }
  r.done();
}

void read_gateway(Ctx& ctx, Reader r, GatewaySection& g) {
  if (const auto* ups = r.array("upstreams")) {
    std::size_t i = 0;
    for (auto&& el : *ups) {
      const auto prefix = fmt::format("gateway.upstreams[{}]", i++);
      if (auto* t = el.as_table()) {
        UpstreamConfig u;
        read_upstream(ctx, *t, prefix, u);
        for (const auto& other : g.upstreams)
          if (other.name == u.name)
            ctx.error_at(t->source(), prefix + ": upstream name '" + u.name + "' is used twice");
        g.upstreams.push_back(std::move(u));
      } else {
        ctx.error_at(el.source(), prefix + " must be a table ([[gateway.upstreams]])");
      }
    }
  }
  if (const auto* tp = r.array("trusted_proxies")) {
    for (auto&& el : *tp) {
      auto v = el.value<std::string>();
      if (!el.is_string() || !v || !core::Cidr::parse(*v)) {
        ctx.error_at(el.source(),
                     "gateway.trusted_proxies entries must be addresses or CIDRs "
                     "like \"10.0.0.0/8\"");
        continue;
      }
      g.trusted_proxies.push_back(*v);
    }
  }
  if (const auto* fl = r.array("filters")) {
    static const std::set<std::string> known = {"request_id"};
    for (auto&& el : *fl) {
      auto v = el.value<std::string>();
      if (!el.is_string() || !v || !known.count(*v)) {
        ctx.error_at(el.source(), "gateway.filters: unknown filter (known: request_id)");
        continue;
      }
      g.filters.push_back(*v);
    }
  }
  r.boolean("merge_slashes", g.merge_slashes);
  r.boolean("allow_encoded_slashes", g.allow_encoded_slashes);
  if (const auto* routes = r.array("routes")) {
    std::size_t i = 0;
    for (auto&& el : *routes) {
      const auto prefix = fmt::format("gateway.routes[{}]", i++);
      if (auto* t = el.as_table()) {
        RouteConfig route;
        read_route(ctx, *t, prefix, route);
        if (route.kind == RouteConfig::Kind::upstream) {
          bool found = false;
          for (const auto& u : g.upstreams) found = found || u.name == route.upstream;
          if (!found)
            ctx.error_at(t->source(), prefix + ": no upstream named '" + route.upstream +
                                          "' (define it in [[gateway.upstreams]])");
        }
        for (const auto& other : g.routes)
          if (other.host == route.host && other.path == route.path &&
              other.prefix == route.prefix && !route.path.empty())
            ctx.error_at(
                t->source(),
                fmt::format("{}: {} '{}'{} is already routed at line {}", prefix,
                            route.prefix ? "prefix" : "path", route.path,
                            route.host.empty() ? "" : " for host " + route.host, other.line));
        g.routes.push_back(std::move(route));
      } else {
        ctx.error_at(el.source(), prefix + " must be a table ([[gateway.routes]])");
      }
    }
  }
  r.done();
}

void apply_override(Ctx& ctx, toml::table& root, const std::string& spec) {
  const auto eq = spec.find('=');
  if (eq == std::string::npos || eq == 0) {
    ctx.errors.push_back("--set '" + spec + "': expected KEY=VALUE, e.g. server.threads=4");
    return;
  }
  const std::string key = spec.substr(0, eq);
  const std::string value = spec.substr(eq + 1);
  std::vector<std::string> parts;
  for (std::size_t start = 0;;) {
    auto dot = key.find('.', start);
    parts.push_back(key.substr(start, dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  toml::table* t = &root;
  for (std::size_t i = 0; i + 1 < parts.size(); ++i) {
    auto* n = t->get(parts[i]);
    if (!n) {
      t->insert_or_assign(parts[i], toml::table{});
      n = t->get(parts[i]);
    }
    t = n->as_table();
    if (!t) {
      ctx.errors.push_back("--set '" + spec + "': '" + parts[i] + "' is not a table");
      return;
    }
  }
  // The value is TOML if it parses as TOML (4, true, "x", [1,2]); a bare word is a string.
  // The source name "--set" lets error messages say where the value came from.
  try {
    auto doc = toml::parse("v = " + value, std::string_view("--set"));
    if (auto* n = doc.get("v")) {
      t->insert_or_assign(parts.back(), std::move(*n));
      return;
    }
  } catch (const toml::parse_error&) {
  }
  t->insert_or_assign(parts.back(), value);
}

Config from_table(Ctx& ctx, toml::table& root, const std::vector<std::string>& overrides) {
  for (const auto& o : overrides) apply_override(ctx, root, o);
  Config c;
  c.source = ctx.source;
  Reader r(ctx, root, "");
  if (const auto* t = r.table("server")) read_server(Reader(ctx, *t, "server"), c.server);
  if (const auto* t = r.table("app")) read_app(Reader(ctx, *t, "app"), c.app);
  if (const auto* t = r.table("log")) read_log(Reader(ctx, *t, "log"), c.log);
  if (const auto* t = r.table("admin")) read_admin(Reader(ctx, *t, "admin"), c.admin);
  if (const auto* t = r.table("health")) read_health(Reader(ctx, *t, "health"), c.health);
  if (const auto* t = r.table("gateway")) read_gateway(ctx, Reader(ctx, *t, "gateway"), c.gateway);
  r.done();
  if (!ctx.errors.empty()) throw Error(ctx.errors);
  return c;
}

}  // namespace

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

Error::Error(std::vector<std::string> messages)
    : std::runtime_error(join(messages)), messages_(std::move(messages)) {}

Config load_string(const std::string& text, const std::string& source,
                   const std::vector<std::string>& overrides) {
  Ctx ctx{source, {}};
  toml::table root;
  try {
    root = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    throw Error({fmt::format("{}:{}: {}", source, e.source().begin.line, e.description())});
  }
  return from_table(ctx, root, overrides);
}

Config load_file(const std::string& path, const std::vector<std::string>& overrides) {
  Ctx ctx{path, {}};
  toml::table root;
  try {
    root = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    if (e.source().begin.line == 0)
      throw Error({fmt::format("{}: cannot read: {}", path, e.description())});
    throw Error({fmt::format("{}:{}: {}", path, e.source().begin.line, e.description())});
  }
  return from_table(ctx, root, overrides);
}

}  // namespace tenx::config
