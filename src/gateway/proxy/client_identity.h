#pragma once
// Who the client of a proxied request is, and the forwarding fields the upstream is told.
//
// Forwarding fields (X-Forwarded-For / -Proto / -Host, Forwarded (RFC 7239), X-Real-IP) are
// believed only from a trusted peer (`[gateway] trusted_proxies`, CIDRs) and removed from
// everyone else's requests. A field sent several times counts as one list, in order
// (RFC 9110 §5.3). From a trusted peer the client is the right-most X-Forwarded-For address
// (else Forwarded `for=`) that is not itself trusted (nginx's real_ip_recursive); otherwise
// it is the peer. The upstream gets
//   X-Forwarded-For   = the trusted incoming list + the peer,
//   X-Forwarded-Proto = the trusted incoming one, else "http",
//   X-Forwarded-Host  = the trusted incoming one, else the host the request was routed by,
//   Forwarded         = the trusted incoming list + `for=<peer>` (only when one came),
//   X-Real-IP         = the trusted incoming one (only when one came).
//
// TrustedProxies is immutable and shared by every worker; resolve_client() runs on the
// request's worker and writes only into the caller's scratch.
#include "core/net_address.h"
#include "http/server.h"

#include <boost/asio/ip/address.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace tenx::gateway {

class TrustedProxies {
 public:
  // Entries as core::Cidr::parse reads them; throws std::invalid_argument on a bad one.
  explicit TrustedProxies(const std::vector<std::string>& cidrs);
  bool contains(const boost::asio::ip::address& a) const;
  bool empty() const { return nets_.empty(); }

 private:
  std::vector<core::Cidr> nets_;
};

// Owned storage the identity's views may point into; reused across requests.
struct IdentityScratch {
  std::string forwarded_for, forwarded;           // what is sent
  std::string xff_in, forwarded_in, proto, host;  // several incoming fields, joined
};

struct ClientIdentity {
  bool trusted_peer = false;       // the peer is a trusted proxy: its forwarding fields count
  std::string_view ip;             // the client's address as text (ip_hash, logs)
  std::string_view forwarded_for;  // X-Forwarded-For to send
  std::string_view proto;          // X-Forwarded-Proto to send
  std::string_view host;           // X-Forwarded-Host to send (empty: none)
  std::string_view forwarded;      // Forwarded to send (empty: none)
  std::string_view real_ip;        // X-Real-IP to send (empty: none)
  std::string_view authority;      // the host the request is for (RequestHead::authority())
};

ClientIdentity resolve_client(const http::Exchange& ex, const TrustedProxies* trusted,
                              IdentityScratch& scratch);

// Every field named `name`, as one comma-separated list in order (RFC 9110 §5.3): a view of
// the one value when there is one, else joined into `storage`; empty when there is none.
std::string_view combined_field(const http::HeaderList& headers, std::string_view name,
                                std::string& storage);

// True for the forwarding fields above (which only resolve_client's output may carry on).
bool forwarding_field(std::string_view name);

}  // namespace tenx::gateway
