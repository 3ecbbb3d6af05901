#pragma once
// Who the client of a proxied request is, and the forwarding chain the upstream is told.
//
// The peer is the client unless it is a trusted proxy (`[gateway] trusted_proxies`, CIDRs):
// then the right-most X-Forwarded-For address that is not itself trusted is (nginx's
// real_ip_recursive). The upstream gets X-Forwarded-For = the incoming chain (trusted peers
// only) + the peer, and X-Forwarded-Proto / -Host from a trusted peer, else this hop's own.
//
// TrustedProxies is immutable and shared by every worker; resolve_client() runs on the
// request's worker and writes only into the caller's scratch string.
#include "http/server.h"

#include <boost/asio/ip/address.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tenx::gateway {

class TrustedProxies {
 public:
  explicit TrustedProxies(const std::vector<std::string>& cidrs);  // throws on a bad entry
  bool contains(const boost::asio::ip::address& a) const;
  bool empty() const { return nets_.empty(); }

 private:
  struct Net {
    boost::asio::ip::address addr;
    unsigned bits;
  };
  std::vector<Net> nets_;
};

struct ClientIdentity {
  bool trusted_peer = false;      // the peer is a trusted proxy: its forwarding fields count
  std::string_view ip;            // the client's address as text (ip_hash, logs)
  std::string_view forwarded_for; // the X-Forwarded-For value to send upstream
  std::string_view proto;         // X-Forwarded-Proto to send
  std::string_view host;          // X-Forwarded-Host to send (empty: none)
  std::string_view authority;     // the host the request is for (RequestHead::authority())
};

// `scratch` holds the X-Forwarded-For chain the result views; it must outlive the result.
ClientIdentity resolve_client(const http::Exchange& ex, const TrustedProxies* trusted,
                              std::string& scratch);

}  // namespace tenx::gateway
