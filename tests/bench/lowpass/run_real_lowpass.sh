#!/bin/bash
# Low-pass on real haplotypes (issue 16, "real 1000 Genomes haplotypes at 0.5x"; not a CTest test):
# the 300 phased 1000 Genomes samples of Debian's shapeit4-example laid onto GRCh37 chrX, ART HiSeq X
# reads at COVERAGE, aligned by minimap2 and by bwa mem (tests/bench/accuracy/make_cohort.sh builds and
# caches the case), then `tessera run --mode lowpass` on each aligner's BAMs and `bcftools mpileup -a AD,DP
# | bcftools call -mv` on the minimap2 BAMs, each over the window only, scored by score_lowpass.py against
# the truth's AF (`bcftools +fill-tags -t AF` of the 300 samples' genotypes).
# usage: run_real_lowpass.sh TESSERA [SAMPLES [LENGTH [COVERAGE]]]   (defaults 300 1000000 0.5)
# TSR_BENCH_CACHE as for make_cohort.sh; TSR_LP_NO_PEERS=1 skips bcftools; TSR_MPIEXEC (mpirun).
set -euo pipefail
T=$(readlink -f "${1:?usage: run_real_lowpass.sh TESSERA [SAMPLES [LENGTH [COVERAGE]]]}")
N=${2:-300}; L=${3:-1000000}; C=${4:-0.5}
HERE=$(cd "$(dirname "$0")" && pwd)
MPI=${TSR_MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
D=$("$HERE/../accuracy/make_cohort.sh" "$N:$L:$C" | tail -1)
REGION=$(cat "$D/ref/region.txt")
W=$(mktemp -d /tmp/tsr_lpreal.XXXXXX)
trap 'rm -rf "$W"' EXIT
bcftools +fill-tags "$D/truth.vcf.gz" -Oz -o "$W/truth.vcf.gz" -- -t AF 2> /dev/null
tabix -f "$W/truth.vcf.gz"
printf "%-10s %-9s %s %9s %9s\n" tool aligner scores cpu_s peak_MiB
row() { # tool aligner calls timefile
  read -r u s m < "$4"
  printf "%-10s %-9s %s %9.1f %9.0f\n" "$1" "$2" "$(python3 "$HERE/score_lowpass.py" "$D/ref/chrX.fa" "$W/truth.vcf.gz" "$3" AF)" \
    "$(echo "$u + $s" | bc)" "$(echo "$m / 1024" | bc)"
}
for a in minimap2 bwa; do
  /usr/bin/time -f "%U %S %M" -o "$W/t.$a" "$MPI" --bind-to none -n 1 "$T" run --ref "$D/ref/chrX.fa" \
    --samples "$D/samples.$a.tsv" --out "$W/tess_$a" --mode lowpass --regions "$REGION" --threads 2 \
    --log-level warn > /dev/null
  row tessera "$a" "$W/tess_$a/cohort.bcf" "$W/t.$a"
done
if [ -z "${TSR_LP_NO_PEERS:-}" ]; then
  (cd "$D" && /usr/bin/time -f "%U %S %M" -o "$W/t.bcf" sh -c "bcftools mpileup -a AD,DP -f ref/chrX.fa -r '$REGION' \
    -b bams.minimap2.txt 2> /dev/null | bcftools call -mv -Ob -o '$W/bcftools.bcf' 2> /dev/null")
  bcftools +fill-tags "$W/bcftools.bcf" -Ob -o "$W/bcftools.af.bcf" -- -t AF 2> /dev/null
  row bcftools minimap2 "$W/bcftools.af.bcf" "$W/t.bcf"
fi
