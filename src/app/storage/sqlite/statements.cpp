// The statement catalogue in SQLite's dialect. Times are INTEGER microseconds since the Unix
// epoch (exact, compact, and compared as integers by the indexes); booleans are 0 / 1.
#include "app/storage/sqlite/sqlite_database.h"

namespace tenx::app {

// The feed's columns, the same for every feed statement: the author comes in the same
// statement (a join: the guide's eager loading), never one query per post.
#define TENX_FEED_SELECT                                          \
  "SELECT p.id, p.title, p.body, p.created_at, u.id, u.username " \
  "FROM posts p JOIN users u ON u.id = p.user_id WHERE p.published = 1 "

// The post a user may like or comment on: published, or their own draft.
#define TENX_ACTIONABLE_POST(user, post) \
  "(SELECT 1 FROM posts WHERE id = " post " AND (published = 1 OR user_id = " user "))"

const char* SqliteDatabase::sql(Stmt s) {
  switch (s) {
    case Stmt::ping:
      return "SELECT 1";
    case Stmt::feed_first:
      return TENX_FEED_SELECT "ORDER BY p.created_at DESC, p.id DESC LIMIT ?1";
    case Stmt::feed_after:
      return TENX_FEED_SELECT
          "AND (p.created_at, p.id) < (?1, ?2) ORDER BY p.created_at DESC, p.id DESC LIMIT ?3";
    case Stmt::feed_offset:
      return TENX_FEED_SELECT "ORDER BY p.created_at DESC, p.id DESC LIMIT ?1 OFFSET ?2";
    case Stmt::published_count:
      return "SELECT published FROM post_counts WHERE id = 1";
    case Stmt::count_exact:
      return "SELECT COUNT(*) FROM posts WHERE published = 1";
    case Stmt::count_estimate:
      return "SELECT published, updated_at FROM post_counts WHERE id = 1";
    case Stmt::posts_naive:
      return "SELECT id, title, body, created_at, user_id FROM posts WHERE published = 1 "
             "ORDER BY created_at DESC, id DESC LIMIT ?1";
    case Stmt::user_by_id:
      return "SELECT id, username, avatar_url FROM users WHERE id = ?1";
    case Stmt::user_by_token:
      return "SELECT id, username, email, avatar_url, bio, created_at FROM users "
             "WHERE token_hash = ?1";
    case Stmt::user_post_count:
      return "SELECT COUNT(*) FROM posts WHERE user_id = ?1";
    case Stmt::user_insert:
      return "INSERT INTO users (username, email, avatar_url, bio, token_hash, created_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id";
    case Stmt::users_page:
      return "SELECT id, username, avatar_url, bio, created_at FROM users "
             "WHERE id > ?1 ORDER BY id LIMIT ?2";
    case Stmt::post_insert:
      return "INSERT INTO posts (user_id, title, body, published, created_at) "
             "VALUES (?1, ?2, ?3, ?4, ?5) RETURNING id";
    case Stmt::post_exists:
      return "SELECT 1 FROM posts WHERE id = ?1";
    case Stmt::like_insert:
      return "INSERT INTO likes (user_id, post_id, created_at) SELECT ?1, ?2, ?3 "
             "WHERE EXISTS " TENX_ACTIONABLE_POST("?1", "?2") " RETURNING id";
    case Stmt::comment_insert:
      return "INSERT INTO comments (user_id, post_id, body, created_at) SELECT ?1, ?2, ?3, ?4 "
             "WHERE EXISTS " TENX_ACTIONABLE_POST("?1", "?2") " RETURNING id";
    case Stmt::trending_read:
      return "SELECT post_id, title, username, likes FROM trending_posts "
             "ORDER BY likes DESC, post_id DESC";
    case Stmt::popular_read:
      return "SELECT post_id, title, like_count, comment_count FROM popular_posts_weekly "
             "ORDER BY like_count DESC, comment_count DESC, post_id DESC";
    case Stmt::summary_refreshed:
      return "SELECT refreshed_at, took_us FROM summary_refresh WHERE name = ?1";
    case Stmt::user_public:
      return "SELECT id, username, avatar_url, bio, created_at FROM users WHERE id = ?1";
    case Stmt::user_update:
      return "UPDATE users SET username = COALESCE(?2, username), "
             "avatar_url = CASE WHEN ?3 = 1 THEN ?4 ELSE avatar_url END, "
             "bio = CASE WHEN ?5 = 1 THEN ?6 ELSE bio END "
             "WHERE id = ?1 RETURNING id, username, avatar_url, bio, created_at";
  }
  return nullptr;
}

#undef TENX_ACTIONABLE_POST
#undef TENX_FEED_SELECT

// Schema versions, applied in order, each in the migration's transaction.
const std::vector<const char*>& SqliteDatabase::migrations() {
  static const std::vector<const char*> m = {
      // 1: the guide's schema and indexes.
      R"sql(
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  username TEXT NOT NULL UNIQUE,
  email TEXT NOT NULL UNIQUE,
  avatar_url TEXT,
  bio TEXT,
  token_hash TEXT UNIQUE,
  created_at INTEGER NOT NULL
);
CREATE TABLE posts (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  published INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
  created_at INTEGER NOT NULL
);
-- The guide's partial composite index for the feed (id breaks ties in the same order, so the
-- keyset reads the index in order and stops after one page: no sort).
CREATE INDEX posts_published_created_idx ON posts (published, created_at DESC, id DESC)
  WHERE published = 1;
-- The guide's index for cursors over all posts.
CREATE INDEX posts_created_id_idx ON posts (created_at DESC, id DESC);
CREATE INDEX posts_user_id_idx ON posts (user_id);
CREATE TABLE likes (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  post_id INTEGER NOT NULL REFERENCES posts(id),
  created_at INTEGER NOT NULL,
  UNIQUE (user_id, post_id)  -- also the index on likes.user_id (its leading column)
);
CREATE INDEX likes_post_id_idx ON likes (post_id);
CREATE INDEX likes_created_idx ON likes (created_at);
CREATE TABLE comments (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  post_id INTEGER NOT NULL REFERENCES posts(id),
  body TEXT NOT NULL,
  created_at INTEGER NOT NULL
);
CREATE INDEX comments_post_id_idx ON comments (post_id);
CREATE INDEX comments_user_id_idx ON comments (user_id);
-- Counts kept by triggers in the writing transaction: exact, and O(1) to read.
CREATE TABLE post_counts (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  total INTEGER NOT NULL,
  published INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
INSERT INTO post_counts VALUES (1, 0, 0, 0);
CREATE TRIGGER posts_counted_insert AFTER INSERT ON posts BEGIN
  UPDATE post_counts SET total = total + 1, published = published + NEW.published,
    updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) WHERE id = 1;
END;
CREATE TRIGGER posts_counted_delete AFTER DELETE ON posts BEGIN
  UPDATE post_counts SET total = total - 1, published = published - OLD.published,
    updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) WHERE id = 1;
END;
CREATE TRIGGER posts_counted_update AFTER UPDATE OF published ON posts BEGIN
  UPDATE post_counts SET published = published - OLD.published + NEW.published,
    updated_at = CAST((julianday('now') - 2440587.5) * 86400000000 AS INTEGER) WHERE id = 1;
END;
-- The summaries PostgreSQL keeps as materialised views, replaced in one transaction.
CREATE TABLE trending_posts (
  post_id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  username TEXT NOT NULL,
  likes INTEGER NOT NULL
);
CREATE TABLE popular_posts_weekly (
  post_id INTEGER PRIMARY KEY,
  title TEXT NOT NULL,
  like_count INTEGER NOT NULL,
  comment_count INTEGER NOT NULL
);
CREATE TABLE summary_refresh (
  name TEXT PRIMARY KEY,
  refreshed_at INTEGER NOT NULL,
  took_us INTEGER NOT NULL
);
)sql",
      // 2: the trending summary counts published posts only (refresh_sql); drop rows an older
      // refresh may have taken from drafts, until the refresh at start-up fills it again.
      R"sql(
DELETE FROM trending_posts;
)sql",
      // 3: usernames and emails are unique ignoring case ("Ann" and "ann" are one user).
      // Usernames are ASCII; SQLite's lower() folds ASCII only, so emails differing in the
      // case of a non-ASCII letter stay distinct here (PostgreSQL folds those too). Fails if
      // the table already holds such duplicates: resolve them, then start again.
      R"sql(
CREATE UNIQUE INDEX users_username_lower_idx ON users (lower(username));
CREATE UNIQUE INDEX users_email_lower_idx ON users (lower(email));
)sql",
  };
  return m;
}

const char* SqliteDatabase::refresh_sql() {
  // ?1 = now in µs. Counts use subqueries, not the guide's double LEFT JOIN (which multiplies
  // likes by comments). Drafts are filtered before the LIMIT: they are nobody's trend.
  return R"sql(
DELETE FROM trending_posts;
INSERT INTO trending_posts (post_id, title, username, likes)
  SELECT p.id, p.title, u.username, t.likes
  FROM (SELECT l.post_id, COUNT(*) AS likes FROM likes l JOIN posts lp ON lp.id = l.post_id
        WHERE l.created_at > ?1 - 86400000000 AND lp.published = 1
        GROUP BY l.post_id ORDER BY likes DESC, l.post_id DESC LIMIT 20) t
  JOIN posts p ON p.id = t.post_id JOIN users u ON u.id = p.user_id;
DELETE FROM popular_posts_weekly;
INSERT INTO popular_posts_weekly (post_id, title, like_count, comment_count)
  SELECT p.id, p.title,
         (SELECT COUNT(*) FROM likes l WHERE l.post_id = p.id) AS like_count,
         (SELECT COUNT(*) FROM comments c WHERE c.post_id = p.id) AS comment_count
  FROM posts p
  WHERE p.published = 1 AND p.created_at > ?1 - 7 * 86400000000
  ORDER BY like_count DESC, comment_count DESC, p.id DESC LIMIT 100;
)sql";
}

}  // namespace tenx::app
