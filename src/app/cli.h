#pragma once
// `tenx app [seed | db explain | db report | db lint]` and `tenx up`: the command line of the
// app module. main.cpp calls add_commands(); callbacks set exit_code (0 ok, 1 failure or lint
// findings, 2 bad input).
#include <string>

namespace CLI {
class App;
}

namespace tenx::app {

void add_commands(CLI::App& app, int& exit_code);

// `--cache-ttl trending=10m` -> "app.cache_ttl_trending_ms=600000" (names trending, user, feed;
// units ms, s, m, h); throws std::invalid_argument saying what is wrong.
std::string cache_ttl_set(const std::string& spec);

}  // namespace tenx::app
