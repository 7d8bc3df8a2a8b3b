#!/bin/bash
# Issue 18's done-when case: 4 samples at 10x on a 200 kb contig, run on its reference (plain) and on the
# same reference + N GRCh38-shaped small contigs (make_decoys.py). Prints each run's CPU seconds
# (user + sys of tessera, from /usr/bin/time; wall time is printed too but means little on a shared
# machine), tasks, files under evidence/ and joint/, and whether the records are identical.
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
cmp -s "$W/plain.rec" "$W/dec.rec" && echo "records: identical" || echo "records: DIFFER"
echo "cpu ratio dec/plain: $(echo "scale=2; ($(cut -d' ' -f1 "$W/dec.time") + $(cut -d' ' -f2 "$W/dec.time")) / ($(cut -d' ' -f1 "$W/plain.time") + $(cut -d' ' -f2 "$W/plain.time"))" | bc)"
