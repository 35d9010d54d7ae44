#!/usr/bin/env bash
# Runs every fuzz target (fuzz/fuzz_targets) for SECONDS each (default 60),
# two at a time, on corpora seeded from real files made by this build
# (examples/fuzz_corpus.rs) plus whatever earlier runs kept in $CORPUS, and
# replays fuzz/regressions/<target>/ (inputs that once crashed) first.
# Exits non-zero when a target crashes, hangs (> 10 s on one input) or
# allocates more than 2 GB; libFuzzer leaves the input in fuzz/artifacts/.
#
#   scripts/fuzz.sh            # the test command's smoke run: 60 s each
#   scripts/fuzz.sh 1800       # a long local run: 30 min each
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SECONDS_EACH="${1:-60}"
CORPUS="${CORPUS:-$ROOT/target/fuzz-corpus}"
LOGS="$ROOT/target/fuzz-logs"
TARGETS=(model_file engine_config events catalog slice)

cargo run --release --quiet --example fuzz_corpus -- "$CORPUS"
(cd fuzz && cargo +nightly fuzz build -O)
mkdir -p "$LOGS"

# One target: its libFuzzer log goes to $LOGS/<target>.log; the last
# line of the log (executions, coverage) is printed when it ends.
run() {
  local t="$1"
  local seen=()
  [ -d "fuzz/regressions/$t" ] && seen=("$ROOT/fuzz/regressions/$t")
  if (cd fuzz && cargo +nightly fuzz run -O "$t" "$CORPUS/$t" "${seen[@]}" -- \
      -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 >"$LOGS/$t.log" 2>&1); then
    printf 'fuzz %-14s ok    %s\n' "$t" "$(grep -m1 'stat::number_of_executed_units' "$LOGS/$t.log" | awk '{print $2 " execs"}')"
  else
    printf 'fuzz %-14s FAILED (log: %s)\n' "$t" "$LOGS/$t.log"
    tail -40 "$LOGS/$t.log"
    return 1
  fi
}

status=0
for ((i = 0; i < ${#TARGETS[@]}; i += 2)); do
  pids=()
  for t in "${TARGETS[@]:i:2}"; do
    run "$t" & pids+=("$!")
  done
  for p in "${pids[@]}"; do wait "$p" || status=1; done
done
exit "$status"
