#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 600), one after another, then prints
# per target the runs executed, the corpus size and the crashes found. Needs nightly and
# cargo-fuzz (`cargo install cargo-fuzz --locked`). New inputs go to a scratch corpus
# (target/fuzz-corpus/TARGET), seeded from the checked-in one, which stays small: copy a
# crash's input into tests/fuzz/corpus/TARGET/ once it is fixed.
#
#   tests/fuzz/run.sh [SECONDS] [TARGET...]
set -u
cd "$(dirname "$0")/../.."
seconds="${1:-600}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(skill template model_stream memory_query cron config ipc webhook mcp channel_updates)
fi
cargo +nightly fuzz build --fuzz-dir tests/fuzz || exit 2
# The binaries are run directly, not through `cargo fuzz run`, which would rebuild them
# whenever a source file changed meanwhile (and build with the same flags anyway).
host=$(rustc +nightly -vV | sed -n 's/^host: //p')
bin="tests/fuzz/target/$host/release"
logs=tests/fuzz/target/logs
mkdir -p "$logs"
summary=()
failed=0
for t in "${targets[@]}"; do
    scratch="tests/fuzz/target/fuzz-corpus/$t"
    mkdir -p "$scratch"
    echo "== $t: ${seconds}s"
    mkdir -p "tests/fuzz/artifacts/$t"
    "$bin/$t" -artifact_prefix="tests/fuzz/artifacts/$t/" -max_total_time="$seconds" -timeout=10 \
        -rss_limit_mb=4096 -print_final_stats=1 "$scratch" "tests/fuzz/corpus/$t" >"$logs/$t.log" 2>&1
    status=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(find "$scratch" -type f | wc -l)
    crashes=$(find "tests/fuzz/artifacts/$t" -type f 2>/dev/null | wc -l)
    [ "$status" -ne 0 ] && failed=1
    line=$(printf '%-13s runs %-10s corpus %-6s crashes %-3s exit %s' "$t" "${runs:-?}" "$corpus" "$crashes" "$status")
    echo "$line"
    summary+=("$line")
done
echo
echo "== summary (${seconds}s per target; logs in $logs, crash inputs in tests/fuzz/artifacts/)"
printf '%s\n' "${summary[@]}"
exit "$failed"
