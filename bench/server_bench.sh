#!/usr/bin/env bash
# End-to-end server figures for issue 3, measured with shoal-loadgen: the server (1 shard) pinned
# to CPU 0 and the load generator to CPU 1, each figure per second of *server* CPU time
# (utime + stime from /proc), since on 2 cores the load side saturates too.
#   echo: 100 and 1,000 connections x 20-byte messages, closed loop
#   fan-out: 1 topic x 1,000 and 10,000 subscribers, bursts of 1, 16, 32, 33, 64, 256
# Prints one line per run; raw JSON reports go to $OUT (default /tmp/shoal-bench).
# usage: bench/server_bench.sh [duration_seconds=5]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-5}
out=${OUT:-/tmp/shoal-bench}
mkdir -p "$out"
deploy/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen >/dev/null
shoal=build/release/gateway/shoal
loadgen=build/release/loadgen/shoal-loadgen
port=19077

start_server() {
  taskset -c 0 "$shoal" --listen "127.0.0.1:$port" --shards 1 --max-message-size 65536 \
    --slow-consumer-limit 67108864 --high-watermark 33554432 2>/dev/null &
  server_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "server did not start" >&2; exit 1
}
stop_server() { kill -TERM "$server_pid"; wait "$server_pid" || true; }

field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r$2)" "$1"; }

start_server
for conns in 100 1000; do
  f="$out/echo-$conns.json"
  taskset -c 1 "$loadgen" echo --url "ws://127.0.0.1:$port/echo" --connections "$conns" \
    --size 20 --inflight 1 --duration "$duration" --threads 1 --server-pid "$server_pid" \
    --json "$f" >/dev/null 2>&1
  printf 'echo  %5d conns x 20 B: %9.0f msg/s  server %.2f us CPU/msg  p99 %.0f us\n' "$conns" \
    "$(field "$f" "['rate_per_s']")" "$(field "$f" "['server_cpu_us_per_message']")" \
    "$(field "$f" "['latency_us']['p99']")"
done
stop_server

for subs in 1000 10000; do
  for burst in 1 16 32 33 64 256; do
    start_server
    f="$out/fanout-$subs-$burst.json"
    taskset -c 1 "$loadgen" pubsub --url "ws://127.0.0.1:$port/ws" --subscribers "$subs" \
      --topics 1 --publishers 1 --burst "$burst" --size 64 --duration "$duration" --threads 1 \
      --server-pid "$server_pid" --json "$f" >/dev/null 2>&1
    printf 'fanout %5d subs burst %3d: %10.0f deliveries/s  %5.3f us server CPU/delivery = %5.2f M deliveries per server CPU-s  delivered %s / expected %s, gaps %s\n' \
      "$subs" "$burst" "$(field "$f" "['rate_per_s']")" "$(field "$f" "['server_cpu_us_per_message']")" \
      "$(field "$f" "['delivered'] / r['server_cpu_s'] / 1e6")" "$(field "$f" "['delivered']")" \
      "$(field "$f" "['expected']")" "$(field "$f" "['gaps']")"
    stop_server
  done
done
