#!/usr/bin/env bash
# The parallel cohort stage (issue 17): in deep mode every unit's cohort part task writes its own BCF, stats
# lines and reduction counts, and the final task joins them in genome order. Asserts, on 16 samples over
# 20 kb in regions of 5 kb: several parts are really written (one per cohort/pNNNNN task, at least 3, each
# with records); cohort.bcf, its CSI, stats.tsv, statistics.json and sample_qc.tsv are byte-identical at 1, 2
# and 3 ranks; cohort.bcf's records are the parts' records in order, its one header is the first part's,
# stats.tsv has one line a record; the joined file's index answers a region query with the records there;
# a rerun after removing the final outputs re-runs only the final task (the parts come from the journal)
# and gives the same bytes.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_cohort_parallel.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "cohort_parallel: $*" >&2; exit 1; }
"$T" simulate --out "$W/sim" --samples 16 --coverage 4 --length 20000 --bam --seed 7 > /dev/null
common=(--ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --mode deep --batch-size 4 --threads 1
        --shard-size 5000)
run() { # NAME NP
  "$MPI" --oversubscribe -n "$2" "$T" run "${common[@]}" --out "$W/$1" --log-level info > "$W/$1.log" 2>&1 ||
    { tail -5 "$W/$1.log" >&2; fail "$1: the run failed"; }
}
outs=(cohort.bcf cohort.bcf.csi stats.tsv statistics.json sample_qc.tsv)
run np1 1
n_tasks=$(grep -c $'\tcohort/p[0-9]*$' "$W/np1/tasks.tsv") || true
n_parts=$(find "$W/np1/cohort_parts" -name 'p*.bcf' | wc -l)
[ "$n_tasks" -ge 3 ] || fail "only ${n_tasks:-0} cohort part tasks"
[ "$n_parts" -eq "$n_tasks" ] || fail "$n_parts part BCFs for $n_tasks part tasks"
for p in "$W"/np1/cohort_parts/g00000/p*.bcf; do
  [ -s "${p%.bcf}.tsv" ] && [ -s "${p%.bcf}.acc" ] || fail "$p: its stats lines or counts are missing"
  n=$(bcftools view -H "$p" | wc -l)
  [ "$n" -gt 0 ] || fail "$p holds no records: the split did not divide the sites"
done
bcftools view -H "$W/np1/cohort.bcf" > "$W/joined.txt"
for p in "$W"/np1/cohort_parts/g00000/p*.bcf; do bcftools view -H "$p"; done > "$W/parts.txt"
cmp -s "$W/joined.txt" "$W/parts.txt" || fail "cohort.bcf's records are not the parts' records in order"
[ "$(bcftools view -h "$W/np1/cohort.bcf" | grep -c '^#CHROM')" -eq 1 ] || fail "cohort.bcf has not one header"
cmp -s <(bcftools view --no-version -h "$W/np1/cohort.bcf") <(bcftools view --no-version -h "$W/np1/cohort_parts/g00000/p00000.bcf") ||
  fail "cohort.bcf's header is not the first part's"
nrec=$(wc -l < "$W/joined.txt")
[ "$nrec" -gt 20 ] || fail "only $nrec records"
[ "$(($(wc -l < "$W/np1/stats.tsv") - 1))" -eq "$nrec" ] || fail "stats.tsv has not one line a record"
ctg=$(cut -f1 "$W/joined.txt" | head -1)
want=$(awk '$2 >= 5001 && $2 <= 12000' "$W/joined.txt" | wc -l)
got=$(bcftools view -H -r "$ctg:5001-12000" "$W/np1/cohort.bcf" | wc -l)
[ "$want" -gt 0 ] && [ "$got" -eq "$want" ] || fail "the index found $got records in $ctg:5001-12000, not $want"
for np in 2 3; do
  run "np$np" "$np"
  for f in "${outs[@]}"; do cmp -s "$W/np1/$f" "$W/np$np/$f" || fail "$f differs at $np ranks"; done
done
# resume: the final task alone runs again
for f in "${outs[@]}"; do cp "$W/np1/$f" "$W/$f.first"; done
rm -f "$W/np1/cohort.bcf" "$W/np1/stats.tsv"
run np1 1
grep -q ", 1 executed" "$W/np1.log" || { grep 'tasks (' "$W/np1.log" >&2; fail "the rerun executed more than the final task"; }
for f in "${outs[@]}"; do cmp -s "$W/$f.first" "$W/np1/$f" || fail "$f differs after the rerun"; done
echo "cohort_parallel: $n_parts parts, $nrec records, identical at 1, 2 and 3 ranks and after a rerun of the final task"
