#include "gateway/routes.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace tenx::gateway {
namespace {

config::RouteConfig exact(std::string path, std::string body, std::string host = "") {
  config::RouteConfig r;
  r.path = std::move(path);
  r.body = std::move(body);
  r.host = std::move(host);
  return r;
}

config::RouteConfig prefix(std::string path, std::string body, std::string host = "") {
  auto r = exact(std::move(path), std::move(body), std::move(host));
  r.prefix = true;
  return r;
}

// The body of the route that answers, or "<none>".
std::string answer(const RouteTable& t, std::string_view host, std::string_view path) {
  const Route* r = t.match(host, path);
  return r ? r->config.body : "<none>";
}

TEST(RouteTable, ExactPathBeatsAnyPrefix) {
  // Registered prefix first, to show order does not decide.
  RouteTable t({prefix("/api/", "api-prefix"), prefix("/api/users", "longer-prefix"),
                exact("/api/users", "exact")});
  EXPECT_EQ(answer(t, "h", "/api/users"), "exact");
  EXPECT_EQ(answer(t, "h", "/api/users/1"), "longer-prefix");
  EXPECT_EQ(answer(t, "h", "/api/other"), "api-prefix");
  EXPECT_EQ(t.size(), 3u);
}

TEST(RouteTable, LongestPrefixWins) {
  RouteTable t({prefix("/", "root"), prefix("/api/v2/", "v2"), prefix("/api/", "api")});
  EXPECT_EQ(answer(t, "h", "/api/v2/posts"), "v2");
  EXPECT_EQ(answer(t, "h", "/api/v1/posts"), "api");
  EXPECT_EQ(answer(t, "h", "/api/"), "api");
  EXPECT_EQ(answer(t, "h", "/api"), "root");  // "/api" does not start with "/api/"
  EXPECT_EQ(answer(t, "h", "/index.html"), "root");
}

TEST(RouteTable, ExactMatchIsWholePathOnly) {
  RouteTable t({exact("/x", "x")});
  EXPECT_EQ(answer(t, "h", "/x"), "x");
  EXPECT_EQ(answer(t, "h", "/x/"), "<none>");
  EXPECT_EQ(answer(t, "h", "/xy"), "<none>");
  EXPECT_EQ(answer(t, "h", "/"), "<none>");
}

TEST(RouteTable, HostSpecificRouteIsPreferred) {
  // The host-less routes come first in the config; the host-specific ones still win.
  RouteTable t({exact("/x", "any-exact"), exact("/x", "a-exact", "a.example.com"),
                prefix("/p/", "any-prefix"), prefix("/p/", "a-prefix", "a.example.com")});
  EXPECT_EQ(answer(t, "a.example.com", "/x"), "a-exact");
  EXPECT_EQ(answer(t, "b.example.com", "/x"), "any-exact");
  EXPECT_EQ(answer(t, "a.example.com", "/p/1"), "a-prefix");
  EXPECT_EQ(answer(t, "b.example.com", "/p/1"), "any-prefix");
  EXPECT_EQ(answer(t, "", "/p/1"), "any-prefix");
}

TEST(RouteTable, LongerPrefixBeatsHostAtLowerSpecificity) {
  RouteTable t({prefix("/", "a-root", "a.example.com"), prefix("/api/", "any-api")});
  EXPECT_EQ(answer(t, "a.example.com", "/api/1"), "any-api");
  EXPECT_EQ(answer(t, "a.example.com", "/other"), "a-root");
  EXPECT_EQ(answer(t, "b.example.com", "/other"), "<none>");
}

TEST(RouteTable, HostComparisonIgnoresCaseAndPort) {
  RouteTable t({exact("/x", "a", "a.example.com"), exact("/y", "v6", "[::1]")});
  EXPECT_EQ(answer(t, "A.Example.COM", "/x"), "a");
  EXPECT_EQ(answer(t, "a.example.com:8080", "/x"), "a");
  EXPECT_EQ(answer(t, "A.EXAMPLE.COM:443", "/x"), "a");
  EXPECT_EQ(answer(t, "a.example.co", "/x"), "<none>");
  EXPECT_EQ(answer(t, "xa.example.com", "/x"), "<none>");
  EXPECT_EQ(answer(t, "[::1]:8080", "/y"), "v6");
  EXPECT_EQ(answer(t, "[::1]", "/y"), "v6");
  EXPECT_EQ(answer(t, "[::2]:8080", "/y"), "<none>");
}

TEST(RouteTable, BadHostMatchesOnlyHostlessRoutes) {
  // RFC 9112 §3.2: a Host that does not parse names no host.
  RouteTable t({exact("/x", "a", "a.example.com"), prefix("/", "any")});
  EXPECT_EQ(answer(t, "a.example.com:http", "/x"), "any");
  EXPECT_EQ(answer(t, "a.example.com:99999", "/x"), "any");
  EXPECT_EQ(answer(t, "a.example.com:", "/x"), "a");  // RFC 3986 §3.2.3: an empty port
}

TEST(RouteTable, Ipv6RouteHostMatchesWithOrWithoutBrackets) {
  RouteTable t({exact("/b", "bracketed", "[::1]"), exact("/p", "plain", "::1")});
  EXPECT_EQ(answer(t, "[::1]:8080", "/b"), "bracketed");
  EXPECT_EQ(answer(t, "[::1]:8080", "/p"), "plain");
  EXPECT_EQ(answer(t, "[::1", "/b"), "<none>");
}

TEST(RouteTable, NoMatchIsNull) {
  RouteTable empty({});
  EXPECT_EQ(empty.match("h", "/"), nullptr);
  EXPECT_EQ(empty.size(), 0u);

  RouteTable t({exact("/only", "only", "a.example.com"), prefix("/static/", "static")});
  EXPECT_EQ(t.match("b.example.com", "/only"), nullptr);
  EXPECT_EQ(t.match("a.example.com", "/static"), nullptr);
  EXPECT_EQ(t.match("a.example.com", "/nothing"), nullptr);
}

TEST(RouteTable, LabelsNameTheRoute) {
  RouteTable t({exact("/x", "x"), prefix("/api/", "api")});
  const Route* x = t.match("h", "/x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->label, "/x");
  const Route* api = t.match("h", "/api/anything/at/all");
  ASSERT_NE(api, nullptr);
  EXPECT_EQ(api->label, "/api/*");
}

TEST(RouteTable, RouteKeepsItsConfigAndHeaderViews) {
  auto rc = exact("/h", "body");
  rc.status = 418;
  rc.content_type = "text/teapot";
  rc.headers = {{"X-One", "1"}, {"Cache-Control", "no-store, max-age=0, a-long-enough-value"}};
  std::vector<config::RouteConfig> routes{rc};
  RouteTable t(routes);
  routes.clear();  // the table keeps its own copy
  const Route* r = t.match("h", "/h");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->config.status, 418u);
  EXPECT_EQ(r->config.content_type, "text/teapot");
  ASSERT_EQ(r->headers.size(), 2u);
  EXPECT_EQ(r->headers[0].name, "X-One");
  EXPECT_EQ(r->headers[0].value, "1");
  EXPECT_EQ(r->headers[1].name, "Cache-Control");
  EXPECT_EQ(r->headers[1].value, "no-store, max-age=0, a-long-enough-value");
  // The views point into the route's own config.
  EXPECT_EQ(r->headers[1].value.data(), r->config.headers[1].second.data());
}

TEST(RouteTable, MatchesRoutesFromAParsedConfig) {
  const auto cfg = config::load_string(R"(
[[gateway.routes]]
prefix = "/api/"
[gateway.routes.return]
body = "api"

[[gateway.routes]]
path = "/api/health"
health = true

[[gateway.routes]]
host = "metrics.internal"
path = "/metrics"
metrics = true
)");
  RouteTable t(cfg.gateway.routes);
  const Route* r = t.match("x", "/api/health");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->config.kind, config::RouteConfig::Kind::health);
  r = t.match("x", "/api/posts");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->config.body, "api");
  r = t.match("METRICS.internal:9100", "/metrics");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->config.kind, config::RouteConfig::Kind::metrics);
  EXPECT_EQ(t.match("public.example.com", "/metrics"), nullptr);
}

}  // namespace
}  // namespace tenx::gateway
