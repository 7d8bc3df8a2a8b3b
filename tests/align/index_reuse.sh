#!/bin/bash
# index_reuse.sh - the minimap2 index is built once per reference and reused (kernels/pipeline/align_index.c,
# kernels/align_mm2.c):
#   default   the first run builds REF.fa.mmi (+ .key) beside the reference; a second run into another --out,
#             and a 2-rank run, log "index: reused" and build nothing; the cohort is byte-identical
#   image     REF.fa.mmi.win (the shared window's bytes) is written with it and mapped by later runs;
#             a truncated one is rewritten, one with damaged offsets refused
#   stale     an edited reference (same size) beside an old REF.fa.mmi: the default path is rebuilt
#   --index   a named file is built when missing, reused when it matches, and refused (one error line,
#             non-zero exit, the file untouched) for another reference
#   racing    two runs started together on a fresh reference: both succeed, one builds, the other reuses
set -u
MPI="${TSR_MPIEXEC:-mpirun}"
W=$(mktemp -d /tmp/tsr-index.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
trun() { # np ref out [extra...]: tessera run at info level, log in out.log
  local np=$1 ref=$2 out=$3; shift 3
  "$MPI" --oversubscribe -n "$np" "$TSR_TESSERA" run --ref "$ref" --samples "$W/c/samples.tsv" --out "$out" \
    --threads 1 --log-level info "$@" >"$out.log" 2>&1
}
has() { grep -q "$2" "$1" || { cat "$1" >&2; fail "$1 does not say '$2'"; }; }
hasnt() { ! grep -q "$2" "$1" || { cat "$1" >&2; fail "$1 says '$2'"; }; }

"$TSR_TESSERA" simulate --out "$W/c" --samples 2 --coverage 4 --length 30000 --seed 3 >/dev/null || fail simulate
R="$W/c/ref.fa"

# default: beside the reference, then reused
trun 1 "$R" "$W/r1" || { cat "$W/r1.log" >&2; fail "first run"; }
has "$W/r1.log" "index: built $R.mmi"
[ -s "$R.mmi" ] && [ -s "$R.mmi.key" ] || fail "no $R.mmi and .key after the first run"
[ ! -e "$W/r1/ref.mmi" ] || fail "the index was written into --out although the reference folder is writable"
before=$(stat -c %Y.%s "$R.mmi")
trun 1 "$R" "$W/r2" || { cat "$W/r2.log" >&2; fail "second run"; }
has "$W/r2.log" "index: reused $R.mmi"
hasnt "$W/r2.log" "index: built"
trun 2 "$R" "$W/r3" || { cat "$W/r3.log" >&2; fail "2-rank run"; }
has "$W/r3.log" "index: reused $R.mmi"
hasnt "$W/r3.log" "index: built"
[ "$(stat -c %Y.%s "$R.mmi")" = "$before" ] || fail "$R.mmi was rewritten by a run that reused it"
cmp "$W/r1/cohort.bcf" "$W/r2/cohort.bcf" || fail "cohort.bcf differs between the building and the reusing run"
cmp "$W/r1/cohort.bcf" "$W/r3/cohort.bcf" || fail "cohort.bcf differs at 2 ranks with the reused index"

# the window image (REF.fa.mmi.win): written with the index, mapped by the later runs (every rank), rewritten
# when truncated, refused with one line when its offsets are damaged
[ -s "$R.mmi.win" ] || fail "no $R.mmi.win after the first run"
has "$W/r2.log" "mapped from $R.mmi.win"
has "$W/r3.log" "mapped from $R.mmi.win"
truncate -s 100000 "$R.mmi.win"
trun 1 "$R" "$W/r3b" || { cat "$W/r3b.log" >&2; fail "run with a truncated image"; }
has "$W/r3b.log" "index: image $R.mmi.win written"
hasnt "$W/r3b.log" "index: built"
cmp "$W/r1/cohort.bcf" "$W/r3b/cohort.bcf" || fail "cohort.bcf differs with the rewritten image"
head -c 64 /dev/zero | tr '\0' '\377' | dd of="$R.mmi.win" bs=1 seek=4096 conv=notrunc 2>/dev/null
if trun 1 "$R" "$W/r3c"; then fail "a damaged image was accepted"; fi
has "$W/r3c.log" "index image '$R.mmi.win' is damaged"
rm -f "$R.mmi.win"

# stale: same size, one base changed, the old index beside it -> rebuilt (default path)
mkdir "$W/e" && cp "$R.mmi" "$R.mmi.key" "$W/e/"
awk 'NR == 2 { $0 = (substr($0, 1, 1) == "A" ? "C" : "A") substr($0, 2) } { print }' "$R" > "$W/e/ref.fa"
trun 1 "$W/e/ref.fa" "$W/r4" || { cat "$W/r4.log" >&2; fail "run on the edited reference"; }
has "$W/r4.log" "index: built $W/e/ref.fa.mmi"
cmp -s "$W/e/ref.fa.mmi.key" "$R.mmi.key" && fail "the edited reference kept the old index key"

# --index: built when missing, then reused, then refused for another reference
trun 1 "$R" "$W/r5" --index "$W/named.mmi" || { cat "$W/r5.log" >&2; fail "--index build"; }
has "$W/r5.log" "index: built $W/named.mmi"
trun 1 "$R" "$W/r6" --index "$W/named.mmi" || { cat "$W/r6.log" >&2; fail "--index reuse"; }
has "$W/r6.log" "index: reused $W/named.mmi"
named=$(cksum < "$W/named.mmi")
if trun 1 "$W/e/ref.fa" "$W/r7" --index "$W/named.mmi"; then fail "a mismatching --index was accepted"; fi
has "$W/r7.log" "index $W/named.mmi was built for another reference"
[ "$(grep -c "built for another reference" "$W/r7.log")" -ge 1 ] || fail "no error line"
[ "$(cksum < "$W/named.mmi")" = "$named" ] || fail "the refused --index file was changed"
[ ! -e "$W/r7/cohort.bcf" ] || fail "a refused run left a cohort"

# racing: two runs on a fresh copy of the reference start together
mkdir "$W/f" && cp "$R" "$W/f/ref.fa"
trun 1 "$W/f/ref.fa" "$W/r8" & p8=$!
trun 1 "$W/f/ref.fa" "$W/r9" & p9=$!
wait $p8 || { cat "$W/r8.log" >&2; fail "racing run 1"; }
wait $p9 || { cat "$W/r9.log" >&2; fail "racing run 2"; }
built=$(cat "$W/r8.log" "$W/r9.log" | grep -c "index: built")
reused=$(cat "$W/r8.log" "$W/r9.log" | grep -c "index: reused")
[ "$built" = 1 ] && [ "$reused" = 1 ] || fail "racing runs: $built built and $reused reused (want 1 and 1)"
cmp "$W/r8/cohort.bcf" "$W/r1/cohort.bcf" && cmp "$W/r9/cohort.bcf" "$W/r1/cohort.bcf" || fail "racing runs' cohorts differ"
ls "$W/f" | grep -q "\.tmp\." && fail "temporary index files left beside the reference"
echo "index_reuse: ok"
