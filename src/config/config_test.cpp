#include "config/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace tenx::config {
namespace {

using namespace std::chrono_literals;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using ::testing::UnorderedElementsAre;

// The messages of the Error that loading `text` throws (empty if it loads).
std::vector<std::string> errors_of(const std::string& text,
                                   const std::vector<std::string>& overrides = {}) {
  try {
    load_string(text, "test.toml", overrides);
  } catch (const Error& e) {
    return e.messages();
  }
  return {};
}

// Every line number below is the line in the raw string, counting its first line as 1.
constexpr const char* kGood = R"(# line 1
[server]
listen = "0.0.0.0:9000"
threads = 4
drain_timeout_ms = 2500
max_header_bytes = 8192
max_body_bytes = 1048576
header_timeout_ms = 5000
idle_timeout_ms = 60000
idle_park_after_ms = 500
body_timeout_ms = 20000
send_timeout_ms = 15000
max_connections = 500
max_requests_per_connection = 100
server_name = "edge"

[log]
level = "debug"
file = "/var/log/tenx.log"
access_log = "stdout"

[health]
disk_path = "/tmp"
disk_min_free_mb = 10
max_rss_mb = 512
check_timeout_ms = 250

[[gateway.routes]]
host = "api.example.com"
prefix = "/api/"
[gateway.routes.return]
status = 201
content_type = "application/json"
body = '{"ok":true}'
delay_ms = 30
[gateway.routes.return.headers]
X-Test = "yes"
Cache-Control = "no-store"

[[gateway.routes]]
path = "/metrics"
metrics = true

[[gateway.routes]]
path = "/health"
health = true
)";

TEST(Config, LoadsEverySection) {
  const Config c = load_string(kGood, "good.toml");
  EXPECT_EQ(c.source, "good.toml");
  EXPECT_EQ(c.server.listen, "0.0.0.0:9000");
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(c.server.drain_timeout, 2500ms);
  EXPECT_EQ(c.server.max_header_bytes, 8192u);
  EXPECT_EQ(c.server.max_body_bytes, 1048576u);
  EXPECT_EQ(c.server.header_timeout, 5000ms);
  EXPECT_EQ(c.server.idle_timeout, 60000ms);
  EXPECT_EQ(c.server.idle_park_after, 500ms);
  EXPECT_EQ(c.server.body_timeout, 20000ms);
  EXPECT_EQ(c.server.send_timeout, 15000ms);
  EXPECT_EQ(c.server.max_connections, 500u);
  EXPECT_EQ(c.server.max_requests_per_connection, 100u);
  EXPECT_EQ(c.server.server_name, "edge");

  EXPECT_EQ(c.log.level, "debug");
  EXPECT_EQ(c.log.file, "/var/log/tenx.log");
  EXPECT_EQ(c.log.access_log, "stdout");

  EXPECT_EQ(c.health.disk_path, "/tmp");
  EXPECT_EQ(c.health.disk_min_free_bytes, 10u << 20);
  EXPECT_EQ(c.health.max_rss_bytes, 512u << 20);
  EXPECT_EQ(c.health.check_timeout, 250ms);

  ASSERT_EQ(c.gateway.routes.size(), 3u);
  const auto& api = c.gateway.routes[0];
  EXPECT_EQ(api.host, "api.example.com");
  EXPECT_EQ(api.path, "/api/");
  EXPECT_TRUE(api.prefix);
  EXPECT_EQ(api.kind, RouteConfig::Kind::fixed);
  EXPECT_EQ(api.status, 201u);
  EXPECT_EQ(api.content_type, "application/json");
  EXPECT_EQ(api.body, R"({"ok":true})");
  EXPECT_EQ(api.delay, 30ms);
  // TOML tables are unordered; toml++ hands keys back sorted.
  EXPECT_THAT(api.headers, UnorderedElementsAre(
                               std::pair<std::string, std::string>{"X-Test", "yes"},
                               std::pair<std::string, std::string>{"Cache-Control", "no-store"}));
  EXPECT_EQ(api.line, 28);

  const auto& metrics = c.gateway.routes[1];
  EXPECT_EQ(metrics.path, "/metrics");
  EXPECT_FALSE(metrics.prefix);
  EXPECT_EQ(metrics.kind, RouteConfig::Kind::metrics);
  EXPECT_EQ(metrics.line, 40);

  const auto& health = c.gateway.routes[2];
  EXPECT_EQ(health.path, "/health");
  EXPECT_EQ(health.kind, RouteConfig::Kind::health);
  EXPECT_TRUE(health.host.empty());
}

TEST(Config, EmptyDocumentGivesDefaults) {
  const Config c = load_string("");
  const Config defaults;
  EXPECT_EQ(c.source, "<string>");
  EXPECT_EQ(c.server.listen, defaults.server.listen);
  EXPECT_EQ(c.server.threads, 0u);
  EXPECT_EQ(c.server.max_header_bytes, defaults.server.max_header_bytes);
  EXPECT_EQ(c.log.level, "info");
  EXPECT_TRUE(c.gateway.routes.empty());
}

TEST(Config, UnknownTopLevelKeyIsReportedWithItsLine) {
  EXPECT_THAT(errors_of("[server]\nthreads = 2\n\n[bogus]\nx = 1\n"),
              ElementsAre("test.toml:4: unknown key 'bogus'"));
  EXPECT_THAT(errors_of("\n\nverbose = true\n"), ElementsAre("test.toml:3: unknown key 'verbose'"));
}

TEST(Config, UnknownKeyInServerIsReportedWithItsLine) {
  EXPECT_THAT(errors_of("[server]\nthreads = 2\nthread = 3\n"),
              ElementsAre("test.toml:3: unknown key 'server.thread'"));
}

TEST(Config, WrongTypeIsReportedWithItsLine) {
  const auto errors = errors_of("[server]\n\nthreads = \"two\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: "));
  EXPECT_THAT(errors[0], HasSubstr("'server.threads' must be an integer, not a string"));
}

TEST(Config, OutOfRangeValuesAreReportedWithTheirLines) {
  const auto errors = errors_of("[server]\nthreads = 1000\nmax_header_bytes = 10\n");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: "));
  EXPECT_THAT(errors[0], HasSubstr("'server.threads' = 1000 is out of range"));
  EXPECT_THAT(errors[1], StartsWith("test.toml:3: "));
  EXPECT_THAT(errors[1], HasSubstr("'server.max_header_bytes' = 10 is out of range"));
}

TEST(Config, BadLogLevelIsReportedWithItsLine) {
  const auto errors = errors_of("[log]\nfile = \"x\"\nlevel = \"loud\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: "));
  EXPECT_THAT(errors[0], HasSubstr("'log.level' must be one of"));
  EXPECT_THAT(errors[0], HasSubstr("'loud'"));
}

TEST(Config, RouteWithBothPathAndPrefixIsRefused) {
  const auto errors = errors_of(
      "[server]\n"
      "[[gateway.routes]]\n"  // line 2
      "path = \"/a\"\n"
      "prefix = \"/b\"\n"
      "health = true\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: gateway.routes[0]: "));
  EXPECT_THAT(errors[0], HasSubstr("exactly one of 'path'"));
}

TEST(Config, RouteWithNeitherPathNorPrefixIsRefused) {
  const auto errors = errors_of(
      "[[gateway.routes]]\n"
      "path = \"/ok\"\n"
      "health = true\n"
      "\n"
      "[[gateway.routes]]\n"  // line 5
      "metrics = true\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:5: gateway.routes[1]: "));
  EXPECT_THAT(errors[0], HasSubstr("exactly one of 'path'"));
}

TEST(Config, RouteWithNoActionIsRefused) {
  const auto errors = errors_of(
      "\n"
      "[[gateway.routes]]\n"  // line 2
      "path = \"/a\"\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: gateway.routes[0]: "));
  EXPECT_THAT(errors[0], HasSubstr("exactly one action"));
}

TEST(Config, RouteWithTwoActionsIsRefused) {
  const auto errors = errors_of(
      "[[gateway.routes]]\n"  // line 1
      "path = \"/a\"\n"
      "metrics = true\n"
      "[gateway.routes.return]\n"
      "status = 204\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:1: gateway.routes[0]: "));
  EXPECT_THAT(errors[0], HasSubstr("exactly one action"));
}

TEST(Config, MetricsAndHealthFalseDoNotCountAsActions) {
  const auto errors = errors_of(
      "[[gateway.routes]]\n"
      "path = \"/a\"\n"
      "metrics = false\n"
      "health = true\n");
  EXPECT_TRUE(errors.empty());
}

TEST(Config, PathMustStartWithSlash) {
  const auto errors = errors_of(
      "[[gateway.routes]]\n"
      "health = true\n"
      "prefix = \"api\"\n");  // line 3
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: gateway.routes[0]: "));
  EXPECT_THAT(errors[0], HasSubstr("must start with '/'"));
}

TEST(Config, BadReturnHeaderNameIsRefused) {
  const auto errors = errors_of(
      "[[gateway.routes]]\n"
      "path = \"/a\"\n"
      "[gateway.routes.return]\n"
      "body = \"x\"\n"
      "[gateway.routes.return.headers]\n"
      "Good = \"1\"\n"
      "\"Bad Name\" = \"2\"\n"  // line 7
      "\"Bad:Colon\" = \"3\"\n"
      "Multi = \"a\\r\\nInjected: yes\"\n");  // line 9
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:7: "));
  EXPECT_THAT(errors[0], HasSubstr("bad header 'Bad Name'"));
  EXPECT_THAT(errors[1], StartsWith("test.toml:8: "));
  EXPECT_THAT(errors[2], StartsWith("test.toml:9: "));
  EXPECT_THAT(errors[2], HasSubstr("bad header 'Multi'"));
}

TEST(Config, ReturnStatusOutOfRangeIsRefused) {
  const auto errors = errors_of(
      "[[gateway.routes]]\n"
      "path = \"/a\"\n"
      "[gateway.routes.return]\n"
      "status = 99\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:4: "));
  EXPECT_THAT(errors[0], HasSubstr("'gateway.routes[0].return.status' = 99 is out of range"));
}

TEST(Config, UnknownKeyInsideRouteIsReported) {
  const auto errors = errors_of(
      "[[gateway.routes]]\n"
      "path = \"/a\"\n"
      "health = true\n"
      "methd = \"GET\"\n");
  EXPECT_THAT(errors, ElementsAre("test.toml:4: unknown key 'gateway.routes[0].methd'"));
}

TEST(Config, TomlSyntaxErrorReportsItsLine) {
  const auto errors = errors_of("[server]\nthreads = 2\nlisten = \"unterminated\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:3: "));
}

TEST(Config, SeveralErrorsAreReportedTogether) {
  const auto errors = errors_of(
      "[server]\n"
      "threads = \"two\"\n"  // line 2
      "wat = 1\n"            // line 3
      "[log]\n"
      "level = \"loud\"\n");  // line 5
  ASSERT_GT(errors.size(), 1u);
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_THAT(errors[0], StartsWith("test.toml:2: "));
  EXPECT_THAT(errors[1], StartsWith("test.toml:3: "));
  EXPECT_THAT(errors[2], StartsWith("test.toml:5: "));
  try {
    load_string("[server]\nthreads = \"two\"\nwat = 1\n", "test.toml");
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    // what() carries every message, one per line.
    EXPECT_THAT(e.what(), HasSubstr("test.toml:2: "));
    EXPECT_THAT(e.what(), HasSubstr("\ntest.toml:3: "));
  }
}

TEST(Config, OverridesAreAppliedOverTheFile) {
  const Config c =
      load_string("[server]\nthreads = 2\n", "x.toml",
                  {"server.threads=4", "server.listen=\"127.0.0.1:9\"", "log.level=debug"});
  EXPECT_EQ(c.server.threads, 4u);
  EXPECT_EQ(c.server.listen, "127.0.0.1:9");
  EXPECT_EQ(c.log.level, "debug");  // a bare word is a string
}

TEST(Config, OverrideCanAddARouteTableValue) {
  const Config c = load_string("", "x.toml", {"gateway.routes=[{path=\"/x\", health=true}]"});
  ASSERT_EQ(c.gateway.routes.size(), 1u);
  EXPECT_EQ(c.gateway.routes[0].path, "/x");
  EXPECT_EQ(c.gateway.routes[0].kind, RouteConfig::Kind::health);
}

TEST(Config, OverridesAreValidatedAndNamedAsSet) {
  auto errors = errors_of("[server]\nthreads = 2\n", {"server.threads=1000"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("--set"));
  EXPECT_THAT(errors[0], HasSubstr("'server.threads' = 1000 is out of range"));

  errors = errors_of("", {"server.threads=two"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("--set"));
  EXPECT_THAT(errors[0], HasSubstr("must be an integer, not a string"));

  errors = errors_of("", {"log.level=loud"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("--set"));

  errors = errors_of("", {"server.bogus=1"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("--set"));
  EXPECT_THAT(errors[0], HasSubstr("unknown key 'server.bogus'"));

  errors = errors_of("", {"nonsense"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("--set"));
  EXPECT_THAT(errors[0], HasSubstr("KEY=VALUE"));

  errors = errors_of("", {"server.threads.x=1"});
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_THAT(errors[0], StartsWith("--set"));
}

TEST(Config, OverrideErrorsAndFileErrorsAreReportedTogether) {
  const auto errors = errors_of("[server]\nmax_header_bytes = 10\n", {"server.threads=1000"});
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_THAT(errors, UnorderedElementsAre(StartsWith("test.toml:2: "), StartsWith("--set")));
}

class TempFile {
 public:
  explicit TempFile(const std::string& content) {
    path_ = (std::filesystem::temp_directory_path() /
             ("tenx_config_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++) +
              ".toml"))
                .string();
    std::ofstream(path_) << content;
  }
  ~TempFile() { std::remove(path_.c_str()); }
  const std::string& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

TEST(Config, LoadFileReadsATempFile) {
  TempFile f(kGood);
  const Config c = load_file(f.path(), {"server.threads=8"});
  EXPECT_EQ(c.source, f.path());
  EXPECT_EQ(c.server.threads, 8u);
  EXPECT_EQ(c.gateway.routes.size(), 3u);
}

TEST(Config, LoadFileErrorsNameThePathAndLine) {
  TempFile f("[server]\n\nthreads = -1\n");
  try {
    load_file(f.path());
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    ASSERT_EQ(e.messages().size(), 1u);
    EXPECT_THAT(e.messages()[0], StartsWith(f.path() + ":3: "));
  }
  TempFile syntax("a = 1\nb = = 2\n");
  try {
    load_file(syntax.path());
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    ASSERT_EQ(e.messages().size(), 1u);
    EXPECT_THAT(e.messages()[0], StartsWith(syntax.path() + ":2: "));
  }
}

TEST(Config, MissingFileMessageNamesThePath) {
  const std::string path = "/nonexistent/dir/tenx-missing.toml";
  try {
    load_file(path);
    FAIL() << "expected an Error";
  } catch (const Error& e) {
    ASSERT_EQ(e.messages().size(), 1u);
    EXPECT_THAT(e.messages()[0], StartsWith(path + ": "));
  }
}

}  // namespace
}  // namespace tenx::config

namespace tenx::config {
namespace {

TEST(Config, ListenAddressesFollowTheHostPortRules) {
  for (const char* ok : {"127.0.0.1:9", ":9", "9", "[::1]:9", "localhost:9"})
    EXPECT_TRUE(errors_of(std::string("[server]\nlisten = \"") + ok + "\"\n").empty()) << ok;
  // RFC 3986 §3.2.2: an IPv6 host needs brackets ("::1:9" could be an address without a port).
  for (const char* bad : {"[::1", "[::1]", "host:", "::1:9", "1.2.3.4:65536", "example.com:80"}) {
    const auto errors = errors_of(std::string("[server]\nlisten = \"") + bad + "\"\n");
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_THAT(errors[0], HasSubstr("'server.listen' must be HOST:PORT")) << bad;
  }
}

TEST(Config, TrustedProxiesMustBeAddressesOrCidrs) {
  const auto c = load_string(
      "[gateway]\ntrusted_proxies = [\"10.0.0.0/8\", \"::1/128\", \"192.168.1.5\"]\n", "t");
  EXPECT_THAT(c.gateway.trusted_proxies, ElementsAre("10.0.0.0/8", "::1/128", "192.168.1.5"));
  for (const char* bad : {"10.0.0/8", "10.0.0.0/33", "::/129", "10.0.0.0/", "proxy.internal"}) {
    const auto errors = errors_of(std::string("[gateway]\ntrusted_proxies = [\"") + bad + "\"]\n");
    ASSERT_EQ(errors.size(), 1u) << bad;
    EXPECT_THAT(errors[0], HasSubstr("trusted_proxies entries must be addresses or CIDRs")) << bad;
  }
}

TEST(ConfigApp, ReadsTheAppSectionAndRefusesBadValues) {
  auto c = load_string(
      "[app]\nlisten = \"127.0.0.1:9100\"\ndatabase = \"postgresql://u@127.0.0.1:5432/db\"\n"
      "debug_headers = true\nslow_query_ms = 250\nread_threads = 3\n",
      "test.toml");
  EXPECT_EQ(c.app.listen, "127.0.0.1:9100");
  EXPECT_EQ(c.app.database, "postgresql://u@127.0.0.1:5432/db");
  EXPECT_TRUE(c.app.debug_headers);
  EXPECT_EQ(c.app.slow_query, std::chrono::milliseconds(250));
  EXPECT_EQ(c.app.read_threads, 3u);
  EXPECT_EQ(load_string("", "test.toml").app.database, "sqlite://data/tenx.db");
  auto errs = errors_of("[app]\ndatabase = \"mysql://x\"\nread_threads = 0\nbogus = 1\n");
  ASSERT_EQ(errs.size(), 3u);
  EXPECT_NE(errs[0].find("test.toml:2: 'app.database' must be sqlite://PATH or postgresql://"),
            std::string::npos)
      << errs[0];
  // --set reaches the section too.
  EXPECT_EQ(load_string("", "test.toml", {"app.threads=4"}).app.threads, 4u);
}

TEST(ConfigApp, ReadsTheCacheKeysAndRefusesAnUnknownCache) {
  auto c = load_string(
      "[app]\ncache = \"redis://127.0.0.1:6379/2\"\ncache_memory_mb = 16\n"
      "cache_ttl_trending_ms = 1000\ncache_ttl_user_ms = 2000\ncache_ttl_feed_ms = 3000\n",
      "test.toml");
  EXPECT_EQ(c.app.cache, "redis://127.0.0.1:6379/2");
  EXPECT_EQ(c.app.cache_memory_mb, 16u);
  EXPECT_EQ(c.app.cache_ttl_trending, std::chrono::milliseconds(1000));
  EXPECT_EQ(c.app.cache_ttl_user, std::chrono::milliseconds(2000));
  EXPECT_EQ(c.app.cache_ttl_feed, std::chrono::milliseconds(3000));
  EXPECT_EQ(load_string("", "test.toml").app.cache, "memory");
  auto errs = errors_of("[app]\ncache = \"memcached://x\"\ncache_memory_mb = 0\n");
  ASSERT_EQ(errs.size(), 2u);
  EXPECT_THAT(errs[0], HasSubstr("'app.cache' must be \"memory\", \"off\" or redis://"));
}

}  // namespace
}  // namespace tenx::config

namespace tenx::config {
namespace {

TEST(ConfigOverrides, FlagValuesBecomeTomlStringsThatReadBackUnchanged) {
  for (const std::string v : {"127.0.0.1:9001", "a \"quoted\" value", "back\\slash", ""}) {
    EXPECT_EQ(load_string("", "t", {"app.cursor_key=" + toml_string(v)}).app.cursor_key, v) << v;
  }
  EXPECT_EQ(toml_string("x\"y"), "\"x\\\"y\"");
}

}  // namespace
}  // namespace tenx::config
