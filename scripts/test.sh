#!/usr/bin/env bash
# The README's second command and what CI runs: install what is missing, start a private
# PostgreSQL cluster (scripts/pg.sh, stopped at exit), then
#   0. lint: every C++ file formatted as .clang-format says (clang-format-14 --dry-run); the
#      tree built once with clang 14 and -Werror=thread-safety (the GUARDED_BY annotations,
#      preset thread-safety); clang-tidy (.clang-tidy) on the files the newest commit changed
#      (scripts/tidy.sh; TIDY_BASE=REV widens it),
#   1. release build + every test (unit and end-to-end),
#   2. Debug + ASan/UBSan build + every test,
#   3. the libFuzzer targets (clang 14): the HTTP request parser for about a minute, then the
#      response parser, the cursor decoder and the path normaliser for shorter runs.
# Redis: install-deps.sh installs redis-server; the tests that need one start their own, private to
# the test (src/redis/testing/redis_server.h: 127.0.0.1, a port the kernel picks, a fresh
# directory, no persistence, stopped by PID), because a test that restarts, pauses or kills
# Redis must not disturb another. Nothing to start or stop here.
# Ends with one summary line "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
scripts/install-deps.sh

# PostgreSQL for the API suite's second engine: a private cluster on 127.0.0.1, stopped at exit.
# Ports below the kernel's ephemeral range (32768+), where a client socket could hold the port;
# the next one is tried if a port is taken.
PG_DIR=$(mktemp -d -p "${TMPDIR:-/tmp}")
trap 'scripts/pg.sh stop "$PG_DIR" || true; rm -rf "$PG_DIR"' EXIT
TENX_TEST_PG_URL=""
for PG_PORT in ${TENX_PG_PORT:-25432 25433 25434 25435 25436}; do
  if TENX_TEST_PG_URL=$(scripts/pg.sh start "$PG_DIR" "$PG_PORT" --fast 2>"$PG_DIR/start.err"); then break; fi
  echo "=== PostgreSQL could not use port $PG_PORT; trying the next"
  TENX_TEST_PG_URL=""
done
[ -n "$TENX_TEST_PG_URL" ] || { cat "$PG_DIR/start.err" >&2; echo "cannot start PostgreSQL for the tests" >&2; exit 1; }
export TENX_TEST_PG_URL TENX_REQUIRE_PG=1
echo "=== PostgreSQL for the tests: $TENX_TEST_PG_URL"

passed=0; failed=0
status=0

echo "=== lint: clang-format"
unformatted=()
while IFS= read -r f; do
  clang-format-14 --dry-run -Werror "$f" >/dev/null 2>&1 || unformatted+=("$f")
done < <(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'fuzz/*.cpp')
if [ ${#unformatted[@]} -gt 0 ]; then
  echo "lint: not formatted (run clang-format-14 -i on them): ${unformatted[*]}"
  failed=$((failed + 1)); status=1
else
  echo "lint: every file formatted"
  passed=$((passed + 1))
fi
echo "=== lint: clang 14 -Werror=thread-safety build"
cmake --preset thread-safety >/dev/null
if cmake --build --preset thread-safety; then
  echo "thread-safety: clean"; passed=$((passed + 1))
else
  echo "thread-safety: FAILED (a GUARDED_BY member used without its mutex, or clang 14 refused the code)"
  failed=$((failed + 1)); status=1
fi
echo "=== lint: clang-tidy on changed files"
if scripts/tidy.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); status=1; fi
count() {  # parse ctest's "N% tests passed, F tests failed out of T"
  local line; line=$(grep -E 'tests passed, [0-9]+ tests? failed out of' "$1" | tail -1)
  local f t; f=$(echo "$line" | sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/'); t=$(echo "$line" | sed -E 's/.*out of ([0-9]+).*/\1/')
  passed=$((passed + t - f)); failed=$((failed + f))
}

for preset in release asan; do
  echo "=== $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset"
  echo "=== $preset: tests"
  log=$(mktemp)
  if ! ctest --preset "$preset" -j2 2>&1 | tee "$log"; then status=1; fi
  count "$log"; rm -f "$log"
done

echo "=== fuzz: build and run the parsers of untrusted input"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz
# target, seconds: the request parser gets the most time (every client reaches it).
for spec in "request_parser:$FUZZ_SECONDS" "response_parser:$((FUZZ_SECONDS / 2))" "cursor:$((FUZZ_SECONDS / 4))" \
            "path:$((FUZZ_SECONDS / 4))" "redis_reply:$((FUZZ_SECONDS / 4))"; do
  name=${spec%%:*}; secs=${spec##*:}
  corpus=$(mktemp -d)
  cp fuzz/corpus/"$name"/* "$corpus"/
  echo "--- ${name}_fuzz for ${secs}s"
  if build/fuzz/fuzz/"${name}"_fuzz -max_total_time="$secs" -max_len=8192 -timeout=10 \
       -rss_limit_mb=2048 -print_final_stats=1 "$corpus" fuzz/corpus/"$name" \
       > build/fuzz/"${name}"_fuzz.log 2>&1; then
    tail -3 build/fuzz/"${name}"_fuzz.log
    passed=$((passed + 1))
  else
    tail -40 build/fuzz/"${name}"_fuzz.log
    echo "fuzz: ${name}_fuzz FAILED (see build/fuzz/${name}_fuzz.log)"
    failed=$((failed + 1)); status=1
  fi
  rm -rf "$corpus"
done
echo "tests: $passed passed, $failed failed"
exit $status
