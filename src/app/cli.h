#pragma once
// `tenx app [seed | db explain | db report | db lint]` and `tenx up`: the command line of the
// app module. main.cpp calls add_commands(); callbacks set exit_code (0 ok, 1 failure or lint
// findings, 2 bad input).
namespace CLI {
class App;
}

namespace tenx::app {

void add_commands(CLI::App& app, int& exit_code);

}  // namespace tenx::app
