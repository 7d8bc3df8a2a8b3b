#!/usr/bin/env bash
# Packing small contigs into shared work units (issue 18), end to end through `tessera run`:
# 2 FASTQ samples at 10x over a 30 kb contig, run on its reference (plain) and on the same reference
# plus 300 GRCh38-shaped contigs (tests/bench/dispatch/make_decoys.py: chrUn_KI270302v1,
# HLA-A*01:01:01:01, alts, decoys; lowercase, N runs, IUPAC codes). Checks that
#   - the decoy run packs 301 contigs into a few units: few tasks, few files under evidence/ and joint/;
#   - its records are those of the plain run (the decoys draw no reads);
#   - its records are the same at 1 and 2 ranks, in deep and low-pass mode;
#   - `tessera export --gvcf` reads the packed partitions: same sim1 records as the plain run's.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun} SRC=${TSR_SOURCE_DIR:?}
W=$(mktemp -d /tmp/tsr_packing.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "packing: $*" >&2; exit 1; }
"$T" simulate --out "$W/sim" --samples 2 --coverage 10 --length 30000 --seed 11 > /dev/null
mkdir -p "$W/dec"
python3 "$SRC/tests/bench/dispatch/make_decoys.py" "$W/sim/ref.fa" "$W/dec/ref.fa" --n 300 --min 500 --max 3000
[ "$(wc -l < "$W/dec/ref.fa.fai")" = 301 ] || fail "the decoy reference should have 301 contigs"
grep -q '^HLA-A\*01:01:01:01	' "$W/dec/ref.fa.fai" || fail "no HLA contig in the decoy reference"

run() { # run NAME REF NP MODE [SHEET]
  "$MPI" --oversubscribe -n "$3" "$T" run --ref "$2" --samples "${5:-$W/sim/samples.tsv}" --out "$W/$1" \
    --mode "$4" --threads 1 > "$W/$1.log" 2>&1 || { cat "$W/$1.log" >&2; fail "run $1 failed"; }
  bcftools view -H "$W/$1/cohort.bcf" > "$W/$1.rec"
}
run plain "$W/sim/ref.fa" 1 deep
run dec1 "$W/dec/ref.fa" 1 deep
run dec2 "$W/dec/ref.fa" 2 deep
[ -s "$W/plain.rec" ] || fail "the plain run called nothing"
cmp -s "$W/plain.rec" "$W/dec1.rec" || fail "the decoy run's records differ from the plain run's"
cmp -s "$W/dec1.rec" "$W/dec2.rec" || fail "the decoy run's records differ between 1 and 2 ranks"
cmp -s "$W/dec1/cohort.bcf" "$W/dec2/cohort.bcf" || fail "cohort.bcf differs between 1 and 2 ranks"
# 301 contigs of 30 kb + ~0.4 Mb: one unit (1 Mb shards), so 1 evidence file per batch and 1 call set
nf=$(find "$W/dec1/evidence" "$W/dec1/joint" -type f | wc -l)
[ "$nf" -le 4 ] || fail "$nf files under evidence/ and joint/ (expected a packed unit's few)"
grep -q '^tessera run: [0-9]* tasks' "$W/dec1.log" || fail "no task count in the log"
nt=$(sed -n 's/^tessera run: \([0-9]*\) tasks.*/\1/p' "$W/dec1.log")
[ "$nt" -le 20 ] || fail "$nt tasks for 301 contigs (packing should give a handful)"

s=$(bcftools query -l "$W/sim/truth.vcf.gz" | head -1)
"$T" export --gvcf "$s" --out "$W/plain" --ref "$W/sim/ref.fa" > /dev/null
"$T" export --gvcf "$s" --out "$W/dec1" --ref "$W/dec/ref.fa" > /dev/null
bcftools view -H -r sim1 "$W/plain/gvcf/$s.g.vcf.gz" > "$W/g.plain"
bcftools view -H -r sim1 "$W/dec1/gvcf/$s.g.vcf.gz" > "$W/g.dec"
[ -s "$W/g.plain" ] || fail "empty gVCF"
cmp -s "$W/g.plain" "$W/g.dec" || fail "the gVCF of the packed run differs on sim1"

# low-pass takes aligned inputs: each deep run's CRAMs (aligned against its own reference)
for r in plain dec1; do
  printf 'sample\tpopulation\tbam\n' > "$W/$r.aln.tsv"
  for c in "$W/$r"/aln/g*/*.cram; do
    printf '%s\tpop1\t%s\n' "$(basename "$c" .cram)" "$c" >> "$W/$r.aln.tsv"
  done
done
run lplain "$W/sim/ref.fa" 1 lowpass "$W/plain.aln.tsv"
run ldec1 "$W/dec/ref.fa" 1 lowpass "$W/dec1.aln.tsv"
run ldec2 "$W/dec/ref.fa" 2 lowpass "$W/dec1.aln.tsv"
[ -s "$W/lplain.rec" ] || fail "the low-pass run called nothing"
cmp -s "$W/lplain.rec" "$W/ldec1.rec" || fail "low-pass: the decoy run's records differ from the plain run's"
cmp -s "$W/ldec1/cohort.bcf" "$W/ldec2/cohort.bcf" || fail "low-pass: cohort.bcf differs between 1 and 2 ranks"
echo "packing: $nt tasks, $nf files for 301 contigs; records identical to the plain run, at 1 and 2 ranks"
