#pragma once
// Config: one TOML file for everything, parsed and validated once into an immutable Config
// that the process shares as std::shared_ptr<const Config>; a reload parses a new one and
// swaps the pointer, and a config that fails validation never replaces the running one.
//
// Validation is strict: unknown keys, wrong types and out-of-range values are errors, each
// reported as `file:line: message` (all of them, not just the first). Command-line
// overrides (`--set server.threads=4`) are applied to the parsed document before validation,
// so they are checked the same way; their errors name `--set` instead of a line.
//
// This module depends on nothing but toml++: the sections are plain structs that the modules
// using them (http, gateway, ...) convert into their own options.
#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tenx::config {

class Error : public std::runtime_error {
 public:
  explicit Error(std::vector<std::string> messages);
  const std::vector<std::string>& messages() const { return messages_; }

 private:
  std::vector<std::string> messages_;
};

struct ServerSection {
  std::string listen = "127.0.0.1:8080";
  std::uint32_t threads = 0;  // 0: one per core
  std::chrono::milliseconds drain_timeout{10'000};
  std::uint32_t max_header_bytes = 16 * 1024;
  std::uint64_t max_body_bytes = 8 * 1024 * 1024;
  std::chrono::milliseconds header_timeout{10'000};
  std::chrono::milliseconds idle_timeout{75'000};
  std::chrono::milliseconds idle_park_after{250};  // http::ServerLimits::idle_park_after
  std::chrono::milliseconds body_timeout{30'000};
  std::chrono::milliseconds send_timeout{30'000};
  std::uint32_t max_connections = 10'000;
  std::uint32_t max_requests_per_connection = 0;
  std::string server_name = "tenx";
};

struct LogSection {
  std::string level = "info";
  std::string file = "stderr";
  std::string access_log = "off";  // "off", "stdout", "stderr" or a path
};

struct HealthSection {
  std::string disk_path = ".";
  std::uint64_t disk_min_free_bytes = 100ull << 20;
  std::uint64_t max_rss_bytes = 4ull << 30;
  std::chrono::milliseconds check_timeout{1'000};
};

// An upstream pool (nginx's `upstream`, HAProxy's `backend`).
struct UpstreamServerConfig {
  std::string address;  // "127.0.0.1:9001" (numeric host)
  std::uint32_t weight = 1;
};

struct HealthCheckConfig {
  bool enabled = false;
  std::string path = "/health";
  std::chrono::milliseconds interval{5'000};
  std::chrono::milliseconds timeout{2'000};
  std::uint32_t healthy_threshold = 2;
  std::uint32_t unhealthy_threshold = 3;
};

struct StickyCookieConfig {
  std::string name = "srv_id";
  std::chrono::seconds expires{3'600};
  std::string domain;
  std::string path = "/";
};

struct UpstreamConfig {
  std::string name;
  std::string balance = "round_robin";  // a name of config::kBalancers (config/policies.h)
  std::vector<UpstreamServerConfig> servers;
  std::uint32_t max_fails = 1;  // passive health; 0: off
  std::chrono::milliseconds fail_timeout{10'000};
  std::chrono::milliseconds slow_start{0};
  std::chrono::milliseconds connect_timeout{2'000};
  std::chrono::milliseconds header_timeout{30'000};  // request sent whole -> response head
  std::chrono::milliseconds read_timeout{60'000};    // longest wait between response bytes
  std::chrono::milliseconds send_timeout{60'000};    // longest wait for the server to take bytes
  // Answers whose status counts as a failure of the server (passive health), as HAProxy's
  // observe layer7 / Envoy's outlier detection; by default none (nginx): a 503 from the app
  // ("database busy") is an answer, not a sick server. Connect failures, resets and timeouts
  // before the response head and malformed responses always count.
  std::vector<unsigned> fails_on;
  // Answers to an idempotent request that are retried on the next server (nginx's
  // proxy_next_upstream http_502 http_503).
  std::vector<unsigned> retry_on = {502, 503};
  std::uint32_t keepalive = 64;  // idle connections kept per server and worker thread
  std::uint32_t tries = 0;       // attempts for an idempotent request; 0: every server once
  double retry_budget = 0.2;     // retries allowed as a share of recent requests
  std::uint32_t retry_min_per_second = 10;  // retries always allowed regardless of the share
  HealthCheckConfig health;
  StickyCookieConfig sticky;  // used when balance = "sticky_cookie"
  int line = 0;
};

// A gateway route: a match (host, exact path or prefix) and what answers it.
struct RouteConfig {
  enum class Kind { fixed, metrics, health, upstream, static_files };
  std::string host;  // empty: any host
  std::string path;  // exact path, or a prefix when `prefix` is true
  bool prefix = false;
  Kind kind = Kind::fixed;
  // kind == fixed (nginx's `return`):
  unsigned status = 200;
  std::string content_type = "text/plain";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Answer after this long (a slow endpoint for load-balancer, timeout and drain tests, and
  // the guide's "one request is a 30-second report export" case). 0: at once.
  std::chrono::milliseconds delay{0};
  // kind == upstream: the pool's name ([[gateway.upstreams]]).
  std::string upstream;
  // kind == static_files: the directory served, and Cache-Control for names that are not
  // fingerprinted (fingerprinted ones are always immutable for a year).
  std::string static_root;
  std::string cache_control = "public, max-age=60";
  int line = 0;  // where it was defined, for messages
};

struct GatewaySection {
  std::vector<RouteConfig> routes;
  std::vector<UpstreamConfig> upstreams;
  // Peers whose X-Forwarded-For / -Proto / -Host are believed (CIDRs: "10.0.0.0/8", "::1/128").
  std::vector<std::string> trusted_proxies;
  // The filter chain, in order, ahead of every route's action (gateway/filter.h).
  std::vector<std::string> filters;
  // Paths are normalised before routing (http/path.h): slash runs merged (nginx's
  // merge_slashes), and an encoded '/' refused with 400 unless allowed.
  bool merge_slashes = true;
  bool allow_encoded_slashes = false;
};

// The gateway's admin API (pools and servers, drain, reload). Off unless `listen` is set; a
// listener that is not on loopback requires a bearer token.
struct AdminSection {
  std::string listen;  // "127.0.0.1:9901"; empty: no admin listener
  std::string token;   // required as `Authorization: Bearer TOKEN` when set
};

// `tenx app`: one app instance (the `[app]` section; `tenx app` flags override it).
struct AppSection {
  std::string listen = "127.0.0.1:9001";
  std::uint32_t threads = 1;
  std::string database = "sqlite://data/tenx.db";  // or postgresql://user@host:port/db[?replica=]
  bool debug_headers = false;                      // X-Query-Count, X-N-Plus-One
  bool demo = false;                               // demo endpoints (the N+1 feed); tenx up
  bool create = false;                             // SQLite: create a missing database file
  std::chrono::milliseconds slow_query{100};       // slow_query_ms
  std::uint32_t n_plus_one_threshold = 10;
  std::chrono::milliseconds refresh_interval{60'000};  // refresh_interval_ms: the summaries
  std::uint32_t read_threads = 2;                      // SQLite readers
  std::uint32_t pool_size = 4;                         // PostgreSQL connections per event loop
  std::string cursor_key = "tenx-default-cursor-key";  // the same on every instance
  std::uint32_t per_page_max = 100;
  // The application cache (src/cache/): "memory" (this process only), "off", or a Redis URL
  // (redis://[user:password@]host:port[/db]: memory in front of Redis, invalidations shared by
  // every instance through pub/sub).
  std::string cache = "memory";
  std::uint32_t cache_memory_mb = 64;                     // the memory tier's budget
  std::chrono::milliseconds cache_ttl_trending{600'000};  // cache_ttl_trending_ms
  std::chrono::milliseconds cache_ttl_user{300'000};      // cache_ttl_user_ms
  std::chrono::milliseconds cache_ttl_feed{5'000};        // cache_ttl_feed_ms
};

struct Config {
  std::string source;  // file name, or "<string>"
  ServerSection server;
  AppSection app;
  AdminSection admin;
  LogSection log;
  HealthSection health;
  GatewaySection gateway;
};

// `s` as a TOML basic string ("..." with quotes and backslashes escaped): how a command-line
// flag becomes a `--set KEY=VALUE` override.
std::string toml_string(std::string_view s);

// Throws Error with every problem found.
Config load_file(const std::string& path, const std::vector<std::string>& overrides = {});
Config load_string(const std::string& text, const std::string& source = "<string>",
                   const std::vector<std::string>& overrides = {});

}  // namespace tenx::config
