#!/usr/bin/env bash
# --targets BED (issue 21): calling restricted to target intervals (an exome's or panel's capture BED).
#   restrict: every record of a --targets run lies inside a target, and the sites of the whole-contig
#             run that lie inside a target (away from its edges) are called there with the same alleles
#             and genotypes;
#   auto:     reads only over the targets of a 400 kb reference (an exome-like BAM): --mode auto with
#             --targets measures the depth inside the targets (about 10x) and runs deep;
#   refuse:   a bad BED line, and targets that miss every region, fail with one line and no cohort.bcf;
#   resume:   the same DIR with another targets BED is refused (the BED is in the run's fingerprint).
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_targets.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "targets: $*" >&2; exit 1; }
"$T" simulate --out "$W/c" --samples 4 --coverage 10 --length 60000 --bam --seed 12 > /dev/null
printf 'sim1\t10000\t20000\nsim1\t35000\t42000\n' > "$W/t.bed"
OPTS=(--ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --threads 1 --log-level error --mode deep)
"$MPI" --oversubscribe -n 1 "$T" run "${OPTS[@]}" --out "$W/all" > /dev/null || fail "the whole run failed"
"$MPI" --oversubscribe -n 2 "$T" run "${OPTS[@]}" --targets "$W/t.bed" --out "$W/tg" > /dev/null ||
  fail "the --targets run failed"
bcftools query -f '%POS\n' "$W/tg/cohort.bcf" > "$W/tg.pos"
n=$(wc -l < "$W/tg.pos")
[ "$n" -gt 5 ] || fail "restrict: only $n records in the targets"
awk '!(($1 > 10000 && $1 <= 20000) || ($1 > 35000 && $1 <= 42000)) { print; bad++ } END { exit bad > 0 }' \
  "$W/tg.pos" || fail "restrict: records outside the targets (above)"
# the whole run's sites inside a target, 300 bp from its edges, with the same alleles and genotypes
q='%POS %REF %ALT [%GT ]\n'
bcftools query -f "$q" "$W/all/cohort.bcf" |
  awk '($1 > 10300 && $1 <= 19700) || ($1 > 35300 && $1 <= 41700)' > "$W/all.in"
bcftools query -f "$q" "$W/tg/cohort.bcf" |
  awk '($1 > 10300 && $1 <= 19700) || ($1 > 35300 && $1 <= 41700)' > "$W/tg.in"
[ -s "$W/all.in" ] || fail "restrict: the whole run has no site inside the targets"
diff "$W/all.in" "$W/tg.in" > /dev/null || { diff "$W/all.in" "$W/tg.in" | head; fail "restrict: sites differ"; }
echo "restrict: $n records, all inside the targets; $(wc -l < "$W/all.in") inner sites as in the whole run"

# auto: exome-like BAMs (reads only over the targets) on a 400 kb reference
"$T" simulate --out "$W/x" --samples 2 --coverage 10 --length 400000 --bam --seed 13 > /dev/null
printf 'sim1\t50000\t56000\nsim1\t200000\t206000\nsim1\t300000\t306000\n' > "$W/x.bed"
printf 'sample\tpopulation\tbam\n' > "$W/x/ex.tsv"
for s in S0001 S0002; do
  samtools view -b -L "$W/x.bed" -o "$W/x/$s.ex.bam" "$W/x/bam/$s.bam" && samtools index "$W/x/$s.ex.bam"
  printf '%s\tpop1\t%s\n' "$s" "$W/x/$s.ex.bam" >> "$W/x/ex.tsv"
done
"$MPI" --oversubscribe -n 1 "$T" run --ref "$W/x/ref.fa" --samples "$W/x/ex.tsv" --targets "$W/x.bed" \
  --out "$W/ex" --threads 1 --log-level info > "$W/ex.log" 2>&1 || { cat "$W/ex.log" >&2; fail "auto: the run failed"; }
line=$(grep -F "mode auto:" "$W/ex.log") || fail "auto: no 'mode auto:' line"
echo "auto: $line"
grep -q "mode auto: .* -> deep mode" <<<"$line" || fail "auto: expected deep mode"
depth=$(sed -n 's/.*median depth \([0-9.]*\)x.*/\1/p' <<<"$line")
awk -v d="$depth" 'BEGIN { exit !(d >= 6) }' || fail "auto: measured ${depth}x inside 10x targets"

# refuse: a bad line, and targets on no region
printf 'sim1\t100\n' > "$W/bad.bed"
rc=0; "$MPI" --oversubscribe -n 1 "$T" run "${OPTS[@]}" --targets "$W/bad.bed" --out "$W/bad" > /dev/null 2> "$W/bad.err" || rc=$?
[ "$rc" != 0 ] || fail "refuse: a bad BED line was accepted"
grep -q "bad.bed line 1" "$W/bad.err" || { cat "$W/bad.err"; fail "refuse: the error does not name the file and line"; }
[ ! -e "$W/bad/cohort.bcf" ] || fail "refuse: a cohort.bcf was written"
printf 'sim1\t100\t200\n' > "$W/off.bed"
rc=0; "$MPI" --oversubscribe -n 1 "$T" run "${OPTS[@]}" --regions sim1:30001-60000 --targets "$W/off.bed" \
  --out "$W/off" > /dev/null 2> "$W/off.err" || rc=$?
[ "$rc" != 0 ] && grep -q "no target overlaps" "$W/off.err" || { cat "$W/off.err"; fail "refuse: disjoint targets"; }
echo "refuse: $(grep -h 'tessera' "$W/bad.err" "$W/off.err" | head -2 | tr '\n' '|')"

# resume: another BED on the same DIR
printf 'sim1\t10000\t21000\n' > "$W/t2.bed"
rc=0; "$MPI" --oversubscribe -n 1 "$T" run "${OPTS[@]}" --targets "$W/t2.bed" --out "$W/tg" > /dev/null 2> "$W/re.err" || rc=$?
[ "$rc" != 0 ] || fail "resume: a run with other targets reused DIR"
cmp -s <(bcftools query -f '%POS\n' "$W/tg/cohort.bcf") "$W/tg.pos" || fail "resume: the earlier cohort.bcf changed"
echo "resume: refused ($(head -1 "$W/re.err"))"
echo "targets: all cases passed"
