#pragma once
// `tenx up`: the whole stack on one machine, the README's main command.
//
//   1. The database: for sqlite://, created and seeded (demo size, seconds) when the file is
//      absent; postgresql:// is used as it is (seed it with `tenx app seed`).
//   2. --app-instances app processes (`tenx app --listen 127.0.0.1:0 --debug-headers`), each
//      reporting its port on its first stdout line.
//   3. The gateway on --listen (127.0.0.1:8080) in front of them: least_conn, active health
//      checks on /health, passive health, retries (a generated config file, printed).
//   4. The URLs to try; then it waits. Ctrl-C (SIGINT) or SIGTERM stops the gateway first
//      (it drains), then the apps, each by PID, SIGKILL after a deadline. If a child dies on
//      its own, the rest are stopped too and `tenx up` exits 1.
namespace CLI {
class App;
}

namespace tenx::app {

void add_up_command(CLI::App& root, int& exit_code);

}  // namespace tenx::app
