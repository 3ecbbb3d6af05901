// `tenx app`, `tenx app seed`, `tenx app db ...` and `tenx up` end to end: the real binary on
// a temporary SQLite database, spoken to over plain sockets.
#include "support/process.h"
#include "support/raw_client.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <regex>
#include <thread>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;

class TempDir {
 public:
  explicit TempDir(std::string_view tag)
      : path_(std::filesystem::temp_directory_path() /
              ("tenx_e2e_" + std::string(tag) + "_" + std::to_string(::getpid()))) {
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string db_url() const { return "sqlite://" + (path_ / "t.db").string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

std::optional<Response> get(std::uint16_t port, std::string_view path) {
  RawClient c(port);
  if (!c.ok() || !c.send(get_request(path))) return std::nullopt;
  return c.read_response();
}

TEST(AppCli, SeedsServesAndExplainsItsStatements) {
  TempDir dir("app");
  auto seeded =
      run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "50", "--posts", "300"});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  EXPECT_THAT(seeded.out, HasSubstr("seeded 50 users, 300 posts"));
  auto again =
      run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "50", "--posts", "300"});
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_THAT(again.err, HasSubstr("already holds"));

  TenxProcess app(
      {"app", "--listen", "127.0.0.1:0", "--database", dir.db_url(), "--debug-headers", "--demo"});
  auto port = app.wait_listening();
  ASSERT_TRUE(port) << app.listening_line() << app.stderr_text();

  auto feed = get(*port, "/api/posts?per_page=5");
  ASSERT_TRUE(feed);
  EXPECT_EQ(feed->status, 200);
  EXPECT_EQ(feed->header("X-Query-Count"), "1");
  EXPECT_THAT(feed->body, HasSubstr("\"next_cursor\""));
  auto health = get(*port, "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  EXPECT_THAT(health->body, HasSubstr("\"database\""));
  auto metrics = get(*port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body,
              HasSubstr("app_db_query_duration_seconds_bucket{statement=\"feed_first\""));
  auto naive = get(*port, "/api/posts/naive?per_page=20");
  ASSERT_TRUE(naive);
  EXPECT_EQ(naive->header("X-N-Plus-One"), "user_by_id");
  EXPECT_TRUE(app.wait_for_stderr("N+1 queries: GET /api/posts/naive ran user_by_id 20 times"))
      << app.stderr_text();

  auto report =
      run_tenx({"app", "db", "report", "--app", "http://127.0.0.1:" + std::to_string(*port)});
  ASSERT_EQ(report.exit_code, 0) << report.err;
  EXPECT_THAT(report.out, HasSubstr("most frequent"));
  EXPECT_THAT(report.out, HasSubstr("user_by_id"));

  auto explain = run_tenx({"app", "db", "explain", "feed_after", "--database", dir.db_url()});
  ASSERT_EQ(explain.exit_code, 0) << explain.err;
  EXPECT_THAT(explain.out, HasSubstr("posts_published_created_idx"));
  auto lint = run_tenx({"app", "db", "lint", "--database", dir.db_url(), "--app",
                        "http://127.0.0.1:" + std::to_string(*port)});
  EXPECT_EQ(lint.exit_code, 0) << lint.out << lint.err;
  EXPECT_THAT(lint.out, HasSubstr("no findings"));
  auto bad_sql = run_tenx({"app", "db", "explain", "SELEC nonsense", "--database", dir.db_url()});
  EXPECT_EQ(bad_sql.exit_code, 2);

  ASSERT_TRUE(app.signal(SIGTERM));
  EXPECT_EQ(app.wait_exit(10s), 0);
}

TEST(AppCli, LogsStatementsOverTheSlowQueryThreshold) {
  TempDir dir("slow");
  ASSERT_EQ(run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "5", "--posts", "20"})
                .exit_code,
            0);
  // A threshold of 0 ms makes every statement slow: each is logged with its name, time and SQL.
  TenxProcess app(
      {"app", "--listen", "127.0.0.1:0", "--database", dir.db_url(), "--slow-query-ms", "0"});
  auto port = app.wait_listening();
  ASSERT_TRUE(port) << app.stderr_text();
  ASSERT_TRUE(get(*port, "/api/posts"));
  EXPECT_TRUE(app.wait_for_stderr("slow query: feed_first took")) << app.stderr_text();
  EXPECT_TRUE(app.wait_for_stderr("(threshold 0 ms): SELECT p.id, p.title")) << app.stderr_text();
  auto metrics = get(*port, "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("app_db_slow_queries_total{statement=\"feed_first\"} 1"));
  ASSERT_TRUE(app.signal(SIGTERM));
  EXPECT_EQ(app.wait_exit(10s), 0);
}

TEST(AppCli, ConfigFileChoosesTheEngineAndFlagsOverrideIt) {
  TempDir dir("appcfg");
  ASSERT_EQ(run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "5", "--posts", "20"})
                .exit_code,
            0);
  TempFile cfg("[app]\nlisten = \"127.0.0.1:1\"\ndatabase = \"" + dir.db_url() +
               "\"\ndebug_headers = true\n");
  EXPECT_EQ(run_tenx({"config", "check", cfg.path()}).exit_code, 0);
  // --listen wins over the file's (unusable) port 1.
  TenxProcess app({"app", "--config", cfg.path(), "--listen", "127.0.0.1:0"});
  auto port = app.wait_listening();
  ASSERT_TRUE(port) << app.stderr_text();
  auto feed = get(*port, "/api/posts");
  ASSERT_TRUE(feed);
  EXPECT_EQ(feed->status, 200);
  EXPECT_EQ(feed->header("X-Query-Count"), "1") << "debug_headers from the file";
  ASSERT_TRUE(app.signal(SIGTERM));
  EXPECT_EQ(app.wait_exit(10s), 0);

  TempFile bad("[app]\ndatabase = \"mysql://x\"\n");
  auto r = run_tenx({"app", "--config", bad.path()});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr(bad.path() + ":2: 'app.database' must be"));
}

TEST(AppCli, PortHeldByAnotherAppIsAddressInUse) {
  TempDir dir("port");
  ASSERT_EQ(run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "5", "--posts", "5"})
                .exit_code,
            0);
  TenxProcess first({"app", "--listen", "127.0.0.1:0", "--database", dir.db_url()});
  const auto port = first.wait_listening();
  ASSERT_TRUE(port) << first.stderr_text();
  TenxProcess second(
      {"app", "--listen", "127.0.0.1:" + std::to_string(*port), "--database", dir.db_url()});
  EXPECT_FALSE(second.wait_listening());
  EXPECT_EQ(second.wait_exit(10s), 1);
  EXPECT_THAT(second.stderr_text(), HasSubstr("address already in use"));
}

TEST(AppCli, RefusesBadDatabaseUrls) {
  auto r = run_tenx({"app", "--listen", "127.0.0.1:0", "--database", "mysql://x/y"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("'app.database' must be sqlite://PATH or postgresql://"));
  r = run_tenx({"app", "--listen", "127.0.0.1:0", "--database", "sqlite://"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("needs a file path"));
  r = run_tenx({"up", "--database", "sqlite://", "--listen", "127.0.0.1:0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.err, HasSubstr("needs a file path"));
}

TEST(AppCli, NaiveFeedIsServedOnlyInDemoMode) {
  TempDir dir("demo");
  ASSERT_EQ(run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "5", "--posts", "30"})
                .exit_code,
            0);
  {
    TenxProcess app({"app", "--listen", "127.0.0.1:0", "--database", dir.db_url()});
    auto port = app.wait_listening();
    ASSERT_TRUE(port) << app.stderr_text();
    auto naive = get(*port, "/api/posts/naive");
    ASSERT_TRUE(naive);
    EXPECT_EQ(naive->status, 404) << naive->body;
    auto feed = get(*port, "/api/posts");
    ASSERT_TRUE(feed);
    EXPECT_EQ(feed->status, 200);
  }
  {
    TenxProcess app({"app", "--listen", "127.0.0.1:0", "--database", dir.db_url(), "--demo"});
    auto port = app.wait_listening();
    ASSERT_TRUE(port) << app.stderr_text();
    auto naive = get(*port, "/api/posts/naive");
    ASSERT_TRUE(naive);
    EXPECT_EQ(naive->status, 200) << naive->body;
  }
  TempFile cfg("[app]\nlisten = \"127.0.0.1:0\"\ndatabase = \"" + dir.db_url() +
               "\"\ndemo = true\n");
  TenxProcess app({"app", "--config", cfg.path()});
  auto port = app.wait_listening();
  ASSERT_TRUE(port) << app.stderr_text();
  auto naive = get(*port, "/api/posts/naive");
  ASSERT_TRUE(naive);
  EXPECT_EQ(naive->status, 200) << naive->body;
}

// An app pointed at a database that is not there says so and exits 2; it creates nothing
// (a typo in the path must not start an empty service). `--create` (or `tenx app seed`) does.
TEST(AppCli, MissingSqliteDatabaseIsRefusedUnlessCreateIsAsked) {
  TempDir dir("missing");
  const auto missing_dir = dir.path() / "no" / "such" / "dir";
  const auto path = (missing_dir / "x.db").string();
  TenxProcess app({"app", "--listen", "127.0.0.1:0", "--database", "sqlite://" + path});
  EXPECT_FALSE(app.wait_listening());
  EXPECT_EQ(app.wait_exit(10s), 2);
  EXPECT_THAT(app.stderr_text(), HasSubstr(path));
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "no")) << "tenx app created directories";

  TenxProcess created(
      {"app", "--listen", "127.0.0.1:0", "--database", "sqlite://" + path, "--create"});
  auto port = created.wait_listening();
  ASSERT_TRUE(port) << created.stderr_text();
  auto feed = get(*port, "/api/posts");
  ASSERT_TRUE(feed);
  EXPECT_EQ(feed->status, 200);
  EXPECT_TRUE(std::filesystem::exists(path));

  const auto seeded_path = (dir.path() / "seeded" / "dir" / "s.db").string();
  auto seeded = run_tenx(
      {"app", "seed", "--database", "sqlite://" + seeded_path, "--users", "5", "--posts", "5"});
  EXPECT_EQ(seeded.exit_code, 0) << seeded.err;
  EXPECT_TRUE(std::filesystem::exists(seeded_path));
}

// Not on a terminal (a log file, CI), the seed writes no terminal control sequences; its
// summary shows the documented defaults: as many likes as posts, comments half the posts.
TEST(AppCli, SeedWritesPlainTextAndKeepsItsDocumentedDefaults) {
  TempDir dir("seedout");
  auto seeded =
      run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "50", "--posts", "3000"});
  ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
  EXPECT_EQ(seeded.err.find('\r'), std::string::npos) << seeded.err;
  EXPECT_EQ(seeded.err.find('\033'), std::string::npos) << seeded.err;
  EXPECT_THAT(seeded.out, HasSubstr("3000 likes, 1500 comments"));
  auto help = run_tenx({"app", "seed", "--help"});
  EXPECT_THAT(help.out, HasSubstr("default: as many as posts"));
  EXPECT_THAT(help.out, HasSubstr("default: half the posts"));
}

// --set takes one KEY=VALUE per occurrence (repeat the flag for more), as curl's -H does.
TEST(AppCli, SetTakesOneValuePerOccurrence) {
  TempDir dir("setone");
  ASSERT_EQ(run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "5", "--posts", "5"})
                .exit_code,
            0);
  auto r = run_tenx(
      {"app", "--database", dir.db_url(), "--set", "app.listen=\"127.0.0.1:0\"", "app.threads=1"},
      10s);
  EXPECT_FALSE(r.timed_out) << "the second value was taken as a --set";
  EXPECT_NE(r.exit_code, 0);
  EXPECT_THAT(r.err, HasSubstr("app.threads=1"));
  TenxProcess app({"app", "--database", dir.db_url(), "--set", "app.listen=\"127.0.0.1:0\"",
                   "--set", "app.debug_headers=true"});
  auto port = app.wait_listening();
  ASSERT_TRUE(port) << app.stderr_text();
  auto feed = get(*port, "/api/posts");
  ASSERT_TRUE(feed);
  EXPECT_EQ(feed->header("X-Query-Count"), "1");
}

// The shipped scenario (examples/scenario.toml, cursor-following feed included) against a
// real app: every answer is a 2xx, and no request fails.
TEST(AppCli, ShippedBenchScenarioRunsCleanAgainstTheApp) {
  TempDir dir("scenario");
  ASSERT_EQ(run_tenx({"app", "seed", "--database", dir.db_url(), "--users", "50", "--posts", "300"})
                .exit_code,
            0);
  TenxProcess app({"app", "--listen", "127.0.0.1:0", "--database", dir.db_url()});
  auto port = app.wait_listening();
  ASSERT_TRUE(port) << app.stderr_text();
  const auto shipped = read_file(std::string(TENX_SOURCE_DIR) + "/examples/scenario.toml");
  ASSERT_THAT(shipped, HasSubstr("from_response = \"next_cursor\""));
  const std::regex base_url(R"(^base_url = "[^"]*")", std::regex::multiline);
  ASSERT_TRUE(std::regex_search(shipped, base_url)) << shipped;
  TempFile scenario(std::regex_replace(
      shipped, base_url, "base_url = \"http://127.0.0.1:" + std::to_string(*port) + "\""));
  const auto json = (dir.path() / "bench.json").string();
  auto r = run_tenx({"bench", "-c", "2", "-n", "400", "--json", json, scenario.path()}, 60s);
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  const auto results = read_file(json);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(results, m, std::regex(R"("status_codes": \{([^}]*)\})")))
      << results;
  const std::string codes = m[1];
  std::int64_t answered = 0;
  const std::regex code(R"re("(\d+)": (\d+))re");
  for (std::sregex_iterator it(codes.begin(), codes.end(), code), end; it != end; ++it) {
    EXPECT_EQ((*it)[1].str()[0], '2') << "status " << (*it)[1] << " x " << (*it)[2] << "\n"
                                      << r.out;
    answered += std::stoll((*it)[2]);
  }
  EXPECT_EQ(answered, 400) << results;
  ASSERT_TRUE(std::regex_search(results, m, std::regex(R"("errors": \{[^}]*"total": (\d+))")))
      << results;
  EXPECT_EQ(m[1], "0") << r.out;
}

TEST(Up, StartsDatabaseAppsAndGatewayThenStopsThemAll) {
  TempDir dir("up");
  TenxProcess up({"up", "--database", dir.db_url(), "--listen", "127.0.0.1:0", "--demo-users", "40",
                  "--demo-posts", "300", "--log-level", "warn"});
  ASSERT_TRUE(up.wait_for_stdout("Ctrl-C stops everything", 60s))
      << up.stdout_text() << up.stderr_text();
  const auto out = up.stdout_text();
  EXPECT_THAT(out, HasSubstr("creating"));
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(gateway\s+http://127\.0\.0\.1:(\d+))")))
      << out;
  const auto port = static_cast<std::uint16_t>(std::stoi(m[1]));
  std::vector<pid_t> apps;
  const std::regex app_line(R"(app \d+ .*\(pid (\d+)\))");
  for (std::sregex_iterator it(out.begin(), out.end(), app_line), end; it != end; ++it)
    apps.push_back(std::stoi((*it)[1]));
  ASSERT_EQ(apps.size(), 2u) << out;

  // Through the gateway to an app, which reports its statements.
  auto feed = get(port, "/api/posts?per_page=3");
  ASSERT_TRUE(feed);
  EXPECT_EQ(feed->status, 200) << feed->body;
  EXPECT_EQ(feed->header("X-Query-Count"), "1");
  auto health = get(port, "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200);
  // The demo stack serves the demo endpoints.
  auto naive = get(port, "/api/posts/naive?per_page=20");
  ASSERT_TRUE(naive);
  EXPECT_EQ(naive->status, 200) << naive->body;
  EXPECT_EQ(naive->header("X-N-Plus-One"), "user_by_id");

  ASSERT_TRUE(up.signal(SIGINT));
  EXPECT_EQ(up.wait_exit(30s), 0) << up.stderr_text();
  for (pid_t p : apps) EXPECT_NE(::kill(p, 0), 0) << "app pid " << p << " still runs";
  EXPECT_FALSE(get(port, "/health")) << "the gateway still answers";
}

// A child that dies on its own takes the stack down: the rest are stopped and `tenx up`
// exits 1 saying which one.
TEST(Up, AChildThatDiesStopsTheRestAndExitsOne) {
  TempDir dir("updies");
  TenxProcess up({"up", "--database", dir.db_url(), "--listen", "127.0.0.1:0", "--demo-users", "20",
                  "--demo-posts", "50", "--log-level", "warn"});
  ASSERT_TRUE(up.wait_for_stdout("Ctrl-C stops everything", 60s)) << up.stderr_text();
  const auto out = up.stdout_text();
  std::smatch m;
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(app 1 .*\(pid (\d+)\))"))) << out;
  const pid_t app1 = std::stoi(m[1]);
  ASSERT_TRUE(std::regex_search(out, m, std::regex(R"(gateway\s+http://127\.0\.0\.1:(\d+))")))
      << out;
  const auto port = static_cast<std::uint16_t>(std::stoi(m[1]));
  ASSERT_EQ(::kill(app1, SIGKILL), 0);
  EXPECT_EQ(up.wait_exit(30s), 1);
  EXPECT_TRUE(up.wait_for_stderr("app 1 exited (signal 9); stopping the rest")) << up.stderr_text();
  EXPECT_FALSE(get(port, "/health")) << "the gateway still answers";
}

}  // namespace
}  // namespace tenx::e2e

namespace tenx::e2e {
namespace {

// A free TCP port on 127.0.0.1 (bound and released: a small race, fine for tests).
std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// The guide's health check doing its job: PostgreSQL goes away, /health says 503 (and the API
// 503 with Retry-After), the app keeps running; PostgreSQL comes back, /health is 200 again.
// The test runs its own cluster (scripts/pg.sh), so stopping it disturbs no other test.
TEST(AppPostgres, HealthFollowsTheDatabaseThroughAnOutage) {
  TempDir dir("pgoutage");
  const auto pg_dir = (dir.path() / "pg").string();
  const std::string script = std::string(TENX_SOURCE_DIR) + "/scripts/pg.sh";
  const auto port = std::to_string(free_port());
  auto started = run_command({script, "start", pg_dir, port, "--fast"}, {}, 120s);
  ASSERT_EQ(started.exit_code, 0) << started.err;
  const std::string url = started.out.substr(0, started.out.find('\n'));
  struct Stop {
    std::string script, dir;
    ~Stop() { run_command({script, "stop", dir}, {}, 60s); }
  } stop_at_end{script, pg_dir};

  ASSERT_EQ(
      run_tenx({"app", "seed", "--database", url, "--users", "20", "--posts", "50"}).exit_code, 0);
  TenxProcess app({"app", "--listen", "127.0.0.1:0", "--database", url});
  auto app_port = app.wait_listening();
  ASSERT_TRUE(app_port) << app.listening_line() << app.stderr_text();
  auto health = get(*app_port, "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << health->body;

  ASSERT_EQ(run_command({script, "stop", pg_dir}, {}, 60s).exit_code, 0);
  health = get(*app_port, "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 503) << health->body;
  auto feed = get(*app_port, "/api/posts");
  ASSERT_TRUE(feed);
  EXPECT_EQ(feed->status, 503) << feed->body;
  EXPECT_EQ(feed->header("Retry-After"), "1");

  ASSERT_EQ(run_command({script, "start", pg_dir, port, "--fast"}, {}, 120s).exit_code, 0);
  int status = 0;
  for (int i = 0; i < 50 && status != 200; ++i) {
    if (auto h = get(*app_port, "/health")) status = h->status;
    if (status != 200) std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(status, 200);
  feed = get(*app_port, "/api/posts");
  ASSERT_TRUE(feed);
  EXPECT_EQ(feed->status, 200);
  EXPECT_TRUE(app.running());
  ASSERT_TRUE(app.signal(SIGTERM));
  EXPECT_EQ(app.wait_exit(10s), 0);
}

}  // namespace
}  // namespace tenx::e2e

namespace tenx::e2e {
namespace {

// Reads go to the read replica, writes to the primary. Two private clusters stand in for a
// primary and its replica (no replication between them: each holds different data, so where
// an answer came from shows in it).
TEST(AppPostgres, ReadsGoToTheReplicaWritesToThePrimary) {
  TempDir dir("pgreplica");
  const std::string script = std::string(TENX_SOURCE_DIR) + "/scripts/pg.sh";
  const auto primary_dir = (dir.path() / "primary").string(),
             replica_dir = (dir.path() / "replica").string();
  const auto primary_port = std::to_string(free_port()), replica_port = std::to_string(free_port());
  auto p = run_command({script, "start", primary_dir, primary_port, "--fast"}, {}, 120s);
  ASSERT_EQ(p.exit_code, 0) << p.err;
  struct Stop {
    std::string script, dir;
    ~Stop() { run_command({script, "stop", dir}, {}, 60s); }
  } stop_primary{script, primary_dir};
  auto r = run_command({script, "start", replica_dir, replica_port, "--fast"}, {}, 120s);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Stop stop_replica{script, replica_dir};
  const std::string primary = p.out.substr(0, p.out.find('\n'));
  const std::string replica = r.out.substr(0, r.out.find('\n'));
  // "seeded 10 users, 30 posts (N published), ..." -> N
  auto published = [](const CommandResult& seeded) {
    std::smatch m;
    EXPECT_TRUE(std::regex_search(seeded.out, m, std::regex(R"(\((\d+) published\))")))
        << seeded.out;
    return m.size() > 1 ? m[1].str() : std::string("?");
  };
  const auto on_primary =
      published(run_tenx({"app", "seed", "--database", primary, "--users", "10", "--posts", "30"}));
  const auto on_replica =
      published(run_tenx({"app", "seed", "--database", replica, "--users", "10", "--posts", "70"}));
  ASSERT_NE(on_primary, on_replica);

  TenxProcess app({"app", "--listen", "127.0.0.1:0", "--database",
                   primary + "?replica=127.0.0.1:" + replica_port});
  auto port = app.wait_listening();
  ASSERT_TRUE(port) << app.listening_line() << app.stderr_text();
  auto count = get(*port, "/api/stats/posts?exact=true");
  ASSERT_TRUE(count);
  EXPECT_THAT(count->body, HasSubstr("\"count\":" + on_replica)) << "reads come from the replica";

  RawClient c(*port);
  const std::string body = R"({"username":"writer","email":"w@example.com"})";
  ASSERT_TRUE(
      c.send("POST /api/register HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             "Content-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body));
  auto created = c.read_response();
  ASSERT_TRUE(created);
  EXPECT_EQ(created->status, 201) << created->body;
  // The new user is on the primary (user 11), not on the replica (which still has ten).
  auto via_replica = get(*port, "/api/users?after_id=10");
  ASSERT_TRUE(via_replica);
  EXPECT_THAT(via_replica->body, HasSubstr("\"users\":[]"));
  TenxProcess primary_only({"app", "--listen", "127.0.0.1:0", "--database", primary});
  auto primary_port_http = primary_only.wait_listening();
  ASSERT_TRUE(primary_port_http) << primary_only.stderr_text();
  auto via_primary = get(*primary_port_http, "/api/users?after_id=10");
  ASSERT_TRUE(via_primary);
  EXPECT_THAT(via_primary->body, HasSubstr("\"username\":\"writer\""));

  ASSERT_TRUE(app.signal(SIGTERM));
  EXPECT_EQ(app.wait_exit(10s), 0);
  ASSERT_TRUE(primary_only.signal(SIGTERM));
  EXPECT_EQ(primary_only.wait_exit(10s), 0);
}

}  // namespace
}  // namespace tenx::e2e
