#pragma once
// The statement catalogue of `tenx app` (see database.h for why statements have names).
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tenx::app {

// The statement catalogue. Names are stable: they appear in logs, metrics and reports.
enum class Stmt : std::uint8_t {
  ping,               // SELECT 1
  feed_first,         // newest published posts + author: (limit)
  feed_after,         // keyset page after (created_at_us, id): (created_at_us, id, limit)
  feed_offset,        // OFFSET page: (limit, offset)
  published_count,    // the trigger-maintained counter of published posts
  count_exact,        // COUNT(*) of published posts
  count_estimate,     // PostgreSQL reltuples / SQLite: the maintained counter
  posts_naive,        // newest published posts without authors (the N+1 demo): (limit)
  user_by_id,         // (id) -> id, username, avatar_url
  user_by_token,      // (token_hash) -> id, username, email, avatar_url, bio, created_at_us
  user_post_count,    // (user_id)
  user_insert,        // (username, email, avatar_url, bio, token_hash, created_at_us) -> id
  users_page,         // (after_id, limit) -> id, username, avatar_url, bio, created_at_us (the
                      // public columns only: the list serves anyone)
  post_insert,        // (user_id, title, body, published, created_at_us) -> id
  post_exists,        // (id)
  like_insert,        // (user_id, post_id, created_at_us) -> id; duplicate -> Errc::conflict;
                      // no row: not a post the user may act on (another's draft, or none)
  comment_insert,     // (user_id, post_id, body, created_at_us) -> id; no row: as like_insert
  trending_read,      // the trending summary: id, title, username, likes
  popular_read,       // the weekly summary: id, title, like_count, comment_count
  summary_refreshed,  // (name) -> refreshed_at_us
  user_public,        // (id) -> id, username, avatar_url, bio, created_at_us (GET /api/users/{id})
  user_update,        // (id, username or NULL: keep, set_avatar 0/1, avatar_url, set_bio 0/1, bio)
                      // -> id, username, avatar_url, bio, created_at_us; no row: no such user;
                      // duplicate username -> Errc::conflict
};
inline constexpr std::size_t kStmtCount = static_cast<std::size_t>(Stmt::user_update) + 1;
std::string_view stmt_name(Stmt s);

}  // namespace tenx::app
