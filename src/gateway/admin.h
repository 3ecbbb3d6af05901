#pragma once
// The gateway's admin API, on its own listener (`[admin] listen`, loopback unless a token is
// set; with `token`, every request needs `Authorization: Bearer TOKEN`, else 401):
//
//   GET    /pools                                  pools, servers, state, load, latency
//   GET    /pools/{pool}
//   POST   /pools/{pool}/servers                   {"address": "IP:PORT", "weight": 1} -> 201
//   DELETE /pools/{pool}/servers/{address}         remove (in-flight requests finish)
//   POST   /pools/{pool}/servers/{address}/drain   no new requests ({"draining": false} undoes)
//   POST   /reload                                 re-read the config file (as SIGHUP)
//   GET    /health                                 the gateway's own checks (disk, memory)
//                                                  and every pool having a server that
//                                                  takes requests; 503 when one fails
//   GET    /metrics
//
// Every request first passes AdminAccess, so a web page open in a browser on the same host
// cannot drive the API (a no-cors fetch, a form post, DNS rebinding): a request with an
// Origin field is refused (403); one whose Host is not the listener's address or localhost
// is refused (403; skipped when the listener is on a wildcard address, which needs a token);
// a POST must say `Content-Type: application/json` (415), which no cross-site request can
// send without a CORS preflight the API never grants; and the token, when set, is required
// (401). The token is re-read on every reload.
//
// Server changes apply to the running pools at once (the autoscaler drives the pool through
// them). A reload rebuilds the pools from the config file, which is the source of truth:
// servers added through the API and not written to the file are gone after it; servers that
// stay unchanged keep their state (health, passive failures, latency).
#include "core/thread_annotations.h"
#include "gateway/proxy/proxy.h"
#include "http/server.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tenx::gateway {

// The pools of the handler in service; swapped on reload. Thread-safe.
class LivePools {
 public:
  void set(std::map<std::string, std::shared_ptr<Proxy>> pools);
  std::shared_ptr<Proxy> find(const std::string& name) const;
  std::map<std::string, std::shared_ptr<Proxy>> all() const;

 private:
  mutable core::Mutex mu_;
  std::map<std::string, std::shared_ptr<Proxy>> pools_ GUARDED_BY(mu_);
};

// The checks every admin request passes before it is routed. Thread-safe: the token changes on
// reload (any thread), the listener is known once it is bound.
class AdminAccess {
 public:
  explicit AdminAccess(std::string token) : token_(std::move(token)) {}
  void set_token(std::string token);
  void set_listener(const boost::asio::ip::tcp::endpoint& ep);
  struct Refusal {
    unsigned status;
    std::string_view code;
    std::string message;
  };
  std::optional<Refusal> check(const http::Exchange& ex) const;

 private:
  mutable core::Mutex mu_;
  std::string token_ GUARDED_BY(mu_);
  std::string host_ GUARDED_BY(mu_);  // the listener's address as text
  unsigned short port_ GUARDED_BY(mu_) = 0;
  bool any_host_ GUARDED_BY(mu_) = true;  // wildcard listener (or not bound yet)
};

// reload() returns an empty string on success, else the reason the config was refused.
// health: the gateway's own /health handler (its disk and memory checks).
// Reloads the config; returns the reason it was refused, or "" once it is being installed.
// `on_installed` (may be empty) runs, on any thread, when every worker serves with it.
using ReloadFn = std::function<std::string(std::function<void()> on_installed)>;
http::Handler make_admin_handler(const std::shared_ptr<LivePools>& pools,
                                 const std::shared_ptr<AdminAccess>& access, const ReloadFn& reload,
                                 http::Handler health);

}  // namespace tenx::gateway
