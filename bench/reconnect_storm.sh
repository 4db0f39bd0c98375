#!/usr/bin/env bash
# Reconnect storm (issue 17): 10,000 clients running gateway/web/shoal.js in 4 Node processes
# (2,500 each, under the 20,000 open-file limit), each subscribed to one of 1,000 topics; the
# server is restarted (SIGTERM, exit, start on the same port) and every client's way back is
# timed (bench/reconnect_storm.mjs). Three runs, about 30-40 s each on 2 cores:
#   1. full jitter, the server restarted at once;
#   2. full jitter, the server down 2 s (a slower deploy): the returns spread over the window;
#   3. the same without jitter: every client retries at the same instants, the herd.
# Usage: bench/reconnect_storm.sh [extra reconnect_storm.mjs options, e.g. --io epoll]
# Prints each run's report; JSON reports go to $OUT (default /tmp/reconnect_storm).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${SHOAL_BIN:-build/release/gateway/shoal}
if [[ ! -x $bin ]]; then
  cmake --preset release >/dev/null
  cmake --build build/release -j2 --target shoal
fi
if [[ ! -d tests/node/node_modules/ws ]]; then
  (cd tests/node && npm ci --no-audit --no-fund --silent)
fi
out=${OUT:-/tmp/reconnect_storm}
mkdir -p "$out"

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); $(lscpu | grep 'Model name' | sed 's/  */ /g'); $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
common=(--shoal "$bin" --clients 10000 --processes 4 --topics 1000 --min-delay 250 --max-delay 5000 --drain 0s "$@")
status=0
node bench/reconnect_storm.mjs "${common[@]}" --json "$out/jitter.json" || status=1
echo
node bench/reconnect_storm.mjs "${common[@]}" --downtime 2000 --json "$out/jitter_down2s.json" || status=1
echo
node bench/reconnect_storm.mjs "${common[@]}" --downtime 2000 --no-jitter --json "$out/nojitter_down2s.json" || status=1
exit $status
