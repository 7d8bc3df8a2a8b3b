#!/usr/bin/env bash
# `tessera stats` resumes through the scheduler's journal, like `tessera run`:
#  1. a finished run, then DIR/stats.tsv and one region's stats.d/NNNNNNNN.tsv removed: the rerun (at
#     another rank count) executes exactly that region's task and the merge (the final line, summary.json
#     and the journal's new records say so), and the outputs are byte-identical to the first run's; a
#     rerun with nothing missing executes nothing; another --window on the same DIR is refused.
#  2. kill -9 of every process of a run with thousands of small regions once its journal holds a region
#     but not the merge (checked after the kill: a run that got to its merge fails the test, it is never
#     counted as interrupted); the rerun takes the journaled regions, executes the rest, and ends
#     byte-identical to case 1 (stats.tsv and the statistics do not depend on --window), with no
#     temporary file left and `tessera verify` clean.
# Usage: stats_resume.sh  (needs $TSR_TESSERA and $TSR_MPIEXEC from CTest)
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_stats_resume.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
statistics() { sed -n '/^  "statistics": {/,$p' "$1"; }

# 24 samples in 2 populations, one 3 Mb contig with a site every 700 bp (4,286 sites), FORMAT DP.
awk 'BEGIN{OFS="\t"; srand(5); S=24; L=3000000;
  print "##fileformat=VCFv4.2"; print "##contig=<ID=c1,length=" L ">";
  print "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">";
  print "##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Depth\">";
  h="#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"; for(j=0;j<S;j++) h=h sprintf("\tS%02d",j); print h;
  split("A C G T",B," ");
  for(pos=137;pos<=L;pos+=700){ r=B[1+int(rand()*4)]; a=B[1+(index("ACGT",r)+int(rand()*3))%4];
    line="c1\t" pos "\t.\t" r "\t" a "\t50\tPASS\t.\tGT:DP"; p=rand();
    for(j=0;j<S;j++){ gt=(rand()<p) "/" (rand()<p); if(rand()<0.03) gt="./."; line=line "\t" gt ":" (5+int(rand()*30)) }
    print line } }' | bcftools view -Oz -o "$W/c.vcf.gz"
bcftools index "$W/c.vcf.gz"
awk 'BEGIN{print "sample\tpopulation"; for(j=0;j<24;j++) printf "S%02d\t%s\n", j, (j%2?"P1":"P2")}' > "$W/pops.tsv"
ARGS=(--vcf "$W/c.vcf.gz" --samples "$W/pops.tsv")

# ---- 1. remove outputs, rerun: exactly the missing region and the merge run again.
D=$W/run
"$MPI" --oversubscribe -n 2 "$T" stats "${ARGS[@]}" --window 100k --out "$D" > "$W/first.log" ||
  fail "first run: $(cat "$W/first.log")"
total=$(wc -l < "$D/tasks.tsv")
[ "$total" -eq 31 ] || fail "expected 30 regions + the merge in tasks.tsv, found $total tasks"
grep -q "tessera stats: $total tasks (0 from the journal, $total executed, 0 retried)" "$W/first.log" ||
  fail "first run's task line: $(cat "$W/first.log")"
cp "$D/stats.tsv" "$W/ref.stats.tsv"
cp "$D/sample_qc.tsv" "$W/ref.sample_qc.tsv"
statistics "$D/summary.json" > "$W/ref.statistics"
grep -q '"fst_hudson"' "$W/ref.statistics" || fail "no statistics object in summary.json"
[ "$(tail -n +2 "$W/ref.stats.tsv" | wc -l)" -eq 4286 ] || fail "stats.tsv is not one line per site"
[ -s "$D/stats.d/00000005.tsv" ] || fail "region 5 has no lines: pick a region with sites"

rm "$D/stats.tsv" "$D/stats.d/00000005.tsv"
before=$(wc -l < "$D/journal.tsv")
"$MPI" --oversubscribe -n 3 "$T" stats "${ARGS[@]}" --window 100k --out "$D" > "$W/resume.log" ||
  fail "resumed run: $(cat "$W/resume.log")"
grep -q "tessera stats: $total tasks ($((total - 2)) from the journal, 2 executed, 0 retried)" "$W/resume.log" ||
  fail "the rerun did not execute exactly 2 tasks: $(cat "$W/resume.log")"
grep -q '"tasks_executed": 2,' "$D/summary.json" || fail "summary.json does not report 2 tasks executed"
# (then the audit head, an H record: scheduler/audit.c)
[ "$(tail -n +$((before + 1)) "$D/journal.tsv" | grep '^D' | cut -f 1,2)" = "$(printf 'D\tregion/00000005\nD\tstats/merge')" ] ||
  fail "the rerun journaled other tasks than region/00000005 and the merge: $(tail -n +$((before + 1)) "$D/journal.tsv" | cut -f 1,2)"
cmp "$W/ref.stats.tsv" "$D/stats.tsv" || fail "stats.tsv after the resume differs from the first run's"
cmp "$W/ref.sample_qc.tsv" "$D/sample_qc.tsv" || fail "sample_qc.tsv after the resume differs"
cmp "$W/ref.statistics" <(statistics "$D/summary.json") || fail "the statistics after the resume differ"

"$MPI" --oversubscribe -n 1 "$T" stats "${ARGS[@]}" --window 100k --out "$D" > "$W/again.log" ||
  fail "complete rerun: $(cat "$W/again.log")"
grep -q "tessera stats: $total tasks ($total from the journal, 0 executed, 0 retried)" "$W/again.log" ||
  fail "a rerun of a complete run executed tasks: $(cat "$W/again.log")"
cmp "$W/ref.stats.tsv" "$D/stats.tsv" || fail "stats.tsv changed on a complete rerun"

rc=0
"$MPI" --oversubscribe -n 1 "$T" stats "${ARGS[@]}" --window 50k --out "$D" > /dev/null 2> "$W/other.err" || rc=$?
[ "$rc" -eq 1 ] || fail "another --window on the same DIR exited $rc, not 1"
grep -q "belongs to another run" "$W/other.err" || fail "another --window was not refused by the journal: $(cat "$W/other.err")"
echo "case 1: removed region and stats.tsv: 2 of $total tasks executed at 3 ranks, outputs identical; other --window refused"

# ---- 2. kill -9 mid-run, then resume.
K=$W/kill
setsid "$MPI" --oversubscribe -n 2 "$T" stats "${ARGS[@]}" --window 300 --out "$K" > /dev/null 2> "$W/kill.err" &
pid=$!
for _ in $(seq 1 6000); do # poll up to ~60 s for the first journaled region
  grep -q $'^D\tregion/' "$K/journal.tsv" 2> /dev/null && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.01
done
# Open MPI gives each rank its own process group: kill every process of the session.
kill -9 $(ps -o pid= -s "$pid") 2> /dev/null || true
wait "$pid" 2> /dev/null || true
grep -q $'^D\tregion/' "$K/journal.tsv" || fail "the killed run journaled no region: $(cat "$W/kill.err")"
if grep -q $'^D\tstats/merge' "$K/journal.tsv"; then
  fail "the run reached its merge before the kill, so it was not interrupted (make its regions more numerous)"
fi
[ ! -e "$K/stats.tsv" ] || fail "stats.tsv exists although the merge never ran"
journaled=$(grep -c $'^D\tregion/' "$K/journal.tsv")
ktotal=$(wc -l < "$K/tasks.tsv")
# 10,000 windows of 300 bp, but the region tasks (and stats.d/'s files) are capped at 4,096
[ "$ktotal" -eq 4097 ] || fail "10,000 windows gave $((ktotal - 1)) region tasks, expected the cap of 4,096"
"$MPI" --oversubscribe -n 2 "$T" stats "${ARGS[@]}" --window 300 --out "$K" > "$W/kresume.log" ||
  fail "the run after kill -9: $(cat "$W/kresume.log")"
line=$(grep -o "tessera stats: [0-9]* tasks ([0-9]* from the journal, [0-9]* executed" "$W/kresume.log") ||
  fail "no task line after kill -9: $(cat "$W/kresume.log")"
read -r n_tasks n_skipped n_executed < <(echo "$line" | awk '{print $3, substr($5, 2), $9}')
[ "$n_tasks" -eq "$ktotal" ] || fail "task count $n_tasks, tasks.tsv has $ktotal"
[ "$n_skipped" -ge 1 ] && [ "$n_skipped" -le "$journaled" ] ||
  fail "after kill -9 the rerun took $n_skipped tasks from a journal of $journaled regions"
[ $((n_skipped + n_executed)) -eq "$n_tasks" ] || fail "$n_skipped from the journal + $n_executed executed != $n_tasks"
cmp "$W/ref.stats.tsv" "$K/stats.tsv" || fail "stats.tsv after kill -9 and resume differs from an uninterrupted run"
cmp "$W/ref.sample_qc.tsv" "$K/sample_qc.tsv" || fail "sample_qc.tsv after kill -9 and resume differs"
cmp "$W/ref.statistics" <(statistics "$K/summary.json") || fail "the statistics after kill -9 and resume differ"
[ -z "$(find "$K" -name '.tmp.*')" ] || fail "temporary files left: $(find "$K" -name '.tmp.*')"
"$T" verify "$K" > "$W/verify.log" 2>&1 || fail "tessera verify after the resume: $(cat "$W/verify.log")"
echo "case 2: kill -9 after $journaled of $((ktotal - 1)) regions journaled; the rerun took $n_skipped from the journal, executed $n_executed; outputs identical"
