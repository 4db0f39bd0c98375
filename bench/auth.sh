#!/usr/bin/env bash
# What authentication and rate limiting cost (issue 16), measured with shoal-loadgen against the
# server (1 shard, epoll, pinned to CPU 0; the load generator on CPU 1):
#   connect: connections opened per second of server CPU, with no auth, and with a JWT verified
#     on every upgrade (HS256, ES256, EdDSA, RS256 in the Authorization header); $ROUNDS rounds,
#     the variants alternating so drift on a noisy machine hits them all.
#   instructions: user-space instructions per queued message (callgrind, a 4 s window of steady
#     load), the same binary with auth and limits off and on (an HS256 token whose claims are
#     wildcard patterns, checked on every publish, plus message and byte rate limits set high
#     enough never to refuse): echo (/echo: no per-message check exists there), publish with
#     acks (10 publishers, 10 topics, 1 subscriber each) and fan-out (1 topic, 1,000 subscribers).
#     Whole-program counts move by a percent or two with batching alone, so the checks' own
#     cost is printed too: the inclusive instructions of within_limits (rate limits) and
#     authorized (the grant check; its pattern match, may_publish, runs inside it only on a miss
#     of the session's last allowed topic) per message.
# usage: [ROUNDS=3] [SECTIONS="connect instructions"] bench/auth.sh
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-3}
sections=${SECTIONS:-connect instructions}
out=${OUT:-/tmp/shoal-auth-bench}
mkdir -p "$out"
deploy/setup.sh >/dev/null
source bench/lib.sh
install_bench_tools
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen >/dev/null
shoal=build/release/gateway/shoal
loadgen=build/release/loadgen/shoal-loadgen
port=19093
server_pid=
trap '[[ -n $server_pid ]] && kill -KILL "$server_pid" 2>/dev/null' EXIT

# Keys and tokens, made here with PyJWT (python3-jwt): nothing secret is committed.
/usr/bin/python3 - "$out" <<'EOF'
import sys, time, jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
out = sys.argv[1]
secret = "bench-secret-of-at-least-thirty-two-bytes-0123456789"
open(f"{out}/hs.key", "w").write(secret)
keys = {"es": ec.generate_private_key(ec.SECP256R1()), "ed": ed25519.Ed25519PrivateKey.generate(),
        "rs": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
for kid, k in keys.items():
    open(f"{out}/{kid}.pem", "wb").write(k.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
claims = {"sub": "bench", "exp": int(time.time()) + 3 * 3600,
          "shoal": {"sub": ["user.7.*", "lg.*"], "pub": ["user.7.*", "lg.*"]}}
open(f"{out}/hs256.jwt", "w").write(jwt.encode(claims, secret, algorithm="HS256", headers={"kid": "hs"}))
for alg, kid in (("ES256", "es"), ("EdDSA", "ed"), ("RS256", "rs")):
    open(f"{out}/{alg.lower()}.jwt", "w").write(jwt.encode(claims, keys[kid], algorithm=alg, headers={"kid": kid}))
EOF
auth_flags=(--jwt-secret-file "$out/hs.key" --jwt-public-key-file "$out/es.pem"
            --jwt-public-key-file "$out/ed.pem" --jwt-public-key-file "$out/rs.pem")
limit_flags=(--messages-per-second 10000000 --bytes-per-second 4000000000)

start() {  # start [WRAPPER...] -- [FLAGS...]
  local wrapper=()
  while [[ $1 != -- ]]; do wrapper+=("$1"); shift; done
  shift
  rm -f "$out/server.log"
  taskset -c 0 ${wrapper[@]+"${wrapper[@]}"} "$shoal" --listen "127.0.0.1:$port" --shards 1 --io epoll \
    --max-connections 20000 --slow-consumer-limit 67108864 --high-watermark 33554432 "$@" \
    2>"$out/server.log" &
  server_pid=$!
  await_start_line "$out/server.log"
}

# cpu_ticks PID: utime + stime of the process so far, in clock ticks (the report's server CPU
# covers only the hold, not the connects).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores, Linux $(uname -r)"
want() { [[ " $sections " == *" $1 "* ]]; }

if want connect; then
  declare -A sum
  variants=(none hs256 es256 eddsa rs256)
  for v in "${variants[@]}"; do sum[$v]=0; done
  for round in $(seq "$rounds"); do
    for v in "${variants[@]}"; do
      token=()
      if [[ $v == none ]]; then start --; else start -- "${auth_flags[@]}"; token=(--token "$(cat "$out/$v.jwt")"); fi
      f="$out/connect-$v-$round.json"
      cpu_before=$(cpu_ticks "$server_pid")
      taskset -c 1 "$loadgen" connect --url "ws://127.0.0.1:$port/ws" --connections 5000 \
        --concurrency 64 --duration 1 --threads 1 --processes 1 ${token[@]+"${token[@]}"} \
        --json "$f" >/dev/null 2>&1 || echo "  ($v: loadgen exited $?)"
      cpu_s=$(/usr/bin/python3 -c "import os; print(($(cpu_ticks "$server_pid") - $cpu_before) / os.sysconf('SC_CLK_TCK'))")
      stop
      r=$(field "$f" "['connections'] / $cpu_s")
      printf '%-6s round %s: %6s connections, %8.0f per server CPU-s, %7.0f/s wall, handshake p50 %6.0f us p99 %6.0f us\n' \
        "$v" "$round" "$(field "$f" "['connections']")" "$r" "$(field "$f" "['connect_rate_per_s']")" \
        "$(field "$f" "['latency_us']['p50']")" "$(field "$f" "['latency_us']['p99']")"
      sum[$v]=$(/usr/bin/python3 -c "print(${sum[$v]} + $r)")
    done
  done
  for v in "${variants[@]}"; do
    /usr/bin/python3 -c "import sys; print(f'{sys.argv[1]:<6} mean {float(sys.argv[2]) / int(sys.argv[4]):8.0f} connections per server CPU-s = {float(sys.argv[2]) / float(sys.argv[3]):.3f} x no auth')" \
      "$v" "${sum[$v]}" "${sum[none]}" "$rounds"
  done
fi

# instructions NAME SCENARIO PATH ARGS...: per queued message, auth and limits off, then on.
instructions() {
  local name=$1 scenario=$2 path=$3
  shift 3
  local base=0
  for mode in off on; do
    local flags=() token=()
    if [[ $mode == on ]]; then
      flags=("${auth_flags[@]}" "${limit_flags[@]}")
      token=(--token "$(cat "$out/hs256.jwt")")
    fi
    start valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out" -- ${flags[@]+"${flags[@]}"}
    taskset -c 1 "$loadgen" "$scenario" --url "ws://127.0.0.1:$port$path" "$@" --threads 1 \
      --duration 60 ${token[@]+"${token[@]}"} >/dev/null 2>&1 &
    local lg=$!
    sleep "${settle:-12}"
    local total messages
    read -r total messages < <(callgrind_window "$out/callgrind.out")
    kill -INT "$lg" 2>/dev/null; wait "$lg" || true
    stop
    local checks
    checks=$(callgrind_annotate --inclusive=yes --threshold=100 "$out/callgrind.out.1" 2>/dev/null |
      awk '/within_limits|pubsub_session::authorized/ { gsub(",", "", $1); n += $1 } END { printf "%d", n }')
    rm -f "$out/callgrind.out"*
    local each
    each=$(per "$total" "$messages")
    if [[ $mode == off ]]; then
      base=$each
      printf '%-28s auth off %12s instructions / %9s messages = %s per message\n' "$name" "$total" "$messages" "$each"
    else
      printf '%-28s auth on  %12s instructions / %9s messages = %s per message (%+.1f %%); checks %s per message (%.2f %%)\n' "$name" \
        "$total" "$messages" "$each" "$(/usr/bin/python3 -c "print(100 * ($each - $base) / $base)")" \
        "$(per "$checks" "$messages")" "$(/usr/bin/python3 -c "print(100 * $checks / $total)")"
    fi
  done
}

if want instructions; then
  instructions "echo 100 conns x 20 B" echo /echo --connections 100 --size 20 --inflight 1
  instructions "publish+ack 10 pubs 10 topics" pubsub /ws --subscribers 10 --topics 10 --publishers 10 \
    --size 64 --rate 20000
  settle=25 instructions "fan-out 1k subs burst 64" pubsub /ws --subscribers 1000 --topics 1 --publishers 1 \
    --burst 64 --size 64
fi
