#pragma once
// /health built from named checks (the guide's section 3 health endpoint).
//
//   HealthChecks health;
//   health.add("disk", 500ms, HealthChecks::disk_space("/var/lib/tenx", 1 << 30));
//   router.get("/health", health.handler());
//
// Each request runs every check concurrently on the calling thread's loop. A check that has
// not finished within its own timeout counts as failed ("timed out after 500 ms"). All pass:
// 200 {"status":"healthy","checks":{"disk":{"status":"pass","message":"...","duration_ms":0.4}}}
// otherwise 503 with "status":"unhealthy" and Cache-Control: no-store in both cases.
//
// An optional check (Need::optional: a cache the service can run without) does not make the
// service unhealthy: when only optional checks fail, the answer is 200 with
// "status":"degraded" and those checks "status":"warn", so a load balancer keeps sending
// traffic while the report still says what is missing.
//
// Add checks at start-up; after that the object is read-only and may be shared by threads.
#include "http/server.h"

#include <boost/asio/awaitable.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

struct statvfs;

namespace tenx::http {

struct CheckResult {
  bool ok = false;
  std::string message;
};

using HealthCheck = std::function<boost::asio::awaitable<CheckResult>()>;

class HealthChecks {
 public:
  enum class Need { required, optional };
  void add(std::string name, std::chrono::milliseconds timeout, HealthCheck check,
           Need need = Need::required);

  struct Outcome {
    std::string name;
    bool ok = false;
    bool optional = false;
    std::string message;
    double duration_ms = 0;
  };
  // Runs every check; the report lists them in registration order.
  boost::asio::awaitable<std::vector<Outcome>> run() const;
  // Responds 200 or 503 with the JSON report.
  boost::asio::awaitable<void> respond(Exchange& ex) const;
  // A handler that keeps a copy of these checks.
  Handler handler() const;

  // Passes while the filesystem holding `path` has at least min_free_bytes available. statvfs
  // runs on a one-thread blocking pool, never on the event loop (it can hang on a dead mount).
  static HealthCheck disk_space(std::string path, std::uint64_t min_free_bytes);
  // Replaces statvfs (null restores it).
  static void set_statvfs_for_test(int (*fn)(const char*, struct statvfs*));
  // Passes while the resident set is below max_rss_bytes.
  static HealthCheck memory(std::uint64_t max_rss_bytes);

 private:
  struct Entry {
    std::string name;
    std::chrono::milliseconds timeout;
    HealthCheck check;
    Need need = Need::required;
  };
  std::vector<Entry> checks_;
};

// Serves Registry::global().expose() as Prometheus text (version 0.0.4).
Handler metrics_handler();

}  // namespace tenx::http
