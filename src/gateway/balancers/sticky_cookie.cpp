// sticky_cookie: the server whose id the client's cookie names, while it may take the
// request; otherwise smooth weighted round robin (the proxy then re-pins the client).
#include "gateway/balancers/policies.h"

namespace tenx::gateway::detail {

int StickyCookieBalancer::pick(std::span<UpstreamServer* const> servers, const PickRequest& request,
                               clock::time_point now) {
  if (!request.sticky_id.empty()) {
    for (std::size_t i = 0; i < servers.size(); ++i) {
      if (servers[i]->id() != request.sticky_id) continue;
      // Ids are hashes of distinct addresses; the first match is the only one.
      if (eligible(servers, i, request, now)) return static_cast<int>(i);
      break;
    }
  }
  collect_eligible(servers, request, now, candidates_);
  return fallback_.pick(servers, candidates_, now);
}

}  // namespace tenx::gateway::detail
