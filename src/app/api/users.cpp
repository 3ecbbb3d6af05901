// Users and writes: registration (bearer tokens), the caller's profile, the field-filtered
// user list, posts / likes / comments, and the count endpoint.
#include "app/api/api.h"
#include "app/api/detail.h"
#include "app/app_cache.h"
#include "http/json.h"
#include "http/server.h"

#include <fmt/format.h>
#include <xxhash.h>
#include <boost/json/value.hpp>

#include <sys/random.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <set>
#include <span>

namespace tenx::app {

using detail::append_int;
using detail::append_str;
using detail::args;
using detail::bad_field;
using detail::db_error;
using detail::error;
using detail::iso_time;

namespace {

// Tokens are 32 random bytes (hex); the table keeps only their 128-bit hash, so a copy of the
// database does not hand out working tokens. (A fast hash is enough: the input has 256 bits of
// entropy, nothing to guess.)
std::string new_token() {
  std::array<unsigned char, 32> raw{};
  std::size_t got = 0;
  while (got < raw.size()) {
    const auto n = ::getrandom(raw.data() + got, raw.size() - got, 0);
    if (n > 0) got += static_cast<std::size_t>(n);
  }
  std::string out;
  for (auto b : raw) fmt::format_to(std::back_inserter(out), "{:02x}", b);
  return out;
}

std::string token_hash(std::string_view token) {
  const auto h = XXH3_128bits(token.data(), token.size());
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

bool username_chars(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '_' || c == '-' || c == '.';
  });
}

// "..." or "_-_" would pass for a name but names nobody.
bool has_letter_or_digit(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](unsigned char c) { return std::isalnum(c); });
}

// Reads the JSON object body; every key must be in `allowed`. On failure `err` holds the
// reply (read_json_body has already answered 413 / 400 for bodies it refused).
struct Body {
  boost::json::object obj;
  std::optional<Reply> err;
  bool responded = false;
};

boost::asio::awaitable<Body> object_body(http::Exchange& ex,
                                         std::span<const std::string_view> allowed) {
  Body b;
  auto v = co_await http::read_json_body(ex);
  if (!v) {
    b.responded = true;
    co_return b;
  }
  if (!v->is_object()) {
    b.err = error(400, "bad_request", "the body must be a JSON object");
    co_return b;
  }
  b.obj = std::move(v->as_object());
  for (const auto& kv : b.obj) {
    if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
      b.err = bad_field(kv.key(), fmt::format("unknown field \"{}\"", std::string_view(kv.key())));
      co_return b;
    }
  }
  co_return b;
}

// A string field: required (missing -> error), UTF-8, with a length range in characters
// (code points: 150 x "é" is 150 characters, not 300).
std::optional<Reply> string_field(const boost::json::object& o, std::string_view key, bool required,
                                  std::size_t min, std::size_t max, std::string& out) {
  auto* v = o.if_contains(key);
  if (!v || v->is_null()) {
    if (required) return bad_field(key, fmt::format("{} is required", key));
    return std::nullopt;
  }
  if (!v->is_string()) return bad_field(key, fmt::format("{} must be a string", key));
  out = std::string(v->as_string());
  const auto chars = detail::utf8_length(out);
  if (!chars) return bad_field(key, fmt::format("{} is not valid UTF-8", key));
  if (*chars < min || *chars > max)
    return bad_field(key, fmt::format("{} must be {} to {} characters", key, min, max));
  return std::nullopt;
}

// A required text (a title, a body): a string_field that is not blank once trimmed, since a
// title of spaces is no title.
std::optional<Reply> text_field(const boost::json::object& o, std::string_view key, std::size_t max,
                                std::string& out) {
  if (auto e = string_field(o, key, true, 1, max, out)) return e;
  if (detail::is_blank(out)) return bad_field(key, fmt::format("{} must not be blank", key));
  return std::nullopt;
}

constexpr std::array<std::string_view, 4> kRegisterFields = {"username", "email", "avatar_url",
                                                             "bio"};
constexpr std::array<std::string_view, 3> kPostFields = {"title", "body", "published"};
constexpr std::array<std::string_view, 1> kCommentFields = {"body"};
constexpr std::array<std::string_view, 3> kUserUpdateFields = {"username", "avatar_url", "bio"};

// The handler has answered already (read_json_body refused the body).
Reply responded() {
  Reply r;
  r.status = 0;
  return r;
}

// like_insert / comment_insert insert nothing (no row back) for a post the caller may not see:
// another user's draft, or no post at all. Both are "no such post", so a draft's existence
// does not show.
bool no_such_post(const Result<Rows>& rows) {
  if (!rows) return rows.error() == core::make_error_code(core::Errc::not_found);
  return rows->empty();
}

std::optional<std::int64_t> path_id(http::Exchange& ex) {
  auto v = ex.param("id");
  if (!v) return std::nullopt;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n <= 0) return std::nullopt;
  return n;
}

}  // namespace

boost::asio::awaitable<std::variant<Api::Caller, Reply>> Api::authenticate(http::Exchange& ex,
                                                                           QueryContext& qc) {
  auto unauthorized = [](std::string_view why) {
    Reply r = error(401, "unauthorized", why);
    r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  };
  auto h = ex.request().headers.find("Authorization");
  if (!h || h->size() < 7 || !http::iequals(h->substr(0, 7), "Bearer "))
    co_return unauthorized("send Authorization: Bearer <token> (from POST /api/register)");
  auto token = h->substr(7);
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.size() != 64) co_return unauthorized("invalid token");
  auto params = args(Value(token_hash(token)));
  auto rows = co_await db_.query(Stmt::user_by_token, std::move(params), &qc);
  if (!rows) co_return db_error(rows.error());
  if (rows->empty()) co_return unauthorized("invalid token");
  co_return Caller{rows->integer(0, 0), std::string(rows->text(0, 1)), std::move(*rows)};
}

boost::asio::awaitable<Reply> Api::register_user(http::Exchange& ex, QueryContext& qc) {
  auto body = co_await object_body(ex, kRegisterFields);
  if (body.responded) co_return responded();
  if (body.err) co_return *body.err;
  std::string username, email, avatar, bio;
  if (auto e = string_field(body.obj, "username", true, 3, 32, username)) co_return *e;
  if (!username_chars(username))
    co_return bad_field("username", "username may hold letters, digits, '_', '-' and '.'");
  if (!has_letter_or_digit(username))
    co_return bad_field("username", "username needs at least one letter or digit");
  if (auto e = string_field(body.obj, "email", true, 3, 254, email)) co_return *e;
  if (email.find('@') == std::string::npos || email.find_first_of(" \t\r\n") != std::string::npos)
    co_return bad_field("email", "email must be an address like name@example.com");
  if (auto e = string_field(body.obj, "avatar_url", false, 0, 500, avatar)) co_return *e;
  if (auto e = string_field(body.obj, "bio", false, 0, 1000, bio)) co_return *e;
  const auto token = new_token();
  auto params =
      args(Value(username), Value(email), avatar.empty() ? Value() : Value(avatar),
           bio.empty() ? Value() : Value(bio), Value(token_hash(token)), Value(detail::now_us()));
  // Unique ignoring case (the schema's lower() indexes): "Ann" and "ann" are one user.
  auto rows = co_await db_.write(Stmt::user_insert, std::move(params), &qc);
  if (!rows && rows.error() == core::make_error_code(core::Errc::conflict))
    co_return error(409, "conflict",
                    "that username or email is already registered (compared ignoring case)");
  if (!rows) co_return db_error(rows.error());
  // A "no such user" remembered for this id (a probe before it existed) must not hide it.
  if (cache_) {
    std::string key = "user:" + std::to_string(rows->integer(0, 0));
    co_await invalidate_key(&cache_->users(), std::move(key));
  }
  Reply r;
  r.status = 201;
  r.body = "{";
  append_int(r.body, "id", rows->integer(0, 0), false);
  append_str(r.body, "username", username);
  append_str(r.body, "token", token);
  r.body += '}';
  co_return r;
}

boost::asio::awaitable<Reply> Api::profile(http::Exchange& ex, QueryContext& qc) {
  auto who = co_await authenticate(ex, qc);
  if (auto* err = std::get_if<Reply>(&who)) co_return std::move(*err);
  const Rows* rows = &std::get<Caller>(who).row;
  auto params = args(Value(rows->integer(0, 0)));
  auto count = co_await db_.query(Stmt::user_post_count, std::move(params), &qc);
  if (!count) co_return db_error(count.error());
  Reply r;
  r.body = "{";
  append_int(r.body, "id", rows->integer(0, 0), false);
  append_str(r.body, "username", rows->text(0, 1));
  append_str(r.body, "email", rows->text(0, 2));
  append_str(r.body, "avatar_url", rows->text(0, 3));
  append_str(r.body, "bio", rows->text(0, 4));
  append_str(r.body, "created_at", iso_time(rows->integer(0, 5)));
  append_int(r.body, "post_count", count->integer(0, 0));
  r.body += '}';
  // Only the caller's browser may keep it: the data is theirs (guide section 4).
  r.headers.emplace_back("Cache-Control", "private, max-age=60");
  r.headers.emplace_back("Vary", "Authorization");
  co_return r;
}

namespace {

// A user's public fields, as GET and PATCH /api/users/{id} answer them; `rows` from
// user_public or user_update (id, username, avatar_url, bio, created_at_us).
std::string user_json(const Rows& rows) {
  std::string out = "{";
  append_int(out, "id", rows.integer(0, 0), false);
  append_str(out, "username", rows.text(0, 1));
  for (std::size_t c : {std::size_t{2}, std::size_t{3}}) {
    const char* name = c == 2 ? "avatar_url" : "bio";
    if (rows.is_null(0, c))
      fmt::format_to(std::back_inserter(out), ",\"{}\":null", name);
    else
      append_str(out, name, rows.text(0, c));
  }
  append_str(out, "created_at", iso_time(rows.integer(0, 4)));
  out += '}';
  return out;
}

// The user list answers anyone, so it serves only what a user shows everyone: the public
// columns, which are all users_page reads (its columns, in this order). A private column
// (email) is for its owner alone, who reads it at GET /api/user/profile with their token; the
// list does not serve it to anyone, token or not (it would take an owner check per row to
// serve one row's worth). Asking the list for one is a 400 naming the field rather than a
// field silently left out, so a client learns where the data is.
constexpr std::array<std::string_view, 5> kPublicUserFields = {"id", "username", "avatar_url",
                                                               "bio", "created_at"};
constexpr std::array<std::string_view, 1> kPrivateUserFields = {"email"};

// ?fields=a,b: column indexes of users_page, or the refusal.
std::variant<std::vector<std::size_t>, Reply> user_fields(std::string_view list) {
  std::vector<std::size_t> fields;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto f = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    if (std::find(kPrivateUserFields.begin(), kPrivateUserFields.end(), f) !=
        kPrivateUserFields.end())
      return bad_field("fields", fmt::format("\"{}\" is private: only its owner reads it, at "
                                             "GET /api/user/profile with their bearer token",
                                             f));
    auto it = std::find(kPublicUserFields.begin(), kPublicUserFields.end(), f);
    if (it == kPublicUserFields.end())
      return bad_field("fields", fmt::format("unknown field \"{}\" (known: id, username, "
                                             "avatar_url, bio, created_at)",
                                             f));
    const auto idx = static_cast<std::size_t>(it - kPublicUserFields.begin());
    if (std::find(fields.begin(), fields.end(), idx) == fields.end()) fields.push_back(idx);
  }
  return fields;
}

}  // namespace

boost::asio::awaitable<Reply> Api::users(http::Exchange& ex, QueryContext& qc) {
  const auto query = ex.request().query();
  std::string fields_param;
  std::vector<std::size_t> fields = {0, 1, 2};  // the guide's "after": id, username, avatar_url
  if (http::query_param(query, "fields", fields_param) && !fields_param.empty()) {
    auto asked = user_fields(fields_param);
    if (auto* refused = std::get_if<Reply>(&asked)) co_return std::move(*refused);
    fields = std::move(std::get<std::vector<std::size_t>>(asked));
  }
  bool bad = false;
  const auto limit = detail::int_param(query, "limit", 1, options_.per_page_max, bad).value_or(20);
  if (bad)
    co_return bad_field(
        "limit", fmt::format("limit must be an integer from 1 to {}", options_.per_page_max));
  const auto after = detail::int_param(query, "after_id", 0, INT64_MAX, bad).value_or(0);
  if (bad) co_return bad_field("after_id", "after_id must be a non-negative integer");
  auto params = args(Value(after), Value(limit + 1));
  auto rows = co_await db_.query(Stmt::users_page, std::move(params), &qc);
  if (!rows) co_return db_error(rows.error());
  const bool more = rows->size() > static_cast<std::size_t>(limit);
  const std::size_t n = more ? static_cast<std::size_t>(limit) : rows->size();
  Reply r;
  r.body = "{\"users\":[";
  for (std::size_t i = 0; i < n; ++i) {
    if (i) r.body += ',';
    r.body += '{';
    bool first = true;
    for (auto f : fields) {
      if (f == 0) {
        append_int(r.body, "id", rows->integer(i, 0), !first);
      } else if (f == 4) {
        append_str(r.body, "created_at", iso_time(rows->integer(i, 4)), !first);
      } else if (rows->is_null(i, f)) {
        r.body += first ? "" : ",";
        fmt::format_to(std::back_inserter(r.body), "\"{}\":null", kPublicUserFields[f]);
      } else {
        append_str(r.body, kPublicUserFields[f], rows->text(i, f), !first);
      }
      first = false;
    }
    r.body += '}';
  }
  r.body += ']';
  if (more)
    append_int(r.body, "next_after_id", rows->integer(n - 1, 0));
  else
    r.body += ",\"next_after_id\":null";
  r.body += '}';
  co_return r;
}

boost::asio::awaitable<Reply> Api::user_reply(QueryContext& qc, std::int64_t id) {
  auto params = args(Value(id));
  auto rows = co_await db_.query(Stmt::user_public, std::move(params), &qc);
  if (!rows) co_return db_error(rows.error());
  if (rows->empty()) co_return error(404, "not_found", "no such user");
  Reply r;
  r.body = user_json(*rows);
  co_return r;
}

// The guide's get_user_by_id behind @cache_result: one entry per user, tagged with the user.
boost::asio::awaitable<Reply> Api::user(http::Exchange& ex, QueryContext& qc) {
  const auto id = path_id(ex);
  if (!id) co_return bad_field("id", "the user id must be a positive integer");
  std::string key = "user:" + std::to_string(*id);
  std::vector<std::string> tags{key};
  Compute read = [&, id = *id]() { return user_reply(qc, id); };
  // Chosen before the co_await: GCC 12 evaluated both arms of a conditional inside one.
  cache::Cache* cache = cache_ ? &cache_->users() : nullptr;
  const auto ttl = cache_ ? cache_->options().ttl_user : std::chrono::milliseconds{};
  co_return co_await cached(cache, std::move(key), ttl, std::move(tags), std::move(read));
}

namespace {
// PATCH /api/users/{id}'s body, validated: which fields to change and to what.
struct UserUpdate {
  std::optional<std::string> username;
  bool set_avatar = false, set_bio = false;
  std::optional<std::string> avatar, bio;  // nullopt with set_*: cleared
};

// A field that may be null (clear it) or a string within the limits.
std::optional<Reply> nullable_field(const boost::json::object& o, std::string_view key,
                                    std::size_t max, bool& set, std::optional<std::string>& out) {
  auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  set = true;
  if (v->is_null()) return std::nullopt;
  std::string s;
  if (auto e = string_field(o, key, true, 0, max, s)) return e;
  out = std::move(s);
  return std::nullopt;
}

std::variant<UserUpdate, Reply> user_update(const boost::json::object& o) {
  UserUpdate u;
  if (o.empty())
    return error(400, "bad_request", "nothing to update: send username, avatar_url and/or bio");
  if (o.contains("username")) {
    std::string name;
    if (o.at("username").is_null()) return bad_field("username", "username cannot be removed");
    if (auto e = string_field(o, "username", true, 3, 32, name)) return *e;
    if (!username_chars(name))
      return bad_field("username", "username may hold letters, digits, '_', '-' and '.'");
    if (!has_letter_or_digit(name))
      return bad_field("username", "username needs at least one letter or digit");
    u.username = std::move(name);
  }
  if (auto e = nullable_field(o, "avatar_url", 500, u.set_avatar, u.avatar)) return *e;
  if (auto e = nullable_field(o, "bio", 1000, u.set_bio, u.bio)) return *e;
  return u;
}
}  // namespace

// The guide's update_user: the database first, then the cached user is dropped on every
// instance (TieredStore publishes it); a new username also drops what shows it (the feed's
// first pages, trending).
boost::asio::awaitable<Reply> Api::update_user(http::Exchange& ex, QueryContext& qc) {
  const auto id = path_id(ex);
  if (!id) co_return bad_field("id", "the user id must be a positive integer");
  auto who = co_await authenticate(ex, qc);
  if (auto* err = std::get_if<Reply>(&who)) co_return std::move(*err);
  if (std::get<Caller>(who).id != *id)
    co_return error(403, "forbidden", "a user may change only their own profile");
  auto body = co_await object_body(ex, kUserUpdateFields);
  if (body.responded) co_return responded();
  if (body.err) co_return *body.err;
  auto parsed = user_update(body.obj);
  if (auto* refused = std::get_if<Reply>(&parsed)) co_return std::move(*refused);
  const auto& u = std::get<UserUpdate>(parsed);
  auto params =
      args(Value(*id), u.username ? Value(*u.username) : Value(),
           Value(std::int64_t{u.set_avatar ? 1 : 0}), u.avatar ? Value(*u.avatar) : Value(),
           Value(std::int64_t{u.set_bio ? 1 : 0}), u.bio ? Value(*u.bio) : Value());
  auto rows = co_await db_.write(Stmt::user_update, std::move(params), &qc);
  if (!rows && rows.error() == core::make_error_code(core::Errc::conflict))
    co_return error(409, "conflict", "that username is taken (compared ignoring case)");
  if (!rows) co_return db_error(rows.error());
  if (rows->empty()) co_return error(404, "not_found", "no such user");
  if (cache_) {
    std::string key = "user:" + std::to_string(*id);
    co_await invalidate_key(&cache_->users(), std::move(key));
    if (u.username) {
      std::string feed = "feed", trending = "trending";
      co_await invalidate_tag(&cache_->feed(), std::move(feed));
      co_await invalidate_key(&cache_->trending(), std::move(trending));
    }
  }
  Reply r;
  r.body = user_json(*rows);
  co_return r;
}

boost::asio::awaitable<Reply> Api::create_post(http::Exchange& ex, QueryContext& qc) {
  auto who = co_await authenticate(ex, qc);
  if (auto* err = std::get_if<Reply>(&who)) co_return std::move(*err);
  const auto& caller = std::get<Caller>(who);
  auto body = co_await object_body(ex, kPostFields);
  if (body.responded) co_return responded();
  if (body.err) co_return *body.err;
  std::string title, text;
  if (auto e = text_field(body.obj, "title", 200, title)) co_return *e;
  if (auto e = text_field(body.obj, "body", 20000, text)) co_return *e;
  bool published = true;
  if (auto* p = body.obj.if_contains("published")) {
    if (!p->is_bool()) co_return bad_field("published", "published must be true or false");
    published = p->as_bool();
  }
  const auto now = detail::now_us();
  auto params = args(Value(caller.id), Value(title), Value(text),
                     Value(std::int64_t{published ? 1 : 0}), Value(now));
  auto rows = co_await db_.write(Stmt::post_insert, std::move(params), &qc);
  if (!rows) co_return db_error(rows.error());
  // The cached first pages no longer lead with the newest post (a draft shows in none).
  if (published && cache_) {
    std::string tag = "feed";
    co_await invalidate_tag(&cache_->feed(), std::move(tag));
  }
  Reply r;
  r.status = 201;
  r.body = "{";
  append_int(r.body, "id", rows->integer(0, 0), false);
  append_str(r.body, "title", title);
  append_str(r.body, "body", text);
  r.body += published ? ",\"published\":true" : ",\"published\":false";
  detail::append_time(r.body, "created_at", now);
  r.body += ",\"author\":{";
  append_int(r.body, "id", caller.id, false);
  append_str(r.body, "username", caller.username);
  r.body += "}}";
  co_return r;
}

boost::asio::awaitable<std::variant<Api::PostAction, Reply>> Api::post_action(http::Exchange& ex,
                                                                              QueryContext& qc) {
  const auto id = path_id(ex);
  if (!id) co_return bad_field("id", "the post id must be a positive integer");
  auto who = co_await authenticate(ex, qc);
  if (auto* err = std::get_if<Reply>(&who)) co_return std::move(*err);
  co_return PostAction{*id, std::move(std::get<Caller>(who))};
}

boost::asio::awaitable<Reply> Api::like(http::Exchange& ex, QueryContext& qc) {
  auto action = co_await post_action(ex, qc);
  if (auto* err = std::get_if<Reply>(&action)) co_return std::move(*err);
  const auto& target = std::get<PostAction>(action);
  const std::int64_t post = target.post;
  const Caller& caller = target.caller;
  auto params = args(Value(caller.id), Value(post), Value(detail::now_us()));
  auto rows = co_await db_.write(Stmt::like_insert, std::move(params), &qc);
  if (!rows && rows.error() == core::make_error_code(core::Errc::conflict))
    co_return error(409, "conflict", fmt::format("you already like post {}", post));
  if (no_such_post(rows)) co_return error(404, "not_found", fmt::format("no post {}", post));
  if (!rows) co_return db_error(rows.error());
  Reply r;
  r.status = 201;
  r.body = "{";
  append_int(r.body, "id", rows->integer(0, 0), false);
  append_int(r.body, "post_id", post);
  append_int(r.body, "user_id", caller.id);
  r.body += '}';
  co_return r;
}

boost::asio::awaitable<Reply> Api::comment(http::Exchange& ex, QueryContext& qc) {
  auto action = co_await post_action(ex, qc);
  if (auto* err = std::get_if<Reply>(&action)) co_return std::move(*err);
  const auto& target = std::get<PostAction>(action);
  const std::int64_t post = target.post;
  const Caller& caller = target.caller;
  auto body = co_await object_body(ex, kCommentFields);
  if (body.responded) co_return responded();
  if (body.err) co_return *body.err;
  std::string text;
  if (auto e = text_field(body.obj, "body", 5000, text)) co_return *e;
  const auto now = detail::now_us();
  auto params = args(Value(caller.id), Value(post), Value(text), Value(now));
  auto rows = co_await db_.write(Stmt::comment_insert, std::move(params), &qc);
  if (no_such_post(rows)) co_return error(404, "not_found", fmt::format("no post {}", post));
  if (!rows) co_return db_error(rows.error());
  Reply r;
  r.status = 201;
  r.body = "{";
  append_int(r.body, "id", rows->integer(0, 0), false);
  append_int(r.body, "post_id", post);
  append_str(r.body, "body", text);
  detail::append_time(r.body, "created_at", now);
  append_str(r.body, "author", caller.username);
  r.body += '}';
  co_return r;
}

boost::asio::awaitable<Reply> Api::post_stats(http::Exchange& ex, QueryContext& qc) {
  std::string exact_param;
  bool exact = false;
  if (http::query_param(ex.request().query(), "exact", exact_param)) {
    if (exact_param == "true" || exact_param == "1")
      exact = true;
    else if (exact_param != "false" && exact_param != "0")
      co_return bad_field("exact", "exact must be true or false");
  }
  const auto start = std::chrono::steady_clock::now();
  auto rows = co_await db_.query(exact ? Stmt::count_exact : Stmt::count_estimate, {}, &qc);
  if (!rows) co_return db_error(rows.error());
  const double took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  Reply r;
  r.body = "{";
  append_int(r.body, "count", rows->integer(0, 0), false);
  r.body += exact ? ",\"exact\":true" : ",\"exact\":false";
  if (exact) {
    append_str(r.body, "source", "COUNT(*)");
  } else {
    append_str(r.body, "source",
               db_.engine() == "sqlite" ? "post_counts (kept by triggers)" : "pg_class.reltuples");
    const auto as_of = rows->integer(0, 1);
    if (as_of > 0) {
      append_str(r.body, "as_of", iso_time(as_of));
      r.body +=
          fmt::format(",\"age_s\":{:.3f}", static_cast<double>(detail::now_us() - as_of) / 1e6);
    } else {
      r.body += ",\"as_of\":null,\"age_s\":null";
    }
  }
  r.body += fmt::format(",\"took_ms\":{:.3f}}}", took_ms);
  co_return r;
}

}  // namespace tenx::app
