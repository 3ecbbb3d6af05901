#include "core/net_address.h"

#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

namespace tenx::core {
namespace {

namespace asio = boost::asio;

asio::ip::address ip(const char* text) { return asio::ip::make_address(text); }

// What parse_host_port reads in `text`: "host|port" ("host|" without a port), or the error.
std::string parsed(std::string_view text, PortRule rule = PortRule::required) {
  const auto r = parse_host_port(text, rule);
  if (!r) return r.error().message();
  return std::string(r->host) + "|" + (r->port ? std::to_string(*r->port) : "");
}

// Every text is refused with `error`.
void expect_refused(AddressErrc error, std::initializer_list<std::string_view> texts,
                    PortRule rule = PortRule::required) {
  for (const auto text : texts) {
    const auto r = parse_host_port(text, rule);
    EXPECT_FALSE(r) << "'" << text << "' parsed";
    if (!r)
      EXPECT_EQ(r.error(), make_error_code(error)) << "'" << text << "': " << r.error().message();
  }
}

// Does the range `cidr` (which must parse) hold `address`?
bool in_range(const char* cidr, const char* address) {
  const auto net = Cidr::parse(cidr);
  EXPECT_TRUE(net) << cidr;
  return net && net->contains(ip(address));
}

TEST(ParseHostPort, SplitsHostAndPort) {
  EXPECT_EQ(parsed("127.0.0.1:8080"), "127.0.0.1|8080");
  EXPECT_EQ(parsed("localhost:1"), "localhost|1");
  EXPECT_EQ(parsed("h:00080"), "h|80");  // RFC 3986 §3.2.3: port = *DIGIT
}

TEST(ParseHostPort, TakesBracketedIpv6WithoutTheBrackets) {
  EXPECT_EQ(parsed("[::1]:8080"), "::1|8080");
  EXPECT_EQ(parsed("[2001:db8::a:b]:65535"), "2001:db8::a:b|65535");
}

TEST(ParseHostPort, AcceptsAPortWithoutAHost) {
  EXPECT_EQ(parsed(":8080"), "|8080");
  EXPECT_EQ(parsed("8080"), "|8080");
  EXPECT_EQ(parsed(":0"), "|0");
}

TEST(ParseHostPort, RefusesAMissingPort) {
  expect_refused(AddressErrc::missing_port, {"", "host", "host:", "[::1]", "[::1]:", "[8080]"});
  EXPECT_EQ(parsed("host:"), "no port (expected HOST:PORT)");
}

TEST(ParseHostPort, RefusesAPortThatIsNotANumber) {
  expect_refused(AddressErrc::bad_port,
                 {"x:y", "1.2.3.4:-1", "1.2.3.4:+80", "1.2.3.4:80 ", "[::1]:8o"});
  EXPECT_EQ(parsed("x:y"), "the port is not a number");
}

TEST(ParseHostPort, RefusesAPortAbove65535) {
  expect_refused(AddressErrc::port_out_of_range,
                 {"1.2.3.4:65536", "1.2.3.4:99999", "99999", "h:99999999999999999999999999"});
  EXPECT_EQ(parsed("h:70000"), "the port is above 65535");
}

TEST(ParseHostPort, RefusesBrokenBrackets) {
  expect_refused(AddressErrc::unclosed_bracket, {"[::1", "[::1:80"});
  expect_refused(AddressErrc::empty_brackets, {"[]:80", "[]"});
  expect_refused(AddressErrc::text_after_bracket, {"[::1]80", "[::1]x:80"});
  EXPECT_EQ(parsed("[::1"), "'[' without a closing ']'");
}

TEST(ParseHostPort, RefusesIpv6WithoutBrackets) {
  // RFC 3986 §3.2.2: "::1:8080" could be an address with or without a port.
  expect_refused(AddressErrc::unbracketed_ipv6, {"::1:8080", "::1"});
  expect_refused(AddressErrc::unbracketed_ipv6, {"::1", "fe80::1"}, PortRule::optional);
  EXPECT_EQ(parsed("::1:80"), "an IPv6 address needs brackets, as in [::1]:8080");
}

TEST(ParseHostPort, OptionalPortAllowsAHostAlone) {
  EXPECT_EQ(parsed("example.com", PortRule::optional), "example.com|");
  EXPECT_EQ(parsed("example.com:", PortRule::optional), "example.com|");  // RFC 3986 §3.2.3
  EXPECT_EQ(parsed("[::1]", PortRule::optional), "::1|");
  EXPECT_EQ(parsed("[::1]:9901", PortRule::optional), "::1|9901");
  EXPECT_EQ(parsed("8080", PortRule::optional), "8080|");  // digits alone are a host here
  EXPECT_EQ(parsed("", PortRule::optional), "|");
}

TEST(ParseHostPort, OptionalPortStillRefusesBadOnes) {
  EXPECT_EQ(parsed("h:x", PortRule::optional), "the port is not a number");
  EXPECT_EQ(parsed("h:65536", PortRule::optional), "the port is above 65535");
  EXPECT_EQ(parsed("[::1", PortRule::optional), "'[' without a closing ']'");
}

TEST(ParseAddress, ReadsIpv4AndIpv6) {
  const auto v4 = parse_address("192.168.1.5");
  ASSERT_TRUE(v4);
  EXPECT_EQ(*v4, ip("192.168.1.5"));
  const auto v6 = parse_address("2001:db8::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(*v6, ip("2001:db8::1"));
}

TEST(ParseAddress, RefusesWhatIsNotANumericAddress) {
  for (const char* text : {"", "localhost", "999.1.1.1", "1.2.3", "[::1]", "::1:", "1.2.3.4:80"})
    EXPECT_FALSE(parse_address(text)) << text;
  EXPECT_FALSE(parse_address(std::string_view("1.2.3.4\0x", 9)));
  EXPECT_FALSE(parse_address(std::string(100, '1')));
  EXPECT_EQ(parse_address("nope").error().message(), "not a numeric IPv4 or IPv6 address");
}

TEST(Cidr, ParsesAPrefix) {
  const auto v4 = Cidr::parse("10.0.0.0/8");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->network(), ip("10.0.0.0"));
  EXPECT_EQ(v4->prefix_length(), 8u);
  const auto v6 = Cidr::parse("::1/128");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->prefix_length(), 128u);
}

TEST(Cidr, TakesOneAddressAsAFullPrefix) {
  const auto v4 = Cidr::parse("192.168.1.5");
  ASSERT_TRUE(v4);
  EXPECT_EQ(v4->prefix_length(), 32u);
  EXPECT_TRUE(in_range("192.168.1.5", "192.168.1.5"));
  EXPECT_FALSE(in_range("192.168.1.5", "192.168.1.6"));
  const auto v6 = Cidr::parse("::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->prefix_length(), 128u);
}

TEST(Cidr, RefusesBadInput) {
  for (const char* text : {"", "/8", "10.0.0/8", "10.0.0.0/", "10.0.0.0/33", "::/129", "::/x",
                           "10.0.0.0/8/8", "10.0.0.0/-1", "10.0.0.0/ 8", "host/8", "[::1]/128"})
    EXPECT_FALSE(Cidr::parse(text)) << text;
  EXPECT_EQ(Cidr::parse("10.0.0.0/33").error(), make_error_code(AddressErrc::bad_prefix_length));
  EXPECT_EQ(Cidr::parse("10.0.0/8").error(), make_error_code(AddressErrc::bad_address));
}

TEST(Cidr, ContainsTheAddressesOfItsPrefix) {
  EXPECT_TRUE(in_range("10.0.0.0/8", "10.0.0.0"));
  EXPECT_TRUE(in_range("10.0.0.0/8", "10.255.255.255"));
  EXPECT_FALSE(in_range("10.0.0.0/8", "11.0.0.0"));
  EXPECT_FALSE(in_range("10.0.0.0/8", "9.255.255.255"));
  EXPECT_TRUE(in_range("192.168.1.128/25", "192.168.1.200"));
  EXPECT_FALSE(in_range("192.168.1.128/25", "192.168.1.127"));
  EXPECT_TRUE(in_range("2001:db8::/33", "2001:db8:7fff::1"));
  EXPECT_FALSE(in_range("2001:db8::/33", "2001:db8:8000::1"));
}

TEST(Cidr, IgnoresBitsPastThePrefix) { EXPECT_TRUE(in_range("10.1.2.3/8", "10.200.0.1")); }

TEST(Cidr, ZeroPrefixContainsTheWholeFamilyOnly) {
  EXPECT_TRUE(in_range("0.0.0.0/0", "1.2.3.4"));
  EXPECT_FALSE(in_range("0.0.0.0/0", "::1"));
  EXPECT_TRUE(in_range("::/0", "2001:db8::1"));
  EXPECT_FALSE(in_range("::/0", "1.2.3.4"));
}

TEST(Cidr, TreatsIpv4MappedIpv6AsIpv6) {
  EXPECT_FALSE(in_range("10.0.0.0/8", "::ffff:10.0.0.1"));
  EXPECT_TRUE(in_range("::ffff:10.0.0.0/104", "::ffff:10.0.0.1"));
}

}  // namespace
}  // namespace tenx::core
