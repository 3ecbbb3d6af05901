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

// A gateway route: a match (host, exact path or prefix) and what answers it.
struct RouteConfig {
  enum class Kind { fixed, metrics, health };
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
  int line = 0;  // where it was defined, for messages
};

struct GatewaySection {
  std::vector<RouteConfig> routes;
};

struct Config {
  std::string source;  // file name, or "<string>"
  ServerSection server;
  LogSection log;
  HealthSection health;
  GatewaySection gateway;
};

// Throws Error with every problem found.
Config load_file(const std::string& path, const std::vector<std::string>& overrides = {});
Config load_string(const std::string& text, const std::string& source = "<string>",
                   const std::vector<std::string>& overrides = {});

}  // namespace tenx::config
