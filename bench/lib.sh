# Shared by the end-to-end bench scripts (sourced, not run): a server they started is in
# $server_pid and listens on $port. Reading a load generator's JSON report, the server's count
# of queued messages, stopping it, and counting its instructions over a window with callgrind.

# valgrind (callgrind) and curl, which the scripts use beside what deploy/setup.sh installs.
install_bench_tools() {
  command -v valgrind >/dev/null && command -v curl >/dev/null && return
  local sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends valgrind curl
}

# await_start_line LOG: until the server writing LOG prints its start-up line ("... shards (");
# exits the script if it does not within 30 s.
await_start_line() {
  for _ in $(seq 600); do
    grep -q "shards (" "$1" && return
    sleep 0.05
  done
  echo "server did not start" >&2
  exit 1
}

# field FILE EXPR: a value of the JSON report in FILE, EXPR a Python subscript like "['sent']".
field() { /usr/bin/python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(r$2)" "$1"; }

# Messages queued for sending, summed over shards.
messages_out() {
  curl -s "http://127.0.0.1:$port/metrics" |
    awk '/^shoal_messages_out_total/ { n += $2 } END { printf "%d", n }'
}

stop() { kill -TERM "$server_pid"; wait "$server_pid" || true; server_pid=; }

# callgrind_window OUT: for a server running under callgrind with --callgrind-out-file=OUT,
# zeroes its counters, lets 4 s of the load run, dumps them, and prints "instructions messages"
# for that window (start-up and handshakes excluded). The window's dump is OUT.1.
callgrind_window() {
  local before after total
  callgrind_control -z "$server_pid" >/dev/null
  before=$(messages_out)
  sleep 4
  after=$(messages_out)
  callgrind_control -d "$server_pid" >/dev/null
  total=$(callgrind_annotate "$1.1" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }')
  echo "$total $((after - before))"
}

# per TOTAL COUNT: TOTAL / COUNT, rounded.
per() { /usr/bin/python3 -c "import sys; print(round(int(sys.argv[1]) / max(1, int(sys.argv[2]))))" "$1" "$2"; }
