#!/usr/bin/env bash
# `--mode auto` decides from depth measured over windows of the run's regions (issue 21), not from
# index counts over the whole reference:
#   partial: 10x reads over 40 kb of a 400 kb reference (a region of a larger genome, a panel): deep
#            (the index estimate said 1x, low-pass);
#   cram:    the same reads as CRAM (no counts in a CRAM index): deep;
#   low:     0.5x over the whole reference, as BAM and as CRAM: lowpass (CRAM always ran deep before).
# The plan's log line names the measured depth and the choice (no --regions is given: the windows span
# the whole reference, most of them without reads in the partial cases).
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_mode_auto.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "mode_auto: $*" >&2; exit 1; }
"$T" simulate --out "$W/deep" --samples 2 --coverage 10 --length 400000 --bam --seed 3 > /dev/null
"$T" simulate --out "$W/low" --samples 4 --coverage 0.5 --length 400000 --bam --seed 4 > /dev/null
mkdir -p "$W/part" "$W/lowc"
printf 'sample\tpopulation\tbam\n' > "$W/part/bam.tsv"
printf 'sample\tpopulation\tbam\n' > "$W/part/cram.tsv"
for s in S0001 S0002; do
  samtools view -b -o "$W/part/$s.bam" "$W/deep/bam/$s.bam" sim1:100001-140000 && samtools index "$W/part/$s.bam"
  samtools view -C -T "$W/deep/ref.fa" -o "$W/part/$s.cram" "$W/part/$s.bam" && samtools index "$W/part/$s.cram"
  printf '%s\tpop1\t%s\n' "$s" "$W/part/$s.bam" >> "$W/part/bam.tsv"
  printf '%s\tpop1\t%s\n' "$s" "$W/part/$s.cram" >> "$W/part/cram.tsv"
done
printf 'sample\tpopulation\tbam\n' > "$W/lowc/cram.tsv"
for s in S0001 S0002 S0003 S0004; do
  samtools view -C -T "$W/low/ref.fa" -o "$W/lowc/$s.cram" "$W/low/bam/$s.bam" && samtools index "$W/lowc/$s.cram"
  printf '%s\tpop1\t%s\n' "$s" "$W/lowc/$s.cram" >> "$W/lowc/cram.tsv"
done
# plan NAME REF SHEET WANT: a whole run (small), then its mode line and the choice
plan() {
  "$MPI" --oversubscribe -n 1 "$T" run --ref "$2" --samples "$3" --out "$W/out.$1" --threads 1 --log-level info \
    > "$W/$1.log" 2>&1 || { cat "$W/$1.log" >&2; fail "$1: the run failed"; }
  grep -F "mode auto:" "$W/$1.log" || fail "$1: no 'mode auto:' line"
  grep -q "mode auto: .* -> $4 mode" "$W/$1.log" || fail "$1: expected $4 mode"
  grep -q "plan: .*, $4 mode (auto)" "$W/$1.log" || fail "$1: the plan did not run $4 mode"
}
plan partial_bam "$W/deep/ref.fa" "$W/part/bam.tsv" deep
plan partial_cram "$W/deep/ref.fa" "$W/part/cram.tsv" deep
plan low_bam "$W/low/ref.fa" "$W/low/samples.tsv" lowpass
plan low_cram "$W/low/ref.fa" "$W/lowc/cram.tsv" lowpass
# the measured depths are the real ones: about 10x (partial) and under 2x (low)
awk '/mode auto:/ { for (i = 1; i <= NF; i++) if ($i == "depth") { sub(/x$/, "", $(i + 1)); print $(i + 1) } }' \
  "$W/partial_bam.log" | awk '{ exit !($1 > 6 && $1 < 14) }' || fail "partial: depth not near 10x"
echo "mode_auto: partial coverage -> deep (BAM and CRAM); 0.5x -> lowpass (BAM and CRAM)"
