#include "app/up.h"

#include "app/cli.h"

#include "app/seed.h"
#include "app/storage/database.h"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tenx::app {

namespace {

struct UpOptions {
  std::string database = "sqlite://data/tenx.db";
  std::string listen = "127.0.0.1:8080";
  unsigned app_instances = 2;
  unsigned app_threads = 1;
  unsigned app_read_threads = 1;  // SQLite readers per app (one per core is plenty)
  unsigned gateway_threads = 1;
  std::int64_t demo_users = 5'000;
  std::int64_t demo_posts = 20'000;
  std::string log_level = "warn";
  std::string redis;                    // empty: each app caches in its own memory
  std::vector<std::string> cache_ttls;  // NAME=DURATION, passed to every app
};

struct Child {
  std::string name;
  pid_t pid = -1;
  int out = -1;  // its stdout (the listening line arrives there)
};

// Starts this binary with `args`; its stdout on a pipe, stderr shared with ours. Signals
// blocked here are unblocked in the child before exec.
Child spawn(const std::string& name, const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
  Child c{name};
  c.pid = ::fork();
  if (c.pid < 0) throw std::runtime_error("fork failed");
  if (c.pid == 0) {
    // The stack dies with `tenx up`, even when it is killed without a chance to stop it.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(fds[1], STDOUT_FILENO);
    std::vector<char*> argv;
    std::string self = "/proc/self/exe";
    argv.push_back(self.data());
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv("/proc/self/exe", argv.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  c.out = fds[0];
  return c;
}

// The first stdout line of a child, or nullopt after `timeout` or at EOF.
std::optional<std::string> first_line(const Child& c, std::chrono::milliseconds timeout) {
  std::string line;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{c.out, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char ch;
    const auto n = ::read(c.out, &ch, 1);
    if (n <= 0) return std::nullopt;
    if (ch == '\n') return line;
    line += ch;
  }
  return std::nullopt;
}

std::string listen_url(const std::string& line) {
  const auto at = line.find("http://");
  if (at == std::string::npos) throw std::runtime_error("unexpected first line: " + line);
  return line.substr(at);
}

void stop_all(std::vector<Child>& children) {
  // The gateway first (last started), so it stops sending to apps that are going away.
  for (auto it = children.rbegin(); it != children.rend(); ++it) {
    if (it->pid <= 0) continue;
    ::kill(it->pid, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    int status = 0;
    while (::waitpid(it->pid, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        std::cerr << "tenx up: " << it->name << " (pid " << it->pid
                  << ") did not stop; killing it\n";
        ::kill(it->pid, SIGKILL);
        ::waitpid(it->pid, &status, 0);
        break;
      }
      ::usleep(20'000);
    }
    if (it->out >= 0) ::close(it->out);
    it->pid = -1;
  }
}

std::string gateway_config(const UpOptions& o, const std::vector<std::string>& app_addrs) {
  std::string servers;
  for (const auto& a : app_addrs) servers += (servers.empty() ? "\"" : ", \"") + a + "\"";
  return fmt::format(R"(# Written by `tenx up`: the gateway in front of the app instances.
[server]
listen = "{}"
threads = {}

[log]
level = "{}"
access_log = "off"

[[gateway.upstreams]]
name = "app"
balance = "least_conn"
servers = [{}]
max_fails = 1
fail_timeout_ms = 5000
[gateway.upstreams.health]
path = "/health"
interval_ms = 2000
timeout_ms = 1000
healthy_threshold = 2
unhealthy_threshold = 2

[[gateway.routes]]
path = "/gateway/health"
health = true

[[gateway.routes]]
path = "/gateway/metrics"
metrics = true

[[gateway.routes]]
prefix = "/"
upstream = "app"
)",
                     o.listen, o.gateway_threads, o.log_level, servers);
}

int up(const UpOptions& o) {
  DatabaseUrl url;
  try {
    url = DatabaseUrl::parse(o.database);
  } catch (const std::exception& e) {
    std::cerr << "tenx up: " << e.what() << "\n";
    return 2;
  }
  std::filesystem::path state_dir = "data";
  if (url.kind == DatabaseUrl::Kind::sqlite) {
    const auto path = std::filesystem::path(url.path);
    if (!path.parent_path().empty()) state_dir = path.parent_path();
    std::filesystem::create_directories(state_dir);
    if (!std::filesystem::exists(path)) {
      try {
        DatabaseOptions dbo;
        dbo.read_threads = 1;
        auto db = open_database(url, dbo);
        if (!db->migrate()) throw std::runtime_error("schema migration failed");
        SeedOptions so;
        so.users = o.demo_users;
        so.posts = o.demo_posts;
        std::cout << "tenx up: creating " << url.path << " with demo data..." << std::flush;
        const auto rep = seed_database(*db, so);
        std::cout << fmt::format(" {} users, {} posts, {} likes, {} comments in {:.1f} s\n",
                                 rep.users, rep.posts, rep.likes, rep.comments, rep.seconds);
      } catch (const std::exception& e) {
        std::cerr << "\ntenx up: cannot create the database: " << e.what() << "\n";
        std::filesystem::remove(path);
        return 1;
      }
    }
  } else {
    std::filesystem::create_directories(state_dir);
  }

  // Signals are taken synchronously (sigtimedwait) so nothing runs in a handler.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGCHLD);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  std::vector<Child> children;
  std::string cfg_path;
  auto stop_everything = [&] {
    stop_all(children);
    if (!cfg_path.empty()) std::filesystem::remove(cfg_path);
  };
  auto fail = [&](const std::string& why) {
    std::cerr << "tenx up: " << why << "\n";
    stop_everything();
    return 1;
  };
  std::vector<std::string> app_addrs;
  try {
    for (unsigned i = 0; i < o.app_instances; ++i) {
      std::vector<std::string> args{"app",         "--listen",  "127.0.0.1:0",
                                    "--database",  o.database,  "--debug-headers",
                                    "--demo",      "--threads", std::to_string(o.app_threads),
                                    "--log-level", o.log_level};
      if (!o.redis.empty()) args.insert(args.end(), {"--cache", o.redis});
      for (const auto& t : o.cache_ttls) args.insert(args.end(), {"--cache-ttl", t});
      children.push_back(spawn(fmt::format("app {}", i + 1), args));
      auto line = first_line(children.back(), std::chrono::seconds(60));
      if (!line) return fail(children.back().name + " did not start (see its log above)");
      const auto u = listen_url(*line);
      app_addrs.push_back(u.substr(7));
    }
    // One file per `tenx up` (two stacks on one database must not share it), removed at exit.
    cfg_path = (state_dir / fmt::format("tenx-up-gateway.{}.toml", ::getpid())).string();
    std::ofstream(cfg_path) << gateway_config(o, app_addrs);
    children.push_back(spawn("gateway", {"gateway", "--config", cfg_path}));
    auto line = first_line(children.back(), std::chrono::seconds(30));
    if (!line) return fail("the gateway did not start (see its log above)");
    const auto base = listen_url(*line);
    std::cout << "tenx up: " << o.app_instances << " app instances (" << url.path
              << (url.kind == DatabaseUrl::Kind::sqlite ? "" : url.conninfo)
              << ") behind the gateway\n";
    for (std::size_t i = 0; i < app_addrs.size(); ++i)
      std::cout << fmt::format("  app {}     http://{}  (pid {})\n", i + 1, app_addrs[i],
                               children[i].pid);
    std::cout << fmt::format("  gateway   {}  (pid {}, config {})\n", base, children.back().pid,
                             cfg_path);
    std::cout << "try:\n"
              << "  curl " << base << "/api/posts\n"
              << "  curl '" << base << "/api/posts?page=2&per_page=5'\n"
              << "  curl " << base << "/api/posts/trending\n"
              << "  curl -i " << base << "/api/users/1            # X-Cache: MISS, then HIT\n"
              << "  curl '" << base << "/api/stats/posts?exact=true'\n"
              << "  curl '" << base << "/api/users?fields=id,username&limit=5'\n"
              << "  curl -i " << base << "/api/public/posts\n"
              << "  curl " << base << "/health\n"
              << "  tenx bench -c 32 -d 10s " << base << "/api/posts\n"
              << "Ctrl-C stops everything.\n"
              << std::flush;
  } catch (const std::exception& e) {
    return fail(e.what());
  }

  while (true) {
    timespec ts{1, 0};
    const int sig = ::sigtimedwait(&set, nullptr, &ts);
    if (sig == SIGINT || sig == SIGTERM) {
      std::cout << "\ntenx up: stopping\n" << std::flush;
      stop_everything();
      return 0;
    }
    for (auto& c : children) {
      int status = 0;
      if (c.pid > 0 && ::waitpid(c.pid, &status, WNOHANG) == c.pid) {
        c.pid = -1;
        return fail(fmt::format("{} exited ({}); stopping the rest", c.name,
                                WIFEXITED(status) ? fmt::format("status {}", WEXITSTATUS(status))
                                                  : fmt::format("signal {}", WTERMSIG(status))));
      }
    }
  }
}

}  // namespace

void add_up_command(CLI::App& root, int& exit_code) {
  auto* cmd = root.add_subcommand("up", "Run the whole stack: database, app instances, gateway");
  auto o = std::make_shared<UpOptions>();
  cmd->add_option("--database", o->database,
                  "sqlite://PATH (created with demo data if absent) or postgresql://...")
      ->capture_default_str();
  cmd->add_option("--listen", o->listen, "Gateway address")->capture_default_str();
  cmd->add_option("--app-instances", o->app_instances, "App processes")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--app-threads", o->app_threads, "Event-loop threads per app")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--app-read-threads", o->app_read_threads, "SQLite reader threads per app")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--gateway-threads", o->gateway_threads, "Gateway event-loop threads")
      ->capture_default_str()
      ->check(CLI::Range(1u, 64u));
  cmd->add_option("--demo-users", o->demo_users, "Users in a new demo database")
      ->capture_default_str();
  cmd->add_option("--demo-posts", o->demo_posts, "Posts in a new demo database")
      ->capture_default_str();
  cmd->add_option("--log-level", o->log_level, "Log level of the children")->capture_default_str();
  cmd->add_option("--redis", o->redis,
                  "redis://host:port[/db]: the apps share their cache (memory in front of Redis, "
                  "invalidations through pub/sub); default: each caches in its own memory");
  cmd->add_option(
         "--cache-ttl", o->cache_ttls,
         "NAME=DURATION passed to every app (trending, user, feed): --cache-ttl trending=1s")
      ->allow_extra_args(false);
  cmd->callback([o, &exit_code] {
    // Refused here rather than by every app: one clear message, nothing started.
    try {
      if (!o->redis.empty() && !o->redis.starts_with("redis://"))
        throw std::invalid_argument("--redis must be redis://host:port[/db]; not '" + o->redis +
                                    "'");
      for (const auto& t : o->cache_ttls) cache_ttl_set(t);
    } catch (const std::invalid_argument& e) {
      std::cerr << "tenx up: " << e.what() << "\n";
      exit_code = 2;
      return;
    }
    exit_code = up(*o);
  });
}

}  // namespace tenx::app
