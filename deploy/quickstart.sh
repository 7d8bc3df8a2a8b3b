#!/usr/bin/env bash
# Install what is missing, build tessera, simulate the demo cohort (16 samples, 200 kb, 20x,
# 2 populations) and run the whole pipeline on it under mpirun -n 2; print what it found.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
"$ROOT/deploy/setup.sh"
"$ROOT/deploy/build.sh"
TESSERA="$ROOT/build/tessera"
DEMO="${DEMO_DIR:-$ROOT/demo}"
rm -rf "$DEMO/cohort" "$DEMO/run"
mkdir -p "$DEMO"
"$TESSERA" simulate --out "$DEMO/cohort" --samples 16 --coverage 20 --length 200000 \
  --populations 2 --fst 0.05 --seed 7
start=$(date +%s.%N)
mpirun --oversubscribe -n 2 "$TESSERA" run --ref "$DEMO/cohort/ref.fa" --samples "$DEMO/cohort/samples.tsv" \
  --out "$DEMO/run" --shard-size 100000 --batch-size 8 --log-level warn
end=$(date +%s.%N)
read -r tp fp fn prec rec < <("$ROOT/deploy/score.sh" "$DEMO/cohort/ref.fa" "$DEMO/cohort/truth.vcf.gz" "$DEMO/run/cohort.bcf")
truth_n=$(bcftools view -H "$DEMO/cohort/truth.vcf.gz" | wc -l)
called=$(bcftools view -H "$DEMO/run/cohort.bcf" | wc -l)
echo
echo "demo: $truth_n true variant sites ($((tp + fn)) alleles); tessera called $called sites"
printf "demo: recall %.3f, precision %.3f (alleles: tp %d, fp %d, fn %d; PASS, after bcftools norm -m-)\n" "$rec" "$prec" "$tp" "$fp" "$fn"
printf "demo: tessera run took %.1f s on 2 ranks; outputs in %s\n" "$(echo "$end - $start" | bc -l 2>/dev/null || awk -v a="$start" -v b="$end" 'BEGIN{print b-a}')" "$DEMO/run"
