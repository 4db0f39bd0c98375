#!/usr/bin/env bash
# Issue 19's figures: does a mass disconnect stall the connections that stay? Per backend (epoll,
# io_uring; 2 shards, --max-connections 20000) a server gets CONNECTIONS (default 18,000) idle
# WebSocket connections from shoal-loadgen connect, which drops them all at once DROP_AT seconds
# into an 8 s hold (--drop-all-at: a close() each, no Close frame, in every thread and child)
# while one probe connection echoes 16 B back to back (at most every 1 ms) from the parent. Prints
# the probe's p99 and worst round trip over the 2 s from the drop, its p99 over the whole hold,
# and how long the load generator took to close them all (the drop is one close() per
# connection: on 2 cores some hundreds of ms for 18,000, however it is split). The connections
# bind round robin to 127.0.0.2-127.0.0.20, so repeated runs do not run out of ephemeral ports
# (each dropped connection keeps its port in TIME_WAIT for a minute).
# SERVERS="label=binary ..." compares server binaries in the same run, alternating (default: this
# tree's build, labelled "shoal").
# usage: [ROUNDS=1] [CONNECTIONS=18000] [DROP_AT=4] [IOS="epoll io_uring"] [SERVERS=...] bench/teardown.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-1}
connections=${CONNECTIONS:-18000}
drop_at=${DROP_AT:-4}
ios=${IOS:-epoll io_uring}
servers=${SERVERS:-shoal=build/release/gateway/shoal}
out=${OUT:-/tmp/shoal-teardown-bench}
mkdir -p "$out"
source bench/lib.sh
deploy/setup.sh >/dev/null
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen >/dev/null
loadgen=build/release/loadgen/shoal-loadgen
port=19192
server_pid=
trap '[[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null' EXIT

start() {  # start IO BINARY
  rm -f "$out/server.log"  # else the previous server's start-up line may be read as this one's
  "$2" --listen "127.0.0.1:$port" --shards 2 --io "$1" \
    --max-connections 20000 --log-level info 2>"$out/server.log" &
  server_pid=$!
  await_start_line "$out/server.log"
}

for round in $(seq "$rounds"); do
  for io in $ios; do
  for server in $servers; do
    label=${server%%=*}
    start "$io" "${server#*=}"
    f="$out/teardown-$io-$label-$round.json"
    # 2 threads: the drop's close() calls go on both cores, which halves its spread.
    if ! "$loadgen" connect --url "ws://127.0.0.1:$port/echo" --connections "$connections" \
      --threads 2 --source 127.0.0.2-127.0.0.20 --drop-all-at "$drop_at" --duration 8 --probe 1 \
      --json "$f" >"$out/teardown-$io-$label-$round.txt" 2>&1; then
      echo "$io: shoal-loadgen failed:" >&2
      tail -5 "$out/teardown-$io-$label-$round.txt" >&2
      stop
      exit 1
    fi
    stop
    printf '%-8s %-8s dropped %5s (closed within %5.0f ms)  probe during the drop: %5s round trips, p99 %8.1f ms, max %8.1f ms  | whole hold: p99 %6.2f ms, max %8.1f ms\n' \
      "$io" "$label" "$(field "$f" "['dropped']")" "$(field "$f" "['drop_spread_ns'] / 1e6")" \
      "$(field "$f" "['probe']['during_drop']['count']")" \
      "$(field "$f" "['probe']['during_drop']['p99'] / 1e3")" \
      "$(field "$f" "['probe']['during_drop']['max'] / 1e3")" \
      "$(field "$f" "['probe']['latency_us']['p99'] / 1e3")" \
      "$(field "$f" "['probe']['latency_us']['max'] / 1e3")"
  done
  done
done
