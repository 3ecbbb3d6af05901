// Posts: the feed (offset, cursor, hybrid), its N+1 twin, the cacheable public feed, the
// summaries, and the writes (post, like, comment).
#include "app/api/api.h"
#include "app/api/detail.h"
#include "app/app_cache.h"
#include "core/text.h"
#include "http/json.h"
#include "http/server.h"

#include <fmt/format.h>
#include <xxhash.h>
#include <boost/json/value.hpp>

namespace tenx::app {

using detail::append_int;
using detail::append_str;
using detail::args;
using detail::bad_field;
using detail::db_error;
using detail::iso_time;

namespace {

// One post as JSON; `row` from a feed statement (id, title, body, created_at, user id, username).
void append_post(std::string& out, const Rows& rows, std::size_t row) {
  out += "{\"id\":";
  out += std::to_string(rows.integer(row, 0));
  append_str(out, "title", rows.text(row, 1));
  append_str(out, "body", rows.text(row, 2));
  detail::append_time(out, "created_at", rows.integer(row, 3));
  out += ",\"author\":{\"id\":";
  out += std::to_string(rows.integer(row, 4));
  append_str(out, "username", rows.text(row, 5));
  out += "}}";
}

void append_posts(std::string& out, const Rows& rows, std::size_t n) {
  out += "\"posts\":[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += ',';
    append_post(out, rows, i);
  }
  out += ']';
}

}  // namespace

boost::asio::awaitable<Reply> Api::posts(http::Exchange& ex, QueryContext& qc) {
  const auto query = ex.request().query();
  bool bad = false;
  const auto per_page = detail::int_param(query, "per_page", 1, options_.per_page_max, bad)
                            .value_or(options_.per_page_default);
  if (bad)
    co_return bad_field(
        "per_page", fmt::format("per_page must be an integer from 1 to {}", options_.per_page_max));
  const auto page = detail::int_param(query, "page", 1, 1'000'000'000, bad);
  if (bad) co_return bad_field("page", "page must be a positive integer");
  // An empty cursor is the first page: a client following next_cursor starts from "" (and a
  // bench scenario resets to it when next_cursor comes back null at the end of the feed).
  std::string cursor;
  const bool has_cursor = http::query_param(query, "cursor", cursor) && !cursor.empty();
  if (page && has_cursor) co_return bad_field("page", "give page or cursor, not both");

  if (has_cursor) {
    auto pos = cursors_.decode(cursor);
    if (!pos)
      co_return bad_field("cursor", "malformed or tampered cursor; use next_cursor as given");
    auto params =
        args(Value(pos->created_at_us), Value(pos->id), Value(std::int64_t{per_page + 1}));
    co_return co_await feed_page(qc, Stmt::feed_after, std::move(params),
                                 static_cast<int>(per_page), 0);
  }
  if (page) {
    if (*page > options_.offset_max_page)
      co_return bad_field(
          "page",
          fmt::format("pages beyond {} are served by cursor: follow next_cursor from page {}",
                      options_.offset_max_page, options_.offset_max_page));
    auto params = args(Value(std::int64_t{per_page + 1}), Value((*page - 1) * per_page));
    co_return co_await feed_page(qc, Stmt::feed_offset, std::move(params),
                                 static_cast<int>(per_page), static_cast<int>(*page));
  }
  // Neither: the first page, in cursor form (the guide's get_posts_hybrid), the page every
  // visitor asks for: cached (tag "feed", dropped when a post is published).
  // (Arguments in named variables: see detail::args on GCC 12 and co_await.)
  std::string key = "feed:" + std::to_string(per_page);
  std::vector<std::string> tags{"feed"};
  Compute first_page = [&]() -> boost::asio::awaitable<Reply> {
    auto params = args(Value(std::int64_t{per_page + 1}));
    co_return co_await feed_page(qc, Stmt::feed_first, std::move(params),
                                 static_cast<int>(per_page), 0);
  };
  // Chosen before the co_await: GCC 12 evaluated both arms of a conditional inside one.
  cache::Cache* cache = cache_ ? &cache_->feed() : nullptr;
  const auto ttl = cache_ ? cache_->options().ttl_feed : std::chrono::milliseconds{};
  co_return co_await cached(cache, std::move(key), ttl, std::move(tags), std::move(first_page));
}

// page > 0: offset form (with total and pages); 0: cursor form.
boost::asio::awaitable<Reply> Api::feed_page(QueryContext& qc, Stmt s, std::vector<Value> params,
                                             int per_page, int page) {
  auto rows = co_await db_.query(s, std::move(params), &qc);
  if (!rows) co_return db_error(rows.error());
  const bool has_next = rows->size() > static_cast<std::size_t>(per_page);
  const std::size_t n = has_next ? static_cast<std::size_t>(per_page) : rows->size();
  Reply r;
  r.body.reserve(256 + n * 400);
  r.body += '{';
  append_posts(r.body, *rows, n);
  // The cursor after this page, in both forms: a client paging by offset continues past
  // the last offset page with it.
  if (has_next && n > 0) {
    append_str(r.body, "next_cursor",
               cursors_.encode({rows->integer(n - 1, 3), rows->integer(n - 1, 0)}));
  } else {
    r.body += ",\"next_cursor\":null";
  }
  r.body += has_next ? ",\"has_next\":true" : ",\"has_next\":false";
  if (page > 0) {
    auto total = co_await db_.query(Stmt::published_count, {}, &qc);
    if (!total) co_return db_error(total.error());
    const auto t = total->empty() ? 0 : total->integer(0, 0);
    // Offset paging ends at offset_max_page (deep OFFSETs read and discard every row before
    // them), so "pages" counts only the pages it serves: every page it advertises can be
    // asked for. When posts remain beyond them, more_by_cursor is true and the client goes on
    // from the last offset page with its next_cursor (the hybrid's hand-over). total stays
    // the whole count.
    const std::int64_t all_pages = (t + per_page - 1) / per_page;
    const std::int64_t pages = std::min<std::int64_t>(all_pages, options_.offset_max_page);
    append_int(r.body, "page", page);
    append_int(r.body, "per_page", per_page);
    append_int(r.body, "total", t);
    append_int(r.body, "pages", pages);
    r.body += all_pages > pages ? ",\"more_by_cursor\":true" : ",\"more_by_cursor\":false";
  }
  r.body += '}';
  co_return r;
}

boost::asio::awaitable<Reply> Api::posts_naive(http::Exchange& ex, QueryContext& qc) {
  bool bad = false;
  const auto per_page =
      detail::int_param(ex.request().query(), "per_page", 1, options_.per_page_max, bad)
          .value_or(options_.per_page_default);
  if (bad)
    co_return bad_field(
        "per_page", fmt::format("per_page must be an integer from 1 to {}", options_.per_page_max));
  auto params = args(Value(per_page));
  auto posts = co_await db_.query(Stmt::posts_naive, std::move(params), &qc);
  if (!posts) co_return db_error(posts.error());
  // The anti-pattern on purpose: one author query per post (what an ORM's lazy relation does).
  Rows joined;
  joined.columns = 6;
  for (std::size_t i = 0; i < posts->size(); ++i) {
    auto author_params = args(Value(posts->integer(i, 4)));
    auto author = co_await db_.query(Stmt::user_by_id, std::move(author_params), &qc);
    if (!author) co_return db_error(author.error());
    for (std::size_t c = 0; c < 4; ++c) joined.cells.push_back(posts->at(i, c));
    joined.cells.push_back(posts->at(i, 4));
    joined.cells.push_back(author->empty() ? Value(std::string()) : author->at(0, 1));
  }
  Reply r;
  r.body = "{";
  append_posts(r.body, joined, joined.size());
  r.body += '}';
  co_return r;
}

boost::asio::awaitable<Reply> Api::public_posts(http::Exchange& ex, QueryContext& qc) {
  auto params = args(Value(std::int64_t{options_.per_page_default}));
  auto rows = co_await db_.query(Stmt::feed_first, std::move(params), &qc);
  if (!rows) co_return db_error(rows.error());
  Reply r;
  r.body = "{";
  append_posts(r.body, *rows, rows->size());
  r.body += '}';
  const auto etag = fmt::format("\"{:016x}\"", XXH3_64bits(r.body.data(), r.body.size()));
  // Browsers keep it 5 minutes, shared caches (the CDN, the gateway's cache) 10.
  r.headers.emplace_back("Cache-Control", "public, max-age=300, s-maxage=600");
  r.headers.emplace_back("ETag", etag);
  // RFC 9110 §13.1.2: If-None-Match is a list of entity tags (or *), compared weakly.
  if (auto inm = ex.request().headers.find("If-None-Match")) {
    bool match = *inm == "*";
    if (!match)
      core::split_list(*inm, [&](std::string_view tag) {
        if (tag.starts_with("W/")) tag.remove_prefix(2);
        match = tag == etag;
        return !match;  // the first match ends the walk
      });
    if (match) {
      r.status = 304;
      r.body.clear();
    }
  }
  co_return r;
}

boost::asio::awaitable<Reply> Api::summary(QueryContext& qc, Stmt read, const char* name,
                                           bool trending) {
  auto rows = co_await db_.query(read, {}, &qc);
  if (!rows) co_return db_error(rows.error());
  auto params = args(Value(std::string(name)));
  auto when = co_await db_.query(Stmt::summary_refreshed, std::move(params), &qc);
  if (!when) co_return db_error(when.error());
  Reply r;
  r.body = "{\"posts\":[";
  for (std::size_t i = 0; i < rows->size(); ++i) {
    if (i) r.body += ',';
    r.body += "{\"id\":";
    r.body += std::to_string(rows->integer(i, 0));
    append_str(r.body, "title", rows->text(i, 1));
    if (trending) {
      append_str(r.body, "author", rows->text(i, 2));
      append_int(r.body, "likes", rows->integer(i, 3));
    } else {
      append_int(r.body, "like_count", rows->integer(i, 2));
      append_int(r.body, "comment_count", rows->integer(i, 3));
    }
    r.body += '}';
  }
  r.body += ']';
  if (when->empty()) {
    r.body += ",\"refreshed_at\":null";
  } else {
    append_str(r.body, "refreshed_at", iso_time(when->integer(0, 0)));
    r.body +=
        fmt::format(",\"refresh_took_ms\":{:.3f}", static_cast<double>(when->integer(0, 1)) / 1000);
  }
  r.body += '}';
  co_return r;
}

// The guide's get_trending_posts behind its @cache_result: the summary is refreshed in the
// background anyway, so its TTL (app.cache_ttl_trending) bounds how stale the list may be.
boost::asio::awaitable<Reply> Api::trending(http::Exchange&, QueryContext& qc) {
  std::string key = "trending";
  std::vector<std::string> no_tags;
  Compute read = [&]() { return summary(qc, Stmt::trending_read, "trending", true); };
  // Chosen before the co_await: GCC 12 evaluated both arms of a conditional inside one.
  cache::Cache* cache = cache_ ? &cache_->trending() : nullptr;
  const auto ttl = cache_ ? cache_->options().ttl_trending : std::chrono::milliseconds{};
  co_return co_await cached(cache, std::move(key), ttl, std::move(no_tags), std::move(read));
}

boost::asio::awaitable<Reply> Api::popular_weekly(http::Exchange&, QueryContext& qc) {
  co_return co_await summary(qc, Stmt::popular_read, "popular_weekly", false);
}

}  // namespace tenx::app
