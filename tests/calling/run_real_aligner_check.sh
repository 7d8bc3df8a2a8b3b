#!/usr/bin/env bash
# Known answers on real aligner output (issue 15): reads of a real GRCh37 chrX piece (X:30,055,001-30,057,000,
# contig renamed chrK) with a 1-bp deletion CA>C at chrK:771, simulated with ART's HiSeq X error profile
# and aligned with `minimap2 -ax sr` (tests/calling/data/real_del1/README.md says how they were made).
# Some reads end one base after the deletion and show it as a mismatch (A>C at 772) or a soft clip.
#   hom: 8 samples, all homozygous for the deletion, every read of each over chrK:769-774. Before the
#        haplotype check of reads that end inside an indel's window, 772 A>C was called 1/1 in one sample.
#   het: one sample, a handful of reads: 5 REF, 5 with the gap, 2 ending in the mismatch, 1 soft-clipped.
# Both must give the deletion with the right genotypes and no SNV from chrK:772 to 800.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun} SRC=${TSR_SOURCE_DIR:?}
D=$SRC/tests/calling/data/real_del1
W=$(mktemp -d /tmp/tsr_real_aligner.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "real_aligner: $*" >&2; exit 1; }
cp "$D/ref.fa" "$W/ref.fa"
for case in hom het; do
  printf 'sample\tpopulation\tbam\n' > "$W/$case.tsv"
  n=0
  for sam in "$D/$case".*.sam; do
    s=$(basename "$sam" .sam); s=${s#"$case".}
    samtools sort -o "$W/$s.bam" "$sam" 2> /dev/null
    samtools index "$W/$s.bam"
    printf '%s\tP\t%s\n' "$s" "$W/$s.bam" >> "$W/$case.tsv"
    n=$((n + 1))
  done
  "$MPI" --oversubscribe -n 1 "$T" run --ref "$W/ref.fa" --samples "$W/$case.tsv" --out "$W/$case" \
    --mode deep --log-level warn > "$W/$case.log" 2>&1 || { cat "$W/$case.log" >&2; fail "$case: tessera run failed"; }
  bcftools query -f '%POS\t%REF\t%ALT[\t%GT]\n' "$W/$case/cohort.bcf" > "$W/$case.txt"
  cat "$W/$case.txt"
  want=$([ "$case" = hom ] && echo 1/1 || echo 0/1)
  awk -F'\t' -v n="$n" -v g="$want" '$1 == 771 && $2 == "CA" && $3 == "C" {
      ok = 1; for (i = 4; i < 4 + n; i++) if ($i != g) ok = 0; found = ok }
    END { exit !found }' "$W/$case.txt" || fail "$case: the deletion chrK:771 CA>C is not called $want in every sample"
  awk -F'\t' '$1 >= 772 && $1 <= 800 && length($2) == 1 && length($3) == 1 { bad = 1; print "false SNV: " $0 }
    END { exit bad }' "$W/$case.txt" || fail "$case: an SNV called from reads the deletion explains"
done
echo "real_aligner: deletion called, no SNV next to it (hom: 8 samples, het: 1 sample)"
