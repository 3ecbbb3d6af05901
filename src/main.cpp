// tenx: one binary, subcommands. This file only wires the command line to the modules.
#include "app/cli.h"
#include "bench/cli.h"
#include "config/config.h"
#include "config/policies.h"
#include "gateway/gateway.h"

#include <CLI/CLI.hpp>
#include <boost/version.hpp>

#include <iostream>
#include <string>
#include <vector>

#ifndef TENX_VERSION
#define TENX_VERSION "0.1.0"
#endif

using tenx::config::toml_string;

int main(int argc, char** argv) {
  CLI::App app{"tenx: the performance and scalability stack (gateway, app, bench, ...)", "tenx"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("tenx ") + TENX_VERSION);

  auto* version = app.add_subcommand("version", "Print the version and build information");
  version->callback([] {
    std::cout << "tenx " << TENX_VERSION << " (C++20, Boost " << BOOST_VERSION / 100000 << "."
              << BOOST_VERSION / 100 % 1000 << ", built " << __DATE__ << ")\n";
  });

  auto* config_cmd = app.add_subcommand("config", "Work with tenx configuration files");
  config_cmd->require_subcommand(1);
  auto* check =
      config_cmd->add_subcommand("check", "Validate a config file without starting anything");
  std::string check_file;
  std::vector<std::string> check_sets;
  check->add_option("FILE", check_file, "TOML config file")->required();
  check->add_option("--set", check_sets, "Override a key, e.g. --set server.threads=4")
      ->allow_extra_args(false);
  int exit_code = 0;
  check->callback([&] {
    try {
      auto c = tenx::config::load_file(check_file, check_sets);
      std::cout << check_file << ": ok (" << c.gateway.routes.size() << " routes)\n";
    } catch (const tenx::config::Error& e) {
      std::cerr << e.what() << "\n";
      exit_code = 2;
    }
  });

  auto* gw =
      app.add_subcommand("gateway", "Run the gateway (routes, fixed responses, /health, /metrics)");
  tenx::gateway::RunOptions gw_opts;
  std::string listen, access_log, log_level;
  int threads = -1;
  gw->add_option("-c,--config", gw_opts.config_path, "TOML config file");
  gw->add_option("--listen", listen, "Listen address, e.g. 127.0.0.1:8080 (server.listen)");
  gw->add_option("--threads", threads, "Event-loop threads; 0 = one per core (server.threads)")
      ->check(CLI::Range(0, 256));
  gw->add_option("--access-log", access_log, "off, stdout, stderr or a file (log.access_log)");
  gw->add_option("--log-level", log_level, "trace, debug, info, warn, error, off (log.level)");
  // One value per occurrence (repeat the option for more), as curl's -H: a list option would
  // otherwise swallow the words after it.
  gw->add_option("--set", gw_opts.overrides, "Override any config key: --set KEY=VALUE")
      ->allow_extra_args(false);
  gw->add_option("--upstream", gw_opts.upstreams,
                 "Proxy to this server (repeatable): --upstream http://127.0.0.1:9001")
      ->allow_extra_args(false);
  std::string admin_listen;
  gw->add_option("--admin", admin_listen,
                 "Admin API listen address, e.g. 127.0.0.1:9901 (admin.listen)");
  gw->add_option("--balance", gw_opts.balance,
                 "Policy for --upstream: " + tenx::config::policy_names(tenx::config::kBalancers));
  gw->callback([&] {
    if (!listen.empty()) gw_opts.overrides.push_back("server.listen=" + toml_string(listen));
    if (threads >= 0) gw_opts.overrides.push_back("server.threads=" + std::to_string(threads));
    if (!access_log.empty())
      gw_opts.overrides.push_back("log.access_log=" + toml_string(access_log));
    if (!log_level.empty()) gw_opts.overrides.push_back("log.level=" + toml_string(log_level));
    if (!admin_listen.empty())
      gw_opts.overrides.push_back("admin.listen=" + toml_string(admin_listen));
    exit_code = tenx::gateway::run(gw_opts);
  });

  tenx::bench::add_commands(app, exit_code);
  tenx::app::add_commands(app, exit_code);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  return exit_code;
}
