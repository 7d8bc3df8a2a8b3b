#!/usr/bin/env bash
# valgrind.sh: a 1-rank `tessera run` on a tiny cohort under valgrind memcheck: zero errors
# (invalid reads/writes, uninitialised values, definite leaks). Open MPI's own start-up leaks are
# suppressed by openmpi.supp (beside this script); nothing of tessera's is.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
HERE=$(cd "$(dirname "$0")" && pwd)
command -v valgrind >/dev/null || { echo "FAIL: valgrind is not installed (deploy/setup.sh installs it)" >&2; exit 1; }
W=$(mktemp -d /tmp/tsr_vg.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$T" simulate --out "$W/c" --samples 2 --coverage 3 --length 8000 --seed 3 >/dev/null
rc=0
"$MPI" --oversubscribe -n 1 valgrind --error-exitcode=99 --num-callers=40 --leak-check=full --show-leak-kinds=definite \
  --errors-for-leak-kinds=definite --suppressions="$HERE/openmpi.supp" --log-file="$W/vg.%p.log" \
  "$T" run --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --out "$W/out" --threads 1 --log-level error \
  >/dev/null 2>"$W/err" || rc=$?
summary=$(grep -h "ERROR SUMMARY" "$W"/vg.*.log)
echo "$summary"
if [ "$rc" != 0 ] || ! grep -q "ERROR SUMMARY: 0 errors" <<< "$summary"; then
  cat "$W"/vg.*.log | tail -60; cat "$W/err"
  echo "FAIL: valgrind memcheck reported errors (exit $rc)" >&2; exit 1
fi
[ -s "$W/out/cohort.bcf" ] || { echo "FAIL: the run under valgrind wrote no cohort.bcf" >&2; exit 1; }
