#include "bench/plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

namespace tenx::bench {
namespace {

using ::testing::HasSubstr;

std::string render_one(const Plan& plan, std::size_t index = 0) {
  Renderer r(plan);
  auto st = r.new_state();
  std::mt19937_64 rng(7);
  std::string out;
  r.render(index, st, rng, out);
  return out;
}

std::string plan_error(const std::function<void()>& f) {
  try {
    f();
  } catch (const PlanError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Plan, UrlGivesOneFixedRequestWithHostHeader) {
  auto p = plan_from_url("http://127.0.0.1:8080/a/b?x=1");
  ASSERT_EQ(p.requests.size(), 1u);
  EXPECT_EQ(p.requests[0].fixed, "GET /a/b?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n");
  EXPECT_EQ(p.address.ss_family, AF_INET);
}

TEST(Plan, UrlWithMethodHeadersAndBody) {
  auto p = plan_from_url("http://localhost:9/", "POST",
                         {"X-A:  one ", "Content-Type: application/json"}, R"({"a":1})");
  EXPECT_EQ(render_one(p),
            "POST / HTTP/1.1\r\nHost: localhost:9\r\nX-A: one\r\nContent-Type: application/json\r\n"
            "Content-Length: 7\r\n\r\n{\"a\":1}");
}

TEST(Plan, BadUrlsAreRefusedWithTheReason) {
  EXPECT_THAT(plan_error([] { plan_from_url("https://127.0.0.1/"); }),
              HasSubstr("https is not supported"));
  EXPECT_THAT(plan_error([] { plan_from_url("ftp://127.0.0.1/"); }),
              HasSubstr("scheme must be http"));
  EXPECT_THAT(plan_error([] { plan_from_url("http://"); }), HasSubstr("bad URL"));
  EXPECT_THAT(plan_error([] { plan_from_url("http://no-such-host.invalid/"); }),
              HasSubstr("cannot resolve"));
  EXPECT_THAT(plan_error([] { plan_from_url("http://127.0.0.1/", "GET", {"NoColon"}); }),
              HasSubstr("is not \"Name: value\""));
  EXPECT_THAT(plan_error([] { load_plan("not-a-file-or-url", "GET", {}, ""); }),
              HasSubstr("neither a URL"));
}

TEST(Plan, ScenarioRendersVariablesEncodedInThePathRawInTheBody) {
  auto p = plan_from_scenario_text(R"(
base_url = "http://127.0.0.1:8080/api/"
[headers]
Accept = "application/json"
[vars]
id = { random = [5, 5] }
q = { from_response = "next", initial = "a b/c" }
[[request]]
method = "POST"
path = "/posts/{id}?q={q}&lit={{x}}"
headers = { X-Id = "n{id}" }
body = '{"id": {id}, "q": "{q}"}'
)",
                                   "s.toml", ".");
  EXPECT_EQ(render_one(p),
            "POST /api/posts/5?q=a%20b%2Fc&lit={x} HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
            "Accept: application/json\r\nX-Id: n5\r\nContent-Length: 23\r\n\r\n"
            "{\"id\": 5, \"q\": \"a b/c\"}");
  EXPECT_TRUE(p.parse_response_json);
  EXPECT_TRUE(p.requests[0].fixed.empty());
}

TEST(Plan, WeightsChooseRequestsInProportion) {
  auto p = plan_from_scenario_text(R"(
base_url = "http://127.0.0.1:1"
[[request]]
path = "/a"
weight = 3
[[request]]
path = "/b"
)",
                                   "s.toml", ".");
  Renderer r(p);
  std::mt19937_64 rng(1);
  int a = 0;
  for (int i = 0; i < 40000; ++i) a += r.pick(rng) == 0;
  EXPECT_NEAR(a / 40000.0, 0.75, 0.01);
}

TEST(Plan, FromResponseFollowsFieldsResetsOnNullKeepsWhenMissing) {
  auto p = plan_from_scenario_text(R"(
base_url = "http://127.0.0.1:1"
[vars]
c = { from_response = "page.next", request = "feed", initial = "start" }
[[request]]
name = "feed"
path = "/f?c={c}"
[[request]]
name = "other"
path = "/o"
)",
                                   "s.toml", ".");
  Renderer r(p);
  auto st = r.new_state();
  EXPECT_EQ(st.values[0], "start");
  r.observe_response(0, R"({"page":{"next":"abc"}})", st);
  EXPECT_EQ(st.values[0], "abc");
  r.observe_response(1, R"({"page":{"next":"zzz"}})", st);  // another request: ignored
  EXPECT_EQ(st.values[0], "abc");
  r.observe_response(0, R"({"page":{}})", st);  // missing: unchanged
  EXPECT_EQ(st.values[0], "abc");
  r.observe_response(0, R"({"page":{"next":42}})", st);
  EXPECT_EQ(st.values[0], "42");
  r.observe_response(0, "not json", st);
  EXPECT_EQ(st.values[0], "42");
  r.observe_response(0, R"({"page":{"next":null}})", st);
  EXPECT_EQ(st.values[0], "start");
}

TEST(Plan, FileValuesInOrderOrAtRandom) {
  const auto dir =
      std::filesystem::temp_directory_path() / ("tenx_plan_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "names.txt") << "ann\nbob\r\n\ncyd\n";
  auto p = plan_from_scenario_text(R"(
base_url = "http://127.0.0.1:1"
[vars]
n = { file = "names.txt", order = "sequential" }
[[request]]
path = "/u/{n}"
)",
                                   "s.toml", dir.string());
  Renderer r(p);
  auto st = r.new_state();
  std::mt19937_64 rng(1);
  std::string out;
  for (int i = 0; i < 4; ++i) r.render(0, st, rng, out);
  EXPECT_THAT(out, HasSubstr("/u/ann "));
  EXPECT_EQ(out.find("/u/bob "), out.rfind("/u/bob "));  // bob once, then cyd, then ann again
  EXPECT_NE(out.find("/u/cyd "), std::string::npos);
  EXPECT_NE(out.find("/u/ann "), out.rfind("/u/ann "));
  std::filesystem::remove_all(dir);
}

TEST(Plan, ScenarioErrorsNameFileAndLine) {
  auto err = [](std::string text) {
    return plan_error([&] { plan_from_scenario_text(text, "s.toml", "."); });
  };
  EXPECT_EQ(
      err("base_url = \"http://127.0.0.1:1\"\n[[request]]\npath = \"/\"\nmethd = \"GET\"\n"),
      "s.toml:4: unknown key \"request.methd\" (known: body, headers, method, name, path, weight)");
  EXPECT_THAT(err("base_url = \"http://127.0.0.1:1\"\n[[request]]\npath = \"/x/{nope}\"\n"),
              HasSubstr("s.toml:3: request.path: unknown variable {nope}"));
  EXPECT_THAT(err("base_url = \"http://127.0.0.1:1\"\n[[request]]\npath = \"/\"\nweight = 0\n"),
              HasSubstr("s.toml:4: request.weight must be"));
  EXPECT_THAT(err("base_url = \"http://127.0.0.1:1\"\n"), HasSubstr("at least one [[request]]"));
  EXPECT_THAT(err("[[request]]\npath = \"/\"\n"), HasSubstr("missing base_url"));
  EXPECT_THAT(err("base_url = \"http://127.0.0.1:1\"\n[[request]]\npath = \"nope\"\n"),
              HasSubstr("s.toml:3: request.path must start with '/'"));
  EXPECT_THAT(err("base_url = \"http://127.0.0.1:1\"\n[vars]\nx = { random = [9, 1] }\n"
                  "[[request]]\npath = \"/\"\n"),
              HasSubstr("s.toml:3: vars.x.random: lo is greater than hi"));
  EXPECT_THAT(err("base_url = \"http://127.0.0.1:1\"\n[vars]\nx = { from_response = \"a\", request "
                  "= \"zz\" }\n"
                  "[[request]]\npath = \"/\"\n"),
              HasSubstr("s.toml:3: vars.x: no [[request]] is named \"zz\""));
  EXPECT_THAT(err("base_url = = 1\n"), HasSubstr("s.toml:1:"));
  EXPECT_THAT(plan_error([] { plan_from_file("/nonexistent/x.toml"); }),
              HasSubstr("/nonexistent/x.toml: cannot read the scenario file"));
}

}  // namespace
}  // namespace tenx::bench

namespace tenx::bench {
namespace {

TEST(Plan, ShippedExampleScenarioLoads) {
  auto p = plan_from_file(TENX_SOURCE_DIR "/examples/scenario.toml");
  EXPECT_EQ(p.requests.size(), 5u);
  EXPECT_EQ(p.host_header, "127.0.0.1:8080");
  EXPECT_TRUE(p.parse_response_json) << "the feed follows next_cursor";
}

}  // namespace
}  // namespace tenx::bench
