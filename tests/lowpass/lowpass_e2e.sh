#!/bin/bash
# End-to-end low-pass mode: a simulated ~1x cohort of aligned BAMs (40
# samples: 40x total depth) scored against its truth (seen: precision 1.000,
# recall at AF >= 5% 0.83, AF r2 0.953; thresholds 0.98 / 0.78 / 0.93, below
# the benchmark's 150-200x cohorts), the same calls for another batch size
# and 2 ranks and from CRAM copies of the BAMs, FASTQ refused with one line, and a few hundred tiny BAMs run
# to completion under `ulimit -n 64`.
set -euo pipefail
T=${TSR_TESSERA:?}
SRC=${TSR_SOURCE_DIR:?}
MPIEXEC=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_lowpass.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$T" simulate --out "$W/sim" --samples 40 --coverage 1 --length 200000 --bam --populations 2 --fst 0.05 \
    --threads 2 --seed 3 > /dev/null
"$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/a" --mode auto --batch-size 16 \
    --threads 2 --shard-size 100000 > "$W/a.log" 2>&1 || { cat "$W/a.log"; fail "lowpass run"; }
grep -q "lowpass mode (auto)" "$W/a.log" || fail "--mode auto did not pick lowpass at 1x"
grep -q '##FORMAT=<ID=DS' <<<"$(bcftools view -h "$W/a/cohort.bcf")" || fail "no FORMAT DS header"
grep -q '##FORMAT=<ID=GP' <<<"$(bcftools view -h "$W/a/cohort.bcf")" || fail "no FORMAT GP header"
bcftools query -f '[%DS ]\n' "$W/a/cohort.bcf" > "$W/ds.txt"
awk 'NR == 1 && /[0-9]/ { ok = 1 } END { exit !ok }' "$W/ds.txt" || fail "DS values missing"
score=$(python3 "$SRC/tests/bench/lowpass/score_lowpass.py" "$W/sim/ref.fa" "$W/sim/truth.vcf.gz" \
        "$W/a/cohort.bcf" AF_EM pop1,pop2)
echo "score: $score"
get() { echo "$score" | tr ' ' '\n' | sed -n "s/^$1=\([0-9.]*\).*/\1/p"; }
awk -v p="$(get precision)" -v r="$(get recall_ge5)" -v a="$(get af_r2)" 'BEGIN {
    if (p < 0.98) { print "precision " p " < 0.98"; exit 1 }
    if (r < 0.78) { print "recall (AF >= 5%) " r " < 0.78"; exit 1 }
    if (a < 0.93) { print "AF r2 " a " < 0.93"; exit 1 } }' || fail "accuracy below the thresholds"

# batches and ranks do not change the calls
"$MPIEXEC" --oversubscribe -n 2 "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/b" \
    --mode lowpass --batch-size 7 --threads 1 --shard-size 100000 --log-level warn > /dev/null
cmp <(bcftools view -H "$W/a/cohort.bcf") <(bcftools view -H "$W/b/cohort.bcf") || fail "calls depend on batches/ranks"

# CRAM inputs (decoded against --ref) give the same calls as the BAMs they were made from
mkdir -p "$W/cram"
awk -F'\t' -v OFS='\t' -v d="$W/cram" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "bam") c = i; print; next }
    { n = split($c, p, "/"); sub(/\.bam$/, ".cram", p[n]); src = $c; $c = d "/" p[n];
      print src "\t" $c > d "/pairs.tsv"; print }' "$W/sim/samples.tsv" > "$W/cram/samples.tsv"
while IFS=$'\t' read -r src dst; do
    case $src in /*) ;; *) src=$W/sim/$src ;; esac
    samtools view -C -T "$W/sim/ref.fa" -o "$dst" "$src" && samtools index "$dst"
done < "$W/cram/pairs.tsv"
"$T" run --ref "$W/sim/ref.fa" --samples "$W/cram/samples.tsv" --out "$W/cr" --mode lowpass --batch-size 16 \
    --threads 2 --shard-size 100000 --log-level warn > "$W/cr.log" 2>&1 || { cat "$W/cr.log"; fail "lowpass run on CRAM"; }
cmp <(bcftools view -H "$W/a/cohort.bcf") <(bcftools view -H "$W/cr/cohort.bcf") || fail "CRAM inputs give other calls"

# FASTQ inputs are refused with one clear line
"$T" simulate --out "$W/fq" --samples 2 --coverage 1 --length 5000 --seed 1 > /dev/null
if "$T" run --ref "$W/fq/ref.fa" --samples "$W/fq/samples.tsv" --out "$W/c" --mode lowpass 2> "$W/c.err"; then
    fail "--mode lowpass accepted FASTQ"
fi
grep -q "takes aligned BAM/CRAM inputs" "$W/c.err" || { cat "$W/c.err"; fail "no clear FASTQ refusal"; }
[ "$(grep -c . "$W/c.err")" -eq 1 ] || { cat "$W/c.err"; fail "more than one error line"; }

# many files under a low descriptor limit
"$T" simulate --out "$W/many" --samples 300 --coverage 0.5 --length 3000 --bam --threads 2 --seed 5 > /dev/null
( ulimit -n 64 && "$T" run --ref "$W/many/ref.fa" --samples "$W/many/samples.tsv" --out "$W/m" --mode lowpass \
    --threads 2 --batch-size 1000 --log-level warn > "$W/m.log" 2>&1 ) || { cat "$W/m.log"; fail "300 BAMs under ulimit -n 64"; }
grep -q '"samples": 300' "$W/m/summary.json" || fail "summary does not list 300 samples"
echo "lowpass_e2e: ok"
