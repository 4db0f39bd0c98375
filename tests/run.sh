#!/usr/bin/env bash
# Builds and runs every Shoal test: the README's test command, and what .ci/run calls.
#  1. g++, Debug + ASan/UBSan, -Werror: unit tests, corpus replays, layering check.
#  2. clang++, ThreadSanitizer: the cross-shard mailboxes and the cluster link's queue under
#     contention, the pub/sub hub with a thread per shard, the per-address limits all shards
#     share, and the pub/sub, delivery, SIGHUP reload and cluster integration tests against a TSan-built
#     server (the concurrent parts).
#  3. clang++, libFuzzer + ASan/UBSan: corpus replay and a short fuzzing run per target.
#  4. clang++, Release, -Werror: proves the second compiler builds everything warning-free.
# Prints one closing line "N passed, N failed" over all suites; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

deploy/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

jobs=${SHOAL_JOBS:-$(nproc)}
passed=0
failed=0
status=0

# run_suite PRESET: configure, build and test one preset, adding its counts to the totals.
run_suite() {
  local preset=$1 log
  echo "=== $preset: configure and build"
  if ! cmake --preset "$preset" >"build-$preset.log" 2>&1 \
     || ! cmake --build --preset "$preset" -j "$jobs" >>"build-$preset.log" 2>&1; then
    tail -n 60 "build-$preset.log"
    echo "=== $preset: BUILD FAILED"
    failed=$((failed + 1)); status=1
    return
  fi
  rm -f "build-$preset.log"
  [[ ${2:-} == build-only ]] && { echo "=== $preset: built"; passed=$((passed + 1)); return; }
  echo "=== $preset: test"
  log=$(mktemp)
  ctest --preset "$preset" -j "$jobs" 2>&1 | tee "$log"
  local line total bad
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -n 1)
  if [[ -z $line ]]; then
    echo "=== $preset: no ctest summary"
    failed=$((failed + 1)); status=1
  else
    total=$(sed -E 's/.*out of ([0-9]+).*/\1/' <<<"$line")
    bad=$(sed -E 's/.*passed, ([0-9]+) tests? failed.*/\1/' <<<"$line")
    passed=$((passed + total - bad)); failed=$((failed + bad))
    ((bad == 0)) || status=1
  fi
  rm -f "$log"
}

run_suite asan
run_suite tsan
run_suite fuzz
run_suite clang-release build-only

echo "$passed passed, $failed failed"
exit $status
