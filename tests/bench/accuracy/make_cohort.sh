#!/usr/bin/env bash
# Builds (once) the aligner-based accuracy cohort of one case and prints its folder
# (used by run_accuracy_bench.sh; also runnable alone to give a caller BAMs to iterate on).
#
# Usage: make_cohort.sh SAMPLES:LENGTH:COVERAGE[:PROFILE]
#   Truth: the first SAMPLES samples of the phased 1000 Genomes chr20 genotypes in Debian's
#   shapeit4-example, the records of chr20:1,000,001 + LENGTH laid by a constant offset onto GRCh37 chrX
#   (smalt-examples) at X:30,000,001 + LENGTH (N-free), alleles rewritten to be valid there
#   (lay_haplotypes.py), normalised with `bcftools norm -f`, overlapping records dropped.
#   Haplotypes: two FASTAs per sample (`bcftools consensus -H 1|2`) of the window and PAD bases either
#   side (consensus of the window, not of all 70 Mb of chrX: 2 x SAMPLES x 70 Mb would not fit the cache
#   at 64 samples, and reads outside the window only cost time).
#   Reads: ART, PROFILE (default HSXt = HiSeq X TruSeq; HS25 = HiSeq 2500), 2x150, fragments 400 +- 50,
#   COVERAGE/2 per haplotype, a fixed seed per sample and haplotype.
#   Alignments: `minimap2 -ax sr` and `bwa mem` against the whole of chrX (reads may mismap), read group
#   ID = SM = sample, `samtools sort`, indexed; duplicates kept (ART makes none on purpose).
#
# Environment:
#   TSR_BENCH_CACHE (default /work/accdata): the cache; the case lives in CACHE/<case>/ and is reused
#     when CACHE/<case>/.done exists (written last). CACHE/ref/ holds chrX with its bwa and minimap2
#     indices, built once for every case.
#   TSR_BENCH_JOBS (default 2): samples simulated and aligned at once (each aligner runs one thread).
#
# Layout of CACHE/<case>/ (<case> = SAMPLESxLENGTHxCOVERAGE, with xPROFILE unless HSXt):
#   ref/chrX.fa(.fai)        the reference (hard links to CACHE/ref/); ref/region.txt: the window X:beg-end
#   truth.vcf.gz(.tbi)       the truth with each sample's phased GT
#   hap/S.1.fa, hap/S.2.fa   the haplotypes of sample S
#   fastq/S_R1.fq.gz, _R2    its read pairs (both haplotypes)
#   bam/ALIGNER/S.bam(.bai)  its alignments, ALIGNER = minimap2 | bwa
#   samples.txt              the sample ids, cohort order
#   bams.ALIGNER.txt         the BAM paths, one a line (bcftools -b, freebayes -L)
#   samples.ALIGNER.tsv, samples.fastq.tsv   tessera sample sheets (population EUR)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${TSR_BENCH_CACHE:-/work/accdata}
JOBS=${TSR_BENCH_JOBS:-2}
SRC_VCF=/usr/share/doc/shapeit4/examples/test/reference.vcf.gz
SRC_FA=/usr/share/doc/smalt/test/data/hs37chrXtrunc.fa.gz
SRC_BEG=1000001 # chr20 window start; the source spans chr20:1,000,226-3,999,849
BASE=30000001   # chrX window start: no N for 4 Mb
PAD=1000        # reference bases simulated either side of the window, so its ends get full coverage

# one_sample DIR COVERAGE PROFILE INDEX SAMPLE: haplotypes, reads and both alignments of one sample
one_sample() {
  local d=$1 cov=$2 prof=$3 i=$4 s=$5 h
  for h in 1 2; do
    bcftools consensus -f "$d/hap/window.fa" -s "$s" -H "$h" "$d/truth.vcf.gz" 2> /dev/null > "$d/hap/$s.$h.fa"
    art_illumina -ss "$prof" -i "$d/hap/$s.$h.fa" -p -l 150 -m 400 -s 50 \
      -f "$(awk -v c="$cov" 'BEGIN { print c / 2 }')" -rs $((1000 + 2 * i + h)) -na -q -d "$s.h$h." \
      -o "$d/fastq/$s.h$h." > /dev/null 2>&1
  done
  cat "$d/fastq/$s.h1.1.fq" "$d/fastq/$s.h2.1.fq" | gzip -1 > "$d/fastq/${s}_R1.fq.gz"
  cat "$d/fastq/$s.h1.2.fq" "$d/fastq/$s.h2.2.fq" | gzip -1 > "$d/fastq/${s}_R2.fq.gz"
  rm -f "$d/fastq/$s".h[12].[12].fq
  local rg="@RG\\tID:$s\\tSM:$s" r1=$d/fastq/${s}_R1.fq.gz r2=$d/fastq/${s}_R2.fq.gz
  minimap2 -ax sr -t 1 -R "$rg" "$CACHE/ref/chrX.sr.mmi" "$r1" "$r2" 2> /dev/null |
    samtools sort -T "$d/bam/minimap2/$s.tmp" -o "$d/bam/minimap2/$s.bam" 2> /dev/null
  bwa mem -t 1 -R "$rg" "$CACHE/ref/chrX.fa" "$r1" "$r2" 2> /dev/null |
    samtools sort -T "$d/bam/bwa/$s.tmp" -o "$d/bam/bwa/$s.bam" 2> /dev/null
  samtools index "$d/bam/minimap2/$s.bam"
  samtools index "$d/bam/bwa/$s.bam"
}

if [ "${1:-}" = --one-sample ]; then
  shift
  one_sample "$@"
  exit 0
fi

IFS=: read -r ns len cov prof <<< "${1:?usage: make_cohort.sh SAMPLES:LENGTH:COVERAGE[:PROFILE]}"
prof=${prof:-HSXt}
name="${ns}x${len}x${cov}"
[ "$prof" = HSXt ] || name="${name}x$prof"
D=$CACHE/$name
if [ -e "$D/.done" ]; then
  echo "$D"
  exit 0
fi
mkdir -p "$CACHE"
# one builder per case: a second caller waits, then finds .done
exec 8> "$CACHE/$name.lock"
flock 8
if [ -e "$D/.done" ]; then
  echo "$D"
  exit 0
fi
for tool in bcftools samtools bgzip tabix art_illumina minimap2 bwa python3 flock; do
  command -v "$tool" > /dev/null || { echo "make_cohort: $tool is missing" >&2; exit 1; }
done
for f in "$SRC_VCF" "$SRC_FA"; do
  [ -r "$f" ] || { echo "make_cohort: $f is missing (apt-get install shapeit4-example smalt-examples)" >&2; exit 1; }
done
[ "$len" -le 2999000 ] || { echo "make_cohort: LENGTH must be <= 2999000 (the source spans 3 Mb)" >&2; exit 1; }

# the reference and its aligner indices, once for every case
mkdir -p "$CACHE/ref"
(
  flock 9
  cd "$CACHE/ref"
  if [ ! -e index.done ]; then
    echo "make_cohort: indexing chrX for bwa and minimap2 (a few minutes, once)" >&2
    [ -s chrX.fa ] || zcat "$SRC_FA" > chrX.fa
    samtools faidx chrX.fa
    bwa index chrX.fa > bwa_index.log 2>&1
    minimap2 -x sr -d chrX.sr.mmi chrX.fa > mm2_index.log 2>&1
    touch index.done
  fi
) 9> "$CACHE/ref.lock"

echo "make_cohort: building $D" >&2
rm -rf "$D"
mkdir -p "$D/ref" "$D/hap" "$D/fastq" "$D/bam/minimap2" "$D/bam/bwa"
ln -f "$CACHE/ref/chrX.fa" "$CACHE/ref/chrX.fa.fai" "$D/ref/" 2> /dev/null ||
  cp "$CACHE/ref/chrX.fa" "$CACHE/ref/chrX.fa.fai" "$D/ref/" # another file system
region="X:${BASE}-$((BASE + len - 1))"
echo "$region" > "$D/ref/region.txt"

# truth
samtools faidx "$CACHE/ref/chrX.fa" "$region" > "$D/hap/target.fa"
samples=$(bcftools query -l "$SRC_VCF" | head -n "$ns" | paste -sd,)
[ "$(echo "$samples" | tr , '\n' | wc -l)" = "$ns" ] || { echo "make_cohort: the source has fewer than $ns samples" >&2; exit 1; }
bcftools view -r "20:${SRC_BEG}-$((SRC_BEG + len - 1))" -s "$samples" -c 1 "$SRC_VCF" |
  bcftools annotate -x INFO |
  python3 "$HERE/lay_haplotypes.py" lay "$D/hap/target.fa" $((BASE - SRC_BEG)) X "$(cut -f2 "$D/ref/chrX.fa.fai")" |
  bcftools norm -f "$D/ref/chrX.fa" 2> /dev/null | bcftools sort -T "$D/hap" 2> /dev/null |
  python3 "$HERE/lay_haplotypes.py" drop-overlaps | bgzip > "$D/truth.vcf.gz"
tabix -p vcf "$D/truth.vcf.gz"
rm "$D/hap/target.fa"

# haplotypes, reads, alignments
samtools faidx "$CACHE/ref/chrX.fa" "X:$((BASE - PAD))-$((BASE + len - 1 + PAD))" > "$D/hap/window.fa"
echo "make_cohort: $ns samples: haplotypes, ART $prof reads at ${cov}x, minimap2 and bwa ($JOBS at once)" >&2
echo "$samples" | tr , '\n' | awk '{ print NR - 1, $0 }' |
  xargs -P "$JOBS" -n 2 bash "$0" --one-sample "$D" "$cov" "$prof"
for s in ${samples//,/ }; do
  for a in minimap2 bwa; do
    [ -s "$D/bam/$a/$s.bam.bai" ] || { echo "make_cohort: $D/bam/$a/$s.bam is missing" >&2; exit 1; }
  done
done

# lists and sample sheets
echo "$samples" | tr , '\n' > "$D/samples.txt"
for a in minimap2 bwa; do
  awk -v d="$D/bam/$a" '{ print d "/" $1 ".bam" }' "$D/samples.txt" > "$D/bams.$a.txt"
  awk -v a="$a" 'BEGIN { print "sample\tpopulation\tbam" } { print $1 "\tEUR\tbam/" a "/" $1 ".bam" }' \
    "$D/samples.txt" > "$D/samples.$a.tsv"
done
awk 'BEGIN { print "sample\tpopulation\tfastq1\tfastq2" }
  { print $1 "\tEUR\tfastq/" $1 "_R1.fq.gz\tfastq/" $1 "_R2.fq.gz" }' "$D/samples.txt" > "$D/samples.fastq.tsv"
touch "$D/.done"
echo "$D"
