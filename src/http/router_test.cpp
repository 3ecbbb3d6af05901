#include "http/router.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tenx::http {
namespace {

using Params = std::vector<std::pair<std::string_view, std::string_view>>;

// A handler that is never run; it only carries a name so a match can be identified.
struct Tagged {
  std::string name;
  boost::asio::awaitable<void> operator()(Exchange&) const { co_return; }
};

Handler tagged(std::string name) { return Tagged{std::move(name)}; }

// The name of the handler a match chose, or "" for none.
std::string chosen(const Router::Match& m) {
  if (!m.handler) return "";
  const auto* t = m.handler->target<Tagged>();
  return t ? t->name : "?";
}

TEST(Router, MatchesLiteralPaths) {
  Router r;
  r.get("/", tagged("root"));
  r.get("/api/posts", tagged("posts"));
  r.post("/api/posts", tagged("create"));

  auto m = r.match(Verb::get, "/api/posts");
  EXPECT_EQ(chosen(m), "posts");
  EXPECT_EQ(m.pattern, "/api/posts");
  EXPECT_TRUE(m.path_matched);
  EXPECT_TRUE(m.params.empty());

  EXPECT_EQ(chosen(r.match(Verb::post, "/api/posts")), "create");
  EXPECT_EQ(chosen(r.match(Verb::get, "/")), "root");
  EXPECT_EQ(r.match(Verb::get, "/").pattern, "/");
}

TEST(Router, CapturesNamedParameters) {
  Router r;
  r.get("/api/posts/{id}", tagged("show"));
  r.post("/api/posts/{id}/comments/{cid}/like", tagged("like"));

  auto m = r.match(Verb::get, "/api/posts/42");
  EXPECT_EQ(chosen(m), "show");
  EXPECT_EQ(m.pattern, "/api/posts/{id}");
  EXPECT_EQ(m.params, (Params{{"id", "42"}}));

  m = r.match(Verb::post, "/api/posts/7/comments/99/like");
  EXPECT_EQ(chosen(m), "like");
  EXPECT_EQ(m.params, (Params{{"id", "7"}, {"cid", "99"}}));

  // Parameters are not percent-decoded.
  m = r.match(Verb::get, "/api/posts/a%20b");
  EXPECT_EQ(m.params, (Params{{"id", "a%20b"}}));
}

TEST(Router, ParameterDoesNotMatchAnEmptySegment) {
  Router r;
  r.get("/api/posts/{id}", tagged("show"));
  auto m = r.match(Verb::get, "/api/posts/");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_FALSE(m.path_matched);
  EXPECT_TRUE(m.params.empty());
}

TEST(Router, RestParameterTakesTheRemainingPathWithSlashes) {
  Router r;
  r.get("/files/{*path}", tagged("files"));

  auto m = r.match(Verb::get, "/files/a/b/c.txt");
  EXPECT_EQ(chosen(m), "files");
  EXPECT_EQ(m.pattern, "/files/{*path}");
  EXPECT_EQ(m.params, (Params{{"path", "a/b/c.txt"}}));

  m = r.match(Verb::get, "/files/one");
  EXPECT_EQ(m.params, (Params{{"path", "one"}}));

  m = r.match(Verb::get, "/files/");
  EXPECT_EQ(chosen(m), "files");
  EXPECT_EQ(m.params, (Params{{"path", ""}}));
}

TEST(Router, LiteralBeatsParameterBeatsRest) {
  Router r;
  r.get("/api/{*rest}", tagged("rest"));
  r.get("/api/{id}", tagged("param"));
  r.get("/api/new", tagged("literal"));

  EXPECT_EQ(chosen(r.match(Verb::get, "/api/new")), "literal");
  EXPECT_EQ(chosen(r.match(Verb::get, "/api/12")), "param");
  EXPECT_EQ(chosen(r.match(Verb::get, "/api/12/more")), "rest");
  EXPECT_EQ(r.match(Verb::get, "/api/12/more").params, (Params{{"rest", "12/more"}}));
}

TEST(Router, FallsBackFromLiteralToParameterWhenTheLiteralBranchDeadEnds) {
  Router r;
  r.get("/users/me/profile", tagged("my-profile"));
  r.get("/users/{id}/posts", tagged("user-posts"));

  auto m = r.match(Verb::get, "/users/me/posts");
  EXPECT_EQ(chosen(m), "user-posts");
  EXPECT_EQ(m.params, (Params{{"id", "me"}}));  // no stale parameters from the dead end
  EXPECT_EQ(chosen(r.match(Verb::get, "/users/me/profile")), "my-profile");
}

TEST(Router, WrongMethodReportsAllowedMethods) {
  Router r;
  r.get("/api/posts/{id}", tagged("show"));
  r.put("/api/posts/{id}", tagged("update"));
  r.del("/api/posts/{id}", tagged("delete"));

  auto m = r.match(Verb::post, "/api/posts/1");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_TRUE(m.path_matched);
  EXPECT_EQ(m.pattern, "/api/posts/{id}");
  // GET implies HEAD.
  EXPECT_EQ(m.allow, "GET, HEAD, PUT, DELETE");
  EXPECT_TRUE(m.params.empty());
}

TEST(Router, AllowListsOnlyPostWithoutGet) {
  Router r;
  r.post("/submit", tagged("submit"));
  auto m = r.match(Verb::get, "/submit");
  EXPECT_EQ(m.handler, nullptr);
  EXPECT_TRUE(m.path_matched);
  EXPECT_EQ(m.allow, "POST");
  // HEAD has no GET handler to borrow here.
  EXPECT_EQ(r.match(Verb::head, "/submit").handler, nullptr);
}

TEST(Router, HeadUsesTheGetHandler) {
  Router r;
  r.get("/page", tagged("page"));
  auto m = r.match(Verb::head, "/page");
  EXPECT_EQ(chosen(m), "page");
  EXPECT_EQ(m.pattern, "/page");

  // An explicit HEAD route wins over the GET fallback.
  r.add(Verb::head, "/page", tagged("head-page"));
  EXPECT_EQ(chosen(r.match(Verb::head, "/page")), "head-page");
  EXPECT_EQ(chosen(r.match(Verb::get, "/page")), "page");
}

TEST(Router, NoMatchLeavesEverythingEmpty) {
  Router r;
  r.get("/api/posts/{id}", tagged("show"));
  for (std::string_view path : {"/nothing", "/api", "/api/posts", "/api/posts/1/extra", ""}) {
    auto m = r.match(Verb::get, path);
    EXPECT_EQ(m.handler, nullptr) << path;
    EXPECT_FALSE(m.path_matched) << path;
    EXPECT_TRUE(m.allow.empty()) << path;
    EXPECT_TRUE(m.params.empty()) << path;
  }
}

TEST(Router, TrailingSlashIsADifferentPath) {
  Router r;
  r.get("/a", tagged("a"));
  EXPECT_EQ(chosen(r.match(Verb::get, "/a")), "a");
  EXPECT_EQ(r.match(Verb::get, "/a/").handler, nullptr);
}

TEST(Router, DuplicateRouteThrows) {
  Router r;
  r.get("/x/{id}", tagged("one"));
  EXPECT_THROW(r.get("/x/{id}", tagged("two")), std::invalid_argument);
  EXPECT_NO_THROW(r.post("/x/{id}", tagged("post")));
  // The router still answers with the first handler.
  EXPECT_EQ(chosen(r.match(Verb::get, "/x/1")), "one");
}

TEST(Router, MalformedPatternsThrow) {
  Router r;
  EXPECT_THROW(r.get("", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.get("no-slash", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/{}", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/{id", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/id}", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/x{id}", tagged("x")), std::invalid_argument);
  EXPECT_THROW(r.get("/a/{*rest}/more", tagged("x")), std::invalid_argument);
  r.get("/b/{id}", tagged("b"));
  EXPECT_THROW(r.get("/b/{other}/x", tagged("x")), std::invalid_argument);  // name conflict
  r.get("/c/{*rest}", tagged("c"));
  EXPECT_THROW(r.post("/c/{*tail}", tagged("x")), std::invalid_argument);
}

TEST(Router, MovedRouterKeepsItsRoutes) {
  Router r;
  r.get("/a/{id}", tagged("a"));
  Router moved(std::move(r));
  auto m = moved.match(Verb::get, "/a/5");
  EXPECT_EQ(chosen(m), "a");
  EXPECT_EQ(m.pattern, "/a/{id}");
}

}  // namespace
}  // namespace tenx::http
