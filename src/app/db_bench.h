#pragma once
// `tenx app db bench`: the guide's database table (section 1 and 6), measured on a real
// database: each technique against its absence, by the median time of the statement (or, for
// inserts, the rate of one-transaction-per-row inserts). The tables must have been seeded;
// the feed-index case drops and recreates the two feed indexes (do not run it against a
// database in use). bench/app_database.sh runs it on both engines and records the figures.
#include "app/storage/database.h"

#include <iosfwd>

namespace tenx::app {

struct DbBenchOptions {
  int runs = 50;
  bool feed_index = true;
  bool nplus1 = true;
  bool counts = true;
  bool matview = true;
  bool pagination = true;
  int inserts = 3000;  // per variant; 0 skips the insert-rate case
};

// Prints one line per technique. Throws std::runtime_error when a statement fails.
int run_db_bench(Database& db, const DbBenchOptions& options, std::ostream& out);

}  // namespace tenx::app
