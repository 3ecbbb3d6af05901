#!/usr/bin/env bash
# The README's first command: install what is missing, build (release), and run the most
# complete system this landing has: `tenx gateway` on 127.0.0.1:8080 with examples/hello.toml
# (fixed routes, /health, /metrics). Ctrl-C drains and stops it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake --preset release >/dev/null
cmake --build --preset release
echo
echo "Try:  curl -i http://127.0.0.1:8080/hello"
echo "      curl http://127.0.0.1:8080/health"
echo "      curl http://127.0.0.1:8080/metrics"
echo
exec build/release/bin/tenx gateway --config examples/hello.toml "$@"
