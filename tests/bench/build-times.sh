#!/usr/bin/env bash
# Build and test times of two revisions, measured in turns on this machine (so both see the
# same noise), medians printed at the end. Each revision gets its own worktree and target
# folder under a temporary directory; nothing in this checkout is touched.
#
#   bash tests/bench/build-times.sh BEFORE AFTER [ROUNDS]     (default: 3 rounds)
#
# Per round and revision: a clean debug build of the workspace (`cargo build --workspace`
# after removing target/), an incremental rebuild after touching one file of the memory
# code and one of the CLI — of the binary (`cargo build`) and of everything the tests
# need (`cargo test --no-run`) —, and the test suite's wall time (`cargo test
# --workspace`, everything already built, so it is the tests' own time).
# BUILD_TIMES_NO_CLEAN=1 skips the clean builds (the first round builds untimed).
set -euo pipefail
before=${1:?usage: build-times.sh BEFORE AFTER [ROUNDS]}
after=${2:?usage: build-times.sh BEFORE AFTER [ROUNDS]}
rounds=${3:-3}
repo=$(git rev-parse --show-toplevel)
work=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$work/before" >/dev/null 2>&1 || true;
      git -C "$repo" worktree remove --force "$work/after" >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
git -C "$repo" worktree add --detach "$work/before" "$before" >/dev/null
git -C "$repo" worktree add --detach "$work/after" "$after" >/dev/null

# The memory file and the CLI file to touch: the same code in both layouts.
memory_file() { if [ -d "$1/engine/memory" ]; then echo "$1/engine/memory/src/query.rs"; else echo "$1/engine/src/memory/query.rs"; fi; }
cli_file() { echo "$1/cli/src/run_cmd.rs"; }

seconds() { local start end; start=$(date +%s.%N); "$@" >/dev/null 2>&1; end=$(date +%s.%N); awk -v a="$start" -v b="$end" 'BEGIN { printf "%.2f", b - a }'; }

declare -A results
for round in $(seq 1 "$rounds"); do
  for rev in before after; do
    dir="$work/$rev"
    cd "$dir"
    if [ -z "${BUILD_TIMES_NO_CLEAN:-}" ]; then
      rm -rf target
      clean=$(seconds cargo build --workspace --locked --offline)
    else
      cargo build --workspace --locked --offline >/dev/null 2>&1
      clean=0
    fi
    touch "$(memory_file "$dir")"
    mem=$(seconds cargo build --workspace --locked --offline)
    touch "$(cli_file "$dir")"
    cli=$(seconds cargo build --workspace --locked --offline)
    cargo test --workspace --locked --offline --no-run >/dev/null 2>&1
    touch "$(memory_file "$dir")"
    memt=$(seconds cargo test --workspace --locked --offline --no-run)
    touch "$(cli_file "$dir")"
    clit=$(seconds cargo test --workspace --locked --offline --no-run)
    tests=$(seconds cargo test --workspace --locked --offline)
    echo "round $round $rev: clean ${clean}s, touch memory ${mem}s / tests ${memt}s, touch cli ${cli}s / tests ${clit}s, tests ${tests}s"
    results[$rev.clean]+="$clean "; results[$rev.mem]+="$mem "; results[$rev.cli]+="$cli "; results[$rev.tests]+="$tests "
    results[$rev.memt]+="$memt "; results[$rev.clit]+="$clit "
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
echo
printf '%-32s %10s %10s %8s\n' "median of $rounds (seconds)" before after after/before
for what in clean mem cli memt clit tests; do
  b=$(echo "${results[before.$what]}" | median); a=$(echo "${results[after.$what]}" | median)
  case $what in clean) label="clean debug build";; mem) label="touch memory: cargo build";; cli) label="touch cli: cargo build";; memt) label="touch memory: test build";; clit) label="touch cli: test build";; tests) label="cargo test --workspace";; esac
  printf '%-32s %10.1f %10.1f %8.2f\n' "$label" "$b" "$a" "$(awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) print a / b; else print 0 }')"
done
