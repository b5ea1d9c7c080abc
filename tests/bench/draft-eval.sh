#!/usr/bin/env bash
# Evaluates `pyra skill new --describe` with the model configured in your PYRA_HOME (not
# run in CI: it calls a real model). Drafts each task of tests/fixtures/drafts/tasks.txt
# into a temporary folder and reports how many validated on the first round and after
# repair.
#   bash tests/bench/draft-eval.sh [--model NAME] [--rounds N]
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build -q --release -p cli
pyra="$PWD/target/release/pyra"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
first=0 repaired=0 failed=0 n=0
while IFS= read -r task; do
  [ -z "$task" ] && continue
  n=$((n + 1))
  name="eval-$n"
  if json="$("$pyra" skill new "$name" --describe "$task" --dir "$out" --json --yes "$@" 2>"$out/$name.err")"; then
    rounds="$(printf '%s' "$json" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read().splitlines()[-1])["rounds"])')"
    if [ "$rounds" = 1 ]; then first=$((first + 1)); else repaired=$((repaired + 1)); fi
    printf '%2d  valid (round %s)  %s\n' "$n" "$rounds" "$task"
  else
    failed=$((failed + 1))
    printf '%2d  NOT VALID          %s\n' "$n" "$task"
    sed 's/^/      /' "$out/$name.err" | tail -5
  fi
done < tests/fixtures/drafts/tasks.txt
echo "of $n tasks: $first valid on the first round, $repaired after repair, $failed never valid"
