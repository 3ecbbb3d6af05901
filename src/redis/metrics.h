#pragma once
// The Redis client's metrics, shared by every connection of a process (families in the global
// registry; series are per thread, so recording takes no lock):
//   redis_commands_total{command,outcome}   outcome: ok, error_reply, timeout, disconnected,
//                                           connection_lost, overloaded, other
//   redis_command_duration_seconds{command} from write to reply, replies only
//   redis_reconnects_total                  connection attempts after a failure or a loss
//   redis_connection_failures_total         attempts that failed (connect, handshake, lost)
//   redis_in_flight                         commands written or queued, not yet answered
#include "core/result.h"
#include "metrics/registry.h"

#include <chrono>
#include <string_view>

namespace tenx::redis {

class Metrics {
 public:
  explicit Metrics(metrics::Registry& registry = metrics::Registry::global());
  void command(std::string_view name, const error_code& transport, bool error_reply,
               std::chrono::steady_clock::duration took, bool replied);
  void reconnect() { reconnects_.inc(); }
  void connection_failure() { failures_.inc(); }
  void in_flight(int delta) { in_flight_.inc(delta); }

  // Tests: the count recorded for a command and outcome.
  double commands_for_test(std::string_view name, std::string_view outcome);
  double reconnects_for_test() const { return reconnects_.value(); }

 private:
  metrics::Family& commands_;
  metrics::Family& duration_;
  metrics::Series reconnects_;
  metrics::Series failures_;
  metrics::Series in_flight_;
};

std::string_view outcome_name(const error_code& transport, bool error_reply);

}  // namespace tenx::redis
