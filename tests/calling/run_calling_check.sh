#!/usr/bin/env bash
# Script tests of the calling stage on a small simulated cohort (reads at their true positions, BAM input).
#   accuracy: `tessera run` scored against truth.vcf.gz (deploy/score.sh); thresholds sit below the
#             benchmark's figures (tests/bench/accuracy) so a regression fails, noise does not.
#   gvcf:     `tessera export --gvcf` of one sample: valid for bcftools, indexed, reference blocks with END
#             and MIN_DP, and the sample's true homozygous-ALT SNVs called 1/1 at their sites.
set -euo pipefail
mode=${1:?usage: run_calling_check.sh accuracy|gvcf}
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun} SRC=${TSR_SOURCE_DIR:?}
W=$(mktemp -d /tmp/tsr_calling_check.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$T" simulate --out "$W/sim" --samples 6 --coverage 12 --length 60000 --seed 11 --bam > /dev/null
"$MPI" --oversubscribe -n 1 "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/run" \
  --threads 2 --log-level warn > "$W/run.log" 2>&1 || { cat "$W/run.log" >&2; exit 1; }
case $mode in
accuracy)
  read -r tp fp fn prec rec <<< "$(bash "$SRC/deploy/score.sh" "$W/sim/ref.fa" "$W/sim/truth.vcf.gz" "$W/run/cohort.bcf")"
  echo "tp=$tp fp=$fp fn=$fn precision=$prec recall=$rec"
  [ "$tp" -gt 20 ] || { echo "too few true variants called ($tp)" >&2; exit 1; }
  awk -v p="$prec" -v r="$rec" 'BEGIN { exit !(p >= 0.97 && r >= 0.95) }' ||
    { echo "accuracy below the thresholds (precision 0.97, recall 0.95)" >&2; exit 1; }
  ;;
gvcf)
  s=$(bcftools query -l "$W/sim/truth.vcf.gz" | head -1)
  "$T" export --gvcf "$s" --out "$W/run" --ref "$W/sim/ref.fa" > "$W/exp.log"
  g=$W/run/gvcf/$s.g.vcf.gz
  [ -s "$g" ] && [ -s "$g.tbi" ] || { echo "gVCF or its index missing" >&2; exit 1; }
  [ "$(bcftools query -l "$g")" = "$s" ] || { echo "wrong sample column" >&2; exit 1; }
  bcftools view -H "$g" > "$W/all.txt"
  nb=$(bcftools view -H -i 'INFO/END>0 && ALT="<*>"' "$g" | wc -l)
  [ "$nb" -gt 0 ] || { echo "no reference blocks" >&2; exit 1; }
  # blocks carry MIN_DP and never overlap the next record
  bcftools query -i 'INFO/END>0' -f '[%MIN_DP]\n' "$g" | awk '$1 < 1 { exit 1 }' ||
    { echo "a block without MIN_DP >= 1" >&2; exit 1; }
  bcftools query -f '%POS\t%INFO/END\n' "$g" | awk 'NR > 1 && $1 <= prev_end { exit 1 } { prev_end = ($2 == "." ? $1 : $2) }' ||
    { echo "records out of order or overlapping blocks" >&2; exit 1; }
  # a region query through the index works
  bcftools view -H -r "$(bcftools query -f '%CHROM:%POS\n' "$g" | head -1)" "$g" > /dev/null
  # the sample's true hom-ALT SNVs are 1/1 sites in its gVCF
  bcftools view -s "$s" -i 'GT="AA"' -v snps "$W/sim/truth.vcf.gz" | bcftools query -f '%POS[\t%TGT]\n' |
    tr '|' '/' > "$W/hom.txt"
  n=$(wc -l < "$W/hom.txt")
  [ "$n" -gt 3 ] || { echo "too few true hom-ALT SNVs in the test cohort ($n)" >&2; exit 1; }
  bcftools query -f '%POS[\t%TGT]\n' "$g" > "$W/called.txt"
  hit=$(grep -Fxc -f "$W/called.txt" "$W/hom.txt" || true)
  awk -v h="$hit" -v n="$n" 'BEGIN { exit !(h >= 0.9 * n) }' ||
    { echo "only $hit of $n true hom-ALT SNVs are 1/1 in the gVCF" >&2; exit 1; }
  # an unknown sample is a usage error naming it
  if "$T" export --gvcf NOPE --out "$W/run" --ref "$W/sim/ref.fa" 2> "$W/err.txt"; then
    echo "an unknown sample was accepted" >&2; exit 1
  fi
  grep -q NOPE "$W/err.txt" || { echo "the error does not name the sample" >&2; exit 1; }
  ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
