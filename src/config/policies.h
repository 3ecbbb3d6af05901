#pragma once
// The names of the config file's pluggable policies, one table per family, with what each
// does: what config validation accepts, what error messages and --help list, and what the
// factories of the modules above are keyed by (gateway/balancers/balancer.cpp builds from
// kBalancers, in order, and its test checks that every name has a policy). Later families
// (cache stores, rate-limit algorithms, job brokers) get a table here too.
#include <span>
#include <string>
#include <string_view>

namespace tenx::config {

struct PolicyName {
  std::string_view name;
  std::string_view description;
};

// Load-balancing policies of an upstream pool (`balance = "..."`, `--balance`).
inline constexpr PolicyName kBalancers[] = {
    {"round_robin", "smooth weighted round robin (nginx)"},
    {"least_conn", "fewest requests in flight relative to weight"},
    {"ip_hash", "the client address picks the server (rendezvous hashing)"},
    {"sticky_cookie", "the server named by the client's cookie, else round robin"},
    {"p2c_ewma", "power of two choices by latency EWMA x load"},
};

// "a, b, c or d": the names of a family, for messages and --help.
inline std::string policy_names(std::span<const PolicyName> family) {
  std::string out;
  for (std::size_t i = 0; i < family.size(); ++i) {
    if (i > 0) out += i + 1 == family.size() ? " or " : ", ";
    out += family[i].name;
  }
  return out;
}

inline bool known_policy(std::span<const PolicyName> family, std::string_view name) {
  for (const auto& p : family)
    if (p.name == name) return true;
  return false;
}

}  // namespace tenx::config
