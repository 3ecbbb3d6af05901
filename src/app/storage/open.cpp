// open_database(): the engine factory.
#include "app/storage/database.h"
#include "app/storage/postgres/postgres_database.h"
#include "app/storage/sqlite/sqlite_database.h"

#include <stdexcept>

namespace tenx::app {

std::unique_ptr<Database> open_database(const DatabaseUrl& url, const DatabaseOptions& options) {
  switch (url.kind) {
    case DatabaseUrl::Kind::sqlite:
      return std::make_unique<SqliteDatabase>(url.path, options);
    case DatabaseUrl::Kind::postgres:
      return std::make_unique<PostgresDatabase>(url, options);
  }
  throw std::runtime_error("unknown database engine");
}

}  // namespace tenx::app
