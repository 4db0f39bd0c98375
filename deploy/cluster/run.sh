#!/usr/bin/env bash
# A local Shoal cluster on loopback (issue 15): one nats-server with JetStream, three Shoal nodes
# that share it, and HAProxy in front (deploy/cluster/haproxy.cfg). Builds shoal in Release if
# needed, like deploy/run.sh, starts everything, waits until each part answers, prints what runs
# where, then stays in the foreground; Ctrl-C, or any of the processes exiting, stops them all and
# removes the temp dir that holds the JetStream store and the logs.
#
#   ws://127.0.0.1:8080/ws     clients connect here: HAProxy, least connections, TCP mode
#   127.0.0.1:8081..8083       node-1..3 (public ports; HAProxy's backends)
#   127.0.0.1:9081..9083       node-1..3 admin: /healthz, /readyz (HAProxy's check), /metrics
#   nats://127.0.0.1:4222      nats-server -js; monitoring on http://127.0.0.1:8222
#   http://127.0.0.1:8404/     HAProxy's stats page; its runtime API on 127.0.0.1:9080
#
# Arguments go to every shoal node (e.g. --shards 1 on a small machine). SHOAL_BIN names a shoal
# binary to use instead of building one. One nats-server is one point of failure: while it is
# down every node answers /readyz with 503, HAProxy takes no new clients, and the nodes reconnect
# on their own when it is back.
set -euo pipefail
cd "$(dirname "$0")/../.."

if [[ -z ${SHOAL_BIN:-} ]]; then
  deploy/setup.sh
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$(nproc)" --target shoal
  SHOAL_BIN=build/release/gateway/shoal
fi

# tool NAME: its path; Debian installs nats-server and haproxy in /usr/sbin, often not in PATH.
tool() {
  PATH="$PATH:/usr/local/sbin:/usr/sbin" command -v "$1" && return
  echo "cluster: $1 is not installed; deploy/setup.sh installs it" >&2
  return 1
}
nats_server=$(tool nats-server)
haproxy=$(tool haproxy)

nats_port=4222 nats_monitor=8222
node_ports=(8081 8082 8083) admin_ports=(9081 9082 9083)
for port in 8080 8404 9080 "$nats_port" "$nats_monitor" "${node_ports[@]}" "${admin_ports[@]}"; do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    echo "cluster: 127.0.0.1:$port is already in use" >&2
    exit 1
  fi
done

run_dir=$(mktemp -d -t shoal-cluster.XXXXXX)
pids=() names=()

# Stops what started, last first (HAProxy, then the nodes, which drain, then NATS).
cleanup() {
  trap - EXIT INT TERM
  local i
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
    kill "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  rm -rf "$run_dir"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# start NAME COMMAND...: runs it in the background, output to $run_dir/NAME.log.
start() {
  local name=$1
  shift
  "$@" >"$run_dir/$name.log" 2>&1 &
  pids+=($!) names+=("$name")
}

# fail NAME MESSAGE: the message and the tail of NAME's log, then exit (which stops everything).
fail() {
  echo "cluster: $2; the end of $1's log:" >&2
  tail -n 30 "$run_dir/$1.log" >&2
  exit 1
}

# wait_for NAME PID CHECK...: polls CHECK for up to 60 s while PID lives.
wait_for() {
  local name=$1 pid=$2 deadline=$((SECONDS + 60))
  shift 2
  until "$@" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || fail "$name" "$name exited"
    ((SECONDS < deadline)) || fail "$name" "$name not ready within 60 s ($*)"
    sleep 0.2
  done
}

accepts() { (exec 3<>"/dev/tcp/127.0.0.1/$1"); }

# http_ok PORT PATH: GET answers 200 within 5 s (bash's /dev/tcp; no curl needed).
http_ok() (
  exec 3<>"/dev/tcp/127.0.0.1/$1" || exit
  printf 'GET %s HTTP/1.0\r\n\r\n' "$2" >&3
  IFS= read -t 5 -r status <&3 || true
  [[ $status == *" 200 "* ]]
)

start nats "$nats_server" -js -a 127.0.0.1 -p "$nats_port" -m "$nats_monitor" \
  -sd "$run_dir/jetstream" --server_name nats-1
wait_for nats "${pids[-1]}" http_ok "$nats_monitor" /healthz

for i in 0 1 2; do
  name=node-$((i + 1))
  start "$name" "$SHOAL_BIN" --listen "127.0.0.1:${node_ports[i]}" \
    --admin-listen "127.0.0.1:${admin_ports[i]}" --nats "nats://127.0.0.1:$nats_port" \
    --node-name "$name" "$@"
done
for i in 0 1 2; do
  wait_for "node-$((i + 1))" "${pids[i + 1]}" http_ok "${admin_ports[i]}" /readyz
done

start haproxy "$haproxy" -f deploy/cluster/haproxy.cfg -db
wait_for haproxy "${pids[-1]}" accepts 8080

cat <<EOF
cluster: running (logs and JetStream store in $run_dir)
  clients        ws://127.0.0.1:8080/ws   (HAProxy, leastconn over node-1..3; /echo too)
  node-1..3      127.0.0.1:8081..8083     admin 127.0.0.1:9081..9083 (/healthz /readyz /metrics)
  nats-server    nats://127.0.0.1:$nats_port    monitoring http://127.0.0.1:$nats_monitor
  HAProxy stats  http://127.0.0.1:8404/   runtime API 127.0.0.1:9080 ('show stat', 'show servers state')
Ctrl-C stops everything.
EOF

# Until one of them exits (or Ctrl-C): then say which, and stop the others.
wait -n || true
for i in "${!pids[@]}"; do
  kill -0 "${pids[i]}" 2>/dev/null || fail "${names[i]}" "${names[i]} exited"
done
