#!/usr/bin/env bash
# The README's first command: install what is missing, build (release), and run the whole
# stack with `tenx up`: the SQLite database data/tenx.db (created with demo data the first
# time), two `tenx app` instances and the gateway on 127.0.0.1:8080 in front of them. It prints
# the URLs to try; Ctrl-C stops everything. Extra arguments go to `tenx up` (e.g.
# --database postgresql://... or --app-instances 3).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
echo
exec build/release/bin/tenx up "$@"
