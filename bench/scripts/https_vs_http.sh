#!/usr/bin/env bash
# https against http throughput of noop_worker, rounds interleaved, each against a fresh
# baton-mock (served over TLS for https, with a throwaway CA made by openssl).
# Usage, from the repository root after
#   cargo build --release -p baton-mock --example noop_worker -p baton:
#   bash bench/scripts/https_vs_http.sh [ROUNDS]
# Prints one line per run: mode, tasks/s over an 8 s window after 2 s of warm-up, and the
# worker's CPU (utime + stime) per task.
set -euo pipefail
rounds=${1:-3}
root_dir=$(pwd)
mock_bin=$root_dir/target/release/baton-mock
noop_bin=$root_dir/target/release/examples/noop_worker
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 1 -subj "/CN=bench CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=keyCertSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj "/CN=127.0.0.1" 2>/dev/null
printf "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n" > ext
openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out srv.pem -days 1 \
  -extfile ext 2>/dev/null

completed() { curl -s $curl_tls "$1/admin/ledger" | python3 -c 'import sys,json;print(json.load(sys.stdin)["completed"])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }

run() {
  local mode=$1 tls_args=() url base
  curl_tls=""
  if [ "$mode" = https ]; then tls_args=(--tls-cert srv.pem --tls-key srv.key); curl_tls="--cacert ca.pem"; fi
  "$mock_bin" --port 0 "${tls_args[@]}" > mock.out 2>/dev/null & local mock_pid=$!
  for _ in $(seq 50); do grep -q listening mock.out && break; sleep 0.1; done
  url=$(sed -n 's/baton-mock listening on //p' mock.out); base=${url%/api}
  curl -s $curl_tls -X POST -H 'content-type: application/json' \
    -d '{"count":400000,"taskType":"noop"}' "$base/admin/enqueue" > /dev/null
  CONDUCTOR_SERVER_URL=$url CONDUCTOR_TLS_CA_FILE=$work/ca.pem \
    "$noop_bin" --task-type noop --concurrency 64 > /dev/null 2>&1 & local noop_pid=$!
  sleep 2
  local c0 t0 c1 t1
  c0=$(completed "$base"); t0=$(cpu_ticks $noop_pid)
  sleep 8
  c1=$(completed "$base"); t1=$(cpu_ticks $noop_pid)
  kill -TERM $noop_pid; wait $noop_pid 2>/dev/null || true
  kill $mock_pid; wait $mock_pid 2>/dev/null || true
  python3 -c "d=$c1-$c0; hz=$(getconf CLK_TCK); print('$mode', round(d/8), 'tasks/s', round(($t1-$t0)/hz/d*1e6,1), 'us/task client CPU')"
}

for _ in $(seq "$rounds"); do run http; run https; done
