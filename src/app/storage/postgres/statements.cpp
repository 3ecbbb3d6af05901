// The statement catalogue in PostgreSQL's dialect. Times are timestamptz in the tables and
// travel as integer microseconds since the epoch (the engine-neutral form the API uses):
// `us(col)` out, `ts($n)` in, both exact.
#include "app/storage/postgres/postgres_database.h"

namespace tenx::app {

#define TENX_US(col) "(extract(epoch from " col ") * 1000000)::bigint"
#define TENX_TS(p) "(timestamptz 'epoch' + " p "::bigint * interval '1 microsecond')"
#define TENX_FEED_SELECT \
  "SELECT p.id, p.title, p.body, " TENX_US("p.created_at") ", u.id, u.username "           \
  "FROM posts p JOIN users u ON u.id = p.user_id WHERE p.published "

// The post a user may like or comment on: published, or their own draft.
#define TENX_ACTIONABLE_POST(user, post) \
  "(SELECT 1 FROM posts WHERE id = " post " AND (published OR user_id = " user "))"

const char* PostgresDatabase::sql(Stmt s) {
  switch (s) {
    case Stmt::ping:
      return "SELECT 1";
    case Stmt::feed_first:
      return TENX_FEED_SELECT "ORDER BY p.created_at DESC, p.id DESC LIMIT $1";
    case Stmt::feed_after:
      return TENX_FEED_SELECT "AND (p.created_at, p.id) < (" TENX_TS("$1") ", $2::bigint) "
                              "ORDER BY p.created_at DESC, p.id DESC LIMIT $3";
    case Stmt::feed_offset:
      return TENX_FEED_SELECT "ORDER BY p.created_at DESC, p.id DESC LIMIT $1 OFFSET $2";
    case Stmt::published_count:
      return "SELECT published FROM post_counts WHERE id = 1";
    case Stmt::count_exact:
      return "SELECT COUNT(*) FROM posts WHERE published";
    case Stmt::count_estimate:
      // The guide's reltuples, taken from the partial index (its entries are the published
      // posts), with the time of the table's last ANALYZE as the estimate's age.
      return "SELECT c.reltuples::bigint, " TENX_US(
          "COALESCE(GREATEST(s.last_analyze, s.last_autoanalyze), now())") " "
          "FROM pg_class c, pg_stat_user_tables s "
          "WHERE c.relname = 'posts_published_created_idx' AND s.relname = 'posts'";
    case Stmt::posts_naive:
      return "SELECT id, title, body, " TENX_US("created_at") ", user_id FROM posts "
             "WHERE published ORDER BY created_at DESC, id DESC LIMIT $1";
    case Stmt::user_by_id:
      return "SELECT id, username, avatar_url FROM users WHERE id = $1";
    case Stmt::user_by_token:
      return "SELECT id, username, email, avatar_url, bio, " TENX_US("created_at") " FROM users "
             "WHERE token_hash = $1";
    case Stmt::user_post_count:
      return "SELECT COUNT(*) FROM posts WHERE user_id = $1";
    case Stmt::user_insert:
      return "INSERT INTO users (username, email, avatar_url, bio, token_hash, created_at) "
             "VALUES ($1, $2, $3, $4, $5, " TENX_TS("$6") ") RETURNING id";
    case Stmt::users_page:
      return "SELECT id, username, avatar_url, bio, " TENX_US("created_at") " FROM users "
             "WHERE id > $1 ORDER BY id LIMIT $2";
    case Stmt::post_insert:
      return "INSERT INTO posts (user_id, title, body, published, created_at) "
             "VALUES ($1, $2, $3, $4::int::boolean, " TENX_TS("$5") ") RETURNING id";
    case Stmt::post_exists:
      return "SELECT 1 FROM posts WHERE id = $1";
    case Stmt::like_insert:
      return "INSERT INTO likes (user_id, post_id, created_at) "
             "SELECT $1::bigint, $2::bigint, " TENX_TS("$3") " "
             "WHERE EXISTS " TENX_ACTIONABLE_POST("$1", "$2") " RETURNING id";
    case Stmt::comment_insert:
      return "INSERT INTO comments (user_id, post_id, body, created_at) "
             "SELECT $1::bigint, $2::bigint, $3::text, " TENX_TS("$4") " "
             "WHERE EXISTS " TENX_ACTIONABLE_POST("$1", "$2") " RETURNING id";
    case Stmt::trending_read:
      return "SELECT post_id, title, username, likes FROM trending_posts "
             "ORDER BY likes DESC, post_id DESC";
    case Stmt::popular_read:
      return "SELECT post_id, title, like_count, comment_count FROM popular_posts_weekly "
             "ORDER BY like_count DESC, comment_count DESC, post_id DESC";
    case Stmt::summary_refreshed:
      return "SELECT " TENX_US("refreshed_at") ", took_us FROM summary_refresh WHERE name = $1";
    case Stmt::user_public:
      return "SELECT id, username, avatar_url, bio, " TENX_US("created_at") " FROM users "
             "WHERE id = $1";
    case Stmt::user_update:
      return "UPDATE users SET username = COALESCE($2::text, username), "
             "avatar_url = CASE WHEN $3::int = 1 THEN $4::text ELSE avatar_url END, "
             "bio = CASE WHEN $5::int = 1 THEN $6::text ELSE bio END "
             "WHERE id = $1 RETURNING id, username, avatar_url, bio, " TENX_US("created_at");
  }
  return nullptr;
}

const std::vector<const char*>& PostgresDatabase::migrations() {
  static const std::vector<const char*> m = {
      // 1: the guide's schema, indexes and materialised views.
      R"sql(
CREATE TABLE users (
  id BIGSERIAL PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL UNIQUE,
  avatar_url TEXT,
  bio TEXT,
  token_hash TEXT UNIQUE,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE posts (
  id BIGSERIAL PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id),
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  published BOOLEAN NOT NULL DEFAULT false,
  created_at TIMESTAMPTZ NOT NULL
);
-- The guide's partial composite index; id breaks ties in the keyset order.
CREATE INDEX posts_published_created_idx ON posts (published, created_at DESC, id DESC)
  WHERE published;
CREATE INDEX posts_created_id_idx ON posts (created_at DESC, id DESC);
CREATE INDEX posts_user_id_idx ON posts (user_id);
CREATE TABLE likes (
  id BIGSERIAL PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id),
  post_id BIGINT NOT NULL REFERENCES posts(id),
  created_at TIMESTAMPTZ NOT NULL,
  UNIQUE (user_id, post_id)
);
CREATE INDEX likes_post_id_idx ON likes (post_id);
CREATE INDEX likes_created_idx ON likes (created_at);
CREATE TABLE comments (
  id BIGSERIAL PRIMARY KEY,
  user_id BIGINT NOT NULL REFERENCES users(id),
  post_id BIGINT NOT NULL REFERENCES posts(id),
  body TEXT NOT NULL,
  created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX comments_post_id_idx ON comments (post_id);
CREATE INDEX comments_user_id_idx ON comments (user_id);
CREATE TABLE post_counts (
  id INT PRIMARY KEY CHECK (id = 1),
  total BIGINT NOT NULL,
  published BIGINT NOT NULL,
  updated_at TIMESTAMPTZ NOT NULL
);
INSERT INTO post_counts VALUES (1, 0, 0, 'epoch');
CREATE FUNCTION posts_counted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE post_counts SET total = total + 1, published = published + NEW.published::int,
      updated_at = now() WHERE id = 1;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE post_counts SET total = total - 1, published = published - OLD.published::int,
      updated_at = now() WHERE id = 1;
  ELSIF NEW.published IS DISTINCT FROM OLD.published THEN
    UPDATE post_counts SET published = published - OLD.published::int + NEW.published::int,
      updated_at = now() WHERE id = 1;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER posts_counted AFTER INSERT OR DELETE OR UPDATE OF published ON posts
  FOR EACH ROW EXECUTE FUNCTION posts_counted();
CREATE MATERIALIZED VIEW trending_posts AS
  SELECT p.id AS post_id, p.title, u.username, t.likes
  FROM (SELECT post_id, COUNT(*) AS likes FROM likes
        WHERE created_at > now() - interval '24 hours'
        GROUP BY post_id ORDER BY likes DESC, post_id DESC LIMIT 20) t
  JOIN posts p ON p.id = t.post_id JOIN users u ON u.id = p.user_id;
CREATE UNIQUE INDEX trending_posts_post_id ON trending_posts (post_id);
-- The guide's popular_posts_weekly, counting with subqueries (its double LEFT JOIN
-- multiplies likes by comments).
CREATE MATERIALIZED VIEW popular_posts_weekly AS
  SELECT p.id AS post_id, p.title,
         (SELECT COUNT(*) FROM likes l WHERE l.post_id = p.id) AS like_count,
         (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS comment_count
  FROM posts p
  WHERE p.published AND p.created_at > now() - interval '7 days'
  ORDER BY like_count DESC, comment_count DESC, p.id DESC LIMIT 100;
CREATE UNIQUE INDEX popular_posts_weekly_post_id ON popular_posts_weekly (post_id);
CREATE TABLE summary_refresh (
  name TEXT PRIMARY KEY,
  refreshed_at TIMESTAMPTZ NOT NULL,
  took_us BIGINT NOT NULL
);
)sql",
      // 2: the trending summary counts published posts only (a liked draft showed in it);
      // drafts are filtered before the LIMIT.
      R"sql(
DROP MATERIALIZED VIEW trending_posts;
CREATE MATERIALIZED VIEW trending_posts AS
  SELECT p.id AS post_id, p.title, u.username, t.likes
  FROM (SELECT l.post_id, COUNT(*) AS likes FROM likes l JOIN posts lp ON lp.id = l.post_id
        WHERE l.created_at > now() - interval '24 hours' AND lp.published
        GROUP BY l.post_id ORDER BY likes DESC, l.post_id DESC LIMIT 20) t
  JOIN posts p ON p.id = t.post_id JOIN users u ON u.id = p.user_id;
CREATE UNIQUE INDEX trending_posts_post_id ON trending_posts (post_id);
)sql",
      // 3: usernames and emails are unique ignoring case ("Ann" and "ann" are one user).
      // Fails if the table already holds such duplicates: resolve them, then start again.
      R"sql(
CREATE UNIQUE INDEX users_username_lower_idx ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_idx ON users (lower(email));
)sql",
  };
  return m;
}

#undef TENX_ACTIONABLE_POST
#undef TENX_FEED_SELECT
#undef TENX_TS
#undef TENX_US

}  // namespace tenx::app
