// The application cache across two `tenx app` processes sharing one private redis-server
// (issue 11): a PATCH through one instance is served by the other (the cached user dropped
// through pub/sub), again after the pub/sub connection was killed and after Redis restarted;
// with Redis stopped the apps answer from the database, /health says degraded, and the
// fallbacks are counted.
#include "redis/testing/redis_server.h"
#include "support/process.h"
#include "support/raw_client.h"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <regex>
#include <thread>

namespace tenx::e2e {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

std::optional<Response> request(std::uint16_t port, std::string_view method, std::string_view path,
                                std::string_view body = {}, std::string_view token = {}) {
  RawClient c(port);
  if (!c.ok()) return std::nullopt;
  std::string req = fmt::format("{} {} HTTP/1.1\r\nHost: localhost\r\n", method, path);
  if (!token.empty()) req += fmt::format("Authorization: Bearer {}\r\n", token);
  if (!body.empty())
    req += fmt::format("Content-Type: application/json\r\nContent-Length: {}\r\n", body.size());
  req += "\r\n";
  req += body;
  if (!c.send(req)) return std::nullopt;
  return c.read_response();
}

std::string json_field(const std::string& body, const std::string& key) {
  std::smatch m;
  const std::regex re("\"" + key + "\":\"([^\"]*)\"");
  return std::regex_search(body, m, re) ? m[1].str() : "";
}

class AppCacheAcrossInstances : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("tenx_e2e_cache_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    db_ = "sqlite://" + (dir_ / "t.db").string();
    auto seeded = run_tenx({"app", "seed", "--database", db_, "--users", "20", "--posts", "50"});
    ASSERT_EQ(seeded.exit_code, 0) << seeded.err;
    for (int i = 0; i < 2; ++i) {
      apps_.push_back(std::make_unique<TenxProcess>(std::vector<std::string>{
          "app", "--listen", "127.0.0.1:0", "--database", db_, "--debug-headers", "--cache",
          redis_.url(), "--log-level", "debug"}));
      auto port = apps_.back()->wait_listening();
      ASSERT_TRUE(port) << apps_.back()->listening_line() << apps_.back()->stderr_text();
      ports_.push_back(*port);
    }
    ASSERT_TRUE(subscribed(1)) << "both subscriptions live";
    auto reg = request(ports_[0], "POST", "/api/register",
                       R"({"username":"erin","email":"erin@example.com","bio":"first"})");
    ASSERT_TRUE(reg && reg->status == 201) << (reg ? reg->body : "no answer");
    token_ = json_field(reg->body, "token");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(reg->body, m, std::regex("\"id\":([0-9]+)")));
    user_path_ = "/api/users/" + m[1].str();
    user_key_ = "user:" + m[1].str();
  }
  void TearDown() override {
    apps_.clear();
    std::filesystem::remove_all(dir_);
  }

  // Every instance has logged its n-th "invalidations subscribed" (the subscription confirmed
  // by Redis; the log file's writes wake the wait).
  bool subscribed(std::size_t n) {
    for (auto& app : apps_)
      if (!app->wait_for_stderr_count("cache: invalidations subscribed", n, 10s)) return false;
    return true;
  }
  std::string bio_on(std::uint16_t port, std::string* x_cache = nullptr) {
    auto r = request(port, "GET", user_path_);
    if (!r || r->status != 200) return "<" + std::to_string(r ? r->status : 0) + ">";
    if (x_cache) *x_cache = r->header("X-Cache").value_or("");
    return json_field(r->body, "bio");
  }
  // PATCH through A; once B has logged dropping the user (A's message applied), B serves the
  // new bio. B had it cached before.
  bool patch_and_check(const std::string& bio) {
    std::string x;
    EXPECT_NE(bio_on(ports_[1], &x), bio);
    EXPECT_EQ(bio_on(ports_[1], &x), bio_on(ports_[1])) << "B serves its cached copy";
    EXPECT_EQ(x, "HIT") << "B had the user cached before the PATCH";
    auto r = request(ports_[0], "PATCH", user_path_, R"({"bio":")" + bio + R"("})", token_);
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no answer");
    ++patches_;
    const bool dropped =
        apps_[1]->wait_for_stderr_count("cache: dropped k:" + user_key_, patches_, 10s);
    EXPECT_TRUE(dropped) << apps_[1]->stderr_text();
    return dropped && bio_on(ports_[1]) == bio;
  }

  redis::testing::RedisServer redis_;
  std::filesystem::path dir_;
  std::string db_, token_, user_path_, user_key_;
  std::size_t patches_ = 0;  // PATCHes through A so far (each makes B log one drop)
  std::vector<std::unique_ptr<TenxProcess>> apps_;
  std::vector<std::uint16_t> ports_;
};

TEST_F(AppCacheAcrossInstances, APatchThroughOneInstanceIsServedByTheOther) {
  std::string x;
  EXPECT_EQ(bio_on(ports_[1], &x), "first");
  EXPECT_EQ(x, "MISS");
  EXPECT_EQ(bio_on(ports_[1], &x), "first");
  EXPECT_EQ(x, "HIT");
  EXPECT_TRUE(patch_and_check("second"));
  // The PATCH validates: someone else's user is 403, an unknown field a 400 naming it.
  auto other = request(ports_[0], "POST", "/api/register",
                       R"({"username":"frank","email":"frank@example.com"})");
  ASSERT_TRUE(other && other->status == 201);
  auto forbidden =
      request(ports_[1], "PATCH", user_path_, R"({"bio":"x"})", json_field(other->body, "token"));
  ASSERT_TRUE(forbidden);
  EXPECT_EQ(forbidden->status, 403);
  auto unknown = request(ports_[1], "PATCH", user_path_, R"({"admin":true})", token_);
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 400);
  EXPECT_EQ(json_field(unknown->body, "field"), "admin");
}

// The sum over both instances of cache_loads_total{cache=NAME,result="ok"}.
double loads(const std::vector<std::uint16_t>& ports, const std::string& name) {
  double sum = 0;
  for (auto p : ports) {
    auto m = request(p, "GET", "/metrics");
    if (!m) continue;
    std::smatch hit;
    const std::regex re("cache_loads_total\\{cache=\"" + name + "\",result=\"ok\"\\} ([0-9.e+]+)");
    if (std::regex_search(m->body, hit, re)) sum += std::stod(hit[1].str());
  }
  return sum;
}

TEST_F(AppCacheAcrossInstances, ConcurrentColdMissesOnBothInstancesLoadOnceInAll) {
  // 2 x 16 clients ask both instances at once for a user neither has loaded.
  const std::string path = "/api/users/3";
  std::atomic<int> ok{0};
  std::vector<std::thread> clients;
  std::atomic<bool> go{false};
  for (int i = 0; i < 32; ++i) {
    clients.emplace_back([&, i] {
      while (!go.load()) std::this_thread::yield();
      auto r = request(ports_[static_cast<std::size_t>(i % 2)], "GET", path);
      if (r && r->status == 200) ++ok;
    });
  }
  go = true;
  for (auto& t : clients) t.join();
  EXPECT_EQ(ok.load(), 32);
  EXPECT_EQ(loads(ports_, "user"), 1) << "one database read for both instances";
}

TEST_F(AppCacheAcrossInstances, InvalidationsStillArriveAfterThePubSubConnectionWasKilled) {
  EXPECT_TRUE(patch_and_check("before"));
  redis_.command({"CLIENT", "KILL", "TYPE", "pubsub"});
  ASSERT_TRUE(subscribed(2)) << "resubscribed";
  EXPECT_TRUE(patch_and_check("after-kill"));
}

TEST_F(AppCacheAcrossInstances, InvalidationsStillArriveAfterRedisRestarted) {
  EXPECT_TRUE(patch_and_check("before"));
  redis_.restart();
  ASSERT_TRUE(subscribed(2)) << "resubscribed to the restarted Redis";
  // And each instance's command connection is back (it reconnects on its own, logged).
  for (auto& app : apps_)
    ASSERT_TRUE(app->wait_for_stderr_count("connected again", 2, 10s)) << app->stderr_text();
  EXPECT_TRUE(patch_and_check("after-restart"));
}

TEST_F(AppCacheAcrossInstances, WithRedisStoppedTheAppsAnswerFromTheDatabaseDegraded) {
  EXPECT_EQ(bio_on(ports_[0]), "first");
  redis_.stop();
  std::string x;
  EXPECT_EQ(bio_on(ports_[0], &x), "first") << "200 from the database";
  EXPECT_EQ(x, "BYPASS");
  auto trending = request(ports_[1], "GET", "/api/posts/trending");
  ASSERT_TRUE(trending);
  EXPECT_EQ(trending->status, 200);
  auto health = request(ports_[0], "GET", "/health");
  ASSERT_TRUE(health);
  EXPECT_EQ(health->status, 200) << "the cache is optional: degraded, not unhealthy";
  EXPECT_THAT(health->body, HasSubstr("\"status\":\"degraded\""));
  EXPECT_THAT(health->body, HasSubstr("\"cache\":{\"status\":\"warn\""));
  auto metrics = request(ports_[0], "GET", "/metrics");
  ASSERT_TRUE(metrics);
  EXPECT_THAT(metrics->body, HasSubstr("cache_fallbacks_total{cache=\"user\"}"));
  auto patched = request(ports_[0], "PATCH", user_path_, R"({"bio":"while down"})", token_);
  ASSERT_TRUE(patched);
  EXPECT_EQ(patched->status, 200) << "writes go on without Redis";
  EXPECT_EQ(bio_on(ports_[1]), "while down");
  redis_.start();
}

TEST(AppCacheFlags, BadCacheFlagsAreRefusedWithAReason) {
  auto bad_ttl = run_tenx({"app", "--cache-ttl", "trending=5x"});
  EXPECT_EQ(bad_ttl.exit_code, 2);
  EXPECT_THAT(bad_ttl.err, HasSubstr("ms, s, m or h"));
  auto bad_name = run_tenx({"app", "--cache-ttl", "sessions=5s"});
  EXPECT_EQ(bad_name.exit_code, 2);
  EXPECT_THAT(bad_name.err, HasSubstr("NAME trending, user or feed"));
  auto bad_cache = run_tenx({"app", "--cache", "memcached://x"});
  EXPECT_EQ(bad_cache.exit_code, 2);
  EXPECT_THAT(bad_cache.err, HasSubstr("'app.cache' must be"));
  const auto dir =
      std::filesystem::temp_directory_path() / ("tenx_e2e_cache_url_" + std::to_string(::getpid()));
  auto bad_url = run_tenx({"app", "--cache", "redis://127.0.0.1:notaport", "--database",
                           "sqlite://" + (dir / "x.db").string(), "--create"});
  std::filesystem::remove_all(dir);
  EXPECT_EQ(bad_url.exit_code, 2) << bad_url.err;
  EXPECT_THAT(bad_url.err, HasSubstr("--cache:"));
  auto up_bad = run_tenx({"up", "--redis", "localhost:6379"});
  EXPECT_EQ(up_bad.exit_code, 2);
  EXPECT_THAT(up_bad.err, HasSubstr("--redis must be redis://"));
}

}  // namespace
}  // namespace tenx::e2e
