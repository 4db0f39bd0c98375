#!/usr/bin/env bash
# Installs what building and testing Shoal needs on a Debian 12 machine, only what is missing:
# compilers and CMake, the libraries (liburing, mimalloc, OpenSSL, zlib, simdjson, toml++, CLI11,
# GoogleTest, Google Benchmark, the NATS C client libnats for the cluster link), clang's libFuzzer
# and sanitizer runtimes, the real WebSocket clients the integration tests drive (Python
# websockets, Node ws), and the real nats-server (JetStream) and haproxy that the cluster tests and
# deploy/cluster/run.sh start on loopback (Debian puts both in /usr/sbin), and what the deploy
# files' tests need: libsystemd (sd_notify readiness), systemd (`systemd-analyze verify` of
# deploy/shoal.service), strace (the system calls shoal makes, against the unit's
# SystemCallFilter) and python3-yaml (the Kubernetes manifests); python3-jwt and
# python3-cryptography sign the client tokens of the authentication tests; util-linux (unshare)
# and iproute2 (ip) give the upgrade test a network namespace of its own; chromium is the real
# browser the browser tests (tests/browser) drive headless through puppeteer-core. Idempotent.
set -euo pipefail

packages=(
  g++ clang cmake make pkg-config
  libclang-rt-14-dev
  liburing-dev libmimalloc-dev libssl-dev zlib1g-dev openssl
  libsimdjson-dev libtomlplusplus-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libnats-dev nats-server haproxy
  libsystemd-dev systemd strace util-linux iproute2
  python3-websockets python3-yaml python3-jwt python3-cryptography nodejs npm
  chromium
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# Node and npm are on some machines outside Debian's packaging; accept those.
if command -v node >/dev/null && command -v npm >/dev/null; then
  filtered=()
  for p in "${missing[@]}"; do
    [[ "$p" == nodejs || "$p" == npm ]] || filtered+=("$p")
  done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -ne 0 ]] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

# Node's ws client for the integration tests, pinned by tests/node/package-lock.json.
node_dir="$(dirname "$0")/../tests/node"
if [[ ! -d "$node_dir/node_modules/ws" ]]; then
  echo "setup: installing the npm packages of tests/node"
  (cd "$node_dir" && npm ci --no-audit --no-fund --silent)
fi

# puppeteer-core (it drives Debian's chromium; it downloads no browser) for the browser tests,
# pinned by tests/browser/package-lock.json.
browser_dir="$(dirname "$0")/../tests/browser"
if [[ ! -d "$browser_dir/node_modules/puppeteer-core" ]]; then
  echo "setup: installing the npm packages of tests/browser"
  (cd "$browser_dir" && npm ci --no-audit --no-fund --silent)
fi
