#!/usr/bin/env bash
# The epoll and io_uring backends side by side in one run (issue 6), measured with shoal-loadgen:
# the server (1 shard, --io epoll or --io io_uring) pinned to CPU 0, the load generator to CPU 1,
# figures per second of server CPU time (utime + stime from /proc). Each scenario runs the two
# backends alternately, $ROUNDS times (default 2), so drift on a noisy machine hits both.
#   echo: 100 and 1,000 connections x 20 B, closed loop
#   fan-out: 1 topic x 10,000 subscribers, bursts of 64 x 64 B
#   idle: 10,000 connections held, server RSS per connection (shoal-loadgen connect)
#   syscalls per message: strace -c -f attached to the server for 3 s of echo (100 conns) and of
#     fan-out (10,000 subscribers), divided by the messages the server queued in that window
#     (/metrics messages_out); strace slows the server, the counts per message stay exact.
#   instructions per message: the server under callgrind, counters zeroed once the load runs and
#     dumped 4 s later, divided by the messages queued in between: echo (100 conns) and fan-out
#     (1,000 subscribers: 10,000 handshakes take too long under valgrind).
# SERVERS="label=binary ..." measures several server binaries in the same run, alternating (a
# before and after: the ratios are then the last label's over the first's, per backend).
# usage: [ROUNDS=2] [SECTIONS="echo100 echo1000 fanout idle syscalls instructions"] [SERVERS=...] bench/io_backends.sh [duration_seconds=4]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-4}
rounds=${ROUNDS:-2}
sections=${SECTIONS:-echo100 echo1000 fanout idle syscalls instructions}
out=${OUT:-/tmp/shoal-io-bench}
mkdir -p "$out"
deploy/setup.sh >/dev/null
missing=()  # what the syscall and instruction counts need
for tool in strace:strace valgrind:valgrind curl:curl; do
  command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
  sudo_cmd=(); [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen >/dev/null
servers=${SERVERS:-shoal=build/release/gateway/shoal}
read -r -a labels <<<"$(for s in $servers; do printf '%s ' "${s%%=*}"; done)"
shoal=  # the binary of the server being measured (each loop sets it)
loadgen=build/release/loadgen/shoal-loadgen
port=19091

start() {  # start BACKEND [WRAPPER...]: the server, under WRAPPER (valgrind) if given
  local io=$1
  shift
  rm -f "$out/server-$io.log"  # else the previous server's start-up line may be read as this one's
  taskset -c 0 "$@" "$shoal" --listen "127.0.0.1:$port" --shards 1 --max-message-size 65536 \
    --slow-consumer-limit 67108864 --high-watermark 33554432 --max-connections 20000 \
    --io "$io" 2>"$out/server-$io.log" &
  server_pid=$!
  for _ in $(seq 600); do  # the log line comes once every shard runs (slowly under valgrind)
    grep -q "shards ($io," "$out/server-$io.log" && return
    sleep 0.05
  done
  echo "server did not start on $io" >&2
  exit 1
}
source bench/lib.sh
server_pid=
# A server left running (the script stopped early) would share the port through SO_REUSEPORT.
trap '[[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null' EXIT

# measure NAME SCENARIO PATH ARGS...: ROUNDS alternating runs per backend, then the ratio of the
# means (io_uring / epoll: above 1 means io_uring did more work per server CPU-second).
measure() {
  local name=$1 scenario=$2 path=$3
  shift 3
  declare -A sum
  for round in $(seq "$rounds"); do
    for io in epoll io_uring; do
    for server in $servers; do
      local label=${server%%=*} key
      shoal=${server#*=}
      key="$label/$io"
      [[ -v sum[$key] ]] || sum[$key]=0
      start "$io"
      local f="$out/${name// /_}-$label-$io-$round.json" v
      taskset -c 1 "$loadgen" "$scenario" --url "ws://127.0.0.1:$port$path" "$@" --threads 1 \
        --server-pid "$server_pid" --json "$f" >/dev/null 2>&1 || echo "  ($io: loadgen exited $?)"
      stop
      if [[ $scenario == connect ]]; then
        v=$(field "$f" "['server_rss_per_connection_bytes']")
        printf '%-30s %-16s %8.0f B server RSS per connection (%s connections)\n' "$name" "$key" "$v" \
          "$(field "$f" "['connections']")"
      else
        local got=delivered want=expected
        [[ $scenario == echo ]] && { got=received; want=sent; }
        v=$(field "$f" "['$got'] / r['server_cpu_s']")
        printf '%-30s %-16s %10.0f msg/s %12.0f per server CPU-s  %.3f us CPU/msg  p99 %6.0f us  (%s of %s)\n' \
          "$name" "$key" "$(field "$f" "['rate_per_s']")" "$v" \
          "$(field "$f" "['server_cpu_us_per_message']")" "$(field "$f" "['latency_us']['p99']")" \
          "$(field "$f" "['$got']")" "$(field "$f" "['$want']")"
      fi
      sum[$key]=$(/usr/bin/python3 -c "print(${sum[$key]} + $v)")
    done
    done
  done
  local first=${labels[0]} last=${labels[${#labels[@]}-1]}
  if [[ $first == "$last" ]]; then
    /usr/bin/python3 -c "import sys; print(f'{sys.argv[1]:<30} ratio    io_uring / epoll = {float(sys.argv[3]) / float(sys.argv[2]):.3f}')" \
      "$name" "${sum[$first/epoll]}" "${sum[$first/io_uring]}"
  else
    for io in epoll io_uring; do
      /usr/bin/python3 -c "import sys; print(f'{sys.argv[1]:<30} ratio    {sys.argv[2]} / {sys.argv[3]} on {sys.argv[4]} = {float(sys.argv[6]) / float(sys.argv[5]):.3f}')" \
        "$name" "$last" "$first" "$io" "${sum[$first/$io]}" "${sum[$last/$io]}"
    done
  fi
}

# loaded BACKEND SECONDS SCENARIO PATH ARGS...: starts the server (with $wrapper) and a load of
# SECONDS in the background (pid in $lg), and returns once it is connected and flowing.
loaded() {
  local io=$1 seconds=$2 scenario=$3 path=$4
  shift 4
  start "$io" ${wrapper[@]+"${wrapper[@]}"}
  taskset -c 1 "$loadgen" "$scenario" --url "ws://127.0.0.1:$port$path" "$@" --threads 1 \
    --duration "$seconds" >/dev/null 2>&1 &
  lg=$!
  sleep "${settle:-3}"
}

# syscalls NAME SCENARIO PATH ARGS...: syscalls per queued message over a 3 s strace window.
syscalls() {
  local name=$1
  shift
  for io in epoll io_uring; do
  for server in $servers; do
    shoal=${server#*=}
    local key="${server%%=*}/$io"
    loaded "$io" $((duration + 6)) "$@"
    local before
    before=$(messages_out)
    strace -c -f -p "$server_pid" -o "$out/strace-$io.txt" 2>/dev/null &  # every thread
    local st=$!
    sleep 3
    kill -INT "$st"; wait "$st" || true
    local after calls
    after=$(messages_out)
    wait "$lg" || true
    stop
    calls=$(awk '$NF == "total" { print $4 }' "$out/strace-$io.txt")
    printf '%-30s %-16s %9s syscalls / %9s messages = %.5f per message; top: %s\n' "$name" "$key" \
      "$calls" "$((after - before))" "$(/usr/bin/python3 -c "print($calls / max(1, $after - $before))")" \
      "$(awk '$1 ~ /^[0-9.]+$/ && $NF != "total" { print $NF "=" $4 }' "$out/strace-$io.txt" |
         head -n 4 | paste -sd' ')"
  done
  done
}

# instructions NAME SCENARIO PATH ARGS...: user-space instructions per queued message, the server
# under callgrind, counted over a 4 s window of steady load (start-up and handshakes excluded).
instructions() {
  local name=$1
  shift
  for io in epoll io_uring; do
  for server in $servers; do
    shoal=${server#*=}
    local key="${server%%=*}/$io"
    local wrapper=(valgrind --tool=callgrind --compress-strings=no --callgrind-out-file="$out/callgrind-$io.out")
    settle=12 loaded "$io" 60 "$@"
    local total messages
    read -r total messages < <(callgrind_window "$out/callgrind-$io.out")
    kill -INT "$lg" 2>/dev/null; wait "$lg" || true
    stop
    printf '%-30s %-16s %12s instructions / %9s messages = %s per message\n' "$name" "$key" \
      "$total" "$messages" "$(per "$total" "$messages")"
    mv "$out/callgrind-$io.out.1" "$out/callgrind-${name// /_}-${key//\//-}.window"  # for callgrind_annotate
    rm -f "$out/callgrind-$io.out"*
  done
  done
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r)"
want() { [[ " $sections " == *" $1 "* ]]; }
want echo100 && measure "echo 100 conns x 20 B" echo /echo --connections 100 --size 20 --inflight 1 \
  --duration "$duration"
want echo1000 && measure "echo 1000 conns x 20 B" echo /echo --connections 1000 --size 20 --inflight 1 \
  --duration "$duration"
want fanout && measure "fan-out 10k subs burst 64" pubsub /ws --subscribers 10000 --topics 1 \
  --publishers 1 --burst 64 --size 64 --duration "$duration"
want idle && measure "idle 10k conns" connect /ws --connections 10000 --duration 2
if want syscalls; then
  syscalls "echo 100 conns x 20 B" echo /echo --connections 100 --size 20 --inflight 1
  syscalls "fan-out 10k subs burst 64" pubsub /ws --subscribers 10000 --topics 1 --publishers 1 \
    --burst 64 --size 64
fi
if want instructions; then
  instructions "echo 100 conns x 20 B" echo /echo --connections 100 --size 20 --inflight 1
  instructions "fan-out 1k subs burst 64" pubsub /ws --subscribers 1000 --topics 1 --publishers 1 \
    --burst 64 --size 64
fi
