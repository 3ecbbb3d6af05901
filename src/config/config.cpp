#include "config/config.h"

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

// "HOST:PORT", ":PORT", "PORT" or "[v6]:PORT"; the address itself is checked when binding.
bool valid_listen(const std::string& listen) {
  const auto colon = listen.rfind(':');
  const std::string port = colon == std::string::npos ? listen : listen.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos)
    return false;
  return std::stoul(port) <= 65535;
}

void read_server(Reader r, ServerSection& s) {
  r.str("listen", s.listen);
  r.integer("threads", s.threads, 0, 256);
  r.millis("drain_timeout_ms", s.drain_timeout, 0, kDay);
  r.integer("max_header_bytes", s.max_header_bytes, 256, 1 << 20);
  r.integer("max_body_bytes", s.max_body_bytes, 0, std::int64_t{1} << 40);
  r.millis("header_timeout_ms", s.header_timeout, 1, kDay);
  r.millis("idle_timeout_ms", s.idle_timeout, 1, kDay);
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

void read_health(Reader r, HealthSection& s) {
  r.str("disk_path", s.disk_path);
  std::uint64_t mb = 0;
  if (r.integer("disk_min_free_mb", mb, 0, 1 << 30)) s.disk_min_free_bytes = mb << 20;
  if (r.integer("max_rss_mb", mb, 1, 1 << 30)) s.max_rss_bytes = mb << 20;
  r.millis("check_timeout_ms", s.check_timeout, 1, 600'000);
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
  const toml::table* ret = r.table("return");
  const int kinds = int(metrics) + int(health) + int(ret != nullptr);
  if (kinds != 1) {
    ctx.error_at(
        t.source(),
        prefix + ": give exactly one action: a [return] table, metrics = true or health = true");
  }
  if (metrics) route.kind = RouteConfig::Kind::metrics;
  if (health) route.kind = RouteConfig::Kind::health;
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

void read_gateway(Ctx& ctx, Reader r, GatewaySection& g) {
  if (const auto* routes = r.array("routes")) {
    std::size_t i = 0;
    for (auto&& el : *routes) {
      const auto prefix = fmt::format("gateway.routes[{}]", i++);
      if (auto* t = el.as_table()) {
        RouteConfig route;
        read_route(ctx, *t, prefix, route);
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
  if (const auto* t = r.table("log")) read_log(Reader(ctx, *t, "log"), c.log);
  if (const auto* t = r.table("health")) read_health(Reader(ctx, *t, "health"), c.health);
  if (const auto* t = r.table("gateway")) read_gateway(ctx, Reader(ctx, *t, "gateway"), c.gateway);
  r.done();
  if (!ctx.errors.empty()) throw Error(ctx.errors);
  return c;
}

}  // namespace

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
