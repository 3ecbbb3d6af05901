#include "gateway/proxy/client_identity.h"

#include <algorithm>
#include <stdexcept>

#include "core/net_address.h"
#include "core/text.h"

namespace tenx::gateway {
namespace asio = boost::asio;
using namespace std::string_view_literals;

TrustedProxies::TrustedProxies(const std::vector<std::string>& cidrs) {
  for (const auto& c : cidrs) {
    auto net = core::Cidr::parse(c);
    if (!net) throw std::invalid_argument("trusted proxy '" + c + "': " + net.error().message());
    nets_.push_back(*net);
  }
}

bool TrustedProxies::contains(const asio::ip::address& a) const {
  return std::any_of(nets_.begin(), nets_.end(),
                     [&a](const core::Cidr& net) { return net.contains(a); });
}

std::string_view combined_field(const http::HeaderList& headers, std::string_view name,
                                std::string& storage) {
  std::string_view first;
  bool several = false;
  for (const auto& h : headers) {
    if (!http::iequals(h.name, name)) continue;
    if (first.data() == nullptr) {
      first = h.value;
      continue;
    }
    if (!several) {
      several = true;
      storage.assign(first);
    }
    storage += ", "sv;
    storage.append(h.value);
  }
  return several ? std::string_view(storage) : first;
}

bool forwarding_field(std::string_view name) {
  return http::iequals(name, "x-forwarded-for") || http::iequals(name, "x-forwarded-proto") ||
         http::iequals(name, "x-forwarded-host") || http::iequals(name, "forwarded") ||
         http::iequals(name, "x-real-ip");
}

namespace {

// The address of a Forwarded node (RFC 7239 §6): quotes, IPv6 brackets and a port gone. Not
// core::parse_host_port: a node's port may be obfuscated ("_a1"), and a node that is no
// address ("unknown", "_hidden") is kept as it is, to end the walk below.
std::string_view node_address(std::string_view v) {
  if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
  if (!v.empty() && v.front() == '[') {
    const auto close = v.find(']');
    return close == std::string_view::npos ? v : v.substr(1, close - 1);
  }
  const auto colon = v.find(':');
  return colon == std::string_view::npos ? v : v.substr(0, colon);
}

// The node of a Forwarded element's `for=` pair (empty when it has none).
std::string_view forwarded_node(std::string_view element) {
  std::string_view node;
  core::split_list(element, ';', [&node](std::string_view pair) {
    if (pair.size() <= 4 || !http::iequals(pair.substr(0, 4), "for=")) return true;
    node = node_address(pair.substr(4));
    return false;
  });
  return node;
}

// The right-most entry of a comma list that is not a trusted proxy, or the left-most when all
// are; `node` picks the address out of an entry. An entry that is not an address cannot be
// trusted, so it is the answer when nothing right of it is untrusted. The walk runs left to
// right (the list's order, so that split_list serves), remembering the last untrusted entry.
// Empty entries are skipped (RFC 9110 §5.6.1, and as nginx's real_ip_recursive does).
template <class Node>
std::string_view rightmost_untrusted(std::string_view list, const TrustedProxies& trusted,
                                     Node node) {
  std::string_view found;
  bool first = true;
  core::split_list(list, [&](std::string_view entry) {
    const auto hop = core::trim_ows(node(entry));
    const auto a = core::parse_address(hop);
    if (first || !a || !trusted.contains(*a)) found = hop;
    first = false;
  });
  return found;
}

}  // namespace

ClientIdentity resolve_client(const http::Exchange& ex, const TrustedProxies* trusted,
                              IdentityScratch& scratch) {
  const auto& req = ex.request();
  ClientIdentity id;
  id.trusted_peer = trusted && !trusted->empty() && trusted->contains(ex.peer().address());
  const std::string_view peer_text = ex.peer_address();
  id.ip = peer_text;
  id.authority = req.authority();
  id.host = id.authority;
  id.proto = "http"sv;
  auto& chain = scratch.forwarded_for;
  chain.clear();
  if (id.trusted_peer) {
    const auto xff = combined_field(req.headers, "x-forwarded-for", scratch.xff_in);
    const auto fwd = combined_field(req.headers, "forwarded", scratch.forwarded_in);
    if (!xff.empty()) {
      id.ip = rightmost_untrusted(xff, *trusted, [](std::string_view e) { return e; });
      chain.append(xff);
      chain += ", "sv;
    } else if (!fwd.empty()) {
      id.ip = rightmost_untrusted(fwd, *trusted, forwarded_node);
    }
    if (id.ip.empty()) id.ip = peer_text;
    if (!fwd.empty()) {
      // Append this hop (RFC 7239 §4); an IPv6 node is quoted and bracketed (§6).
      scratch.forwarded.assign(fwd);
      const bool v6 = ex.peer().address().is_v6();
      scratch.forwarded += v6 ? ", for=\"["sv : ", for="sv;
      scratch.forwarded += peer_text;
      if (v6) scratch.forwarded += "]\""sv;
      id.forwarded = scratch.forwarded;
    }
    if (const auto p = combined_field(req.headers, "x-forwarded-proto", scratch.proto); !p.empty())
      id.proto = p;
    if (const auto h = combined_field(req.headers, "x-forwarded-host", scratch.host); !h.empty())
      id.host = h;
    id.real_ip = req.headers.find("x-real-ip").value_or(std::string_view{});
  }
  chain += peer_text;
  id.forwarded_for = chain;
  return id;
}

}  // namespace tenx::gateway
