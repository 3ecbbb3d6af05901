#pragma once
// The HTTP API of `tenx app` (guide sections 1, 4, 6 and 10): posts, users, likes, comments,
// summaries, counts. Every endpoint is a method that returns a Reply; one wrapper (route())
// gives it a QueryContext, then adds the debug headers (X-Query-Count), runs the N+1 check
// and sends the reply. Handlers never build SQL: they call the Database's catalogue.
//
//   GET  /api/posts                 hybrid: ?page=N (N <= 10, offset with total, pages (those
//                                   offset serves) and more_by_cursor) or ?cursor=C (keyset);
//                                   neither (or an empty cursor): the first page, cursor form
//   GET  /api/posts/naive           the guide's N+1 example (one author query per post), kept
//                                   for the detector and the benchmark; routed only in demo
//                                   mode (ApiOptions::demo: `tenx app --demo`, `tenx up`)
//   GET  /api/public/posts          Cache-Control public + ETag (304 on If-None-Match)
//   GET  /api/posts/trending        from the refreshed summary, with refreshed_at
//   GET  /api/posts/popular-weekly  from the refreshed summary, with refreshed_at
//   GET  /api/stats/posts?exact=    COUNT(*) or the estimate with its age
//   GET  /api/users?fields=&limit=&after_id=   public fields only, field filtering, bounded pages
//   GET  /api/users/{id}            one user's public fields (the guide's get_user_by_id, cached)
//   PATCH /api/users/{id}           bearer token of that user (403 otherwise): username,
//                                   avatar_url, bio (null clears the last two); the cached user
//                                   is invalidated on every instance (the guide's update_user)
//   GET  /api/user/profile          bearer token; Cache-Control private, max-age=60
//   POST /api/register              201 {id, username, token}
//   POST /api/posts                 bearer token; 201
//   POST /api/posts/{id}/like       bearer token; 201, 409 if already liked, 404 no such post
//   POST /api/posts/{id}/comments   bearer token; 201
//   GET  /debug/db/report           per-statement figures (direct loopback peers only)
//
// Errors are JSON {"error","message"} (+ "field" for validation): 400 bad input, 401 no or
// bad token, 403 not yours, 404 unknown id, 409 duplicate, 503 database busy or down.
//
// Caching (app_cache.h; null AppCache: none): trending, GET /api/users/{id} and the feed's
// first page are served through get_or_compute; with debug_headers every such response says
// X-Cache: HIT | MISS | STALE | BYPASS. Writes invalidate what they change.
//
// Drafts (published = false) are their author's alone: no feed or summary shows them, and a
// like or comment on another user's draft is a 404, as for a post that does not exist.
// Text limits count characters (Unicode code points); text that is not UTF-8 is a 400.
#include "app/cursor.h"
#include "app/storage/database.h"
#include "http/router.h"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tenx::cache {
class Cache;
}

namespace tenx::app {

class AppCache;

struct ApiOptions {
  int per_page_default = 20;
  int per_page_max = 100;
  int offset_max_page = 10;  // hybrid: offset up to this page, cursor beyond
  bool debug_headers = false;
  // Demo / debug endpoints (the deliberate N+1 feed, up to 101 queries a request): a
  // production instance does not route them.
  bool demo = false;
  unsigned n_plus_one_threshold = 10;  // one statement more often than this in a request
  std::string cursor_key = "tenx-default-cursor-key";
};

struct Reply {
  unsigned status = 200;  // 0: the handler has responded itself (e.g. read_json_body's 413)
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

class Api {
 public:
  // `cache` may be null (no caching); it must outlive the Api.
  Api(Database& db, ApiOptions options, AppCache* cache = nullptr);
  // Registers every endpoint on the router (the Api must outlive it).
  void add_routes(http::Router& router);

  // For the N+1 detector's tests and metrics: requests where it fired.
  std::uint64_t n_plus_one_detected() const { return n_plus_one_.load(); }

 private:
  using Method = boost::asio::awaitable<Reply> (Api::*)(http::Exchange&, QueryContext&);
  http::Handler route(Method m);

  boost::asio::awaitable<Reply> posts(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> posts_naive(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> public_posts(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> trending(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> popular_weekly(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> post_stats(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> users(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> user(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> update_user(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> profile(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> register_user(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> create_post(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> like(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> comment(http::Exchange& ex, QueryContext& qc);
  boost::asio::awaitable<Reply> db_report(http::Exchange& ex, QueryContext& qc);

  // The user a bearer token names, or an error reply.
  struct Caller {
    std::int64_t id = 0;
    std::string username;
    Rows row;  // user_by_token's row
  };
  boost::asio::awaitable<std::variant<Caller, Reply>> authenticate(http::Exchange& ex,
                                                                   QueryContext& qc);
  // POST /api/posts/{id}/...: the post id and the authenticated caller, or the refusal.
  struct PostAction {
    std::int64_t post = 0;
    Caller caller;
  };
  boost::asio::awaitable<std::variant<PostAction, Reply>> post_action(http::Exchange& ex,
                                                                      QueryContext& qc);
  boost::asio::awaitable<Reply> feed_page(QueryContext& qc, Stmt s, std::vector<Value> params,
                                          int per_page, int page);
  boost::asio::awaitable<Reply> summary(QueryContext& qc, Stmt read, const char* name,
                                        bool trending);
  boost::asio::awaitable<Reply> user_reply(QueryContext& qc, std::int64_t id);

  // The reply of `compute` through `cache` under key (with X-Cache when debug_headers): a 200
  // body is cached; another status is returned and not cached (a 404 is remembered briefly
  // when the cache has negative caching). `cache` null: compute() itself.
  using Compute = std::function<boost::asio::awaitable<Reply>()>;
  boost::asio::awaitable<Reply> cached(cache::Cache* cache, std::string key,
                                       std::chrono::milliseconds ttl, std::vector<std::string> tags,
                                       Compute compute);
  // Drops cached entries after a write (errors logged: a Redis outage must not fail the write;
  // the entries then expire by their TTL).
  boost::asio::awaitable<void> invalidate_key(cache::Cache* cache, std::string key);
  boost::asio::awaitable<void> invalidate_tag(cache::Cache* cache, std::string tag);

  Database& db_;
  ApiOptions options_;
  AppCache* cache_;
  CursorCodec cursors_;
  std::atomic<std::uint64_t> n_plus_one_{0};
};

}  // namespace tenx::app
