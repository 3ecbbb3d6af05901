#include "app/seed.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <stdexcept>

namespace tenx::app {

namespace {

// splitmix64: small, fast, and the same on every machine (std distributions are not).
struct Rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  std::int64_t below(std::int64_t n) {
    return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n));
  }
  double unit() { return static_cast<double>(next() >> 11) / 9007199254740992.0; }
};

constexpr std::array<std::string_view, 32> kWords = {
    "scaling", "cache",  "index",   "query",  "latency", "throughput", "replica", "shard",
    "cursor",  "page",   "queue",   "worker", "backoff", "percentile", "budget",  "pool",
    "request", "server", "gateway", "edge",   "token",   "bucket",     "window",  "load",
    "balance", "health", "metric",  "trace",  "view",    "refresh",    "count",   "plan"};

std::string words(Rng& rng, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    if (i) out += ' ';
    out += kWords[static_cast<std::size_t>(rng.below(kWords.size()))];
  }
  return out;
}

constexpr std::int64_t kDayUs = 86'400'000'000;

// The likes post `post` gets in the skewed pass: `count` likes from the users first_user,
// first_user + 1, ... (mod users), so no (user, post) pair repeats without keeping any set in
// memory. Drawn from the post's own generator, so the top-up pass can recompute it. The count
// is skewed around `mean`: 90 % of posts below it, the top 10 % up to ten times it; rounded at
// random so the fractions add up.
struct PostLikes {
  std::int64_t first_user = 0;  // 0-based
  std::int64_t count = 0;
};

PostLikes post_likes(std::uint64_t seed, std::int64_t post, double mean, std::int64_t users) {
  Rng rng{seed ^ (static_cast<std::uint64_t>(post) * 0xD1B54A32D192ED03ull)};
  const double u = rng.unit();
  const double want = mean * (u < 0.9 ? u * 1.1 : 1 + (u - 0.9) * 90);
  const auto count = static_cast<std::int64_t>(want + rng.unit());
  return {rng.below(users), std::min(count, users)};
}

}  // namespace

SeedReport seed_database(Database& db, const SeedOptions& o,
                         const std::function<void(std::string_view, std::int64_t)>& progress) {
  if (o.users < 1 || o.posts < 0) throw std::runtime_error("seed needs at least one user");
  const auto started = std::chrono::steady_clock::now();
  const std::int64_t now = o.now_us ? o.now_us
                                    : std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count();
  const std::int64_t likes = o.likes >= 0 ? o.likes : o.posts;
  const std::int64_t comments = o.comments >= 0 ? o.comments : o.posts / 2;
  const std::int64_t span = static_cast<std::int64_t>(o.days) * kDayUs;
  const std::int64_t start = now - span;
  auto tick = [&](std::string_view table, std::int64_t n) {
    if (progress && n % 100'000 == 0) progress(table, n);
  };
  // Each user likes a post at most once.
  const bool pairs_overflow = o.posts > 0 && o.users > INT64_MAX / o.posts;
  if (!pairs_overflow && likes > o.users * o.posts)
    throw std::runtime_error(fmt::format(
        "{} likes asked, but {} users can like {} posts at most {} times (once per pair)", likes,
        o.users, o.posts, o.users * o.posts));
  for (const char* table : {"users", "posts"}) {
    auto n = db.table_rows(table);
    if (!n)
      throw std::runtime_error(fmt::format("cannot read table {}: {}", table, n.error().message()));
    if (*n > 0)
      throw std::runtime_error(
          fmt::format("the database already holds {} {}; seed an empty database", *n, table));
  }
  SeedReport rep;
  auto w = db.bulk_writer();
  Rng rng{o.seed};

  w->begin("users", {"id", "username", "email", "avatar_url", "bio", "created_at"});
  for (std::int64_t i = 1; i <= o.users; ++i) {
    w->row({Value(i), Value(fmt::format("user{}", i)), Value(fmt::format("user{}@example.com", i)),
            Value(fmt::format("https://img.example.com/avatars/{}.png", i)), Value(words(rng, 6)),
            Value(start + (span / 2) * (i - 1) / o.users)});
    tick("users", i);
  }
  w->end();
  rep.users = o.users;

  // Posts in time order (ids follow time, as in a real table), with jitter under one step.
  w->begin("posts", {"id", "user_id", "title", "body", "published", "created_at"});
  const std::int64_t step = o.posts > 0 ? std::max<std::int64_t>(span / o.posts, 1) : 1;
  for (std::int64_t i = 1; i <= o.posts; ++i) {
    const bool published = rng.unit() >= o.draft_fraction;
    rep.published += published;
    const auto created = start + (i - 1) * step + rng.below(step);
    w->row({Value(i), Value(rng.below(o.users) + 1), Value(words(rng, 5)), Value(words(rng, 30)),
            Value(std::int64_t{published ? 1 : 0}), Value(std::min(created, now - 1))});
    tick("posts", i);
  }
  w->end();
  rep.posts = o.posts;

  // Likes: exactly `likes` of them (the count asked, or as many as posts), skewed (post_likes)
  // so that some posts are popular. A like comes within three days of its post (and not in the
  // future).
  if (o.posts > 0 && likes > 0) {
    w->begin("likes", {"user_id", "post_id", "created_at"});
    const double mean = static_cast<double>(likes) / static_cast<double>(o.posts);
    std::int64_t made = 0;
    auto like = [&](std::int64_t user, std::int64_t post) {
      const auto post_time = start + (post - 1) * step;
      const auto when = std::min(post_time + rng.below(3 * kDayUs), now - 1);
      w->row({Value(user % o.users + 1), Value(post), Value(when)});
      tick("likes", ++made);
    };
    for (std::int64_t p = 1; p <= o.posts && made < likes; ++p) {
      const auto pl = post_likes(o.seed, p, mean, o.users);
      for (std::int64_t t = 0; t < pl.count && made < likes; ++t) like(pl.first_user + t, p);
    }
    // The skew's rounding (and posts capped at one like per user) leave the count short by a
    // little: top up one like per post per round, each continuing its post's run of users,
    // until the count is made (it can be: likes <= users x posts).
    for (std::int64_t round = 0; made < likes; ++round) {
      for (std::int64_t p = 1; p <= o.posts && made < likes; ++p) {
        const auto pl = post_likes(o.seed, p, mean, o.users);
        if (pl.count + round < o.users) like(pl.first_user + pl.count + round, p);
      }
    }
    w->end();
    rep.likes = made;
  }

  if (o.posts > 0 && comments > 0) {
    w->begin("comments", {"user_id", "post_id", "body", "created_at"});
    for (std::int64_t i = 1; i <= comments; ++i) {
      const auto p = rng.below(o.posts) + 1;
      const auto when = std::min(start + (p - 1) * step + rng.below(2 * kDayUs), now - 1);
      w->row({Value(rng.below(o.users) + 1), Value(p), Value(words(rng, 12)), Value(when)});
      tick("comments", i);
    }
    w->end();
    rep.comments = comments;
  }
  w->commit();
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return rep;
}

}  // namespace tenx::app
