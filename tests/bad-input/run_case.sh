#!/usr/bin/env bash
# run_case.sh CASE: run one case of cases.tsv and judge it. Needs $TSR_TESSERA and $TSR_MPIEXEC (CTest).
#
# How a case is judged:
#   - the exit code is the one in the table (never a signal: no crash, no core file);
#   - exit 0: the run finished (cohort.bcf written; verify printed "0 bad"), nothing on stderr but warnings;
#   - exit != 0: stderr holds exactly ONE line of ours ("tessera <cmd>: ..."), which contains every
#     fragment of the table; the only other lines allowed are mpirun's own notice that a rank exited
#     non-zero (the blocks it frames with lines of dashes). Anything else (an htslib "[E::...]" line,
#     an HDF5 error stack, a sanitizer report, a second tessera line) fails the case;
#   - no cohort.bcf appears after a failure, and the file a case marks as KEEP (an earlier finished
#     run's cohort.bcf, a user's file) has the same bytes afterwards.
set -uo pipefail
CASE=$1
HERE=$(cd "$(dirname "$0")" && pwd)
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

row=$(awk -F'\t' -v c="$CASE" '$1 == c' "$HERE/cases.tsv")
[ -n "$row" ] || fail "no such case in cases.tsv"
IFS=$'\t' read -r _ CMD WANT_RC FRAGS <<< "$row"

D=$(mktemp -d /tmp/tsr_badinput.XXXXXX)
chmod 755 "$D"
MOUNTED="" LOCKER=""
cleanup() {
  [ -n "$LOCKER" ] && kill "$LOCKER" 2>/dev/null && wait "$LOCKER" 2>/dev/null
  [ -n "$MOUNTED" ] && umount "$MOUNTED" 2>/dev/null
  chmod -R u+rwx "$D" 2>/dev/null
  rm -rf "$D"
}
trap cleanup EXIT

"$T" simulate --out "$D/c" --samples 3 --coverage 4 --length 12000 --seed 5 >/dev/null || fail "simulate failed"
REF=$D/c/ref.fa SHEET=$D/c/samples.tsv OUT=$D/out
KEEP="" EXPECT_FILE="" EXPECT_FRAGS="" LIMIT_FSIZE=""
run() {
  "$MPI" --oversubscribe -n "${NP:-1}" "$T" run --ref "$REF" --samples "$SHEET" --out "$OUT" \
    --shard-size 5000 --batch-size 2 --threads 1 --log-level warn "$@"
}
# Root reads and writes everything; drop the two capabilities that let it, so permissions count.
run_unprivileged() {
  if [ "$(id -u)" = 0 ]; then
    setpriv --inh-caps=-all --bounding-set=-dac_override,-dac_read_search -- \
      "$MPI" --oversubscribe -n 1 "$T" run --ref "$REF" --samples "$SHEET" --out "$OUT" \
      --shard-size 5000 --batch-size 2 --threads 1 --log-level warn "$@"
  else
    run "$@"
  fi
}
tessera() { "$T" "$@"; }

source "$HERE/gen.sh"
"gen_$CASE" || fail "generator failed"
[ -n "$EXPECT_FRAGS" ] && FRAGS=$EXPECT_FRAGS
keep_sum=""; [ -n "$KEEP" ] && keep_sum=$(md5sum < "$KEEP")
had_bcf=0; [ -e "$OUT/cohort.bcf" ] && had_bcf=1

rc=0
(
  cd "$D" || exit 99
  [ -n "$LIMIT_FSIZE" ] && { trap '' XFSZ; ulimit -f "$LIMIT_FSIZE"; }
  eval "$CMD"
) > "$D/stdout" 2> "$D/stderr" || rc=$?

# Our lines: stderr without mpirun's dash-framed notices and blank lines.
awk '/^-+$/ { inside = !inside; next } !inside && NF' "$D/stderr" > "$D/ours"
show() { echo "--- stderr:"; cat "$D/stderr"; echo "--- stdout:"; tail -5 "$D/stdout"; }

[ "$rc" -lt 128 ] || { show; fail "killed by signal $((rc - 128))"; }
[ -z "$(find "$D" -name 'core*' -type f 2>/dev/null)" ] || fail "a core file was written"
[ "$rc" = "$WANT_RC" ] || { show; fail "exit code $rc, expected $WANT_RC"; }
if [ "$WANT_RC" = 0 ]; then
  ! grep -qv '^\[rank' "$D/ours" || { show; fail "unexpected lines on stderr"; }
  case $CMD in
  run*) [ -s "$OUT/cohort.bcf" ] || fail "no cohort.bcf after a run that exited 0" ;;
  tessera\ verify*) grep -q ", 0 bad" "$D/stdout" || fail "verify did not report 0 bad" ;;
  esac
  [ -z "$EXPECT_FILE" ] || [ -s "$EXPECT_FILE" ] || fail "$EXPECT_FILE was not made"
else
  n=$(wc -l < "$D/ours")
  [ "$n" = 1 ] || { show; fail "expected exactly one error line, got $n"; }
  grep -q '^tessera [a-z]*: ' "$D/ours" || { show; fail "the error line is not tessera's"; }
  IFS='|' read -r -a frags <<< "$FRAGS"
  for f in "${frags[@]}"; do
    [ "$f" = - ] || grep -F -- "$f" "$D/ours" > /dev/null || { show; fail "the error line lacks '$f'"; }
  done
  if [ "$had_bcf" = 0 ] && [ -e "$OUT/cohort.bcf" ]; then fail "a cohort.bcf appeared after a failure"; fi
fi
[ -z "$KEEP" ] || [ "$(md5sum < "$KEEP")" = "$keep_sum" ] || fail "$KEEP changed"
echo "ok [$CASE] exit $rc: $(head -c 300 "$D/ours")"
