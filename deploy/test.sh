#!/usr/bin/env bash
# Install what is missing, build tessera with its tests, and run the whole CTest suite;
# then rebuild with AddressSanitizer + UndefinedBehaviorSanitizer and run the whole suite again.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$ROOT/deploy/setup.sh"
BUILD_DIR="$ROOT/build" "$ROOT/deploy/build.sh"
# A skipped test (exit 77: no Chromium, Slurm daemons, network namespaces or Lmod here) is not a pass:
# the suite fails unless TSR_ALLOW_SKIP=1 says on purpose that this host cannot run them.
run_ctest() { # run_ctest TIMEOUT
  local log rc
  log=$(mktemp)
  set +e
  ctest --output-on-failure -j2 --timeout "$1" 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" = 0 ] && grep -q "tests did not run" "$log" && [ "${TSR_ALLOW_SKIP:-0}" != 1 ]; then
    echo "deploy/test.sh: the tests listed above were skipped, and a skip is not a pass: install what they" \
      "need (deploy/setup.sh does, as root), or set TSR_ALLOW_SKIP=1 on purpose" >&2
    rc=1
  fi
  rm -f "$log"
  return "$rc"
}
cd "$ROOT/build"
run_ctest 600
if [ "${TSR_SKIP_SANITIZERS:-0}" != 1 ]; then
  BUILD_DIR="$ROOT/build-asan" "$ROOT/deploy/build.sh" -DTSR_SANITIZE=ON
  cd "$ROOT/build-asan"
  # Open MPI's own allocations are not ours to police: leak checking off, everything else on.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 run_ctest 900
fi
if [ "${TSR_SKIP_FUZZ:-0}" != 1 ]; then
  # libFuzzer targets (sample sheet, FASTQ, journal, HDF5 partition) under ASan+UBSan, each for
  # TSR_FUZZ_RUNS inputs from the fixed seed TSR_FUZZ_SEED; any crash fails. (valgrind memcheck runs in the first suite pass:
  # test reliability_valgrind.)
  "$ROOT/tests/fuzz/run_fuzz.sh" "$ROOT/build-fuzz"
fi
