#!/usr/bin/env bash
# Shoal against reference servers, side by side in one run (issue 4): the same shoal-loadgen
# scenarios against Shoal (1 shard), a Node `ws` server (bench/reference/node, one thread) and a
# Boost.Beast server (bench/reference/beast_server.cpp, one thread), each server pinned to CPU 0
# and the load generator to CPU 1. Every throughput figure
# is per second of *server* CPU time (utime + stime from /proc), so a saturated load generator
# does not flatter either side; Shoal's figures are given as ratios to each reference.
#   echo: 100 and 1,000 connections x 20 B and 1 KiB, closed loop
#   fan-out: 1 topic x 1,000 and 10,000 subscribers, bursts of 64, 64 B
#   idle: 10,000 connections held, server memory per connection
# usage: bench/compare.sh [duration_seconds=3]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-3}
out=${OUT:-/tmp/shoal-compare}
mkdir -p "$out"
deploy/setup.sh >/dev/null
if ! dpkg-query -W -f='${Status}' libboost-dev 2>/dev/null | grep -q "install ok installed"; then
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends libboost-dev
fi
(cd bench/reference/node && [[ -d node_modules/ws ]] || npm ci --no-audit --no-fund --silent)
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen shoal-ref-beast >/dev/null
loadgen=build/release/loadgen/shoal-loadgen
port=19085

start() {  # start SERVER: shoal or node
  case $1 in
    shoal) taskset -c 0 build/release/gateway/shoal --listen "127.0.0.1:$port" --shards 1 \
             --max-message-size 65536 --slow-consumer-limit 67108864 --high-watermark 33554432 \
             --max-connections 20000 2>/dev/null & ;;
    node) taskset -c 0 node bench/reference/node/server.mjs "$port" & ;;
    beast) taskset -c 0 build/release/bench/shoal-ref-beast "$port" & ;;
  esac
  server_pid=$!
  for _ in $(seq 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "$1 did not start" >&2; exit 1
}
stop() { kill -TERM "$server_pid"; wait "$server_pid" || true; }
field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r$2)" "$1"; }

# measure NAME SCENARIO PATH ARGS...: one run per server; prints a line per server and the ratio.
measure() {
  local name=$1 scenario=$2 path=$3
  shift 3
  declare -A figure
  for server in shoal node beast; do
    start "$server"
    local f="$out/${name// /_}-$server.json"
    taskset -c 1 "$loadgen" "$scenario" --url "ws://127.0.0.1:$port$path" "$@" --threads 1 \
      --server-pid "$server_pid" --json "$f" >/dev/null 2>&1 || echo "  ($server: loadgen exited $?)"
    stop
    if [[ $scenario == connect ]]; then
      figure[$server]=$(field "$f" "['server_rss_per_connection_bytes']")
      printf '%-34s %-6s %8.0f B server RSS per connection (%s connections)\n' "$name" "$server" \
        "${figure[$server]}" "$(field "$f" "['connections']")"
    else
      local got=delivered want=expected
      [[ $scenario == echo ]] && { got=received; want=sent; }
      figure[$server]=$(field "$f" "['$got'] / r['server_cpu_s']")
      printf '%-34s %-6s %10.0f msg/s %12.0f per server CPU-s  (%s %s of %s)\n' "$name" "$server" \
        "$(field "$f" "['rate_per_s']")" "${figure[$server]}" "$got" "$(field "$f" "['$got']")" \
        "$(field "$f" "['$want']")"
    fi
  done
  for ref in node beast; do
    if [[ $scenario == connect ]]; then
      /usr/bin/python3 -c "import sys; print(f'{sys.argv[1]:<34} ratio  {sys.argv[4]} uses {float(sys.argv[3])/float(sys.argv[2]):.2f}x the memory of shoal per connection')" \
        "$name" "${figure[shoal]}" "${figure[$ref]}" "$ref"
    else
      /usr/bin/python3 -c "import sys; print(f'{sys.argv[1]:<34} ratio  shoal does {float(sys.argv[2])/float(sys.argv[3]):.2f}x the work of {sys.argv[4]} per server CPU-second')" \
        "$name" "${figure[shoal]}" "${figure[$ref]}" "$ref"
    fi
  done
}

for conns in 100 1000; do
  for size in 20 1024; do
    measure "echo $conns conns x $size B" echo /echo --connections "$conns" --size "$size" \
      --inflight 1 --duration "$duration"
  done
done
for subs in 1000 10000; do
  measure "fanout $subs subs burst 64 x 64 B" pubsub /ws --subscribers "$subs" --topics 1 \
    --publishers 1 --burst 64 --size 64 --duration "$duration" --warmup-timeout 60
done
measure "idle 10000 connections" connect /echo --connections 10000 --duration 2
