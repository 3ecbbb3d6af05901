#include "core/net_address.h"

#include <array>
#include <charconv>
#include <cstring>
#include <string>

namespace tenx::core {
namespace asio = boost::asio;

namespace {

class Category final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "tenx.address"; }
  std::string message(int ev) const override {
    switch (static_cast<AddressErrc>(ev)) {
      case AddressErrc::missing_port:
        return "no port (expected HOST:PORT)";
      case AddressErrc::bad_port:
        return "the port is not a number";
      case AddressErrc::port_out_of_range:
        return "the port is above 65535";
      case AddressErrc::unclosed_bracket:
        return "'[' without a closing ']'";
      case AddressErrc::empty_brackets:
        return "no address between '[' and ']'";
      case AddressErrc::text_after_bracket:
        return "only ':' and a port may follow ']'";
      case AddressErrc::unbracketed_ipv6:
        return "an IPv6 address needs brackets, as in [::1]:8080";
      case AddressErrc::bad_address:
        return "not a numeric IPv4 or IPv6 address";
      case AddressErrc::bad_prefix_length:
        return "the prefix length after '/' must be a number up to 32 (IPv4) or 128 (IPv6)";
    }
    return "bad network address";
  }
};

// A host and the text after its ':' (nullopt: there is no ':').
struct Authority {
  std::string_view host;
  std::optional<std::string_view> port;
};

// RFC 3986 §3.2.2: a host with a ':' in it is an IPv6 literal, and must be in brackets.
Result<Authority> split_authority(std::string_view text) {
  if (text.starts_with('[')) {
    const auto close = text.find(']');
    if (close == std::string_view::npos) return make_error_code(AddressErrc::unclosed_bracket);
    const auto host = text.substr(1, close - 1);
    if (host.empty()) return make_error_code(AddressErrc::empty_brackets);
    const auto after = text.substr(close + 1);
    if (after.empty()) return Authority{host, std::nullopt};
    if (after.front() != ':') return make_error_code(AddressErrc::text_after_bracket);
    return Authority{host, after.substr(1)};
  }
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) return Authority{text, std::nullopt};
  if (text.find(':', colon + 1) != std::string_view::npos)
    return make_error_code(AddressErrc::unbracketed_ipv6);
  return Authority{text.substr(0, colon), text.substr(colon + 1)};
}

bool all_digits(std::string_view s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string_view::npos;
}

// RFC 3986 §3.2.3 port = *DIGIT, here non-empty and at most 65535.
Result<std::uint16_t> parse_port(std::string_view digits) {
  if (!all_digits(digits)) return make_error_code(AddressErrc::bad_port);
  unsigned long value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || value > 65535) return make_error_code(AddressErrc::port_out_of_range);
  return static_cast<std::uint16_t>(value);
}

// True when the first `bits` bits of x and y agree.
bool same_prefix(const unsigned char* x, const unsigned char* y, unsigned bits) {
  for (; bits >= 8; bits -= 8)
    if (*x++ != *y++) return false;
  if (bits == 0) return true;
  const auto mask = static_cast<unsigned char>(0xff << (8 - bits));
  return (*x & mask) == (*y & mask);
}

}  // namespace

const boost::system::error_category& address_category() noexcept {
  static const Category category;
  return category;
}

Result<HostPort> parse_host_port(std::string_view text, PortRule rule) {
  const auto authority = split_authority(text);
  if (!authority) return authority.error();
  HostPort out{authority->host, std::nullopt};
  std::optional<std::string_view> port = authority->port;
  if (!port && rule == PortRule::required) {
    // Digits alone are a port without a host ("8080"); anything else lacks the port.
    if (!all_digits(text)) return make_error_code(AddressErrc::missing_port);
    out.host = {};
    port = text;
  }
  if (!port || (port->empty() && rule == PortRule::optional)) return out;
  if (port->empty()) return make_error_code(AddressErrc::missing_port);
  const auto number = parse_port(*port);
  if (!number) return number.error();
  out.port = *number;
  return out;
}

Result<asio::ip::address> parse_address(std::string_view text) {
  // make_address() wants a NUL-terminated string: a copy on the stack keeps this free of
  // allocation. 64 bytes hold the longest IPv6 text (45) with a scope id (IF_NAMESIZE, 16).
  std::array<char, 64> buf;
  if (text.empty() || text.size() >= buf.size() || text.find('\0') != std::string_view::npos)
    return make_error_code(AddressErrc::bad_address);
  std::memcpy(buf.data(), text.data(), text.size());
  buf[text.size()] = '\0';
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(buf.data(), ec);
  if (ec) return make_error_code(AddressErrc::bad_address);
  return address;
}

Result<Cidr> Cidr::parse(std::string_view text) {
  const auto slash = text.find('/');
  const auto network = parse_address(text.substr(0, slash));
  if (!network) return network.error();
  const unsigned max_bits = network->is_v4() ? 32 : 128;
  if (slash == std::string_view::npos) return Cidr(*network, max_bits);
  const auto digits = text.substr(slash + 1);
  unsigned bits = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), bits);
  if (ec != std::errc() || end != digits.data() + digits.size() || bits > max_bits)
    return make_error_code(AddressErrc::bad_prefix_length);
  return Cidr(*network, bits);
}

bool Cidr::contains(const asio::ip::address& a) const noexcept {
  if (a.is_v4() != network_.is_v4()) return false;
  if (a.is_v4()) {
    const auto x = a.to_v4().to_bytes(), y = network_.to_v4().to_bytes();
    return same_prefix(x.data(), y.data(), prefix_length_);
  }
  const auto x = a.to_v6().to_bytes(), y = network_.to_v6().to_bytes();
  return same_prefix(x.data(), y.data(), prefix_length_);
}

}  // namespace tenx::core
