#!/bin/bash
# Issue 18's done-when case: 4 samples at 10x on a 200 kb contig, run on its reference (plain) and on the
# same reference + N GRCh38-shaped small contigs (make_decoys.py). Prints each run's CPU seconds
# (user + sys of tessera, from /usr/bin/time; wall time is printed too but means little on a shared
# machine), tasks, files under evidence/ and joint/, and whether the records are identical.
# Each reference's minimap2 index (REF.fa.mmi, reused by every later run as `bwa index` files are) is
# built first by `tessera align` on one read pair and timed apart, so the ratio is printed both for the
# runs alone (the index already built, as issue 22 measures alignment) and with the index build added.
# Each run's CPU by stage (`tessera inspect`) follows, to see which stage the decoys cost.
#   run_decoy_bench.sh BUILD_DIR [N_DECOYS=3000] [RANKS=1] [WORK=/tmp/tsr_decoy_bench]
set -euo pipefail
build=$1
n=${2:-3000}
np=${3:-1}
W=${4:-/tmp/tsr_decoy_bench}
T=$build/tessera
here=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
rm -rf "$W" && mkdir -p "$W/decref"
"$T" simulate --out "$W/sim" --samples 4 --coverage 10 --length 200000 --seed 7 > /dev/null
python3 "$here/make_decoys.py" "$W/sim/ref.fa" "$W/decref/ref.fa" --n "$n" --seed 1
# one read pair of the first sample: enough for `tessera align` to build the index
mkdir -p "$W/pair"
first=$(awk -F'\t' 'NR == 2 {print $3 "\t" $4}' "$W/sim/samples.tsv")
for k in 1 2; do
  f=$(cut -f$k <<<"$first")
  zcat "$W/sim/$f" | awk 'NR <= 4' | gzip > "$W/pair/p_$k.fastq.gz"  # awk reads to the end: no SIGPIPE under pipefail
done
printf 'sample\tpopulation\tfastq1\tfastq2\nP\tpop1\tp_1.fastq.gz\tp_2.fastq.gz\n' > "$W/pair/samples.tsv"
for r in plain dec; do
  ref=$W/sim/ref.fa
  [ "$r" = dec ] && ref=$W/decref/ref.fa
  /usr/bin/time -f "%U %S %e" -o "$W/$r.idx.time" "$T" align --ref "$ref" --samples "$W/pair/samples.tsv" \
    --out "$W/$r.idx" > "$W/$r.idx.log" 2>&1
  [ -s "$ref.mmi" ] || { echo "no index beside $ref after tessera align" >&2; exit 1; }
  read -r u s e < "$W/$r.idx.time"
  printf '%-6s index build (tessera align of one pair): cpu_s %6.2f\n' "$r" "$(echo "$u + $s" | bc)"
done
for r in plain dec; do
  ref=$W/sim/ref.fa
  [ "$r" = dec ] && ref=$W/decref/ref.fa
  /usr/bin/time -f "%U %S %e" -o "$W/$r.time" mpirun --oversubscribe -n "$np" "$T" run --ref "$ref" \
    --samples "$W/sim/samples.tsv" --out "$W/$r" > "$W/$r.log" 2>&1
  read -r u s e < "$W/$r.time"
  tasks=$(sed -n 's/^tessera run: \([0-9]*\) tasks.*/\1/p' "$W/$r.log")
  files=$(find "$W/$r/evidence" "$W/$r/joint" -type f | wc -l)
  bcftools view -H "$W/$r/cohort.bcf" | cut -f1-8 > "$W/$r.rec"
  printf '%-6s cpu_s %6.2f  wall_s %7.2f  tasks %5s  files %5s  records %s\n' "$r" \
    "$(echo "$u + $s" | bc)" "$e" "$tasks" "$files" "$(wc -l < "$W/$r.rec")"
done
# CPU by stage (summary.json through `tessera inspect`): where the decoys' excess goes
for r in plain dec; do
  "$T" inspect "$W/$r" | awk -v r="$r" '/^  stage/ {on = 1; next} on && NF == 5 {printf "%-6s stage %-10s tasks %4s  cpu_s %6s\n", r, $1, $2, $3} NF != 5 {on = 0}'
done
cmp -s "$W/plain.rec" "$W/dec.rec" && echo "records: identical" || echo "records: DIFFER"
cpu() { echo "$(cut -d' ' -f1 "$1") + $(cut -d' ' -f2 "$1")" | bc; }
grep -q 'index: reused' "$W/dec.log" || echo "note: the decoy run did not report 'index: reused'"
echo "cpu ratio dec/plain, index built before: $(echo "scale=2; $(cpu "$W/dec.time") / $(cpu "$W/plain.time")" | bc)"
echo "cpu ratio dec/plain, index build added:  $(echo "scale=2; ($(cpu "$W/dec.time") + $(cpu "$W/dec.idx.time")) / ($(cpu "$W/plain.time") + $(cpu "$W/plain.idx.time"))" | bc)"
