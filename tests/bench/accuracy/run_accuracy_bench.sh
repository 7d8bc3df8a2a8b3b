#!/usr/bin/env bash
# Benchmark (not a test): calling accuracy and CPU of tessera against bcftools and freebayes on the
# same aligner output of real haplotypes. The cohort (make_cohort.sh, cached): phased 1000 Genomes chr20
# genotypes laid onto GRCh37 chrX, ART Illumina reads (2x150, HiSeq X profile by default), aligned to
# the whole of chrX with `minimap2 -ax sr` and with `bwa mem`. Each tool runs as its users run it, on
# the same BAMs, over the window only:
#   tessera      mpirun -n 1 tessera run --ref REF --samples SHEET --out DIR --mode deep --regions R
#   bcftools     bcftools mpileup -a AD,DP -f REF -r R -b BAMS | bcftools call -mv   (default BAQ)
#   freebayes    freebayes -f REF -r R -L BAMS, its usual QUAL > 20 filter
#   tessera-fastq  tessera end to end from the FASTQ pairs (its built-in minimap2; minimap2 table)
# and, as a separate "caller only" table, the old perfect-alignment case: `tessera simulate --bam` reads
# at their true positions, with the simulator's own truth.
# Every call set is scored the same way (score_calls.py): PASS records (freebayes: QUAL > 20) with a
# non-reference genotype, complex alleles and MNPs decomposed (`bcftools norm -a`: freebayes writes
# haplotype alleles such as TCTTT>CCTTC) and normalised with `bcftools norm -m -any -f REF`, in the
# truth's sample order;
# SNV and indel precision/recall/F1, genotype concordance (GC) and non-reference concordance (NRC)
# over true records x samples, cohort AF r^2, false SNVs inside a true deletion's span; CPU seconds
# (user + system of the whole command, /usr/bin/time, mpirun included), wall seconds, peak RSS of the
# largest process. Then a QUAL-ranked curve for every tool (every non-reference record whatever its
# QUAL, a LowQual filter included): best F1 over QUAL thresholds, and recall at the best PASS precision
# another tool reaches on the same BAMs (tessera-fastq, on its own alignments, sets no floor).
#
# Usage: run_accuracy_bench.sh TESSERA [CASE...]
#   CASE is SAMPLES:LENGTH:COVERAGE[:PROFILE], default "8:1000000:30" and "64:1000000:4".
# Environment:
#   TSR_BENCH_CACHE (default /work/accdata): cohort cache, CACHE/<case>/ (see make_cohort.sh), reused
#   TSR_BENCH_JOBS (default 2): samples simulated and aligned at once when a cohort is built
#   TSR_BENCH_PROFILE (default HSXt): ART profile when CASE names none (HS25 = HiSeq 2500)
#   TSR_BENCH_ALIGNERS (default "minimap2 bwa"): which BAMs to call on
#   TSR_BENCH_THREADS (default 1): tessera --threads, bcftools --threads (freebayes has one thread)
#   TSR_BENCH_FREEBAYES (default 1): 0 skips freebayes
#   TSR_BENCH_FASTQ (default 1): 0 skips tessera from FASTQ
#   TSR_BENCH_CALLER_ONLY (default 1): 0 skips the perfect-alignment case
#   TSR_BENCH_KEEP=1 keeps the work folder (/tmp/tsr_accuracy_bench.*: call sets, logs, dumps)
#   TSR_BENCH_WORK=DIR works in DIR and keeps it; a tool whose DIR/<case>.<aligner>/TOOL.time exists
#     is not run again, only scored (to rescore a kept run, or finish an interrupted one)
#   TSR_MPIEXEC (default mpirun)
set -euo pipefail
T=${1:?usage: run_accuracy_bench.sh TESSERA [SAMPLES:LENGTH:COVERAGE[:PROFILE] ...]}
shift
CASES=("$@")
[ ${#CASES[@]} -gt 0 ] || CASES=("8:1000000:30" "64:1000000:4")
THREADS=${TSR_BENCH_THREADS:-1}
ALIGNERS=${TSR_BENCH_ALIGNERS:-minimap2 bwa}
PROFILE=${TSR_BENCH_PROFILE:-HSXt}
MPI=${TSR_MPIEXEC:-mpirun}
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(cd "$(dirname "$T")" && pwd)/$(basename "$T")
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for tool in bcftools samtools freebayes bgzip python3 /usr/bin/time "$MPI" "$T"; do
  command -v "$tool" > /dev/null || { echo "run_accuracy_bench: $tool is missing" >&2; exit 1; }
done
if [ -n "${TSR_BENCH_WORK:-}" ]; then
  W=$TSR_BENCH_WORK
  mkdir -p "$W"
else
  W=$(mktemp -d /tmp/tsr_accuracy_bench.XXXXXX)
  [ "${TSR_BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT
fi
: > "$W/table"
: > "$W/groups"
: > "$W/scored"
start=$SECONDS

# run GROUP TOOL CMD...: "cpu_s wall_s peak_rss_mb" into $W/GROUP/TOOL.time, unless it is there
run() {
  local g=$1 tool=$2
  shift 2
  [ ! -s "$W/$g/$tool.time" ] || { echo "  $g: $tool (kept)" >&2; return 0; }
  echo "  $g: $tool" >&2
  /usr/bin/time -f "%U %S %e %M" -o "$W/$g/$tool.t" "$@" > "$W/$g/$tool.log" 2>&1 ||
    { echo "$g: $tool failed:" >&2; tail -20 "$W/$g/$tool.log" >&2; exit 1; }
  awk '{ printf "%.1f %.1f %.0f\n", $1 + $2, $3, $4 / 1024 }' "$W/$g/$tool.t" > "$W/$g/$tool.time"
}

# norm REF: stdin VCF/BCF to stdout VCF, complex alleles decomposed, biallelic, left-aligned
norm() {
  bcftools norm -a -Ou 2> /dev/null | bcftools norm -m -any -f "$1" 2> /dev/null
}

# score GROUP TOOL CALLS REF TRUTH REGION [EXPR]: a line of $W/table, and $W/GROUP/TOOL.ranked for the
# curve; EXPR (bcftools -i) narrows the PASS set (freebayes' QUAL > 20). The first call of a group
# (in this invocation) writes the group's truth dump.
score() {
  local g=$1 tool=$2 calls=$3 ref=$4 truth=$5 region=$6 samples expr=() ranked='FILTER="PASS" || FILTER="."'
  [ -z "${7:-}" ] || expr=(-i "$7")
  # the curve keeps a low-quality filter's records (tessera's LowQual), not its other filters
  ! bcftools view -h "$calls" | grep '^##FILTER=<ID=LowQual,' > /dev/null || ranked="$ranked"' || FILTER="LowQual"'
  samples=$(bcftools query -l "$truth" | paste -sd,)
  grep -qx "$g" "$W/scored" || bcftools view "$truth" | norm "$ref" |
    bcftools query -f '%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n' > "$W/$g/truth.txt"
  echo "$g" >> "$W/scored"
  bcftools view -t "$region" -f PASS,. "${expr[@]}" -s "$samples" "$calls" 2> /dev/null |
    norm "$ref" | bcftools view -i 'GT="alt"' 2> /dev/null |
    bcftools query -f '%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n' > "$W/$g/$tool.calls"
  bcftools view -t "$region" -i "$ranked" -s "$samples" "$calls" 2> /dev/null |
    norm "$ref" | bcftools view -i 'GT="alt"' 2> /dev/null |
    bcftools query -f '%CHROM\t%POS\t%REF\t%ALT\t%QUAL\n' > "$W/$g/$tool.ranked"
  printf '%s\t%s\t%s\t%s\n' "$g" "$tool" "$(python3 "$HERE/score_calls.py" "$W/$g/truth.txt" "$W/$g/$tool.calls")" \
    "$(cat "$W/$g/$tool.time")" >> "$W/table"
}

# peers GROUP REF REGION BAMS TRUTH: bcftools and freebayes on one set of BAMs
peers() {
  local g=$1 ref=$2 region=$3 bams=$4 truth=$5
  run "$g" bcftools bash -c "bcftools mpileup --threads $THREADS -a AD,DP -f '$ref' -r '$region' -b '$bams' -Ou |
    bcftools call --threads $THREADS -mv -Ob -o '$W/$g/bcftools.bcf'"
  score "$g" bcftools "$W/$g/bcftools.bcf" "$ref" "$truth" "$region"
  [ "${TSR_BENCH_FREEBAYES:-1}" = 1 ] || return 0
  run "$g" freebayes bash -c "freebayes -f '$ref' -r '$region' -L '$bams' | bgzip > '$W/$g/freebayes.vcf.gz'"
  score "$g" freebayes "$W/$g/freebayes.vcf.gz" "$ref" "$truth" "$region" 'QUAL>20'
}

for c in "${CASES[@]}"; do
  IFS=: read -r ns len cov prof <<< "$c"
  D=$(bash "$HERE/make_cohort.sh" "$ns:$len:$cov:${prof:-$PROFILE}")
  name=$(basename "$D")
  ref=$D/ref/chrX.fa
  region=$(cat "$D/ref/region.txt")
  echo "case $name: $region" >&2
  for a in $ALIGNERS; do
    g=$name.$a
    mkdir -p "$W/$g"
    echo "$g" >> "$W/groups"
    run "$g" tessera "$MPI" --oversubscribe -n 1 "$T" run --ref "$ref" --samples "$D/samples.$a.tsv" \
      --out "$W/$g/tessera.out" --mode deep --regions "$region" --threads "$THREADS" --log-level warn
    score "$g" tessera "$W/$g/tessera.out/cohort.bcf" "$ref" "$D/truth.vcf.gz" "$region"
    if [ "$a" = minimap2 ] && [ "${TSR_BENCH_FASTQ:-1}" = 1 ]; then
      run "$g" tessera-fastq "$MPI" --oversubscribe -n 1 "$T" run --ref "$ref" --samples "$D/samples.fastq.tsv" \
        --out "$W/$g/tessera-fastq.out" --mode deep --regions "$region" --threads "$THREADS" --log-level warn
      score "$g" tessera-fastq "$W/$g/tessera-fastq.out/cohort.bcf" "$ref" "$D/truth.vcf.gz" "$region"
    fi
    peers "$g" "$ref" "$region" "$D/bams.$a.txt" "$D/truth.vcf.gz"
  done
  if [ "${TSR_BENCH_CALLER_ONLY:-1}" = 1 ]; then
    g=$name.caller-only
    mkdir -p "$W/$g"
    echo "$g" >> "$W/groups"
    echo "  $g: tessera simulate --bam" >&2
    [ -s "$W/$g/sim/truth.vcf.gz.tbi" ] || "$T" simulate --ref "$ref" --region "$region" --samples "$ns" --coverage "$cov" --seed 7 --bam \
      --threads 2 --out "$W/$g/sim" > "$W/$g/sim.log" 2>&1 || { cat "$W/$g/sim.log" >&2; exit 1; }
    sref=$W/$g/sim/ref.fa
    [ -s "$sref.fai" ] || samtools faidx "$sref"
    contig=$(cut -f1 "$sref.fai")
    ls "$W/$g"/sim/bam/*.bam > "$W/$g/bams.txt"
    run "$g" tessera "$MPI" --oversubscribe -n 1 "$T" run --ref "$sref" --samples "$W/$g/sim/samples.tsv" \
      --out "$W/$g/tessera.out" --mode deep --threads "$THREADS" --log-level warn
    score "$g" tessera "$W/$g/tessera.out/cohort.bcf" "$sref" "$W/$g/sim/truth.vcf.gz" "$contig"
    peers "$g" "$sref" "$contig" "$W/$g/bams.txt" "$W/$g/sim/truth.vcf.gz"
  fi
done

echo
echo "$("$T" --version 2>&1 | head -1 | tr -s ' '); $(bcftools --version | head -1); freebayes $(freebayes --version 2>&1 | awk '{ print $NF }')"
echo "threads per tool: $THREADS; CPU = user + system seconds of the whole command (tessera: \`tessera run\`"
echo "under mpirun -n 1 on BAMs: call + joint + cohort outputs; tessera-fastq: align included);"
echo "RSS = peak of the largest process; del SNV = false SNVs inside a true deletion's span"
while read -r g; do
  case ${g##*.} in
    minimap2) what="minimap2 -ax sr BAMs (tessera-fastq: tessera end to end from the same FASTQ)" ;;
    bwa) what="bwa mem BAMs" ;;
    caller-only) what="caller only: reads at their true positions (tessera simulate --bam, its own truth)" ;;
    *) what=${g##*.} ;;
  esac
  echo
  echo "### ${g%.*}, $what"
  echo
  echo "| tool | SNV P | SNV R | SNV F1 | indel P | indel R | indel F1 | GC | NRC | AF r2 | del SNV | CPU s | wall s | peak RSS MB |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' -v g="$g" '$1 == g { split($13, t, " ");
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
      $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, t[1], t[2], t[3] }' "$W/table"
  echo
  echo "QUAL-ranked (every non-reference record; floor = the best PASS precision of the other tools on these BAMs):"
  echo
  echo "| tool | SNV best F1 | at QUAL >= | SNV recall at floor | floor | at QUAL >= | indel best F1 | at QUAL >= | indel recall at floor | floor | at QUAL >= |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  awk -F'\t' -v g="$g" '$1 == g { print $2 }' "$W/table" | while read -r tool; do
    read -r ps pi <<< "$(awk -F'\t' -v g="$g" -v t="$tool" '$1 == g && $2 != t && $2 != "tessera-fastq" {
      if ($3 > ps) ps = $3; if ($6 > pi) pi = $6 } END { printf "%.4f %.4f\n", ps, pi }' "$W/table")"
    read -r sf sq sr sqr if_ iq ir iqr <<< "$(python3 "$HERE/score_calls.py" --curve "$W/$g/truth.txt" \
      "$W/$g/$tool.ranked" "$ps" "$pi")"
    echo "| $tool | $sf | $sq | $sr | $ps | $sqr | $if_ | $iq | $ir | $pi | $iqr |"
  done
  awk -F'\t' -v g="$g" '$1 == g { split($13, t, " "); cpu[$2] = t[1] }
    END { if (cpu["bcftools"] > 0) printf "\ntessera calling CPU / bcftools CPU = %.2f (target <= 0.33)\n", cpu["tessera"] / cpu["bcftools"] }' "$W/table"
done < "$W/groups"
echo
echo "bench wall: $((SECONDS - start)) s (cohort generation included when not cached)"
