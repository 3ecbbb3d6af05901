#include "gateway/proxy/client_identity.h"

#include <algorithm>
#include <cstdint>

namespace tenx::gateway {
namespace asio = boost::asio;
using namespace std::string_view_literals;

TrustedProxies::TrustedProxies(const std::vector<std::string>& cidrs) {
  for (const auto& c : cidrs) {
    const auto slash = c.find('/');
    auto addr = asio::ip::make_address(c.substr(0, slash));
    unsigned bits = addr.is_v4() ? 32 : 128;
    if (slash != std::string::npos) bits = static_cast<unsigned>(std::stoul(c.substr(slash + 1)));
    nets_.push_back({addr, bits});
  }
}

bool TrustedProxies::contains(const asio::ip::address& a) const {
  for (const auto& n : nets_) {
    if (n.addr.is_v4() != a.is_v4()) continue;
    if (a.is_v4()) {
      const auto x = a.to_v4().to_uint();
      const auto y = n.addr.to_v4().to_uint();
      const std::uint32_t mask = n.bits == 0 ? 0 : ~std::uint32_t{0} << (32 - n.bits);
      if ((x & mask) == (y & mask)) return true;
    } else {
      const auto x = a.to_v6().to_bytes();
      const auto y = n.addr.to_v6().to_bytes();
      unsigned left = n.bits;
      bool same = true;
      for (std::size_t i = 0; i < 16 && left > 0 && same; ++i) {
        const unsigned take = std::min(left, 8u);
        const auto mask = static_cast<std::uint8_t>(0xff << (8 - take));
        same = (x[i] & mask) == (y[i] & mask);
        left -= take;
      }
      if (same) return true;
    }
  }
  return false;
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

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The node of a Forwarded `for=` value (RFC 7239 §6): quotes, IPv6 brackets and a port gone.
std::string_view forwarded_node(std::string_view element) {
  while (!element.empty()) {
    const auto semi = element.find(';');
    const auto pair = trim(element.substr(0, semi));
    if (pair.size() > 4 && http::iequals(pair.substr(0, 4), "for=")) {
      auto v = pair.substr(4);
      if (v.size() >= 2 && v.front() == '"' && v.back() == '"') v = v.substr(1, v.size() - 2);
      if (!v.empty() && v.front() == '[') {
        const auto close = v.find(']');
        return close == std::string_view::npos ? v : v.substr(1, close - 1);
      }
      const auto colon = v.find(':');
      return colon == std::string_view::npos ? v : v.substr(0, colon);
    }
    if (semi == std::string_view::npos) break;
    element.remove_prefix(semi + 1);
  }
  return {};
}

// The right-most entry of a comma list that is not a trusted proxy; `node` picks the address
// out of an entry. An entry that is not an address ends the walk (it cannot be trusted).
template <class Node>
std::string_view rightmost_untrusted(std::string_view list, const TrustedProxies& trusted,
                                     Node node) {
  std::string_view found;
  while (!list.empty()) {
    const auto comma = list.rfind(',');
    const auto entry = comma == std::string_view::npos ? list : list.substr(comma + 1);
    const auto hop = trim(node(entry));
    boost::system::error_code ec;
    const auto a = asio::ip::make_address(std::string(hop), ec);
    found = hop;
    if (ec || !trusted.contains(a)) break;
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(0, comma);
  }
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
