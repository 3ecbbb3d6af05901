#pragma once
// `tenx bench`, `tenx bench compare`, `tenx bench capacity`: the command line of the load
// generator. main.cpp calls add_commands(); the callbacks set exit_code: 0 ok (a run with
// some errors is still a result), 1 the run got not one response (the reason on stderr,
// e.g. "cannot connect to 127.0.0.1:1: Connection refused"), 2 bad input: a bad URL,
// scenario, flag or result file, with the reason on stderr.
namespace CLI {
class App;
}

namespace tenx::bench {

void add_commands(CLI::App& app, int& exit_code);

}  // namespace tenx::bench
