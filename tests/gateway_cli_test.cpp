// The command line: `tenx version`, `--help`, `tenx config check`, and how `tenx gateway`
// starts (one listening line) or refuses to start (exit 2, no listening line).
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;

TEST(Cli, VersionCommandPrintsTheVersion) {
  const auto r = run_tenx({"version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, MatchesRegex("tenx [0-9]+\\.[0-9]+\\.[0-9]+ \\(.*\\)\n"));
  EXPECT_EQ(r.err, "");
}

TEST(Cli, VersionFlagAgreesWithVersionCommand) {
  const auto flag = run_tenx({"--version"});
  const auto cmd = run_tenx({"version"});
  EXPECT_EQ(flag.exit_code, 0) << flag.err;
  ASSERT_THAT(flag.out, StartsWith("tenx "));
  const std::string version = flag.out.substr(0, flag.out.find_first_of(" \n", 5));
  EXPECT_THAT(cmd.out, StartsWith(version + " "));
}

TEST(Cli, EveryCommandHasHelp) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;  // something only this command's help says
  };
  const std::vector<Case> cases = {
      {{"--help"}, "gateway"},
      {{"version", "--help"}, "version"},
      {{"config", "--help"}, "check"},
      {{"config", "check", "--help"}, "--set"},
      {{"gateway", "--help"}, "--listen"},
      {{"bench", "--help"}, "--rate"},
      {{"bench", "compare", "--help"}, "--json"},
      {{"bench", "capacity", "--help"}, "--slo"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(::testing::PrintToString(c.args));
    const auto r = run_tenx(c.args);
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_THAT(r.out, HasSubstr("Usage"));
    EXPECT_THAT(r.out, HasSubstr(c.mentions));
  }
  const auto gw = run_tenx({"gateway", "--help"});
  for (const char* option : {"--config", "--threads", "--set", "--access-log"})
    EXPECT_THAT(gw.out, HasSubstr(option));
}

TEST(Cli, MissingSubcommandIsAnError) {
  const auto r = run_tenx({});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.out + r.err, HasSubstr("subcommand"));
}

// ---- tenx config check ----

TEST(ConfigCheck, AcceptsTheExampleAndTheTestConfig) {
  const std::string example = std::string(TENX_SOURCE_DIR) + "/examples/hello.toml";
  auto r = run_tenx({"config", "check", example});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, example + ": ok (3 routes)\n");

  const std::string basic = test_config("basic.toml");
  r = run_tenx({"config", "check", basic});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, basic + ": ok (7 routes)\n");
  EXPECT_EQ(r.err, "");
}

TEST(ConfigCheck, ReportsAWrongTypeAtItsLine) {
  TempFile f(
      "[server]\n"
      "listen = \"127.0.0.1:0\"\n"
      "\n"
      "threads = \"four\"\n");
  const auto r = run_tenx({"config", "check", f.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith(f.path() + ":4: "));
  EXPECT_THAT(r.err, HasSubstr("'server.threads' must be an integer, not a string"));
}

TEST(ConfigCheck, ReportsATomlSyntaxErrorAtItsLine) {
  TempFile f(
      "[server]\n"
      "threads = 1\n"
      "listen = \"127.0.0.1:0\n"
      "[log]\n");
  const auto r = run_tenx({"config", "check", f.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith(f.path() + ":3: "));
}

TEST(ConfigCheck, ReportsEveryErrorNotJustTheFirst) {
  TempFile f(
      "[server]\n"
      "threads = 1000\n"
      "listen = \"127.0.0.1:0\"\n"
      "[log]\n"
      "level = \"loud\"\n");
  const auto r = run_tenx({"config", "check", f.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(f.path() + ":2: 'server.threads' = 1000 is out of range"));
  EXPECT_THAT(r.err, HasSubstr(f.path() + ":5: 'log.level' must be one of"));
}

TEST(ConfigCheck, RejectsAnUnknownKeyAtItsLine) {
  TempFile f(
      "[server]\n"
      "listen = \"127.0.0.1:0\"\n"
      "threadz = 4\n");
  const auto r = run_tenx({"config", "check", f.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(f.path() + ":3: unknown key 'server.threadz'"));
}

TEST(ConfigCheck, RejectsAnUnknownKeyInsideARoute) {
  TempFile f(
      "[[gateway.routes]]\n"
      "path = \"/x\"\n"
      "[gateway.routes.return]\n"
      "status = 200\n"
      "bodyy = \"typo\"\n");
  const auto r = run_tenx({"config", "check", f.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(f.path() + ":5: unknown key 'gateway.routes[0].return.bodyy'"));
}

TEST(ConfigCheck, RejectsARouteWithoutAnAction) {
  TempFile f(
      "[[gateway.routes]]\n"
      "path = \"/x\"\n");
  const auto r = run_tenx({"config", "check", f.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("give exactly one action"));
}

TEST(ConfigCheck, RejectsAnOutOfRangeSetOverrideNamingSet) {
  const auto r =
      run_tenx({"config", "check", test_config("basic.toml"), "--set", "server.threads=999"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_EQ(r.out, "");
  EXPECT_THAT(r.err, StartsWith("--set"));
  EXPECT_THAT(r.err, HasSubstr("'server.threads' = 999 is out of range"));
}

TEST(ConfigCheck, RejectsASetOverrideOfTheWrongType) {
  const auto r =
      run_tenx({"config", "check", test_config("basic.toml"), "--set", "server.threads=many"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, StartsWith("--set"));
  EXPECT_THAT(r.err, HasSubstr("must be an integer"));
}

TEST(ConfigCheck, RejectsAnUnknownKeyGivenWithSet) {
  const auto r =
      run_tenx({"config", "check", test_config("basic.toml"), "--set", "server.thread=2"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("unknown key 'server.thread'"));
}

TEST(ConfigCheck, AcceptsAValidSetOverride) {
  const auto r =
      run_tenx({"config", "check", test_config("basic.toml"), "--set", "server.threads=4"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr(": ok ("));
}

TEST(ConfigCheck, ReportsAMissingFile) {
  const auto r = run_tenx({"config", "check", "/nonexistent/tenx-e2e.toml"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/tenx-e2e.toml"));
}

// ---- tenx gateway start-up ----

// Whatever start-up would refuse, the check refuses first, at its line.
TEST(ConfigCheck, RefusesAStaticRootThatIsNotADirectory) {
  TempFile cfg(R"([[gateway.routes]]
prefix = "/assets/"
static_root = "/nonexistent/tenx/public"
)");
  const auto r = run_tenx({"config", "check", cfg.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(cfg.path() + ":3:"));
  EXPECT_THAT(r.err, HasSubstr("is not a directory"));
  // And the gateway refuses it the same way, before listening.
  TenxProcess p({"gateway", "--config", cfg.path(), "--listen", "127.0.0.1:0"});
  EXPECT_FALSE(p.wait_listening());
  EXPECT_EQ(p.wait_exit(10s), 2);
}

TEST(ConfigCheck, RefusesTheSamePathRoutedTwice) {
  TempFile cfg(R"([[gateway.routes]]
path = "/x"
[gateway.routes.return]
body = "one"

[[gateway.routes]]
path = "/x"
[gateway.routes.return]
body = "two"

[[gateway.routes]]
prefix = "/x"
[gateway.routes.return]
body = "a prefix is another route"
)");
  const auto r = run_tenx({"config", "check", cfg.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("path '/x' is already routed at line 1"));
  EXPECT_THAT(r.err, Not(HasSubstr("prefix '/x'")));
}

TEST(ConfigCheck, RefusesUpstreamServersThatAreNotNumericAddresses) {
  TempFile cfg(R"([[gateway.upstreams]]
name = "p"
servers = ["app.example.test:9001"]
[[gateway.routes]]
prefix = "/"
upstream = "p"
)");
  const auto r = run_tenx({"config", "check", cfg.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(cfg.path() + ":3:"));
  EXPECT_THAT(r.err, HasSubstr("IP:PORT"));
}

TEST(GatewayStart, AdminOnAWildcardAddressWithoutATokenNamesTheFlagAndTheFix) {
  const auto r = run_tenx({"gateway", "--listen", "127.0.0.1:0", "--admin", "0.0.0.0:0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("--admin"));
  EXPECT_THAT(r.err, HasSubstr("admin.token"));
}

TEST(GatewayStart, PrintsExactlyOneListeningLineWithTheBoundPort) {
  TenxProcess p(gateway_args(test_config("basic.toml")));
  const auto port = p.wait_listening();
  ASSERT_TRUE(port) << p.listening_line() << "\n" << p.stderr_text();
  EXPECT_EQ(p.listening_line(),
            "tenx gateway listening on http://127.0.0.1:" + std::to_string(*port));
  // The port is real: a request on it is answered.
  RawClient c(*port);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c.send(get_request("/hello")));
  const auto r = c.read_response();
  ASSERT_TRUE(r) << c.last_error();
  EXPECT_EQ(r->status, 200);

  ASSERT_TRUE(p.signal(SIGTERM));
  EXPECT_EQ(p.wait_exit(10s), 0);
  EXPECT_EQ(p.stdout_text(), p.listening_line() + "\n");
}

TEST(GatewayStart, BadConfigExitsTwoWithoutListening) {
  TempFile f(
      "[server]\n"
      "max_connections = 0\n");
  TenxProcess p(gateway_args(f.path()));
  EXPECT_FALSE(p.wait_listening());
  EXPECT_EQ(p.wait_exit(10s), 2);
  EXPECT_EQ(p.stdout_text(), "");
  EXPECT_THAT(p.stderr_text(), HasSubstr(f.path() + ":2: 'server.max_connections' = 0"));
}

TEST(GatewayStart, BadSetOverrideExitsTwoWithoutListening) {
  TenxProcess p(gateway_args(test_config("basic.toml"), {"--set", "server.threads=999"}));
  EXPECT_FALSE(p.wait_listening());
  EXPECT_EQ(p.wait_exit(10s), 2);
  EXPECT_EQ(p.stdout_text(), "");
  EXPECT_THAT(p.stderr_text(), StartsWith("--set"));
}

TEST(GatewayStart, UnusableListenAddressExitsWithoutListening) {
  TenxProcess p({"gateway", "--config", test_config("basic.toml"), "--listen", "999.1.1.1:0"});
  EXPECT_FALSE(p.wait_listening());
  const auto rc = p.wait_exit(10s);
  ASSERT_TRUE(rc);
  EXPECT_NE(*rc, 0);
  EXPECT_THAT(p.stdout_text(), Not(HasSubstr("listening")));
}

TEST(GatewayStart, PortHeldByAnotherProcessIsAddressInUse) {
  TenxProcess first({"gateway", "--config", test_config("basic.toml"), "--listen", "127.0.0.1:0"});
  const auto port = first.wait_listening();
  ASSERT_TRUE(port) << first.stderr_text();
  // SO_REUSEPORT would let a second process of the same user join the port and take half of
  // its connections: refused, as nginx does.
  TenxProcess second({"gateway", "--config", test_config("basic.toml"), "--listen",
                      "127.0.0.1:" + std::to_string(*port)});
  EXPECT_FALSE(second.wait_listening());
  EXPECT_EQ(second.wait_exit(10s), 1);
  EXPECT_THAT(second.stderr_text(), HasSubstr("address already in use"));
  EXPECT_TRUE(first.running());
}

}  // namespace
}  // namespace tenx::e2e
