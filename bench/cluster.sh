#!/usr/bin/env bash
# Issue 15's figures: what a cluster through NATS JetStream costs, against a single node in the
# same run (the machine's noise hits both alike). Every Shoal node runs SHARDS shards (default 1)
# on IO (default epoll); NATS is one `nats-server -js` on loopback with its store in OUT.
#   saturate:   the single node's fan-out capacity (1 publisher, bursts of 64, SUBS subscribers
#               on one topic): deliveries/s, from which RATE = 50 % of it is taken
#   fanout:     1 publisher at RATE publishes/s (open loop) on one topic, SUBS subscribers:
#               single node (everything on it) against the cluster (publisher on node A,
#               subscribers split over nodes B and C): publish-to-delivery latency p50/p99/p99.9,
#               deliveries per server CPU-second (all Shoal nodes; NATS shown apart), and the
#               subscriber nodes' CPU per delivery against the single node's
#   hop:        the same at a light load (1,000 publishes/s, 20 subscribers): the NATS hop alone
#   instructions: user-space instructions per delivery (callgrind, 4 s window) of a single node
#               and of a cluster's subscriber node, 100 subscribers, 2,000 publishes/s
#   throughput: pipelined publishes with acks (8 publishers, bursts of 256), no subscriber, on
#               1 topic and on 64 topics: acknowledged publishes/s, single node against cluster
# usage: [ROUNDS=2] [SUBS=200] [SHARDS=1] [IO=epoll] [RATE=N] [SECTIONS="saturate fanout hop instructions throughput"] bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-2}
subs=${SUBS:-200}
shards=${SHARDS:-1}
io=${IO:-epoll}
sections=${SECTIONS:-saturate fanout hop instructions throughput}
out=${OUT:-/tmp/shoal-cluster-bench}
rm -rf "$out"
mkdir -p "$out"
source bench/lib.sh
deploy/setup.sh >/dev/null
install_bench_tools
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen >/dev/null
loadgen=build/release/loadgen/shoal-loadgen
shoal=build/release/gateway/shoal
nats_port=14322
pids=()
trap 'for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done' EXIT

ticks() {  # CPU clock ticks (user + system) used so far by the given processes
  local n=0 p
  for p in "$@"; do n=$((n + $(awk '{ print $14 + $15 }' "/proc/$p/stat"))); done
  echo "$n"
}
seconds() { /usr/bin/python3 -c "import os,sys; print(int(sys.argv[1]) / os.sysconf('SC_CLK_TCK'))" "$1"; }

start_nats() {
  rm -rf "$out/js"
  nats-server -js -a 127.0.0.1 -p "$nats_port" -sd "$out/js" >"$out/nats.log" 2>&1 &
  nats_pid=$!
  pids+=("$nats_pid")
  for _ in $(seq 200); do
    (echo >"/dev/tcp/127.0.0.1/$nats_port") 2>/dev/null && return
    sleep 0.05
  done
  echo "nats-server did not start" >&2
  exit 1
}

wait_ready() {  # wait_ready PORT
  for _ in $(seq 1200); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/readyz") == 200 ]] && return
    sleep 0.05
  done
  echo "the server on $1 did not become ready" >&2
  exit 1
}

start_node() {  # start_node NAME PORT [FLAGS...]: sets node_pid
  local name=$1 port=$2
  shift 2
  "$shoal" --listen "127.0.0.1:$port" --shards "$shards" --io "$io" --slow-consumer-limit 67108864 \
    --high-watermark 33554432 --max-connections 20000 --node-name "$name" "$@" 2>"$out/$name.log" &
  node_pid=$!
  pids+=("$node_pid")
  wait_ready "$port"
}

stop_all() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}

rate=${RATE:-}
saturate() {
  local best=0
  for round in $(seq "$rounds"); do
    start_node single 19301
    local f="$out/saturate-$round.json"
    "$loadgen" pubsub --url ws://127.0.0.1:19301/ws --subscribers "$subs" --topics 1 --publishers 1 \
      --burst 64 --size 64 --duration 4 --json "$f" >/dev/null 2>&1 || true
    stop_all
    local d
    d=$(field "$f" "['delivered'] / r['duration_s']")
    printf 'saturate  single node: %10.0f deliveries/s (%s subscribers)\n' "$d" "$subs"
    best=$(/usr/bin/python3 -c "print(max(float('$best'), float('$d')))")
  done
  [[ -n $rate ]] || rate=$(/usr/bin/python3 -c "print(round(0.5 * $best / $subs))")
  echo "saturate  RATE = 50 % of the single node's best = $rate publishes/s"
}

report_fanout() {  # report_fanout SECTION SETUP JSON SHOAL_TICKS SUB_NODE_TICKS NATS_TICKS
  local section=$1
  shift
  local f=$2 cpu sub_cpu nats_cpu delivered
  delivered=$(field "$f" "['delivered']")
  cpu=$(seconds "$3")
  sub_cpu=$(seconds "$4")
  nats_cpu=$(seconds "$5")
  printf '%-8s %-8s p50 %7.0f  p99 %7.0f  p99.9 %7.0f us  %9s of %9s delivered, gaps %s  %9.0f deliveries/server CPU-s  subscriber nodes %.3f us/delivery  nats %.2f s\n' \
    "$section" "$1" "$(field "$f" "['latency_us']['p50']")" "$(field "$f" "['latency_us']['p99']")" \
    "$(field "$f" "['latency_us']['p99.9']")" "$delivered" "$(field "$f" "['expected']")" \
    "$(field "$f" "['gaps']")" "$(/usr/bin/python3 -c "print($delivered / max($cpu, 1e-9))")" \
    "$(/usr/bin/python3 -c "print($sub_cpu * 1e6 / max($delivered, 1))")" "$nats_cpu"
}

fanout() {
  [[ -n $rate ]] || { echo "fanout needs RATE or the saturate section" >&2; exit 1; }
  fanout_at "$rate" "$subs" fanout
}

hop() { fanout_at 1000 20 hop; }

fanout_at() {  # fanout_at RATE SUBSCRIBERS LABEL
  local rate=$1 subs=$2 label=$3
  for round in $(seq "$rounds"); do
    start_node single 19301
    local s=$node_pid before f="$out/fanout-single-$round.json"
    before=$(ticks "$s")
    "$loadgen" pubsub --url ws://127.0.0.1:19301/ws --subscribers "$subs" --topics 1 --publishers 1 \
      --rate "$rate" --size 64 --duration 6 --json "$f" >/dev/null 2>&1 || true
    local used=$(($(ticks "$s") - before))
    stop_all
    report_fanout "$label" single "$f" "$used" "$used" 0

    start_nats
    start_node a 19311 --nats "nats://127.0.0.1:$nats_port"
    local a=$node_pid
    start_node b 19312 --nats "nats://127.0.0.1:$nats_port"
    local b=$node_pid
    start_node c 19313 --nats "nats://127.0.0.1:$nats_port"
    local c=$node_pid
    f="$out/fanout-cluster-$round.json"
    local all_before sub_before nats_before
    all_before=$(ticks "$a" "$b" "$c")
    sub_before=$(ticks "$b" "$c")
    nats_before=$(ticks "$nats_pid")
    "$loadgen" pubsub --publish-url ws://127.0.0.1:19311/ws --subscribe-url ws://127.0.0.1:19312/ws \
      --subscribe-url ws://127.0.0.1:19313/ws --subscribers "$subs" --topics 1 --publishers 1 \
      --rate "$rate" --size 64 --duration 6 --json "$f" >/dev/null 2>&1 || true
    local all=$(($(ticks "$a" "$b" "$c") - all_before)) sub=$(($(ticks "$b" "$c") - sub_before))
    local nats=$(($(ticks "$nats_pid") - nats_before))
    stop_all
    report_fanout "$label" cluster "$f" "$all" "$sub" "$nats"
  done
}

throughput() {
  for round in $(seq "$rounds"); do
    for topics in 1 64; do
      start_node single 19301
      local f="$out/throughput-single-$topics-$round.json"
      "$loadgen" pubsub --url ws://127.0.0.1:19301/ws --subscribers 0 --topics "$topics" --publishers 8 \
        --burst 256 --size 64 --duration 4 --json "$f" >/dev/null 2>&1 || true
      stop_all
      printf 'throughput single  %2s topic(s): %9.0f acknowledged publishes/s\n' "$topics" \
        "$(field "$f" "['acked'] / r['duration_s']")"
      start_nats
      start_node a 19311 --nats "nats://127.0.0.1:$nats_port"
      f="$out/throughput-cluster-$topics-$round.json"
      "$loadgen" pubsub --url ws://127.0.0.1:19311/ws --subscribers 0 --topics "$topics" --publishers 8 \
        --burst 256 --size 64 --duration 4 --json "$f" >/dev/null 2>&1 || true
      local records published
      records=$(curl -s http://127.0.0.1:19311/metrics | awk '/^shoal_cluster_records_total/ { n += $2 } END { print n }')
      published=$(curl -s http://127.0.0.1:19311/metrics | awk '/^shoal_cluster_published_total/ { n += $2 } END { print n }')
      stop_all
      printf 'throughput cluster %2s topic(s): %9.0f acknowledged publishes/s  (%s messages in %s records)\n' \
        "$topics" "$(field "$f" "['acked'] / r['duration_s']")" "$published" "$records"
    done
  done
}

instructions() {
  local port total messages
  port=19301
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind-single.out" "$shoal" \
    --listen "127.0.0.1:$port" --shards 1 --io "$io" 2>"$out/cg-single.log" &
  server_pid=$!
  pids+=("$server_pid")
  wait_ready "$port"
  "$loadgen" pubsub --url "ws://127.0.0.1:$port/ws" --subscribers 100 --topics 1 --publishers 1 \
    --rate 2000 --size 64 --duration 40 >/dev/null 2>&1 &
  local lg=$!
  sleep 10
  read -r total messages < <(callgrind_window "$out/callgrind-single.out")
  kill -INT "$lg" 2>/dev/null; wait "$lg" || true
  stop_all
  printf 'instructions single node:             %s per delivery\n' "$(per "$total" "$messages")"
  start_nats
  start_node a 19311 --nats "nats://127.0.0.1:$nats_port"
  valgrind --tool=callgrind --callgrind-out-file="$out/callgrind-cluster.out" "$shoal" \
    --listen "127.0.0.1:$port" --shards 1 --io "$io" --nats "nats://127.0.0.1:$nats_port" 2>"$out/cg-b.log" &
  server_pid=$!
  pids+=("$server_pid")
  wait_ready "$port"
  "$loadgen" pubsub --publish-url ws://127.0.0.1:19311/ws --subscribe-url "ws://127.0.0.1:$port/ws" \
    --subscribers 100 --topics 1 --publishers 1 --rate 2000 --size 64 --duration 40 >/dev/null 2>&1 &
  lg=$!
  sleep 10
  read -r total messages < <(callgrind_window "$out/callgrind-cluster.out")
  kill -INT "$lg" 2>/dev/null; wait "$lg" || true
  stop_all
  printf 'instructions cluster subscriber node: %s per delivery\n' "$(per "$total" "$messages")"
}

echo "# bench/cluster.sh $(date -u +%Y-%m-%dT%H:%MZ) $(nproc) cores, shards=$shards io=$io subs=$subs"
for s in $sections; do "$s"; done
