#!/bin/bash
# run_floor_bench.sh TESSERA [COHORT] [THREADS]
# A benchmark (not a test): issue 22's "whole run <= 1.15x minimap2 alone" on an existing cohort of
# real-haplotype reads, both sides in one invocation.
#   COHORT   a folder made by tests/bench/accuracy/make_cohort.sh [/work/accdata/8x1000000x30]: ref/chrX.fa
#            (+ .fai), ref/region.txt, samples.fastq.tsv (paths relative to it)
#   index    built before anything is timed: minimap2 -x sr -d (the floor's) and tessera's own beside a
#            link to the reference in a scratch folder (a 1,000-pair `tessera align`, untimed), so the
#            timed run logs "index: reused"
#   floor    per sample `minimap2 -ax sr -t THREADS idx R1 R2 > /dev/null` [THREADS 2]
#   tessera  mpirun -n 1 tessera run --ref REF --samples COHORT/samples.fastq.tsv --mode deep
#            --regions REGION --threads THREADS (reads -> cohort: align, call, joint, cohort)
# Prints CPU seconds (user + system of every process, /usr/bin/time) and wall seconds of both, the
# ratio (target <= 1.15) and summary.json's CPU seconds per stage. The machine may be shared: CPU
# seconds are the figure to compare; wall seconds are what this run saw.
set -eu
T=${1:?usage: run_floor_bench.sh TESSERA [COHORT] [THREADS]}
C=${2:-/work/accdata/8x1000000x30}; P=${3:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for f in ref/chrX.fa ref/chrX.fa.fai ref/region.txt samples.fastq.tsv; do
  [ -r "$C/$f" ] || { echo "run_floor_bench.sh: $C/$f is missing (make it with tests/bench/accuracy/make_cohort.sh)" >&2; exit 1; }
done
command -v minimap2 >/dev/null || { echo "run_floor_bench.sh: minimap2 is not installed" >&2; exit 1; }
T=$(readlink -f "$T"); C=$(readlink -f "$C")
W=$(mktemp -d "${TMPDIR:-/tmp}/tsr-floor-bench.XXXXXX")
trap 'rm -rf "$W"' EXIT
mkdir -p "$W/ref"
ln -s "$C/ref/chrX.fa" "$W/ref/chrX.fa"; ln -s "$C/ref/chrX.fa.fai" "$W/ref/chrX.fa.fai"
REF="$W/ref/chrX.fa"; REGION=$(cat "$C/ref/region.txt")
SHEET="$C/samples.fastq.tsv"
tm() { /usr/bin/time -f "%e %U %S" -o "$W/time" "$@" >"$W/out" 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
       awk '{printf "%.2f %.2f\n", $2 + $3, $1}' "$W/time"; }

# ---- the indexes, untimed
minimap2 -x sr -d "$W/ref.mmi" "$REF" 2>/dev/null
read -r s1 _ r1 r2 < <(awk -F'\t' 'NR == 2' "$SHEET")
zcat "$C/$r1" | head -4000 | gzip > "$W/w_1.fq.gz"; zcat "$C/$r2" | head -4000 | gzip > "$W/w_2.fq.gz"
printf 'sample\tpopulation\tfastq1\tfastq2\nW\tp\tw_1.fq.gz\tw_2.fq.gz\n' > "$W/w.tsv"
mpirun --oversubscribe -n 1 "$T" align --ref "$REF" --samples "$W/w.tsv" --out "$W/warm" --threads "$P" \
  --log-level warn >/dev/null 2>&1 || { echo "run_floor_bench.sh: building tessera's index failed" >&2; exit 1; }

# ---- the floor, then the whole run
floor() {
  awk -F'\t' 'NR > 1 {print $3, $4}' "$SHEET" | while read -r a b; do
    minimap2 -ax sr -t "$P" "$W/ref.mmi" "$C/$a" "$C/$b" >/dev/null 2>&1
  done
}
read fc fw < <(tm bash -c "$(declare -f floor); W=$W; C=$C; P=$P; SHEET=$SHEET; floor")
read rc rw < <(tm mpirun --oversubscribe -n 1 "$T" run --ref "$REF" --samples "$SHEET" --out "$W/r" --mode deep \
                 --regions "$REGION" --threads "$P" --log-level info)
REUSED=$(grep -c "index: reused" "$W/err" || true)
STAGES=$(grep -o '{"stage": "[a-z_0-9]*", "tasks": [0-9]*, "cpu_seconds": [0-9.]*' "$W/r/summary.json" |
         sed 's/{"stage": "\([^"]*\)", "tasks": [0-9]*, "cpu_seconds": \(.*\)/\1 \2/' | tr '\n' ' ')
n=$(awk 'NR > 1' "$SHEET" | wc -l)
echo "floor benchmark: $n samples of $C, region $REGION, $P threads"
printf "| %-66s | %8s | %8s |\n" "pipeline" "CPU s" "wall s"
printf "| %-66s | %8s | %8s |\n" "minimap2 -ax sr -t $P idx R1 R2 > /dev/null, index prebuilt (floor)" "$fc" "$fw"
printf "| %-66s | %8s | %8s |\n" "tessera run --mode deep, reads -> cohort, 1 rank x $P threads" "$rc" "$rw"
awk -v a="$rc" -v f="$fc" -v u="$REUSED" \
  'BEGIN {printf "whole tessera run / minimap2 alone: CPU %.3f (target <= 1.15); the index was %s\n", a/f, (u > 0 ? "reused" : "BUILT (not reused)")}'
echo "tessera run by stage (CPU s, summary.json): $STAGES"
