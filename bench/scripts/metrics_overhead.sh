#!/usr/bin/env bash
# The operations endpoint's cost per task, in instructions (valgrind's callgrind counts them:
# the figure does not move with other load on the machine, unlike CPU time).
#
# For each mode (metrics off, then on), starts a release baton-mock, enqueues TASKS tasks, runs
# noop_worker (concurrency 64, default settings) under callgrind until the ledger shows every
# task completed, stops it with SIGTERM and reads the instructions it executed. Prints both
# totals and the difference per task. Needs valgrind and curl; build first:
#
#   cargo build --release -p baton-mock --example noop_worker -p baton
#   bash bench/scripts/metrics_overhead.sh [TASKS]
set -euo pipefail
cd "$(dirname "$0")/../.."
TASKS=${1:-20000}
BIN=target/release
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

run_mode() {
  local mode=$1
  "$BIN/baton-mock" --bind 127.0.0.1 --port 0 > "$OUT/mock.out" 2>/dev/null &
  local mock=$!
  local url=""
  for _ in $(seq 100); do
    url=$(sed -n 's/^baton-mock listening on //p' "$OUT/mock.out" | head -1)
    [ -n "$url" ] && break
    sleep 0.05
  done
  local admin=${url%/api}/admin
  curl -s -X POST "$admin/enqueue" -H 'content-type: application/json' \
    -d "{\"taskType\":\"overhead\",\"count\":$TASKS}" > /dev/null
  local env=(CONDUCTOR_SERVER_URL="$url" RUST_LOG=error)
  if [ "$mode" = on ]; then env+=(CONDUCTOR_METRICS_ADDR=127.0.0.1:0); fi
  env "${env[@]}" valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.$mode" \
    "$BIN/examples/noop_worker" --task-type overhead --concurrency 64 2> "$OUT/vg.$mode" &
  local worker=$!
  while true; do
    local done
    done=$(curl -s "$admin/ledger" | sed -n 's/.*"completed":\([0-9]*\).*/\1/p')
    [ "${done:-0}" -ge "$TASKS" ] && break
    sleep 1
  done
  kill -TERM "$worker"
  wait "$worker" || true
  kill -TERM "$mock"
  wait "$mock" || true
  sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$OUT/vg.$mode"
}

off=$(run_mode off)
on=$(run_mode on)
echo "tasks: $TASKS"
echo "instructions, metrics off: $off ($((off / TASKS)) per task)"
echo "instructions, metrics on:  $on ($((on / TASKS)) per task)"
awk -v off="$off" -v on="$on" -v n="$TASKS" \
  'BEGIN { printf "difference: %+.0f per task (%+.2f %%)\n", (on - off) / n, 100 * (on - off) / off }'
