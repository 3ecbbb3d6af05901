#include "app/cli.h"

#include "app/app.h"
#include "app/db_bench.h"
#include "app/seed.h"
#include "app/storage/database.h"
#include "app/up.h"
#include "config/config.h"
#include "http/client.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/url/parse.hpp>

#include <unistd.h>

#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>

namespace tenx::app {

namespace {

namespace asio = boost::asio;

// Opens and migrates the database a command names; throws std::runtime_error. Only `create`
// (the seed) makes a SQLite file that is not there: the other commands read an existing one.
std::unique_ptr<Database> open_migrated(const std::string& url_text, bool create = false) {
  auto url = DatabaseUrl::parse(url_text);
  if (url.kind == DatabaseUrl::Kind::sqlite && !create && !std::filesystem::exists(url.path))
    throw std::runtime_error("no SQLite database at " + url.path +
                             " (create one with `tenx app seed --database " + url_text + "`)");
  DatabaseOptions o;
  o.read_threads = 1;
  o.create = create;
  auto db = open_database(url, o);
  if (!db->migrate()) throw std::runtime_error("schema migration failed");
  return db;
}

// GET url -> body (a one-off request for the CLI). Throws std::runtime_error.
std::string http_get(const std::string& url_text) {
  auto u = boost::urls::parse_uri(url_text);
  if (!u || u->scheme() != "http") throw std::runtime_error("bad URL " + url_text);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(std::string(u->host()), ec);
  if (ec) throw std::runtime_error("the app URL needs a numeric host: " + url_text);
  const asio::ip::tcp::endpoint ep(
      addr, u->has_port() ? static_cast<unsigned short>(u->port_number()) : 80);
  std::string path = std::string(u->encoded_path());
  asio::io_context ioc;
  std::string out, err;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        http::Client client(ioc.get_executor());
        http::ClientRequest req;
        req.target = path;
        auto r = co_await client.request(ep, req);
        if (!r)
          err = r.error().message();
        else if (r->status != 200)
          err = fmt::format("HTTP {}: {}", r->status, r->body);
        else
          out = std::move(r->body);
      },
      asio::detached);
  ioc.run();
  if (!err.empty()) throw std::runtime_error(url_text + ": " + err);
  return out;
}

// The seed's progress: a live line on a terminal; plain lines otherwise (a log file or a CI
// log has no use for carriage returns and escape sequences).
std::function<void(std::string_view, std::int64_t)> seed_progress(bool terminal) {
  if (terminal)
    return [](std::string_view table, std::int64_t n) {
      std::cerr << "\r\033[K  " << table << ": " << n << std::flush;
    };
  return [](std::string_view table, std::int64_t n) {
    std::cerr << "  " << table << ": " << n << " rows\n";
  };
}

}  // namespace

std::string cache_ttl_set(const std::string& spec) {
  const auto eq = spec.find('=');
  const std::string name = spec.substr(0, eq);
  if (eq == std::string::npos || (name != "trending" && name != "user" && name != "feed"))
    throw std::invalid_argument(
        "--cache-ttl takes NAME=DURATION with NAME trending, user or "
        "feed (e.g. trending=10m); not '" +
        spec + "'");
  const std::string d = spec.substr(eq + 1);
  std::size_t digits = 0;
  while (digits < d.size() && std::isdigit(static_cast<unsigned char>(d[digits]))) ++digits;
  const std::string unit = d.substr(digits);
  std::int64_t scale = 0;
  if (unit == "ms") scale = 1;
  if (unit == "s") scale = 1000;
  if (unit == "m") scale = 60'000;
  if (unit == "h") scale = 3'600'000;
  if (digits == 0 || digits > 9 || scale == 0)
    throw std::invalid_argument("--cache-ttl " + name +
                                ": the duration must be a whole number with ms, s, m or h "
                                "(500ms, 10s, 5m, 1h); not '" +
                                d + "'");
  return "app.cache_ttl_" + name + "_ms=" + std::to_string(std::stoll(d.substr(0, digits)) * scale);
}

void add_commands(CLI::App& root, int& exit_code) {
  auto* cmd =
      root.add_subcommand("app", "Run an app instance (the guide's API on SQLite or PostgreSQL)");
  // Every flag is a `--set` on the [app] (or [log], [health]) section of the optional config
  // file, so a flag wins over the file and the file over the defaults (config.h AppSection).
  struct Flags {
    std::string config;
    std::vector<std::string> sets;
    std::string listen, database, cursor_key, log_level, access_log, cache;
    std::vector<std::string> cache_ttls;
    int threads = 0, slow_ms = -1, read_threads = 0, refresh_s = 0, health_disk_mb = -1;
    int cache_memory_mb = 0;
    unsigned n_plus_one = 0;
    bool debug_headers = false, demo = false, create = false;
  };
  auto f = std::make_shared<Flags>();
  cmd->add_option("-c,--config", f->config, "TOML config file ([app], [log], [health] sections)");
  // One KEY=VALUE per --set (repeat it for more), as curl's -H: a vector option would
  // otherwise swallow every word after it.
  cmd->add_option("--set", f->sets, "Override a config key: --set app.read_threads=4")
      ->allow_extra_args(false);
  cmd->add_option("--listen", f->listen, "Listen address (app.listen, default 127.0.0.1:9001)");
  cmd->add_option(
      "--database", f->database,
      "sqlite://PATH or postgresql://... (app.database, default sqlite://data/tenx.db)");
  cmd->add_option("--threads", f->threads, "Event-loop threads (app.threads, default 1)")
      ->check(CLI::Range(1, 256));
  cmd->add_flag("--debug-headers", f->debug_headers,
                "X-Query-Count (and X-N-Plus-One) on responses");
  cmd->add_flag("--demo", f->demo,
                "Serve the demo endpoints: the N+1 feed /api/posts/naive (app.demo; tenx up)");
  cmd->add_flag("--create", f->create,
                "Create the SQLite database if it is not there (app.create; else exit 2)");
  cmd->add_option("--slow-query-ms", f->slow_ms, "Log statements slower than this (default 100)")
      ->check(CLI::Range(0, 3'600'000));
  cmd->add_option("--n-plus-one", f->n_plus_one,
                  "Warn when one statement runs more often in a request (default 10)")
      ->check(CLI::Range(1u, 1'000'000u));
  cmd->add_option("--refresh-interval", f->refresh_s,
                  "Seconds between summary refreshes (default 60)")
      ->check(CLI::Range(1, 86400));
  cmd->add_option("--read-threads", f->read_threads, "SQLite reader threads (default 2)")
      ->check(CLI::Range(1, 64));
  cmd->add_option("--cursor-key", f->cursor_key,
                  "Key of the cursor integrity tag (same on every instance)");
  cmd->add_option("--log-level", f->log_level, "trace, debug, info, warn, error, off (log.level)");
  cmd->add_option("--access-log", f->access_log, "off, stdout, stderr or a file (log.access_log)");
  cmd->add_option("--health-min-disk-mb", f->health_disk_mb, "Unhealthy below this much free disk")
      ->check(CLI::Range(0, 1 << 30));
  cmd->add_option("--cache", f->cache,
                  "Application cache: memory (default), off, or redis://host:port[/db] (memory "
                  "in front of Redis, shared by every instance; app.cache)");
  cmd->add_option("--cache-memory-mb", f->cache_memory_mb,
                  "Memory tier budget in MiB (app.cache_memory_mb, default 64)")
      ->check(CLI::Range(1, 1 << 20));
  cmd->add_option("--cache-ttl", f->cache_ttls,
                  "NAME=DURATION for trending (default 10m), user (5m) or feed (5s): "
                  "--cache-ttl trending=1s")
      ->allow_extra_args(false);
  cmd->require_subcommand(0, 1);
  cmd->callback([cmd, f, &exit_code] {
    if (!cmd->get_subcommands().empty()) return;
    using config::toml_string;
    std::vector<std::string> sets = f->sets;
    if (!f->listen.empty()) sets.push_back("app.listen=" + toml_string(f->listen));
    if (!f->database.empty()) sets.push_back("app.database=" + toml_string(f->database));
    if (f->threads > 0) sets.push_back("app.threads=" + std::to_string(f->threads));
    if (f->debug_headers) sets.push_back("app.debug_headers=true");
    if (f->demo) sets.push_back("app.demo=true");
    if (f->create) sets.push_back("app.create=true");
    if (f->slow_ms >= 0) sets.push_back("app.slow_query_ms=" + std::to_string(f->slow_ms));
    if (f->n_plus_one > 0)
      sets.push_back("app.n_plus_one_threshold=" + std::to_string(f->n_plus_one));
    if (f->refresh_s > 0)
      sets.push_back("app.refresh_interval_ms=" + std::to_string(f->refresh_s * 1000));
    if (f->read_threads > 0) sets.push_back("app.read_threads=" + std::to_string(f->read_threads));
    if (!f->cursor_key.empty()) sets.push_back("app.cursor_key=" + toml_string(f->cursor_key));
    if (!f->log_level.empty()) sets.push_back("log.level=" + toml_string(f->log_level));
    if (!f->access_log.empty()) sets.push_back("log.access_log=" + toml_string(f->access_log));
    if (f->health_disk_mb >= 0)
      sets.push_back("health.disk_min_free_mb=" + std::to_string(f->health_disk_mb));
    if (!f->cache.empty()) sets.push_back("app.cache=" + toml_string(f->cache));
    if (f->cache_memory_mb > 0)
      sets.push_back("app.cache_memory_mb=" + std::to_string(f->cache_memory_mb));
    try {
      for (const auto& t : f->cache_ttls) sets.push_back(cache_ttl_set(t));
    } catch (const std::invalid_argument& e) {
      std::cerr << "tenx app: " << e.what() << "\n";
      exit_code = 2;
      return;
    }
    config::Config cfg;
    try {
      cfg = f->config.empty() ? config::load_string("", "<flags>", sets)
                              : config::load_file(f->config, sets);
    } catch (const config::Error& e) {
      std::cerr << e.what() << "\n";
      exit_code = 2;
      return;
    }
    AppOptions o;
    o.listen = cfg.app.listen;
    o.threads = cfg.app.threads;
    o.database = cfg.app.database;
    o.debug_headers = cfg.app.debug_headers;
    o.demo = cfg.app.demo;
    o.create = cfg.app.create;
    o.slow_query = cfg.app.slow_query;
    o.n_plus_one_threshold = cfg.app.n_plus_one_threshold;
    o.refresh_interval = cfg.app.refresh_interval;
    o.read_threads = cfg.app.read_threads;
    o.pool_size = cfg.app.pool_size;
    o.cursor_key = cfg.app.cursor_key;
    o.per_page_max = static_cast<int>(cfg.app.per_page_max);
    o.log_level = cfg.log.level;
    o.access_log = cfg.log.access_log;
    o.health_min_disk_mb = cfg.health.disk_min_free_bytes >> 20;
    o.health_max_rss_mb = cfg.health.max_rss_bytes >> 20;
    o.cache = cfg.app.cache;
    o.cache_memory_bytes = std::size_t{cfg.app.cache_memory_mb} << 20;
    o.cache_ttl_trending = cfg.app.cache_ttl_trending;
    o.cache_ttl_user = cfg.app.cache_ttl_user;
    o.cache_ttl_feed = cfg.app.cache_ttl_feed;
    exit_code = run(o);
  });

  // tenx app seed
  auto* seed = cmd->add_subcommand("seed", "Fill an empty database with generated data");
  auto so = std::make_shared<SeedOptions>();
  auto seed_db = std::make_shared<std::string>("sqlite://data/tenx.db");
  seed->add_option("--database", *seed_db, "Database URL")->capture_default_str();
  seed->add_option("--users", so->users, "Users")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{1}, int64_t{100'000'000}));
  seed->add_option("--posts", so->posts, "Posts (40 % drafts)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}));
  seed->add_option("--likes", so->likes, "Likes (default: as many as posts)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}));
  seed->add_option("--comments", so->comments, "Comments (default: half the posts)")
      ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}));
  seed->add_option("--seed", so->seed, "Random seed (the same seed gives the same data)")
      ->capture_default_str();
  seed->callback([so, seed_db, &exit_code] {
    try {
      auto db = open_migrated(*seed_db, true);
      const bool terminal = ::isatty(STDERR_FILENO);
      auto rep = seed_database(*db, *so, seed_progress(terminal));
      if (terminal) std::cerr << "\r\033[K";
      std::cout << fmt::format(
          "seeded {} users, {} posts ({} published), {} likes, {} comments in {:.1f} s\n",
          rep.users, rep.posts, rep.published, rep.likes, rep.comments, rep.seconds);
    } catch (const std::exception& e) {
      std::cerr << "tenx app seed: " << e.what() << "\n";
      exit_code = 1;
    }
  });

  // tenx app db explain | report | lint
  auto* dbc = cmd->add_subcommand("db", "Look into the database: explain, report, lint");
  dbc->require_subcommand(1);
  auto db_url = std::make_shared<std::string>("sqlite://data/tenx.db");
  auto* explain = dbc->add_subcommand(
      "explain", "EXPLAIN a statement (ANALYZE on PostgreSQL, QUERY PLAN on SQLite)");
  auto sql = std::make_shared<std::string>();
  explain->add_option("SQL", *sql, "The statement, or a catalogue name such as feed_after")
      ->required();
  explain->add_option("--database", *db_url, "Database URL")->capture_default_str();
  explain->callback([sql, db_url, &exit_code] {
    try {
      auto db = open_migrated(*db_url);
      std::string text = *sql;
      for (std::size_t i = 0; i < kStmtCount; ++i)
        if (stmt_name(static_cast<Stmt>(i)) == text) text = *db->sql_of(static_cast<Stmt>(i));
      auto plan = db->explain(text);
      if (!plan) {
        std::cerr << "tenx app db explain: the database refused the statement (see the log)\n";
        exit_code = 2;
        return;
      }
      std::cout << plan->text;
      if (plan->full_scan) std::cout << "note: reads a whole table (no index used)\n";
    } catch (const std::exception& e) {
      std::cerr << "tenx app db explain: " << e.what() << "\n";
      exit_code = 1;
    }
  });

  auto app_url = std::make_shared<std::string>("http://127.0.0.1:9001");
  auto* report =
      dbc->add_subcommand("report", "Slowest and most frequent statements of a running app");
  report->add_option("--app", *app_url, "The app instance to ask")->capture_default_str();
  report->callback([app_url, &exit_code] {
    try {
      std::cout << report_text(http_get(*app_url + "/debug/db/report"));
    } catch (const std::exception& e) {
      std::cerr << "tenx app db report: " << e.what() << "\n";
      exit_code = 1;
    }
  });

  auto* lint = dbc->add_subcommand(
      "lint", "Foreign keys without an index; statements that scan whole tables");
  lint->add_option("--database", *db_url, "Database URL")->capture_default_str();
  auto lint_app = std::make_shared<std::string>();
  lint->add_option("--app", *lint_app, "Also check the slow statements of this running app");
  lint->callback([db_url, lint_app, &exit_code] {
    try {
      auto db = open_migrated(*db_url);
      auto fk = db->lint_foreign_keys();
      if (!fk) throw std::runtime_error("cannot read the schema");
      std::vector<LintFinding> findings = *fk;
      std::vector<std::string> slow;  // names of statements the app found slow
      if (!lint_app->empty()) {
        const auto report = http_get(*lint_app + "/debug/db/report");
        for (std::size_t i = 0; i < kStmtCount; ++i) {
          const auto name = std::string(stmt_name(static_cast<Stmt>(i)));
          const auto at = report.find("\"statement\":\"" + name + "\"");
          if (at == std::string::npos) continue;
          const auto s = report.find("\"slow\":", at);
          if (s != std::string::npos && report.compare(s + 7, 1, "0") != 0) slow.push_back(name);
        }
      }
      for (std::size_t i = 0; i < kStmtCount; ++i) {
        const auto s = static_cast<Stmt>(i);
        const bool checked =
            lint_app->empty() || std::find(slow.begin(), slow.end(), stmt_name(s)) != slow.end();
        if (!checked) continue;
        auto plan = db->explain(*db->sql_of(s));
        if (!plan || !plan->full_scan) continue;
        // The summaries are small by construction (at most 100 rows): reading them whole is
        // their point.
        if (s == Stmt::trending_read || s == Stmt::popular_read) continue;
        findings.push_back({"full_scan", std::string(stmt_name(s)),
                            "add an index for its WHERE / ORDER BY:\n" + plan->text});
      }
      for (const auto& f : findings)
        std::cout << f.kind << ": " << f.what << "\n  fix: " << f.fix << "\n";
      if (findings.empty())
        std::cout
            << "no findings: every foreign key has an index; no statement scans a whole table\n";
      exit_code = findings.empty() ? 0 : 1;
    } catch (const std::exception& e) {
      std::cerr << "tenx app db lint: " << e.what() << "\n";
      exit_code = 1;
    }
  });

  auto* bench = dbc->add_subcommand(
      "bench", "The guide's database table: each technique against its absence");
  auto bo = std::make_shared<DbBenchOptions>();
  bench
      ->add_option("--database", *db_url,
                   "A seeded database (the feed case drops and recreates indexes)")
      ->capture_default_str();
  bench->add_option("--runs", bo->runs, "Runs per statement (median)")
      ->capture_default_str()
      ->check(CLI::Range(3, 100000));
  bench->add_option("--inserts", bo->inserts, "Inserts per index variant (0: skip)")
      ->capture_default_str();
  auto only = std::make_shared<std::string>();
  bench->add_option("--only", *only, "Comma list: feed,nplus1,counts,matview,pagination,inserts");
  bench->callback([db_url, bo, only, &exit_code] {
    try {
      if (!only->empty()) {
        auto has = [&](std::string_view k) { return only->find(k) != std::string::npos; };
        bo->feed_index = has("feed");
        bo->nplus1 = has("nplus1");
        bo->counts = has("counts");
        bo->matview = has("matview");
        bo->pagination = has("pagination");
        if (!has("inserts")) bo->inserts = 0;
      }
      auto db = open_migrated(*db_url);
      exit_code = run_db_bench(*db, *bo, std::cout);
    } catch (const std::exception& e) {
      std::cerr << "tenx app db bench: " << e.what() << "\n";
      exit_code = 1;
    }
  });

  add_up_command(root, exit_code);
}

}  // namespace tenx::app
