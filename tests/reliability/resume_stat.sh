#!/usr/bin/env bash
# resume_stat.sh: what a resume re-reads (issue 18, resume cost). One small finished run (1 rank), then:
#   plain rerun        every journaled output is trusted by its size+mtime: "resume: N outputs trusted by
#                      size+mtime, 0 re-read" with N > 0, nothing runs again
#   size changed       a byte appended to stats.tsv: it is re-read, its task runs again, and every output ends
#                      byte-identical to the first run's
#   same size + mtime  one byte of stats.tsv changed in place and its mtime restored (touch -d): NOT seen by a
#                      resume (the trade-off of trusting the stat, stated in scheduler/README.md), seen by
#                      `tessera verify` (exit 1, stats.tsv named); --verify-outputs full re-reads everything,
#                      runs the task again and the file is the first run's again
# Needs $TSR_TESSERA and $TSR_MPIEXEC (CTest).
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_resume_stat.XXXXXX)
trap '[ -n "${TSR_RESUME_STAT_KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$T" simulate --out "$W/c" --samples 4 --coverage 6 --length 30000 --populations 2 --seed 5 >/dev/null
OPTS=(--ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --shard-size 5000 --batch-size 2 --threads 1)
D=$W/run
run() { # run LOG [options...]
  local log=$1; shift
  "$MPI" --oversubscribe -n 1 "$T" run "${OPTS[@]}" --log-level info "$@" --out "$D" > "$log" 2>&1 \
    || fail "the run failed: $(tail -5 "$log")"
}
# counts LOG: "TRUSTED REREAD" from the resume line
counts() {
  local l; l=$(grep -o 'resume: [0-9]* outputs trusted by size+mtime, [0-9]* re-read' "$1" || true)
  [ -n "$l" ] || fail "no 'resume: N outputs trusted by size+mtime, M re-read' line in $1: $(tail -5 "$1")"
  echo "$l" | awk '{ t += $2; r += $7 } END { print t, r }'
}
# same_as_first: every output file (the journal, logs and run-specific files aside) equals the first run's
same_as_first() {
  (cd "$W/first" && find . -type f ! -name journal.tsv ! -name '*.log' ! -name report.html ! -name summary.json \
     ! -name run.tsv ! -name tasks.tsv | sort) > "$W/files"
  [ -s "$W/files" ] || fail "no outputs to compare"
  while read -r f; do cmp -s "$W/first/$f" "$D/$f" || fail "$1: $f differs from the first run's"; done < "$W/files"
}

run "$W/1.log"
grep -q '^TSRJ	3	' "$D/journal.tsv" || fail "the journal is not format 3: $(head -1 "$D/journal.tsv")"
grep -q $'^D\tcohort\t.*\tstats.tsv\t[0-9a-f]\\{8\\}:[0-9]*:[0-9]*\t' "$D/journal.tsv" \
  || fail "the cohort record does not carry stats.tsv's size and mtime"
cp -a "$D" "$W/first"

# plain rerun: nothing re-read, nothing run
run "$W/2.log"
read -r trusted reread < <(counts "$W/2.log")
[ "$trusted" -gt 0 ] || fail "plain rerun: no output trusted by size+mtime"
[ "$reread" = 0 ] || fail "plain rerun: $reread outputs re-read, expected 0"
same_as_first "plain rerun"

# size changed: re-read, the task runs again, byte-identical outputs
printf 'x' >> "$D/stats.tsv"
run "$W/3.log"
read -r trusted reread < <(counts "$W/3.log")
[ "$reread" -ge 1 ] || fail "size changed: stats.tsv was not re-read"
grep -q "output '$D/stats.tsv' is changed since the journal recorded it" "$W/3.log" \
  || fail "size changed: the run did not say stats.tsv changed: $(grep -i stats.tsv "$W/3.log" | head -3)"
same_as_first "size changed"

# same size, mtime restored: a resume trusts it, tessera verify does not
mt=$(stat -c %y "$D/stats.tsv")
python3 - "$D/stats.tsv" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, 'rb').read())
i = b.index(b'\n') + 1          # first byte of the first data line
b[i] = ord('X') if b[i] != ord('X') else ord('Y')
open(p, 'r+b').write(b)
EOF
touch -d "$mt" "$D/stats.tsv"
[ "$(stat -c %y "$D/stats.tsv")" = "$mt" ] || fail "touch -d did not restore the mtime to the ns"
cmp -s "$D/stats.tsv" "$W/first/stats.tsv" && fail "the in-place edit changed nothing"
run "$W/4.log"
read -r trusted reread < <(counts "$W/4.log")
[ "$reread" = 0 ] || fail "same size+mtime: $reread outputs re-read, expected 0"
cmp -s "$D/stats.tsv" "$W/first/stats.tsv" && fail "same size+mtime: the resume noticed the edit (expected not to)"
rc=0; "$T" verify "$D" > "$W/v.out" 2> "$W/v.err" || rc=$?
[ "$rc" = 1 ] || fail "tessera verify exited $rc on the edited stats.tsv, expected 1"
grep -q 'stats.tsv' "$W/v.err" || fail "tessera verify did not name stats.tsv: $(cat "$W/v.err")"

# --verify-outputs full: every output re-read, the edit found, the task run again
run "$W/5.log" --verify-outputs full
read -r trusted reread < <(counts "$W/5.log")
[ "$trusted" = 0 ] || fail "--verify-outputs full: $trusted outputs trusted by their stat"
[ "$reread" -gt 0 ] || fail "--verify-outputs full: nothing re-read"
same_as_first "--verify-outputs full"
"$T" verify "$D" > "$W/v.out" 2> "$W/v.err" || fail "tessera verify fails after the full resume: $(cat "$W/v.err")"
echo "resume_stat: ok"
