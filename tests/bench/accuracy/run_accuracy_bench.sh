#!/usr/bin/env bash
# Benchmark (not a test): calling accuracy and CPU of tessera against bcftools (mpileup | call -mv,
# multi-sample) and freebayes on the same simulated BAMs of a real human reference piece (GRCh37 chrX
# from Debian's smalt-examples). Every call set is normalised with `bcftools norm -m -any -f REF` and
# scored on CHROM/POS/REF/ALT against truth.vcf.gz (PASS records with a non-reference genotype):
# SNV and indel precision/recall/F1, genotype concordance (GC) and non-reference concordance (NRC)
# over true variant records x samples, cohort AF r^2; CPU seconds (user + system of the whole command,
# /usr/bin/time; for tessera the whole `tessera run` on aligned BAMs: plan, call, joint, cohort outputs,
# mpirun included) and peak RSS (the largest process).
#
# Usage: run_accuracy_bench.sh TESSERA [CASE...]
#   CASE is SAMPLES:LENGTH:COVERAGE, default the issue's two cases "8:2000000:30" and "64:1000000:4".
#   Reads are simulated at their true positions (`tessera simulate --bam`; alignment is not under test).
#   TSR_BENCH_THREADS (default 1): threads for each tool (tessera --threads, bcftools --threads).
#   TSR_BENCH_FREEBAYES=0 skips freebayes (slow at 30x). The work folder is under /tmp and removed at
#   the end; TSR_BENCH_KEEP=1 keeps it.
set -euo pipefail
T=${1:?usage: run_accuracy_bench.sh TESSERA [SAMPLES:LENGTH:COVERAGE ...]}
shift
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=("8:2000000:30" "64:1000000:4")
THREADS=${TSR_BENCH_THREADS:-1}
MPI=${TSR_MPIEXEC:-mpirun}
HERE=$(cd "$(dirname "$0")" && pwd)
SRC_FA=/usr/share/doc/smalt/test/data/hs37chrXtrunc.fa.gz
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for tool in bcftools samtools freebayes python3 /usr/bin/time; do
  command -v "$tool" > /dev/null || { echo "run_accuracy_bench: $tool is missing" >&2; exit 1; }
done
[ -r "$SRC_FA" ] || { echo "run_accuracy_bench: $SRC_FA is missing (apt-get install smalt-examples)" >&2; exit 1; }
W=$(mktemp -d /tmp/tsr_accuracy_bench.XXXXXX)
[ "${TSR_BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
zcat "$SRC_FA" > "$W/chrX.fa"
samtools faidx "$W/chrX.fa"

# run LABEL CMD...: "LABEL cpu_s wall_s peak_rss_mb" into $W/$LABEL.time
run() {
  local label=$1; shift
  /usr/bin/time -f "%U %S %e %M" -o "$W/t" "$@" > "$W/$label.log" 2>&1 ||
    { echo "$label failed:" >&2; tail -20 "$W/$label.log" >&2; exit 1; }
  awk '{ printf "%.2f %.2f %.0f\n", $1 + $2, $3, $4 / 1024 }' "$W/t" > "$W/$label.time"
}

# score LABEL CALLS REF TRUTH -> "LABEL metrics..." appended to $W/table
score() {
  local label=$1 calls=$2 ref=$3 truth=$4 d=$W/score.$1
  mkdir -p "$d"
  bcftools norm -m -any -f "$ref" "$truth" 2> /dev/null |
    bcftools query -f '%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n' > "$d/truth.txt"
  # the truth's sample order (freebayes orders its columns its own way)
  bcftools view -f PASS,. -s "$(bcftools query -l "$truth" | paste -sd,)" "$calls" 2> /dev/null | bcftools norm -m -any -f "$ref" 2> /dev/null |
    bcftools view -i 'GT="alt"' 2> /dev/null |
    bcftools query -f '%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n' > "$d/calls.txt"
  printf '%s\t%s\t%s\n' "$label" "$(python3 "$HERE/score_calls.py" "$d/truth.txt" "$d/calls.txt")" \
    "$(cat "$W/$label.time")" >> "$W/table"
  # tessera: every non-reference record with its QUAL, LowQual included (its other filters still
  # apply), for the precision/recall trade-off below
  [ "${label%%.*}" = tessera ] || return 0
  bcftools view -e 'FILTER~"StrandBias" || FILTER~"ExcHet"' -s "$(bcftools query -l "$truth" | paste -sd,)" \
    "$calls" | bcftools norm -m -any -f "$ref" 2> /dev/null | bcftools view -i 'GT="alt"' |
    bcftools query -f '%CHROM\t%POS\t%REF\t%ALT\t%QUAL[\t%AD]\n' > "$d/ranked.txt"
}

: > "$W/table"
base=30000001 # a window of chrX without N runs
for c in "${CASES[@]}"; do
  IFS=: read -r ns len cov <<< "$c"
  name="${ns}x${len}x${cov}"
  D=$W/$name
  region="X:${base}-$((base + len - 1))"
  echo "case $name: simulating $ns samples over $region at ${cov}x" >&2
  "$T" simulate --ref "$W/chrX.fa" --region "$region" --samples "$ns" --coverage "$cov" --seed 7 --bam \
    --threads 2 --out "$D/sim" > "$D.sim.log" 2>&1 || { cat "$D.sim.log" >&2; exit 1; }
  REF=$D/sim/ref.fa
  [ -s "$REF.fai" ] || samtools faidx "$REF"
  ls "$D"/sim/bam/*.bam > "$D/bams.txt"
  echo "case $name: tessera" >&2
  run "tessera.$name" "$MPI" --oversubscribe -n 1 "$T" run --ref "$REF" --samples "$D/sim/samples.tsv" \
    --out "$D/tessera" --threads "$THREADS" --log-level warn
  score "tessera.$name" "$D/tessera/cohort.bcf" "$REF" "$D/sim/truth.vcf.gz"
  echo "case $name: bcftools" >&2
  run "bcftools.$name" bash -c "bcftools mpileup --threads $THREADS -a AD,DP -f '$REF' -b '$D/bams.txt' -Ou |
    bcftools call --threads $THREADS -mv -Ob -o '$D/bcftools.bcf'"
  score "bcftools.$name" "$D/bcftools.bcf" "$REF" "$D/sim/truth.vcf.gz"
  if [ "${TSR_BENCH_FREEBAYES:-1}" = 1 ]; then
    echo "case $name: freebayes" >&2
    run "freebayes.$name" bash -c "freebayes -f '$REF' -L '$D/bams.txt' | bgzip > '$D/freebayes.vcf.gz'"
    score "freebayes.$name" "$D/freebayes.vcf.gz" "$REF" "$D/sim/truth.vcf.gz"
  fi
done

echo
echo "threads per tool: $THREADS; CPU = user + system seconds of the whole command (tessera: \`tessera run\`"
echo "on BAMs under mpirun -n 1: call + joint + cohort outputs); RSS = peak of the largest process"
echo
echo "| tool.case | SNV P | SNV R | SNV F1 | indel P | indel R | indel F1 | GC | NRC | AF r2 | CPU s | wall s | peak RSS MB |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r label sp sr sf ip ir if_ gc nrc r2 tm; do
  read -r cpu wall rss <<< "$tm"
  echo "| $label | $sp | $sr | $sf | $ip | $ir | $if_ | $gc | $nrc | $r2 | $cpu | $wall | $rss |"
done < "$W/table"
echo
# tessera's SNVs ranked by QUAL against the better peer's precision and recall of each case: the
# recall tessera keeps at that precision, and the precision it keeps at that recall
for c in "${CASES[@]}"; do
  IFS=: read -r ns len cov <<< "$c"
  name="${ns}x${len}x${cov}"
  read -r pmax rmax <<< "$(awk -F'\t' -v c="$name" '{ split($1, a, ".") }
    a[1] != "tessera" && a[2] == c { if ($2 > p) p = $2; if ($3 > r) r = $3 } END { printf "%.4f %.4f\n", p, r }' "$W/table")"
  [ "$pmax" != 0.0000 ] || continue
  read -r r_at_p q1 p_at_r q2 r_oracle <<< "$(python3 "$HERE/score_calls.py" --curve \
    "$W/score.tessera.$name/truth.txt" "$W/score.tessera.$name/ranked.txt" "$pmax" "$rmax")"
  echo "case $name: tessera SNVs ranked by QUAL: recall $r_at_p at precision >= the peers' best $pmax (QUAL >= $q1);" \
    "precision $p_at_r at recall >= the peers' best $rmax (QUAL >= $q2);" \
    "an oracle with one QUAL threshold per read-count class: recall $r_oracle at that precision"
done
awk -F'\t' '{ split($1, a, "."); split($11, t, " "); cpu[a[1] "." a[2]] = t[1]; cases[a[2]] = 1 }
  END { for (c in cases) if (cpu["bcftools." c] > 0)
    printf "case %s: tessera CPU / bcftools CPU = %.2f (target <= 0.33)\n", c, cpu["tessera." c] / cpu["bcftools." c] }' "$W/table"
