#!/usr/bin/env bash
# clang-tidy 14 (the checks of .clang-tidy, every one an error) on the C++ files a change
# touches: the sources changed since TIDY_BASE (default HEAD~1, the newest commit's parent)
# and in the working tree, and the changed headers through the sources that include them.
# Uses the compile database of the `thread-safety` preset (clang 14); sources outside it (the
# tests, which that build leaves out) are skipped. Exit 1 if any file has a finding.
#
# Usage: scripts/tidy.sh [--base REV]     (the preset must be configured: cmake --preset thread-safety)
set -euo pipefail
cd "$(dirname "$0")/.."
BASE="${TIDY_BASE:-HEAD~1}"
[ "${1:-}" = --base ] && BASE=$2
DB=build/thread-safety/compile_commands.json
[ -f "$DB" ] || { echo "tidy: $DB missing: run cmake --preset thread-safety first" >&2; exit 2; }
git rev-parse -q --verify "$BASE^{commit}" >/dev/null || BASE=$(git rev-list --max-parents=0 HEAD | tail -1)
mapfile -t changed < <({ git diff --name-only "$BASE" -- 'src/*.cpp' 'src/*.h'; git ls-files --others --exclude-standard 'src/*.cpp' 'src/*.h'; } | sort -u)
sources=(); headers=(); via_header=()
for f in "${changed[@]}"; do
  [ -f "$f" ] || continue
  case "$f" in
    *.h) headers+=("$f") ;;
    *.cpp) grep -q "\"file\": \"$PWD/$f\"" "$DB" && sources+=("$f") ;;
  esac
done
# A changed header is checked through one source of the database that includes it.
for h in "${headers[@]}"; do
  inc=${h#src/}
  for s in $(grep -rl --include='*.cpp' "#include \"$inc\"" src | sort); do
    if grep -q "\"file\": \"$PWD/$s\"" "$DB"; then via_header+=("$s"); break; fi
  done
done
# A source reached only through a header reports that header's findings, not its own.
only_headers=()
for s in "${via_header[@]}"; do
  case " ${sources[*]} " in *" $s "*) ;; *) only_headers+=("$s") ;; esac
done
sources+=("${only_headers[@]}")
mapfile -t sources < <(printf '%s\n' "${sources[@]}" | sort -u | sed '/^$/d')
if [ ${#sources[@]} -eq 0 ]; then echo "tidy: no changed C++ source since $BASE"; exit 0; fi
filter='^$'
if [ ${#headers[@]} -gt 0 ]; then filter="$PWD/($(printf '%s|' "${headers[@]}" | sed 's/|$//; s/\./\\./g'))\$"; fi
echo "tidy: ${#sources[@]} source(s) changed since $(git rev-parse --short "$BASE"), headers: ${#headers[@]}"
log=$(mktemp); trap 'rm -f "$log"' EXIT
# Findings are read from each output (WarningsAsErrors makes clang-tidy exit 1 on any, even
# those of a source reached through a header that are not reported).
printf '%s\n' "${sources[@]}" |
  xargs -P 2 -I{} sh -c 'clang-tidy-14 -p build/thread-safety --quiet --header-filter="$1" "$2" >"$3.$(echo "$2" | tr / _)" 2>&1 || true' _ "$filter" {} "$log"
status=0
for s in "${sources[@]}"; do
  out="$log.$(echo "$s" | tr / _)"
  pattern='error:'
  case " ${only_headers[*]} " in *" $s "*) pattern="^$PWD/($(printf '%s|' "${headers[@]}" | sed 's/|$//; s/\./\\./g')):[0-9]+:[0-9]+: error:" ;; esac
  if grep -qE "$pattern" "$out"; then grep -E -A3 "$pattern" "$out" | grep -v '^--$'; status=1; fi
  if grep -q 'Error while processing' "$out"; then echo "tidy: clang-tidy could not process $s:"; tail -5 "$out"; status=1; fi
  rm -f "$out"
done
[ $status -eq 0 ] && echo "tidy: clean"
exit $status
