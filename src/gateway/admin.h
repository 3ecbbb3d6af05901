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
//   GET    /health, /metrics
//
// Server changes apply to the running pools at once (the autoscaler drives the pool through
// them). A reload rebuilds the pools from the config file, which is the source of truth:
// servers added through the API and not written to the file are gone after it; servers that
// stay unchanged keep their state (health, passive failures, latency).
#include "gateway/proxy/proxy.h"
#include "http/server.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace tenx::gateway {

// The pools of the handler in service; swapped on reload. Thread-safe.
class LivePools {
 public:
  void set(std::map<std::string, std::shared_ptr<Proxy>> pools);
  std::shared_ptr<Proxy> find(const std::string& name) const;
  std::map<std::string, std::shared_ptr<Proxy>> all() const;

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::shared_ptr<Proxy>> pools_;
};

// reload() returns an empty string on success, else the reason the config was refused.
http::Handler make_admin_handler(std::shared_ptr<LivePools> pools, std::string token,
                                 std::function<std::string()> reload);

}  // namespace tenx::gateway
