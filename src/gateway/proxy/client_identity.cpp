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

ClientIdentity resolve_client(const http::Exchange& ex, const TrustedProxies* trusted,
                              std::string& scratch) {
  const auto& req = ex.request();
  ClientIdentity id;
  id.trusted_peer = trusted && !trusted->empty() && trusted->contains(ex.peer().address());
  const std::string_view peer_text = ex.peer_address();
  id.ip = peer_text;
  const auto incoming_xff = req.headers.find("x-forwarded-for");
  if (id.trusted_peer && incoming_xff) {
    // The right-most address that is not itself a trusted proxy.
    std::string_view chain = *incoming_xff;
    while (!chain.empty()) {
      const auto comma = chain.rfind(',');
      auto hop = comma == std::string_view::npos ? chain : chain.substr(comma + 1);
      while (!hop.empty() && hop.front() == ' ') hop.remove_prefix(1);
      boost::system::error_code ec;
      const auto a = asio::ip::make_address(std::string(hop), ec);
      id.ip = hop;
      if (ec || !trusted->contains(a)) break;
      chain = comma == std::string_view::npos ? std::string_view{} : chain.substr(0, comma);
    }
  }
  scratch.clear();
  if (id.trusted_peer && incoming_xff) {
    scratch.append(*incoming_xff);
    scratch += ", "sv;
  }
  scratch += peer_text;
  id.forwarded_for = scratch;
  const auto incoming_proto = req.headers.find("x-forwarded-proto");
  id.proto = id.trusted_peer && incoming_proto ? *incoming_proto : "http"sv;
  const auto incoming_fhost = req.headers.find("x-forwarded-host");
  id.authority = req.authority();
  id.host = id.trusted_peer && incoming_fhost ? *incoming_fhost : id.authority;
  return id;
}

}  // namespace tenx::gateway
