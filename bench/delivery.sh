#!/usr/bin/env bash
# Issue 14's figures: delivery under a publish burst, and the cost of fan-out, for this tree and
# optionally a baseline build (BASELINE=path to an older build/release) in the same run, so the
# machine's noise hits both alike. Servers run with 2 shards on both backends; the load generator
# is always this tree's (the burst scenario is new).
#   burst:        4 publishers x 40,000 pipelined publishes to one topic, 4 subscribers: acks,
#                 refusals, deliveries, gaps, loss, server CPU, peak RSS (VmHWM)
#   quiet:        the same burst plus 99 quiet topics (1 subscriber each, 1,000 publishes/s in all)
#   fanout:       1 publisher, 1,000 subscribers on one topic, bursts of 64: deliveries per
#                 server CPU-second
#   instructions: user-space instructions per delivery, the server (INSTR_SHARDS shards, default
#                 1, epoll) under callgrind over a 4 s window of the fan-out load (200 subscribers)
# usage: [BASELINE=dir] [ROUNDS=2] [SECTIONS="burst quiet fanout instructions"] bench/delivery.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-2}
sections=${SECTIONS:-burst quiet fanout instructions}
out=${OUT:-/tmp/shoal-delivery-bench}
mkdir -p "$out"
source bench/lib.sh
deploy/setup.sh >/dev/null
install_bench_tools
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen >/dev/null
loadgen=build/release/loadgen/shoal-loadgen
builds=(this:build/release)
[[ -n ${BASELINE:-} ]] && builds=(baseline:"$BASELINE" "${builds[@]}")
port=19191
server_pid=
trap '[[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null' EXIT

start() {  # start BUILD_DIR SHARDS IO [WRAPPER...]
  local dir=$1 shards=$2 io=$3
  shift 3
  rm -f "$out/server.log"  # else the previous server's start-up line may be read as this one's
  "$@" "$dir/gateway/shoal" --listen "127.0.0.1:$port" --shards "$shards" --io "$io" \
    --slow-consumer-limit 67108864 --high-watermark 33554432 --max-connections 20000 \
    --log-level info 2>"$out/server.log" &
  server_pid=$!
  await_start_line "$out/server.log"
}
hwm_kib() { awk '/^VmHWM/ { print $2 }' "/proc/$server_pid/status"; }

burst() {  # burst NAME EXTRA_ARGS...
  local name=$1
  shift
  for round in $(seq "$rounds"); do
    for b in "${builds[@]}"; do
      for io in epoll io_uring; do
        start "${b#*:}" 2 "$io"
        local f="$out/$name-${b%%:*}-$io-$round.json"
        "$loadgen" burst --url "ws://127.0.0.1:$port/ws" --publishers 4 --pipeline 40000 \
          --subscribers 4 --threads 2 --duration 20 --server-pid "$server_pid" --json "$f" "$@" \
          >/dev/null 2>&1 || true
        local hwm
        hwm=$(hwm_kib)
        stop
        printf '%-6s %-8s %-8s acked %6s refused %4s  delivered %7s of %7s  gaps %3s (%6s msgs)  loss %6s  cpu %.2f s  peak RSS %s MiB' \
          "$name" "${b%%:*}" "$io" "$(field "$f" "['hot']['acked']")" "$(field "$f" "['hot']['refused']")" \
          "$(field "$f" "['hot']['delivered']")" "$(field "$f" "['hot']['expected']")" \
          "$(field "$f" "['hot']['gap_notices']")" "$(field "$f" "['hot']['gap_messages']")" \
          "$(field "$f" "['hot']['loss']")" "$(field "$f" "['server_cpu_s']")" "$((hwm / 1024))"
        if [[ $name == quiet ]]; then
          printf '  | quiet delivered %5s of %5s gaps %s loss %s' "$(field "$f" "['quiet']['delivered']")" \
            "$(field "$f" "['quiet']['expected']")" "$(field "$f" "['quiet']['gap_notices']")" \
            "$(field "$f" "['quiet']['loss']")"
        fi
        echo
      done
    done
  done
}

fanout() {
  for round in $(seq "$rounds"); do
    for b in "${builds[@]}"; do
      for io in epoll io_uring; do
        start "${b#*:}" 2 "$io"
        local f="$out/fanout-${b%%:*}-$io-$round.json"
        "$loadgen" pubsub --url "ws://127.0.0.1:$port/ws" --subscribers 1000 --topics 1 \
          --publishers 1 --burst 64 --size 64 --duration 4 --threads 1 --server-pid "$server_pid" \
          --json "$f" >/dev/null 2>&1 || true
        stop
        printf '%-6s %-8s %-8s %10.0f deliveries per server CPU-s  (%s of %s, gaps %s)\n' fanout \
          "${b%%:*}" "$io" "$(field "$f" "['delivered'] / r['server_cpu_s']")" \
          "$(field "$f" "['delivered']")" "$(field "$f" "['expected']")" "$(field "$f" "['gaps']")"
      done
    done
  done
}

instructions() {
  for b in "${builds[@]}"; do
    start "${b#*:}" "${INSTR_SHARDS:-1}" epoll valgrind --tool=callgrind --callgrind-out-file="$out/callgrind-${b%%:*}.out"
    "$loadgen" pubsub --url "ws://127.0.0.1:$port/ws" --subscribers 200 --topics 1 --publishers 1 \
      --burst 64 --size 64 --duration 40 --threads 1 >/dev/null 2>&1 &
    local lg=$!
    sleep 12
    local total messages
    read -r total messages < <(callgrind_window "$out/callgrind-${b%%:*}.out")
    kill -INT "$lg" 2>/dev/null; wait "$lg" || true
    stop
    printf '%-12s %-8s %12s instructions / %9s deliveries = %s per delivery\n' instructions \
      "${b%%:*}" "$total" "$messages" "$(per "$total" "$messages")"
  done
}

for s in $sections; do
  case $s in
    burst) burst burst ;;
    quiet) burst quiet --quiet-topics 99 --quiet-rate 1000 ;;
    fanout) fanout ;;
    instructions) instructions ;;
    *) echo "unknown section $s" >&2; exit 2 ;;
  esac
done
