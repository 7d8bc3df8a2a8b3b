#!/usr/bin/env bash
# Install what is missing, build tessera with its tests, and run the whole CTest suite;
# then rebuild with AddressSanitizer + UndefinedBehaviorSanitizer and run the whole suite again.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$ROOT/deploy/setup.sh"
BUILD_DIR="$ROOT/build" "$ROOT/deploy/build.sh"
cd "$ROOT/build"
ctest --output-on-failure -j2 --timeout 600
if [ "${TSR_SKIP_SANITIZERS:-0}" != 1 ]; then
  BUILD_DIR="$ROOT/build-asan" "$ROOT/deploy/build.sh" -DTSR_SANITIZE=ON
  cd "$ROOT/build-asan"
  # Open MPI's own allocations are not ours to police: leak checking off, everything else on.
  ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1 \
    ctest --output-on-failure -j2 --timeout 900
fi
if [ "${TSR_SKIP_FUZZ:-0}" != 1 ]; then
  # libFuzzer targets (sample sheet, FASTQ, journal, HDF5 partition) under ASan+UBSan, each for
  # TSR_FUZZ_RUNS inputs from the fixed seed TSR_FUZZ_SEED; any crash fails. (valgrind memcheck runs in the first suite pass:
  # test reliability_valgrind.)
  "$ROOT/tests/fuzz/run_fuzz.sh" "$ROOT/build-fuzz"
fi
