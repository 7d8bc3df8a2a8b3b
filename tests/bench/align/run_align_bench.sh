#!/bin/bash
# run_align_bench.sh TESSERA [SAMPLES] [LENGTH] [COVERAGE] [RANKS]
# A benchmark (not a test): the same simulated paired reads through
#   tessera run (whole pipeline; align = index + map + merge with duplicate marking, BAM + BAI)
#   minimap2 -ax sr -t 2 | samtools fixmate -m | samtools sort | samtools markdup, + samtools index
# and prints CPU seconds (user + system, children included), wall seconds and the ratios, then the
# mapping concordance (same contig, position and strand of primary records) of one sample.
set -eu
T=${1:?usage: run_align_bench.sh TESSERA [SAMPLES] [LENGTH] [COVERAGE] [RANKS]}
N=${2:-4}; L=${3:-1000000}; X=${4:-20}; R=${5:-2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$(mktemp -d /tmp/tsr-align-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
"$T" simulate --out "$W/c" --samples "$N" --coverage "$X" --length "$L" --seed 17 >/dev/null
tm() { /usr/bin/time -f "%e %U %S" -o "$W/time" "$@" >/dev/null 2>"$W/err" || { cat "$W/err" >&2; exit 1; }
       awk '{printf "%.2f %.2f\n", $2 + $3, $1}' "$W/time"; }
read tc tw < <(tm mpirun --oversubscribe -n "$R" "$T" run --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --out "$W/t" --threads 1)
peer() {
  mkdir -p "$W/p"
  for s in $(awk -F'\t' 'NR>1{print $1}' "$W/c/samples.tsv"); do
    minimap2 -ax sr -t 2 -R "@RG\tID:$s\tSM:$s" "$W/c/ref.fa" "$W/c/reads/${s}_1.fastq.gz" "$W/c/reads/${s}_2.fastq.gz" 2>/dev/null |
      samtools fixmate -m - - | samtools sort -@ 1 - 2>/dev/null | samtools markdup - "$W/p/$s.bam" 2>/dev/null
    samtools index "$W/p/$s.bam"
  done
}
read pc pw < <(tm bash -c "$(declare -f peer); W=$W; peer")
s1=$(awk -F'\t' 'NR==2{print $1}' "$W/c/samples.tsv")
samtools view -F 0x900 "$W/t/aln/$s1.bam" | awk -F'\t' '{print $1, int($2/64)%4, $3, $4, int($2/16)%2}' | sort > "$W/ta"
samtools view -F 0x900 "$W/p/$s1.bam" | awk -F'\t' '{print $1, int($2/64)%4, $3, $4, int($2/16)%2}' | sort > "$W/pa"
same=$(comm -12 "$W/ta" "$W/pa" | wc -l); tot=$(wc -l < "$W/pa")
pairs=$(awk '/read_pairs/{gsub(/[^0-9]/,"",$4); print $4}' "$W/t/aln/$s1.qc.json")
echo "align benchmark: $N samples x $L bp at ${X}x (simulated), tessera at $R ranks x 1 thread"
printf "| %-58s | %8s | %8s |\n" "pipeline" "CPU s" "wall s"
printf "| %-58s | %8s | %8s |\n" "tessera run (align + call + joint + cohort)" "$tc" "$tw"
printf "| %-58s | %8s | %8s |\n" "minimap2 -t 2 | fixmate | sort | markdup + index" "$pc" "$pw"
awk -v a="$tc" -v b="$pc" -v c="$tw" -v d="$pw" 'BEGIN{printf "ratios tessera/peer: CPU %.2f, wall %.2f\n", a/b, c/d}'
awk -v s="$same" -v t="$tot" 'BEGIN{printf "concordance (%s): %d of %d primary records at the same contig, position and strand (%.3f%%)\n", "'"$s1"'", s, t, 100*s/t}'
grep -h "duplicate_pct\|mean_depth" "$W/t/aln/$s1.qc.json" | tr -s ' ' | head -2
echo "peer duplicates: $(samtools view -c -f 0x400 -F 0x900 "$W/p/$s1.bam") primary records; tessera: $(samtools view -c -f 0x400 -F 0x900 "$W/t/aln/$s1.bam")"
