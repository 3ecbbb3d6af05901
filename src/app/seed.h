#pragma once
// `tenx app seed`: the data generator. Deterministic (the same options give the same rows),
// shaped like the guide's system: users; posts spread over `days` with 40 % drafts; likes
// skewed towards some posts (recent posts get recent likes, so "trending" has data);
// comments. Rows go through the engine's BulkWriter (batched transactions on SQLite, COPY on
// PostgreSQL in one transaction: a seed that fails there leaves the database empty), tables
// in foreign-key order. Scales to 10 million posts: nothing is kept in memory per row.
#include "app/storage/database.h"

#include <cstdint>
#include <functional>
#include <string>

namespace tenx::app {

struct SeedOptions {
  std::int64_t users = 50'000;
  std::int64_t posts = 100'000;
  std::int64_t likes = -1;     // -1: as many as posts; at most users x posts (one per pair)
  std::int64_t comments = -1;  // -1: half as many as posts
  double draft_fraction = 0.4;
  int days = 365;  // posts are spread over this many days up to now
  std::uint64_t seed = 42;
  std::int64_t now_us = 0;  // 0: the current time (tests pin it)
};

struct SeedReport {
  std::int64_t users = 0, posts = 0, published = 0, likes = 0, comments = 0;
  double seconds = 0;
};

// Makes exactly the rows asked for. Throws std::runtime_error on a database error, or (before
// writing anything) when more likes are asked than users x posts. progress(table, rows so far) is
// called now and then.
SeedReport seed_database(Database& db, const SeedOptions& options,
                         const std::function<void(std::string_view, std::int64_t)>& progress = {});

}  // namespace tenx::app
