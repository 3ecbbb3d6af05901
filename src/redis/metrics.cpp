#include "redis/metrics.h"

#include "redis/errors.h"

namespace tenx::redis {

Metrics::Metrics(metrics::Registry& registry)
    : commands_(registry.counter("redis_commands_total",
                                 "Redis commands completed, by command and outcome.",
                                 {"command", "outcome"})),
      duration_(registry.histogram("redis_command_duration_seconds",
                                   "Redis commands from write to reply.", {"command"})),
      reconnects_(registry
                      .counter("redis_reconnects_total",
                               "Redis connection attempts after a failure or a lost connection.")
                      .series({})),
      failures_(registry
                    .counter("redis_connection_failures_total",
                             "Redis connections that failed to open or were lost.")
                    .series({})),
      in_flight_(
          registry.gauge("redis_in_flight", "Redis commands sent or queued, not yet answered.")
              .series({})) {}

std::string_view outcome_name(const error_code& transport, bool error_reply) {
  if (!transport) return error_reply ? "error_reply" : "ok";
  if (transport.category() != redis_category()) return "other";
  switch (static_cast<Errc>(transport.value())) {
    case Errc::timeout:
      return "timeout";
    case Errc::disconnected:
      return "disconnected";
    case Errc::connection_lost:
      return "connection_lost";
    case Errc::overloaded:
      return "overloaded";
    default:
      return "other";
  }
}

void Metrics::command(std::string_view name, const error_code& transport, bool error_reply,
                      std::chrono::steady_clock::duration took, bool replied) {
  commands_.series({name, outcome_name(transport, error_reply)}).inc();
  if (replied)
    duration_.series({name}).observe_ns(static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(took).count()));
}

double Metrics::commands_for_test(std::string_view name, std::string_view outcome) {
  return commands_.series({name, outcome}).value();
}

}  // namespace tenx::redis
