#!/usr/bin/env bash
# Builds Shoal in Release and starts the gateway: the README's "build and run" command.
# With no arguments it runs on the embedded defaults (127.0.0.1:8080, one shard per core);
# any arguments are passed to `shoal` (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
deploy/setup.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target shoal shoal-loadgen
exec build/release/gateway/shoal "$@"
