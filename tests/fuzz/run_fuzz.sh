#!/usr/bin/env bash
# run_fuzz.sh [BUILD_DIR]: build the libFuzzer targets with clang-14 and
# -fsanitize=fuzzer,address,undefined (the libraries under test instrumented too), then run each
# from its seed corpus (tests/fuzz/corpus/<target>) for TSR_FUZZ_RUNS inputs (default 30000) from
# the fixed seed TSR_FUZZ_SEED (default 1), so a CI run is reproducible, capped at TSR_FUZZ_SECONDS
# seconds (default 600, a guard against a hang, not a budget). Fails on any crash, sanitizer report or
# timeout, and when a target ends before its TSR_FUZZ_RUNS inputs (the time cap ran out first: a run that
# checked fewer inputs than asked is not counted as a pass); prints each target's executions.
# TSR_FUZZ_TARGETS="partition journal" runs a subset.
# A huge allocation returns NULL as plain malloc would (allocator_may_return_null=1, and no libFuzzer
# malloc limit below ASan's own 1 TB maximum): the HDF5 library
# sizes its buffers from file metadata, and a corrupted size must reach our error path, not abort.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
B=${1:-$ROOT/build-fuzz}
SECS=${TSR_FUZZ_SECONDS:-600}
RUNS=${TSR_FUZZ_RUNS:-30000}
SEED=${TSR_FUZZ_SEED:-1}
CC=${TSR_FUZZ_CC:-clang-14}
cmake -S "$ROOT" -B "$B" -DCMAKE_C_COMPILER="$CC" -DTSR_FUZZ=ON -DTSR_SANITIZE=ON -DTSR_WERROR=OFF \
  -DCMAKE_C_FLAGS="-fsanitize=fuzzer-no-link" >/dev/null
read -r -a TARGETS <<< "${TSR_FUZZ_TARGETS:-sample_sheet fastq journal partition}"
cmake --build "$B" -j2 --target "${TARGETS[@]/#/fuzz_}" >/dev/null
W=$(mktemp -d /tmp/tsr_fuzzrun.XXXXXX)
trap 'rm -rf "$W"' EXIT
total=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$W/$t"
  rc=0
  # Open MPI's and HDF5's one-time allocations are not ours: leaks are checked for tessera code only
  # through the ASan suite run; here any crash, UB or memory error fails.
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:allocator_may_return_null=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
    "$B/tests/fuzz/fuzz_$t" -seed="$SEED" -runs="$RUNS" -max_total_time="$SECS" -timeout=20 \
    -rss_limit_mb=2048 -malloc_limit_mb=1100000 -print_final_stats=1 \
    -artifact_prefix="$W/$t/" "$W/$t" "$ROOT/tests/fuzz/corpus/$t" > "$W/$t.log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$W/$t.log")
  if [ "$rc" != 0 ]; then
    tail -40 "$W/$t.log"
    mkdir -p "$B/fuzz-crashes" && cp "$W/$t"/crash-* "$W/$t"/timeout-* "$W/$t"/oom-* "$B/fuzz-crashes/" 2>/dev/null || true
    echo "fuzz_$t: FAILED (exit $rc); reproducer in $B/fuzz-crashes" >&2
    exit 1
  fi
  if [ "${execs:-0}" -lt "$RUNS" ]; then
    echo "fuzz_$t: FAILED: only ${execs:-0} of $RUNS inputs ran before the ${SECS} s cap (raise TSR_FUZZ_SECONDS)" >&2
    exit 1
  fi
  echo "fuzz_$t: ${execs:-?} executions (seed $SEED), no crash"
  total=$((total + ${execs:-0}))
done
echo "fuzz: ${#TARGETS[@]} targets, $total executions, no crash"
