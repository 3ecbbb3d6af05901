#pragma once
// Network addresses written as text: "host:port" (with an IPv6 host in brackets, RFC 3986
// §3.2.2), numeric IP addresses, and address ranges in CIDR notation ("10.0.0.0/8").
//
// Users: config validation (listen addresses, upstream servers, trusted_proxies), the
// runtime's listen parsing (parse_endpoint), and the gateway (--upstream URLs, the admin
// API's Host check, route hosts, the trusted-proxy list). Nothing here resolves names (no DNS):
// a host is only split off, and turned into an address when it is numeric.
//
// Errors are error_codes of address_category() whose message() says what is wrong, so a
// caller can name it ("bad listen address '[::1': '[' without a closing ']'"). Nothing
// allocates; the views a HostPort holds point into the parsed text. Pure: any thread.
#include <boost/asio/ip/address.hpp>

#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "core/result.h"

namespace tenx::core {

enum class AddressErrc {
  missing_port = 1,    // "host", "host:" or "" where a port is required
  bad_port,            // the port has a character that is not a digit
  port_out_of_range,   // the port is above 65535
  unclosed_bracket,    // "[::1" or "[::1:80"
  empty_brackets,      // "[]:80"
  text_after_bracket,  // "[::1]x" or "[::1]80": only ":port" may follow ']'
  unbracketed_ipv6,    // "::1:80": a host with a ':' must be in brackets
  bad_address,         // not a numeric IPv4 or IPv6 address
  bad_prefix_length,   // "10.0.0.0/33", "::/x", "10.0.0.0/"
};
const boost::system::error_category& address_category() noexcept;
inline error_code make_error_code(AddressErrc e) noexcept {
  return {static_cast<int>(e), address_category()};
}

// Whether parse_host_port() insists on a port.
enum class PortRule {
  // "host:port", "[v6]:port", ":port" (no host) or "port" alone: listen and server addresses.
  required,
  // Also "host" and "[v6]": a Host field (RFC 9110 §7.2). "host:" is "host" (RFC 3986 §3.2.3:
  // the port may be empty).
  optional,
};

struct HostPort {
  std::string_view host;              // IPv6 without its brackets; empty when none was given
  std::optional<std::uint16_t> port;  // always set under PortRule::required
};

// Splits "host:port" (RFC 3986 §3.2.2-3.2.3 authority syntax without user info). The host is
// not checked beyond its brackets: see parse_address().
Result<HostPort> parse_host_port(std::string_view text, PortRule rule = PortRule::required);

// A numeric IPv4 ("10.0.0.1") or IPv6 ("::1", "fe80::1%eth0") address; no brackets, no port.
Result<boost::asio::ip::address> parse_address(std::string_view text);

// An address range: a network address and how many of its leading bits a member shares.
class Cidr {
 public:
  // "10.0.0.0/8", "::1/128", or one address ("192.168.1.5" is /32, "::1" is /128). Bits past
  // the prefix may be set: "10.1.2.3/8" is 10.0.0.0/8.
  static Result<Cidr> parse(std::string_view text);

  // True when `a` is of the range's family and shares its first prefix_length() bits. An
  // IPv4-mapped IPv6 address (::ffff:10.0.0.1) is IPv6: it is in IPv6 ranges only.
  bool contains(const boost::asio::ip::address& a) const noexcept;

  const boost::asio::ip::address& network() const { return network_; }
  unsigned prefix_length() const { return prefix_length_; }

 private:
  Cidr(boost::asio::ip::address network, unsigned prefix_length)
      : network_(std::move(network)), prefix_length_(prefix_length) {}

  boost::asio::ip::address network_;
  unsigned prefix_length_;
};

}  // namespace tenx::core

template <>
struct boost::system::is_error_code_enum<tenx::core::AddressErrc> : std::true_type {};
