#!/usr/bin/env bash
# End-to-end cost of TLS and of permessage-deflate (issue 5), measured with shoal-loadgen in one
# run as ratios to plain ws://: the server (1 shard) pinned to CPU 0 and the load generator to
# CPU 1, every figure per second of *server* CPU time (utime + stime from /proc). Modes: plain,
# deflate, tls (wss:// with a throwaway certificate from tests/integration/certs.py), tls+deflate.
#   echo: 100 connections x 20 B and 1 KiB, closed loop
#   fan-out: 1 topic x 1,000 subscribers, bursts of 64, 1 KiB
# With deflate the load generator compresses everything it sends (no context takeover) and the
# server runs --permessage-deflate (cheap mode). The loadgen's payloads are filled with 'x', so
# they compress far better than real JSON: the compression cost is at its low end here.
# SERVERS="label=binary ..." and IOS="epoll io_uring" measure several server binaries and backends
# in the same run, alternating (default: this tree's build, --io auto).
# usage: [SERVERS=...] [IOS=auto] [ROUNDS=1] bench/transport_e2e.sh [duration_seconds=4] [modes="plain deflate tls tls+deflate"]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-4}
modes=${2:-"plain deflate tls tls+deflate"}
out=${OUT:-/tmp/shoal-transport-bench}
mkdir -p "$out"
certs=$(mktemp -d)
trap 'rm -rf "$certs"' EXIT
/usr/bin/python3 - "$certs" <<'PY'
import sys
sys.path.insert(0, "tests/integration")
from certs import TestCA
ca = TestCA(sys.argv[1])
ca.issue("localhost", "localhost")
PY
deploy/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen >/dev/null
servers=${SERVERS:-shoal=build/release/gateway/shoal}
ios=${IOS:-auto}
rounds=${ROUNDS:-1}
shoal=  # the binary being measured (set per run)
io=auto
loadgen=build/release/loadgen/shoal-loadgen
port=19079
tls_port=19080

start_server() {
  taskset -c 0 "$shoal" --io "$io" --listen "127.0.0.1:$port" --tls-listen "127.0.0.1:$tls_port" \
    --tls-cert "$certs/localhost.pem" --tls-key "$certs/localhost.key" --shards 1 --max-message-size 65536 \
    --slow-consumer-limit 67108864 --high-watermark 33554432 "$@" 2>/dev/null &
  server_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server did not start" >&2; exit 1
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid" || true; }
field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r$2)" "$1"; }

# run NAME MODE SCENARIO PATH ARGS...: one measurement; prints its rate and server CPU per message.
run() {
  local name=$1 mode=$2 scenario=$3
  shift 2
  local flags=() lflags=() got=delivered want=expected base="ws://127.0.0.1:$port"
  [[ $mode == *deflate ]] && { flags=(--permessage-deflate); lflags=(--deflate); }
  [[ $mode == tls* ]] && { base="wss://localhost:$tls_port"; lflags+=(--ca "$certs/ca.pem"); }
  [[ $scenario == echo ]] && { got=received; want=sent; }
  start_server "${flags[@]}"
  local f="$out/${name// /_}-$mode-$label-$io.json"
  taskset -c 1 "$loadgen" "$scenario" --url "$base$2" "${@:3}" --duration "$duration" --threads 1 \
    --server-pid "$server_pid" "${lflags[@]}" --json "$f" >/dev/null 2>&1
  stop_server
  printf '%-32s %-12s %-18s %9.0f msg/s  %6.2f us server CPU/msg  %6.3f M per server CPU-s  (%s %s of %s)\n' \
    "$name" "$mode" "$label/$io" "$(field "$f" "['rate_per_s']")" "$(field "$f" "['server_cpu_us_per_message']")" \
    "$(field "$f" "['$got'] / r['server_cpu_s'] / 1e6")" "$got" "$(field "$f" "['$got']")" \
    "$(field "$f" "['$want']")"
}

# each NAME MODE SCENARIO PATH ARGS...: `run` for every backend and server, alternating.
each() {
  for io in $ios; do
    for server in $servers; do
      label=${server%%=*}
      shoal=${server#*=}
      run "$@"
    done
  done
}

for round in $(seq "$rounds"); do
  for mode in $modes; do
    each "echo 100 x 20 B" "$mode" echo /echo --connections 100 --size 20 --inflight 1
    each "echo 100 x 1 KiB" "$mode" echo /echo --connections 100 --size 1024 --inflight 1
    each "fanout 1000 subs burst 64 1 KiB" "$mode" pubsub /ws --subscribers 1000 --topics 1 \
      --publishers 1 --burst 64 --size 1024
  done
done
