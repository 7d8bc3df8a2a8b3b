#!/bin/bash
# Low-pass discovery split below the region (issue 18): a simulated 0.1x cohort is run with the region's
# discovery as one task (--discover-windows 1, 1 rank) and split into site-window tasks joined in position
# order (4 windows at 2 ranks, 3 windows at 3 ranks). The split runs must journal >= 2 window tasks (the
# unsplit run none) and every cohort output must be identical: cohort.bcf, stats.tsv, statistics.json,
# sample_qc.tsv, and every cohort.h5 dataset (h5diff). Resume by task: one window's call set is deleted
# and the 2-rank run rerun; it must execute exactly that window and the cohort task, and
# end identical.
# usage: windows_test.sh   (TSR_TESSERA, TSR_MPIEXEC; KEEP=1 keeps the temporary directory)
set -euo pipefail
T=${TSR_TESSERA:?}
MPIEXEC=${TSR_MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$(mktemp -d /tmp/tsr_lpwindows.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$T" simulate --out "$W/sim" --samples 200 --coverage 0.1 --length 12000 --bam --seed 5 --threads 2 > /dev/null
run() { # ranks windows outdir
    "$MPIEXEC" --oversubscribe -n "$1" "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/$3" \
        --mode lowpass --threads 1 --discover-windows "$2" --log-level warn > "$W/$3.log" 2>&1 \
        || { cat "$W/$3.log"; fail "run $3 ($1 ranks, $2 windows)"; }
}
windows() { awk -F'\t' '$1 == "D" && $2 ~ /^joint\/.*\/w[0-9]+$/' "$W/$1/journal.tsv" | wc -l; }
same() { # outdir
    for f in cohort.bcf stats.tsv statistics.json sample_qc.tsv; do
        cmp -s "$W/one/$f" "$W/$1/$f" || fail "$1/$f differs from the unsplit run's"
    done
    h5diff "$W/one/cohort.h5" "$W/$1/cohort.h5" > /dev/null || fail "$1/cohort.h5 differs from the unsplit run's"
}
run 1 1 one
run 2 4 w4
run 3 3 w3
[ "$(windows one)" -eq 0 ] || fail "the unsplit run ran window tasks"
[ "$(windows w4)" -eq 4 ] || fail "expected 4 window tasks at --discover-windows 4, found $(windows w4)"
[ "$(windows w3)" -eq 3 ] || fail "expected 3 window tasks at --discover-windows 3, found $(windows w3)"
sites=$(bcftools view -H "$W/one/cohort.bcf" | wc -l)
[ "$sites" -gt 10 ] || fail "only $sites sites: nothing compared"
same w4
same w3
# every window found sites (the split is not vacuous)
for f in "$W"/w4/joint/*/*/w*.h5; do
    n=$(h5ls "$f/site/position" | sed -n 's/.*Dataset {\([0-9]*\).*/\1/p')
    [ "${n:-0}" -gt 0 ] || fail "window $(basename "$f") holds no site"
done
echo "$sites sites identical: 1 window at 1 rank, 4 windows at 2 ranks, 3 windows at 3 ranks"

rm "$W"/w4/joint/*/*/w0002.h5
"$MPIEXEC" --oversubscribe -n 2 "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/w4" \
    --mode lowpass --threads 1 --discover-windows 4 --log-level warn > "$W/resume.log" 2>&1 \
    || { cat "$W/resume.log"; fail "resume"; }
grep -Eq "\([0-9]+ from the journal, 2 executed, 0 retried\)" "$W/resume.log" \
    || { cat "$W/resume.log"; fail "the resume should run the lost window and the cohort task only"; }
same w4
echo "resume after losing one window's call set: 2 tasks rerun, outputs identical"
echo "PASS"
