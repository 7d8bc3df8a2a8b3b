#!/bin/bash
# align_test.sh CASE - the align stage through align_drive (tessera run with a chunk size).
#   determinism  1/2/3 ranks, 1/2 threads, chunk sizes 100 and 5000 (gzip and BGZF input):
#                aln/S.bam byte-identical, 14 chunks indexed, coordinate order, cohort.bcf identical
#   dups         hand-made pairs with known duplicates: flags 0x400 and aln/S.qc.json figures
set -u
CASE=$1
D="$TSR_BUILD_DIR/tests/align/align_drive"
MPI="${TSR_MPIEXEC:-mpirun}"
W=$(mktemp -d /tmp/tsr-align.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
drive() { # np out chunk threads [sheet]
  "$MPI" --oversubscribe -n "$1" "$D" "$W/c/ref.fa" "${5:-$W/c/samples.tsv}" "$2" "$3" "$4" >"$2.log" 2>&1 ||
    { cat "$2.log" >&2; fail "align_drive -n $1 chunk $3 failed"; }
}
"$TSR_TESSERA" simulate --out "$W/c" --samples 2 --coverage 10 --length 40000 --seed 3 >/dev/null || fail simulate

case "$CASE" in
determinism)
  # sample 2 as BGZF: its chunks start at their block; sample 1 stays plain gzip
  for e in 1 2; do zcat "$W/c/reads/S0002_$e.fastq.gz" | bgzip -c > "$W/c/reads/S0002_$e.bgz.fastq.gz"; done
  sed -i 's/S0002_\([12]\).fastq.gz/S0002_\1.bgz.fastq.gz/g' "$W/c/samples.tsv"
  drive 1 "$W/a" 100 1
  drive 2 "$W/b" 100 2
  drive 3 "$W/t" 100 1
  drive 1 "$W/d" 5000 2
  for s in S0001 S0002; do
    n=$(awk -F'\t' 'NR==1{print $6}' "$W/a/aln/$s.chunks.tsv")
    [ "$n" = 14 ] || fail "$s: 1333 pairs in chunks of 100 should be 14 chunks, index says $n"
    for o in b t d; do cmp -s "$W/a/aln/$s.bam" "$W/$o/aln/$s.bam" || fail "$s: aln/$s.bam differs between runs a and $o"; done
    samtools view "$W/a/aln/$s.bam" | awk -F'\t' '$3!="*"{ if ($4 < last) exit 1; last = $4 }' ||
      fail "$s: records out of coordinate order"
    r=$(samtools view -c "$W/a/aln/$s.bam"); [ "$r" = 2666 ] || fail "$s: expected 2666 records, got $r"
  done
  grep -q '"properly_paired": 2666' "$W/a/aln/S0001.qc.json" || fail "simulated FR pairs should all be proper pairs"
  [ -s "$W/a/ref.mmi" ] || fail "no cached minimap2 index"
  for o in b t; do
    cmp -s <(bcftools view -H "$W/a/cohort.bcf") <(bcftools view -H "$W/$o/cohort.bcf") || fail "cohort.bcf differs (a, $o)"
  done
  ;;
dups)
  seq=$(grep -v '>' "$W/c/ref.fa" | tr -d '\n')
  rc() { echo "$1" | rev | tr ACGT TGCA; }
  q40=$(printf 'I%.0s' $(seq 100)); q20=$(printf '5%.0s' $(seq 100)); nn=$(printf 'N%.0s' $(seq 100))
  a1=${seq:1000:100}; a2=$(rc "${seq:1250:100}"); u1=${seq:5000:100}; u2=$(rc "${seq:5250:100}")
  f1=${seq:8000:100}
  # name r1 r2 qual1 qual2: D1/D2 tie (D1 stays by name), D3 worse; F2 loses to F1; G1 sits on D's read-1 end
  {
    echo "D2 $a1 $a2 $q40 $q40"; echo "D1 $a1 $a2 $q40 $q40"; echo "D3 $a1 $a2 $q20 $q20"
    echo "U1 $u1 $u2 $q40 $q40"; echo "F1 $f1 $nn $q40 $q40"; echo "F2 $f1 $nn $q20 $q40"
    echo "G1 $a1 $nn $q40 $q40"
  } > "$W/pairs.txt"
  awk '{print "@"$1"/1\n"$2"\n+\n"$4}' "$W/pairs.txt" | gzip > "$W/h_1.fq.gz"
  awk '{print "@"$1"/2\n"$3"\n+\n"$5}' "$W/pairs.txt" | gzip > "$W/h_2.fq.gz"
  printf 'sample\tpopulation\tfastq1\tfastq2\nH\tp\th_1.fq.gz\th_2.fq.gz\n' > "$W/h.tsv"
  drive 2 "$W/h" 2 1 "$W/h.tsv"
  got=$(samtools view -f 0x400 "$W/h/aln/H.bam" | awk -F'\t' '{print $1 ":" (int($2 / 64) % 2 ? 1 : 2)}' | sort | tr '\n' ' ')
  [ "$got" = "D2:1 D2:2 D3:1 D3:2 F2:1 G1:1 " ] || fail "duplicates marked: '$got'"
  q="$W/h/aln/H.qc.json"
  for kv in '"reads": 14' '"mapped": 11' '"properly_paired": 8' '"duplicates": 6' '"duplicate_pairs": 2' \
            '"duplicate_fragments": 2' '"aligned_bases": 500' '"insert_size_median": 350' '"chunks": 4'; do
    grep -q "$kv" "$q" || { cat "$q" >&2; fail "qc.json lacks $kv"; }
  done
  # against samtools flagstat on the same file
  fs=$(samtools flagstat "$W/h/aln/H.bam")
  echo "$fs" | grep -q '^6 + 0 primary duplicates' || fail "flagstat disagrees on duplicates"
  echo "$fs" | grep -q '^11 + 0 primary mapped' || fail "flagstat disagrees on mapped"
  ;;
*) fail "unknown case $CASE" ;;
esac
echo "ok: align $CASE"
