#pragma once
// `tenx gateway`: the process. Loads the config (file and/or quick flags), opens the listener
// on every runtime thread, serves the route table, reloads on SIGHUP, drains on SIGTERM.
//
// On start it prints one line to stdout, `tenx gateway listening on http://ADDR:PORT`, with
// the real port (tests start it on port 0 and read the line).
#include "config/config.h"

#include <string>
#include <vector>

namespace tenx::gateway {

struct RunOptions {
  std::string config_path;             // empty: defaults + flags only
  std::vector<std::string> overrides;  // "key=value" (--set, and the quick flags)
  // Quick flags: --upstream URL (repeatable) makes a pool "default" that a catch-all route
  // ("/" prefix, after the configured routes) proxies to; --balance picks its policy.
  std::vector<std::string> upstreams;
  std::string balance;
};

// Loads the config the way `tenx gateway` does (file, --set, quick flags, defaults).
// Throws config::Error.
config::Config load_config(const RunOptions& options);

// Returns the process exit status.
int run(const RunOptions& options);

}  // namespace tenx::gateway
