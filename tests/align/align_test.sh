#!/bin/bash
# align_test.sh CASE - the align stage through align_drive (tessera run with a chunk size).
#   determinism  1/2/3 ranks, 1/2 threads, chunk sizes 100 and 5000 (gzip and BGZF input):
#                aln/S.bam byte-identical, 14 chunks indexed, coordinate order, cohort.bcf identical;
#                then CRAM via tessera align at 1/2/3 ranks, 1/2 threads: same bytes and records,
#                the same records as the BAM, .crai present, no calling, QC in summary.json
#   dups         hand-made pairs with known duplicates: flags 0x400 and aln/S.qc.json figures
#   resume       tessera align, then tessera run on the same --out reuses the align tasks
#   mates        MC/MQ tags against samtools fixmate -m (unmapped mates, deletion, soft clip)
#   records      the records built from minimap2's hits against minimap2's own SAM (minimap2 -ax sr --MD),
#                every field and tag: simulated pairs plus hand-made ends (unmapped, deletion, soft clip,
#                chimera: supplementary + SA + hard clips), paired and single-end
#   bounded      the merge under a tiny duplicate-signature sort cap and a merge fan-in of 2, the map tasks
#                holding 30 pairs (environment): spilled runs and merge passes happen (log), the BAMs,
#                QC and map tasks' runs are the same bytes; --mem-per-rank: the plan line, the same BAM,
#                the align stage's refusal
#   lanes        one sample as two lanes (gzip + BGZF, chunks crossing the lane boundary) and as an
#                unaligned BAM: the one-lane FASTQ run's records, each lane's read group in RG and @RG
set -u
CASE=$1
D="$TSR_BUILD_DIR/tests/align/align_drive"
MPI="${TSR_MPIEXEC:-mpirun}"
W=$(mktemp -d /tmp/tsr-align.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
drive() { # np out chunk threads [sheet]
  "$MPI" --oversubscribe -n "$1" "$D" "$W/c/ref.fa" "${5:-$W/c/samples.tsv}" "$2" "$3" "$4" bam >"$2.log" 2>&1 ||
    { cat "$2.log" >&2; fail "align_drive -n $1 chunk $3 failed"; }
}
talign() { # np out threads chunk [format]
  "$MPI" --oversubscribe -n "$1" "$TSR_TESSERA" align --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --out "$2" \
    --threads "$3" --align-chunk "$4" --aln-format "${5:-cram}" --log-level warn >"$2.log" 2>&1 ||
    { cat "$2.log" >&2; fail "tessera align -n $1 --align-chunk $4 failed"; }
}
sortedtags() { awk -F'\t' -v OFS='\t' '{ n = split("", t); for (i = 12; i <= NF; i++) t[++n] = $i
  for (i = 2; i <= n; i++) for (j = i; j > 1 && t[j-1] > t[j]; j--) { x = t[j]; t[j] = t[j-1]; t[j-1] = x }
  line = $1; for (i = 2; i <= 11; i++) line = line OFS $i; for (i = 1; i <= n; i++) line = line OFS t[i]; print line }'; }
"$TSR_TESSERA" simulate --out "$W/c" --samples 2 --coverage 10 --length 40000 --seed 3 >/dev/null || fail simulate
seq=$(grep -v '>' "$W/c/ref.fa" | tr -d '\n')
rc() { echo "$1" | rev | tr ACGT TGCA; }
# Hand-made pairs "NAME READ1 READ2" on the simulated reference, names PREFIX1..PREFIX5: read 2 unmapped,
# read 1 unmapped, a 10 bp deletion in read 1, a soft clip at read 1's start, both unmapped.
handmade_pairs() {
  local p=$1 nn junk
  nn=$(printf 'N%.0s' $(seq 100)); junk=$(printf 'ACGTTGCA%.0s' $(seq 8))
  echo "${p}1 ${seq:1000:100} $nn"
  echo "${p}2 $nn $(rc "${seq:2250:100}")"
  echo "${p}3 ${seq:3000:50}${seq:3060:50} $(rc "${seq:3250:100}")"
  echo "${p}4 ${junk:0:36}${seq:4036:64} $(rc "${seq:4250:100}")"
  echo "${p}5 $nn $nn"
}

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
    n=$(awk -F'\t' 'NR==1{print $6}' "$W/a/aln/g00000/$s.chunks.tsv")
    [ "$n" = 14 ] || fail "$s: 1333 pairs in chunks of 100 should be 14 chunks, index says $n"
    for o in b t d; do cmp -s "$W/a/aln/g00000/$s.bam" "$W/$o/aln/g00000/$s.bam" || fail "$s: aln/$s.bam differs between runs a and $o"; done
    samtools view "$W/a/aln/g00000/$s.bam" | awk -F'\t' '$3!="*"{ if ($4 < last) exit 1; last = $4 }' ||
      fail "$s: records out of coordinate order"
    r=$(samtools view -c "$W/a/aln/g00000/$s.bam"); [ "$r" = 2666 ] || fail "$s: expected 2666 records, got $r"
  done
  grep -q '"properly_paired": 2666' "$W/a/aln/g00000/S0001.qc.json" || fail "simulated FR pairs should all be proper pairs"
  # chunks of 5000: one map task per sample, so the index task does not read the FASTQ (pairs -1 in the
  # chunks file) and the map task counts the pairs; the QC reports the same pairs and chunks either way
  for s in S0001 S0002; do
    awk -F'\t' 'NR==1 && $6 == 1 && $8 == -1 {ok = 1} END {exit !ok}' "$W/d/aln/g00000/$s.chunks.tsv" ||
      fail "$s: with one map task the index should not scan (chunks 1, pairs -1): $(head -1 "$W/d/aln/g00000/$s.chunks.tsv")"
    grep -q '"read_pairs": 1333, "chunks": 1,' "$W/d/aln/g00000/$s.qc.json" || fail "$s: QC of run d (chunks of 5000)"
    grep -q '"read_pairs": 1333, "chunks": 14,' "$W/a/aln/g00000/$s.qc.json" || fail "$s: QC of run a (chunks of 100)"
  done
  [ -s "$W/c/ref.fa.mmi" ] || fail "no minimap2 index beside the reference"
  for o in b t; do
    cmp -s <(bcftools view -H "$W/a/cohort.bcf") <(bcftools view -H "$W/$o/cohort.bcf") || fail "cohort.bcf differs (a, $o)"
  done
  # CRAM through tessera align: the same records at 1/2/3 ranks, 1/2 threads, chunks of 100 and 5000
  talign 1 "$W/ca" 1 100; talign 2 "$W/cb" 2 100; talign 3 "$W/ct" 1 100; talign 1 "$W/cd" 2 5000
  for s in S0001 S0002; do
    [ -s "$W/ca/aln/g00000/$s.cram.crai" ] || fail "$s: no .crai beside the CRAM"
    samtools view -T "$W/c/ref.fa" "$W/ca/aln/g00000/$s.cram" > "$W/ca.sam" || fail "$s: CRAM does not decode"
    [ "$(wc -l < "$W/ca.sam")" = 2666 ] || fail "$s: expected 2666 CRAM records"
    for o in cb ct cd; do
      samtools view -T "$W/c/ref.fa" "$W/$o/aln/g00000/$s.cram" | cmp -s - "$W/ca.sam" || fail "$s: CRAM records differ (ca, $o)"
      cmp -s "$W/ca/aln/g00000/$s.cram" "$W/$o/aln/g00000/$s.cram" || fail "$s: CRAM bytes differ (ca, $o)"
    done
    # the BAM of the full run holds the same records (CRAM re-orders tags: compare them sorted)
    cmp -s <(sortedtags < "$W/ca.sam") <(samtools view "$W/a/aln/g00000/$s.bam" | sortedtags) ||
      fail "$s: CRAM and BAM records differ"
  done
  [ ! -e "$W/ca/cohort.bcf" ] || fail "tessera align ran the calling stages"
  for s in S0001 S0002; do grep -q "\"$s\": {\"sample\": \"$s\"" "$W/ca/summary.json" || fail "summary.json lacks $s's QC"; done
  ;;
resume)
  # tessera align, then tessera run on the same --out: the align tasks come from the journal
  talign 2 "$W/r" 1 500 cram
  cp "$W/r/aln/g00000/S0001.cram" "$W/S0001.before.cram"
  n_align=$(grep -c "^D	align/" "$W/r/journal.tsv")
  [ "$n_align" -gt 0 ] || fail "tessera align journaled no align task"
  talign 2 "$W/r" 1 500 cram  # a rerun of tessera align runs nothing
  grep -q '"tasks_executed": 0' "$W/r/summary.json" || fail "a rerun of tessera align executed tasks"
  "$MPI" --oversubscribe -n 2 "$TSR_TESSERA" run --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --out "$W/r" \
    --threads 1 --align-chunk 500 --aln-format cram --log-level warn > "$W/run.log" 2>&1 || { cat "$W/run.log" >&2; fail "tessera run after tessera align"; }
  [ "$(grep -c "^D	align/" "$W/r/journal.tsv")" = "$n_align" ] || fail "tessera run re-ran align tasks"
  grep -q "($n_align from the journal" "$W/run.log" || { cat "$W/run.log" >&2; fail "tessera run did not reuse the $n_align align tasks"; }
  cmp -s "$W/r/aln/g00000/S0001.cram" "$W/S0001.before.cram" || fail "aln/S0001.cram changed"
  [ -s "$W/r/cohort.bcf" ] || fail "no cohort.bcf after tessera run"
  ;;
dups)
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
  got=$(samtools view -f 0x400 "$W/h/aln/g00000/H.bam" | awk -F'\t' '{print $1 ":" (int($2 / 64) % 2 ? 1 : 2)}' | sort | tr '\n' ' ')
  [ "$got" = "D2:1 D2:2 D3:1 D3:2 F2:1 G1:1 " ] || fail "duplicates marked: '$got'"
  q="$W/h/aln/g00000/H.qc.json"
  for kv in '"reads": 14' '"mapped": 11' '"properly_paired": 8' '"duplicates": 6' '"duplicate_pairs": 2' \
            '"duplicate_fragments": 2' '"aligned_bases": 500' '"insert_size_median": 350' '"chunks": 4'; do
    grep -q "$kv" "$q" || { cat "$q" >&2; fail "qc.json lacks $kv"; }
  done
  # against samtools flagstat on the same file
  fs=$(samtools flagstat "$W/h/aln/g00000/H.bam")
  grep -q '^6 + 0 primary duplicates' <<< "$fs" || fail "flagstat disagrees on duplicates"
  grep -q '^11 + 0 primary mapped' <<< "$fs" || fail "flagstat disagrees on mapped"
  ;;
bounded)
  # issue 17: the merge in bounded memory. S0001 and S0003, S0001's pairs twice (the copies renamed, so
  # half its pairs are duplicates, ties decided by name); chunks of 100 make 14 and 8 runs (gzip's cap).
  # Unbounded, then with a 4 KiB sort cap (signatures spilled as many sorted runs) and a fan-in of 2
  # (several merge passes): the BAMs and QC are the same bytes, and the log says spills and passes happened.
  for e in 1 2; do
    zcat "$W/c/reads/S0001_$e.fastq.gz" | awk 'NR % 4 == 1 {n = $1; sub(/\/[12]$/, "", n); h = $0} NR % 4 != 1 {r[NR % 4] = $0}
      NR % 4 == 0 {print h; print r[2]; print r[3]; print r[0]; print n "x/'"$e"'"; print r[2]; print r[3]; print r[0]}' |
      gzip > "$W/c/reads/S0003_$e.fastq.gz"
  done
  sed -i '/^S0002\t/d' "$W/c/samples.tsv"  # two samples are enough: S0001 and the duplicated one
  printf 'S0003\tp\treads/S0003_1.fastq.gz\treads/S0003_2.fastq.gz\n' >> "$W/c/samples.tsv"
  talign 2 "$W/u" 1 100 bam
  # the map tasks too: at most 30 pairs held (a slot holds 100-300), the rest spilled as sorted runs
  TSR_ALIGN_SORT_BYTES=4096 TSR_ALIGN_MERGE_FANIN=2 TSR_ALIGN_MAP_PAIRS=30 "$MPI" --oversubscribe -n 2 "$TSR_TESSERA" \
    align --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --out "$W/v" --threads 1 --align-chunk 100 \
    --aln-format bam --log-level info >"$W/v.log" 2>&1 ||
    { cat "$W/v.log" >&2; fail "tessera align with a 4 KiB sort cap, fan-in 2 and 30 pairs held failed"; }
  for s in S0001 S0003; do
    cmp -s "$W/u/aln/g00000/$s.bam" "$W/v/aln/g00000/$s.bam" || fail "$s: aln/$s.bam differs with a 4 KiB sort cap and fan-in 2"
    cmp -s "$W/u/aln/g00000/$s.qc.json" "$W/v/aln/g00000/$s.qc.json" || fail "$s: aln/$s.qc.json differs with the caps"
    for r in "$W/u/aln/g00000/$s.runs/"c*; do # the map tasks' runs and signatures: the same bytes spilled or not
      cmp -s "$r" "$W/v/aln/g00000/$s.runs/${r##*/}" || fail "$s: map task output ${r##*/} differs when it spills"
    done
    grep "sample $s slot " "$W/v.log" | grep -Eq ' ([3-9]|[1-9][0-9]+) spilled runs of at most 30 pairs, [2-9] merge passes' ||
      { grep "sample $s slot " "$W/v.log" >&2; fail "$s: no map task spilled 3+ runs merged in 2+ passes"; }
    line=$(grep "sample $s: bounded merge" "$W/v.log") || { cat "$W/v.log" >&2; fail "$s: no bounded-merge log line"; }
    spills=$(echo "$line" | sed 's/.*signatures \([0-9]*\) spilled runs, \([0-9]*\) sort merge passes.*/\1/')
    sorts=$(echo "$line" | sed 's/.*spilled runs, \([0-9]*\) sort merge passes.*/\1/')
    passes=$(echo "$line" | sed 's/.*alignment runs [0-9]*, \([0-9]*\) merge passes.*/\1/')
    [ "$spills" -ge 6 ] && [ "$sorts" -ge 4 ] && [ "$passes" -ge 3 ] ||
      fail "$s: expected several spilled runs, sort passes and run merge passes: $line"
    ls -A "$W/v/aln/g00000/$s.runs" | grep -v '^c[0-9]*\.\(bam\|dup\)$' && fail "$s: the map or merge tasks left files in $s.runs"
    k=$(echo "$line" | sed 's/.*alignment runs \([0-9]*\),.*/\1/')
    [ "$(ls "$W/v/aln/g00000/$s.runs" | grep -c '^c[0-9]*\.bam$')" = "$k" ] || fail "$s: the merge deleted map tasks' runs"
  done
  d=$(samtools view -c -f 0x400 "$W/v/aln/g00000/S0003.bam")
  [ "$d" -ge 2666 ] || fail "S0003: its copied pairs should be duplicates: $d records marked"
  # --mem-per-rank sizes what a map task holds (the plan line says it) and refuses, before any work, a budget
  # below the align stage's least (named, with the least budget)
  "$MPI" --oversubscribe -n 1 "$TSR_TESSERA" align --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --out "$W/m" \
    --threads 1 --align-chunk 100 --aln-format bam --batch-size 1 --mem-per-rank 100M --log-level info \
    >"$W/m.log" 2>&1 || { cat "$W/m.log" >&2; fail "tessera align --mem-per-rank 100M failed"; }
  grep -q 'align map task [0-9]* read pairs held' "$W/m.log" || fail "the plan line does not say what a map task holds"
  cmp -s "$W/u/aln/g00000/S0003.bam" "$W/m/aln/g00000/S0003.bam" || fail "S0003: aln/S0003.bam differs with --mem-per-rank 100M"
  "$TSR_TESSERA" align --ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --out "$W/r" --batch-size 1 \
    --mem-per-rank 50M >"$W/r.log" 2>&1 && fail "--mem-per-rank 50M should be refused for the align stage"
  grep -q 'cannot fit the align stage: .*give at least --mem-per-rank [0-9]*M' "$W/r.log" ||
    { cat "$W/r.log" >&2; fail "the refusal does not name the align stage and the least budget"; }
  [ ! -e "$W/r" ] || fail "a refused budget left $W/r behind"
  ;;
mates)
  # MC/MQ of primary records against samtools fixmate -m on the same records (tags stripped first):
  # simulated pairs plus hand-made ones with an unmapped mate, a deletion, a soft clip, both unmapped
  q=$(printf 'I%.0s' $(seq 100))
  handmade_pairs M > "$W/pairs.txt"
  awk -v q="$q" '{print "@"$1"/1\n"$2"\n+\n"substr(q,1,length($2))}' "$W/pairs.txt" > "$W/m_1.fq"
  awk -v q="$q" '{print "@"$1"/2\n"$3"\n+\n"substr(q,1,length($3))}' "$W/pairs.txt" > "$W/m_2.fq"
  zcat "$W/c/reads/S0001_1.fastq.gz" >> "$W/m_1.fq"; zcat "$W/c/reads/S0001_2.fastq.gz" >> "$W/m_2.fq"
  gzip "$W/m_1.fq" "$W/m_2.fq"
  printf 'sample\tpopulation\tfastq1\tfastq2\nM\tp\tm_1.fq.gz\tm_2.fq.gz\n' > "$W/m.tsv"
  drive 2 "$W/m" 300 1 "$W/m.tsv"
  tags() { samtools view -F 0x900 "$1" | awk -F'\t' '{mc = "-"; mq = "-"
             for (i = 12; i <= NF; i++) { if ($i ~ /^MC:Z:/) mc = $i; if ($i ~ /^MQ:i:/) mq = $i }
             print $1, int($2 / 64) % 4, $6, mc, mq}' | sort; }
  tags "$W/m/aln/g00000/M.bam" > "$W/ours"
  samtools view -b -x MC -x MQ "$W/m/aln/g00000/M.bam" | samtools sort -n - 2>/dev/null | samtools fixmate -m - "$W/fm.bam" ||
    fail "samtools fixmate"
  # fixmate writes MC:Z:* on a mapped read whose mate is unmapped; tessera writes no MC there (an absent
  # mate CIGAR), so that one form is normalised
  tags "$W/fm.bam" | sed 's/ MC:Z:\* / - /' > "$W/theirs"
  diff "$W/ours" "$W/theirs" >&2 || fail "MC/MQ differ from samtools fixmate -m (< tessera, > fixmate)"
  # the hand-made cases, so the comparison cannot pass on records that lack the cases
  for want in "M1 1 100M - -" "M1 2 \\* MC:Z:100M MQ:i:60" "M2 1 \\* MC:Z:100M MQ:i:60" "M3 2 100M MC:Z:50M10D50M MQ:i:" \
              "M4 2 100M MC:Z:36S64M MQ:i:" "M5 1 \\* - -"; do
    grep -q "^$want" "$W/ours" || { grep '^M[0-9] ' "$W/ours" >&2; fail "expected a record '$want'"; }
  done
  [ "$(grep -c ' MC:Z:' "$W/ours")" -gt 2600 ] || fail "simulated pairs lack MC"
  ;;
records)
  # tessera builds BAM records from minimap2's hits (no SAM text): compare every field and tag with minimap2's
  # own SAM of the same reads. Left out: what tessera adds (RG, MC, MQ, the duplicate flag 0x400) and rl (the
  # repeat length minimap2's driver computes, which libminimap2 does not report). Read names carry no /1, /2.
  q=$(printf 'I%.0s' $(seq 150))
  {
    handmade_pairs R
    # chimeric read 1 (supplementary records, SA, hard clips), on either strand
    echo "R6 $(rc "${seq:20000:80}")${seq:6000:70} $(rc "${seq:6250:100}")"
    echo "R7 ${seq:9000:80}${seq:30000:70} ${seq:29700:100}"
    echo "R8 ${seq:12000:70}$(rc "${seq:25000:80}") ${seq:24700:100}"
  } > "$W/pairs.txt"
  fq() { awk -v q="$q" -v c="$1" '{print "@"$1"\n"$c"\n+\n"substr(q,1,length($c))}' "$W/pairs.txt"; }
  { fq 2; zcat "$W/c/reads/S0001_1.fastq.gz" | sed '1~4s#/1$##'; } | gzip > "$W/r_1.fq.gz"
  { fq 3; zcat "$W/c/reads/S0001_2.fastq.gz" | sed '1~4s#/2$##'; } | gzip > "$W/r_2.fq.gz"
  printf 'sample\tpopulation\tfastq1\tfastq2\nR\tp\tr_1.fq.gz\tr_2.fq.gz\nU\tp\tr_1.fq.gz\t\n' > "$W/r.tsv"
  drive 2 "$W/r" 500 1 "$W/r.tsv"
  keep() { awk -F'\t' -v OFS='\t' -v drop="$1" '{ if (int($2 / 1024) % 2) $2 -= 1024; line = $1
             for (i = 2; i <= NF; i++) if ($i !~ drop) line = line OFS $i; print line }' | LC_ALL=C sort; }
  for s in R U; do
    if [ $s = R ]; then minimap2 -ax sr --MD "$W/c/ref.fa" "$W/r_1.fq.gz" "$W/r_2.fq.gz"
    else minimap2 -ax sr --MD "$W/c/ref.fa" "$W/r_1.fq.gz"; fi 2>/dev/null | samtools view - | keep '^rl:i:' > "$W/mm.sam"
    samtools view "$W/r/aln/g00000/$s.bam" | keep '^(RG:Z|MC:Z|MQ:i):' > "$W/ours.sam"
    diff "$W/mm.sam" "$W/ours.sam" >&2 || fail "$s: records differ from minimap2 -ax sr --MD (< minimap2, > tessera)"
    n=$(wc -l < "$W/ours.sam"); [ "$n" -gt 1300 ] || fail "$s: only $n records"
  done
  # the hand-made cases are there, so the comparison cannot pass without them
  for want in $'^R1\t0\t.*\t100M\t' $'^R5\t4\t' $'^R3\t0\t.*\t50M10D50M\t' $'^R4\t0\t.*\t36S64M\t'; do
    grep -q "$want" "$W/ours.sam" || { grep '^R[0-9]' "$W/ours.sam" >&2; fail "single-end: no record matching '$want'"; }
  done
  samtools view "$W/r/aln/g00000/R.bam" | keep '^(RG:Z|MC:Z|MQ:i):' > "$W/ours.sam"
  for want in $'^R1\t73\t' $'^R1\t133\t' $'^R2\t153\t' $'^R2\t101\t' $'^R6\t2161\t.*\t70H80M\t.*SA:Z:' $'^R6\t99\t.*\t80S70M\t.*SA:Z:' \
              $'^R8\t2113\t.*\t71M79H\t.*SA:Z:' $'^R8\t83\t' $'^R7\t2113\t.*\t80H70M\t'; do
    grep -q "$want" "$W/ours.sam" || { grep '^R[0-9]' "$W/ours.sam" >&2; fail "pairs: no record matching '$want'"; }
  done
  ;;
lanes)
  # S0001's pairs as two lanes (600 pairs as gzip, the other 733 as BGZF) of one library, chunks of 250
  # pairs so chunks cross the lane boundary; and as one unaligned BAM (samtools import). Every record
  # must be the one-lane FASTQ run's, RG aside; each lane's reads carry its read group.
  R="$W/c/reads"
  for e in 1 2; do
    zcat "$R/S0001_$e.fastq.gz" | head -2400 | gzip > "$R/L1_$e.fastq.gz"
    zcat "$R/S0001_$e.fastq.gz" | tail -n +2401 | bgzip -c > "$R/L2_$e.fastq.gz"
  done
  samtools import -1 "$R/S0001_1.fastq.gz" -2 "$R/S0001_2.fastq.gz" -o "$W/c/u.bam" 2>/dev/null || fail "samtools import"
  printf 'sample\tpopulation\tfastq1\tfastq2\n' > "$W/c/one.tsv"
  printf 'S0001\tpop1\treads/S0001_1.fastq.gz\treads/S0001_2.fastq.gz\n' >> "$W/c/one.tsv"
  printf 'sample\tpopulation\tfastq1\tfastq2\tread_group\tlibrary\n' > "$W/c/lanes.tsv"
  printf 'S0001\tpop1\treads/L1_1.fastq.gz\treads/L1_2.fastq.gz\tS0001.L1\tlibA\n' >> "$W/c/lanes.tsv"
  printf 'S0001\tpop1\treads/L2_1.fastq.gz\treads/L2_2.fastq.gz\tS0001.L2\tlibA\n' >> "$W/c/lanes.tsv"
  printf 'sample\tpopulation\tfastq1\tfastq2\nS0001\tpop1\tu.bam\t\n' > "$W/c/ubam.tsv"
  run_sheet() { # np sheet out chunk
    "$MPI" --oversubscribe -n "$1" "$TSR_TESSERA" align --ref "$W/c/ref.fa" --samples "$W/c/$2" --out "$3" \
      --threads 1 --align-chunk "$4" --aln-format bam --log-level warn >"$3.log" 2>&1 ||
      { cat "$3.log" >&2; fail "tessera align on $2 failed"; }
  }
  run_sheet 1 one.tsv "$W/one" 1000000
  run_sheet 2 lanes.tsv "$W/lanes" 250
  run_sheet 2 ubam.tsv "$W/ubam" 250
  n=$(awk -F'\t' 'NR==1{print $6}' "$W/lanes/aln/g00000/S0001.chunks.tsv")
  [ "$n" = 6 ] || fail "1333 pairs over two lanes in chunks of 250 should be 6 chunks, index says $n"
  awk -F'\t' 'NR > 1 && $1 == 1 {l2 = 1} END {exit !l2}' "$W/lanes/aln/g00000/S0001.chunks.tsv" || fail "no chunk starts in lane 2"
  samtools view "$W/one/aln/g00000/S0001.bam" | sortedtags > "$W/one.sam"
  samtools view "$W/ubam/aln/g00000/S0001.bam" | sortedtags > "$W/ubam.sam"
  cmp -s "$W/one.sam" "$W/ubam.sam" || { diff "$W/one.sam" "$W/ubam.sam" | head -5 >&2; fail "uBAM input gave other records"; }
  [ "$(wc -l < "$W/one.sam")" -ge 2666 ] || fail "too few records"
  samtools view "$W/lanes/aln/g00000/S0001.bam" | sed 's/\tRG:Z:S0001\.L[12]/\tRG:Z:S0001/' | sortedtags > "$W/lanes.sam"
  cmp -s "$W/one.sam" "$W/lanes.sam" || { diff "$W/one.sam" "$W/lanes.sam" | head -5 >&2; fail "two lanes gave other records"; }
  for l in 1 2; do
    want=$((l == 1 ? 1200 : 1466))
    got=$(samtools view -F 0x900 "$W/lanes/aln/g00000/S0001.bam" | grep -c $'\tRG:Z:S0001.L'"$l")
    [ "$got" = "$want" ] || fail "lane $l: $got primary records carry RG S0001.L$l, expected $want"
    samtools view -H "$W/lanes/aln/g00000/S0001.bam" | grep -q $'^@RG\tID:S0001.L'"$l"$'\tSM:S0001\tLB:libA' ||
      fail "no @RG header line for lane $l"
  done
  grep -q '"read_pairs": 1333,' "$W/lanes/aln/g00000/S0001.qc.json" || fail "QC pairs over two lanes"
  ;;
*) fail "unknown case $CASE" ;;
esac
echo "ok: align $CASE"
