#include "app/api/api.h"

#include "app/api/detail.h"
#include "app/app_cache.h"
#include "cache/cache.h"
#include "core/log.h"
#include "http/json.h"
#include "http/server.h"
#include "metrics/registry.h"

#include <fmt/format.h>

#include <charconv>

namespace tenx::app {

namespace detail {

Reply error(unsigned status, std::string_view code, std::string_view message,
            std::string_view field) {
  Reply r;
  r.status = status;
  r.body = "{\"error\":";
  http::append_json_string(r.body, code);
  r.body += ",\"message\":";
  http::append_json_string(r.body, message);
  if (!field.empty()) {
    r.body += ",\"field\":";
    http::append_json_string(r.body, field);
  }
  r.body += '}';
  return r;
}

Reply bad_field(std::string_view field, std::string_view message) {
  return error(400, "bad_request", message, field);
}

Reply db_error(const error_code& ec) {
  using core::Errc;
  if (ec == core::make_error_code(Errc::not_found))
    return error(404, "not_found", "no such record");
  if (ec == core::make_error_code(Errc::conflict)) return error(409, "conflict", "already exists");
  if (ec == core::make_error_code(Errc::busy) || ec == core::make_error_code(Errc::unavailable) ||
      ec == core::make_error_code(Errc::timeout)) {
    Reply r = error(503, "database_unavailable", "the database is busy or unreachable; try again");
    r.headers.emplace_back("Retry-After", "1");
    return r;
  }
  return error(500, "internal", "database error");
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void append_iso_time(std::string& out, std::int64_t us) {
  // Civil date from days since the epoch (Howard Hinnant's algorithm): no gmtime_r and no
  // format parsing per timestamp; a feed page renders twenty of them.
  auto floor_div = [](std::int64_t a, std::int64_t b) {
    return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
  };
  const std::int64_t secs = floor_div(us, 1'000'000);
  const std::int64_t frac = us - secs * 1'000'000;
  std::int64_t days = floor_div(secs, 86'400);
  const std::int64_t sod = secs - days * 86'400;
  days += 719'468;
  const std::int64_t era = floor_div(days, 146'097);
  const std::int64_t doe = days - era * 146'097;
  const std::int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const std::int64_t mp = (5 * doy + 2) / 153;
  const std::int64_t d = doy - (153 * mp + 2) / 5 + 1;
  const std::int64_t m = mp < 10 ? mp + 3 : mp - 9;
  const std::int64_t y = yoe + era * 400 + (m <= 2);
  char buf[28];
  auto put = [&](int at, std::int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, y, 4);
  buf[4] = '-';
  put(5, m, 2);
  buf[7] = '-';
  put(8, d, 2);
  buf[10] = 'T';
  put(11, sod / 3600, 2);
  buf[13] = ':';
  put(14, sod / 60 % 60, 2);
  buf[16] = ':';
  put(17, sod % 60, 2);
  buf[19] = '.';
  put(20, frac, 6);
  buf[26] = 'Z';
  out.append(buf, 27);
}

std::string iso_time(std::int64_t us) {
  std::string out;
  append_iso_time(out, us);
  return out;
}

void append_time(std::string& out, std::string_view key, std::int64_t us, bool comma) {
  if (comma) out += ',';
  out += '"';
  out += key;
  out += "\":\"";
  append_iso_time(out, us);
  out += '"';
}

std::optional<std::int64_t> int_param(std::string_view query, std::string_view key, std::int64_t lo,
                                      std::int64_t hi, bool& bad) {
  std::string v;
  if (!http::query_param(query, key, v)) return std::nullopt;
  std::int64_t n = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
  if (ec != std::errc() || p != v.data() + v.size() || n < lo || n > hi) {
    bad = true;
    return std::nullopt;
  }
  return n;
}

std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t chars = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const auto lead = static_cast<unsigned char>(s[i]);
    std::size_t len = 1;
    char32_t cp = lead;
    char32_t least = 0;
    if (lead >= 0x80) {
      if ((lead & 0xE0) == 0xC0) {
        len = 2, cp = lead & 0x1F, least = 0x80;
      } else if ((lead & 0xF0) == 0xE0) {
        len = 3, cp = lead & 0x0F, least = 0x800;
      } else if ((lead & 0xF8) == 0xF0) {
        len = 4, cp = lead & 0x07, least = 0x10000;
      } else {
        return std::nullopt;  // a continuation byte, or 0xF8..0xFF
      }
      if (s.size() - i < len) return std::nullopt;
      for (std::size_t k = 1; k < len; ++k) {
        const auto next = static_cast<unsigned char>(s[i + k]);
        if ((next & 0xC0) != 0x80) return std::nullopt;
        cp = (cp << 6) | (next & 0x3F);
      }
      // RFC 3629 §3: no overlong forms, no surrogates (U+D800..U+DFFF), nothing past U+10FFFF.
      if (cp < least || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return std::nullopt;
    }
    i += len;
    ++chars;
  }
  return chars;
}

bool is_blank(std::string_view s) {
  return s.find_first_not_of(" \t\r\n\f\v") == std::string_view::npos;
}

bool has_param(std::string_view query, std::string_view key) {
  std::string v;
  return http::query_param(query, key, v);
}

void append_str(std::string& out, std::string_view key, std::string_view value, bool comma) {
  if (comma) out += ',';
  out += '"';
  out += key;
  out += "\":";
  http::append_json_string(out, value);
}

void append_int(std::string& out, std::string_view key, std::int64_t value, bool comma) {
  if (comma) out += ',';
  fmt::format_to(std::back_inserter(out), "\"{}\":{}", key, value);
}

}  // namespace detail

namespace {

struct ApiMetrics {
  metrics::Family& n_plus_one = metrics::Registry::global().counter(
      "app_n_plus_one_total", "Requests that ran one statement more often than the threshold.",
      {"statement"});
  static ApiMetrics& get() {
    static ApiMetrics m;
    return m;
  }
};

}  // namespace

Api::Api(Database& db, ApiOptions options, AppCache* cache)
    : db_(db), options_(std::move(options)), cache_(cache), cursors_(options_.cursor_key) {}

namespace {
// A computed reply's status as the error the cache carries (and back, for a caller served a
// cached or shared failure): 404 -> not_found (negative caching), 503 -> unavailable
// (stale-if-error may answer), anything else -> internal.
error_code status_error(unsigned status) {
  if (status == 404) return core::make_error_code(core::Errc::not_found);
  if (status == 503) return core::make_error_code(core::Errc::unavailable);
  return core::make_error_code(core::Errc::internal);
}
}  // namespace

boost::asio::awaitable<Reply> Api::cached(cache::Cache* cache, std::string key,
                                          std::chrono::milliseconds ttl,
                                          std::vector<std::string> tags, Compute compute) {
  if (!cache) co_return co_await compute();
  // The reply this request computed, when it did and it was not a 200: returned as it is.
  std::optional<Reply> failed;
  cache::Loader loader = [&]() -> boost::asio::awaitable<Result<std::string>> {
    Reply r = co_await compute();
    if (r.status == 200) co_return std::move(r.body);
    const auto ec = status_error(r.status);
    failed = std::move(r);
    co_return ec;
  };
  const std::string_view key_view = key;
  auto got = co_await cache->get_or_compute(key_view, ttl, loader, std::move(tags));
  Reply r;
  if (got) {
    r.body = std::move(got->value);
  } else if (failed) {
    r = std::move(*failed);
  } else {
    // Another caller's failure, or a remembered "not found".
    r = detail::db_error(got.error());
  }
  if (options_.debug_headers)
    r.headers.emplace_back(
        "X-Cache", std::string(cache::outcome_name(got ? got->outcome : cache::Outcome::miss)));
  co_return r;
}

boost::asio::awaitable<void> Api::invalidate_key(cache::Cache* cache, std::string key) {
  if (!cache) co_return;
  auto r = co_await cache->invalidate(key);
  if (!r) TENX_LOG_WARN("cache: invalidating {} failed: {}", key, r.error().message());
}

boost::asio::awaitable<void> Api::invalidate_tag(cache::Cache* cache, std::string tag) {
  if (!cache) co_return;
  auto r = co_await cache->invalidate_tag(tag);
  if (!r) TENX_LOG_WARN("cache: invalidating tag {} failed: {}", tag, r.error().message());
}

http::Handler Api::route(Method m) {
  return [this, m](http::Exchange& ex) -> boost::asio::awaitable<void> {
    QueryContext qc;
    Reply r = co_await (this->*m)(ex, qc);
    if (r.status == 0 || ex.responded()) co_return;
    const auto [stmt, times] = qc.most_repeated();
    if (times > options_.n_plus_one_threshold) {
      // The guide's section 10 symptom: the same statement shape over and over in one request.
      n_plus_one_.fetch_add(1, std::memory_order_relaxed);
      ApiMetrics::get().n_plus_one.series({stmt_name(stmt)}).inc();
      TENX_LOG_WARN(
          "N+1 queries: {} {} ran {} {} times ({} statements in all); load them in one "
          "statement (a join or IN list)",
          ex.request().method_string, ex.route(), stmt_name(stmt), times, qc.total());
      if (options_.debug_headers)
        r.headers.emplace_back("X-N-Plus-One", std::string(stmt_name(stmt)));
    }
    if (options_.debug_headers) r.headers.emplace_back("X-Query-Count", std::to_string(qc.total()));
    std::vector<http::Header> headers;
    headers.reserve(r.headers.size());
    for (const auto& [n, v] : r.headers) headers.push_back({n, v});
    ex.respond(r.status, r.content_type, r.body, headers);
  };
}

void Api::add_routes(http::Router& router) {
  router.get("/api/posts", route(&Api::posts));
  router.post("/api/posts", route(&Api::create_post));
  if (options_.demo) router.get("/api/posts/naive", route(&Api::posts_naive));
  router.get("/api/posts/trending", route(&Api::trending));
  router.get("/api/posts/popular-weekly", route(&Api::popular_weekly));
  router.post("/api/posts/{id}/like", route(&Api::like));
  router.post("/api/posts/{id}/comments", route(&Api::comment));
  router.get("/api/public/posts", route(&Api::public_posts));
  router.get("/api/stats/posts", route(&Api::post_stats));
  router.get("/api/users", route(&Api::users));
  router.get("/api/users/{id}", route(&Api::user));
  router.add(http::Verb::patch, "/api/users/{id}", route(&Api::update_user));
  router.get("/api/user/profile", route(&Api::profile));
  router.post("/api/register", route(&Api::register_user));
  router.get("/debug/db/report", route(&Api::db_report));
}

boost::asio::awaitable<Reply> Api::db_report(http::Exchange& ex, QueryContext&) {
  // Loopback peers only, and not through a proxy: behind the gateway every peer is loopback,
  // so a forwarded request (X-Forwarded-For) is refused too.
  const auto peer = ex.peer_address();
  const bool loopback =
      peer.starts_with("127.") || peer == "::1" || peer.starts_with("::ffff:127.");
  if (!loopback || ex.request().headers.find("X-Forwarded-For"))
    co_return detail::error(403, "forbidden",
                            "the database report is served to direct loopback clients only");
  Reply r;
  r.body = report_json(db_.stats());
  co_return r;
}

}  // namespace tenx::app
