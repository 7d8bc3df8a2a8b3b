# gen.sh - one small generator per case of cases.tsv (sourced by run_case.sh).
# Each gen_<case> starts from the simulated cohort in $D/c (3 paired-end samples, contig sim1, 12 kb)
# and may set REF, SHEET, OUT (defaults: $D/c/ref.fa, $D/c/samples.tsv, $D/out) or KEEP (a finished
# run's file that must come through the case unchanged).

# fq NAME SEQ QUAL: one 4-line FASTQ record
fq() { printf '@%s\n%s\n+\n%s\n' "$1" "$2" "$3"; }
S60=ACGTTGCAACGTTGCAACGTTGCAACGTTGCAACGTTGCAACGTTGCAACGTTGCAACGT
Q60=IIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII
# sheet_with ROW...: a sheet of the cohort's S0001 plus the given lines (tab-separated strings)
sheet_with() {
  SHEET=$D/samples.tsv
  { printf 'sample\tpopulation\tfastq1\tfastq2\n'
    printf 'S0001\tpop1\t%s\t%s\n' "$D/c/reads/S0001_1.fastq.gz" "$D/c/reads/S0001_2.fastq.gz"
    for row in "$@"; do printf '%s\n' "$row"; done; } > "$SHEET"
}
finished_run() { run >/dev/null 2>&1 || { echo "setup run failed" >&2; exit 1; }; }
bam_cohort() { # bam_cohort DIR LENGTH: a BAM cohort simulated on its own reference
  "$T" simulate --out "$1" --samples 2 --coverage 4 --length "$2" --seed 5 --bam >/dev/null
  SHEET=$1/samples.tsv
}

gen_fq_trunc_gzip() {
  cp "$D/c/reads/S0002_1.fastq.gz" "$D/full.gz"
  head -c $(( $(stat -c %s "$D/full.gz") / 2 )) "$D/full.gz" > "$D/c/reads/S0002_1.fastq.gz"
}
gen_fq_trunc_bgzf() {
  zcat "$D/c/reads/S0002_1.fastq.gz" | bgzip -c > "$D/full.bgz"
  head -c $(( $(stat -c %s "$D/full.bgz") / 2 )) "$D/full.bgz" > "$D/S0002_1.fq.bgz"
  sheet_with "$(printf 'S0002\tpop1\t%s\t%s' "$D/S0002_1.fq.bgz" "$D/c/reads/S0002_2.fastq.gz")"
}
pair_sheet() { sheet_with "$(printf 'S0002\tpop1\t%s\t%s' "$D/bad_1.fq" "$D/bad_2.fq")"; }
gen_fq_seq_qual_len() {
  { fq r1 $S60 $Q60; fq r2 $S60 IIII; } > "$D/bad_1.fq"
  { fq r1 $S60 $Q60; fq r2 $S60 $Q60; } > "$D/bad_2.fq"; pair_sheet
}
gen_fq_pair_count() {
  { fq r1 $S60 $Q60; fq r2 $S60 $Q60; fq r3 $S60 $Q60; } > "$D/bad_1.fq"
  { fq r1 $S60 $Q60; fq r2 $S60 $Q60; } > "$D/bad_2.fq"; pair_sheet
}
gen_fq_pair_names() {
  { fq r1/1 $S60 $Q60; fq r2/1 $S60 $Q60; } > "$D/bad_1.fq"
  { fq r1/2 $S60 $Q60; fq rX/2 $S60 $Q60; } > "$D/bad_2.fq"; pair_sheet
}
gen_fq_binary() {
  # Deterministic binary bytes: a compiled program's first 8 KiB.
  head -c 8192 "$T" > "$D/garbage_1.fq"; cp "$D/garbage_1.fq" "$D/garbage_2.fq"
  sheet_with "$(printf 'S0002\tpop1\t%s\t%s' "$D/garbage_1.fq" "$D/garbage_2.fq")"
}
gen_fq_empty() {
  : > "$D/empty_1.fq"; : > "$D/empty_2.fq"
  sheet_with "$(printf 'S0002\tpop1\t%s\t%s' "$D/empty_1.fq" "$D/empty_2.fq")"
}
gen_fq_no_plus() {
  printf '@r1\n%s\n%s\n' $S60 $Q60 > "$D/bad_1.fq"; fq r1 $S60 $Q60 > "$D/bad_2.fq"; pair_sheet
}
gen_fq_bad_qual() {
  fq r1 $S60 "IIIII IIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIIII" > "$D/bad_1.fq"
  fq r1 $S60 $Q60 > "$D/bad_2.fq"; pair_sheet
}
gen_fq_trunc_plain() {
  { fq r1 $S60 $Q60; fq r2 $S60 $Q60; printf '@r3\n%s\n+\n' $S60; } > "$D/bad_1.fq"
  { fq r1 $S60 $Q60; fq r2 $S60 $Q60; fq r3 $S60 $Q60; } > "$D/bad_2.fq"; pair_sheet
}
gen_fq_crlf() { # Windows line ends in FASTQ are read transparently
  for m in 1 2; do zcat "$D/c/reads/S0002_$m.fastq.gz" | sed 's/$/\r/' > "$D/crlf_$m.fq"; done
  sheet_with "$(printf 'S0002\tpop1\t%s\t%s' "$D/crlf_1.fq" "$D/crlf_2.fq")"
}
gen_fq_single_end_plain() {
  zcat "$D/c/reads/S0002_1.fastq.gz" > "$D/se.fq"
  sheet_with "$(printf 'S0002\tpop1\t%s\t' "$D/se.fq")"
}
gen_ubam_missing_mate() { # unaligned BAM (samtools import) whose last read 1 lost its read 2
  for m in 1 2; do zcat "$D/c/reads/S0002_$m.fastq.gz" | head -400 > "$D/r$m.fq"; done
  samtools import -1 "$D/r1.fq" -2 "$D/r2.fq" -o "$D/full.bam" 2>/dev/null
  samtools view -h "$D/full.bam" | head -n -1 | samtools view -b -o "$D/unaligned.bam" - 2>/dev/null
  sheet_with "$(printf 'S0002\tpop1\t%s\t' "$D/unaligned.bam")"
}
gen_ubam_aligned_as_reads() { # an aligned BAM in the fastq1 column
  bam_cohort "$D/b" 12000
  sheet_with "$(printf 'S0002\tpop1\t%s\t' "$D/b/bam/S0001.bam")"
}
gen_ubam_with_fastq2() { # an unaligned BAM holds both mates: a fastq2 beside it is a mistake
  zcat "$D/c/reads/S0002_1.fastq.gz" | head -400 | samtools import -0 - -o "$D/unaligned.bam" 2>/dev/null
  sheet_with "$(printf 'S0002\tpop1\t%s\t%s' "$D/unaligned.bam" "$D/c/reads/S0002_2.fastq.gz")"
}
gen_sheet_crlf() { # a sheet saved on Windows is accepted as it is
  sed 's/$/\r/' "$D/c/samples.tsv" > "$D/c/crlf.tsv"; SHEET=$D/c/crlf.tsv
}
gen_sheet_paths_with_spaces() {
  mkdir -p "$D/my cohort/raw reads"
  cp "$D/c/reads/S0002_1.fastq.gz" "$D/my cohort/raw reads/S 2_1.fq.gz"
  cp "$D/c/reads/S0002_2.fastq.gz" "$D/my cohort/raw reads/S 2_2.fq.gz"
  SHEET="$D/my cohort/sample sheet.tsv"; OUT="$D/my results/run 1"; REF="$D/my cohort/ref.fa"
  cp "$D/c/ref.fa" "$REF"
  printf 'sample\tpopulation\tfastq1\tfastq2\nS2\tpop1\traw reads/S 2_1.fq.gz\traw reads/S 2_2.fq.gz\n' > "$SHEET"
}
# The sheet edits below work on the cohort's own sheet, whose relative paths stay valid.
gen_sheet_no_sample_col() { sed -i '1s/^sample/name/' "$SHEET"; }
gen_sheet_no_input_col() { sed -i '1s/fastq1/reads1/; 1s/fastq2/reads2/' "$SHEET"; }
gen_sheet_missing_field() { awk -F'\t' -v OFS='\t' 'NR==3 { NF=3 } 1' "$SHEET" > "$D/s" && mv "$D/s" "$SHEET"; }
gen_sheet_duplicate_id() { sed -n 2p "$SHEET" | sed 's/\tpop1\t/\tpop2\t/' >> "$SHEET"; }
gen_sheet_lane_same_files() { # a second lane (its own read group) naming the same files
  awk -F'\t' -v OFS='\t' 'NR == 1 { print $0, "read_group"; next } { print $0, $1 ".L" NR }' "$SHEET" > "$D/s"
  sed -n 2p "$D/s" | sed 's/\.L2$/.L9/' >> "$D/s" && mv "$D/s" "$SHEET"
}
gen_sheet_repeat_sample() { # S0001 pasted again with S0002's reads: two people, not two lanes
  sed -n 3p "$SHEET" | sed 's/^S0002/S0001/' >> "$SHEET"
}
gen_sheet_bad_id() { sed -i '2s/^S0001/S 1\/x/' "$SHEET"; }
gen_sheet_bad_population() { sed -i '3s/pop1/pop-1/' "$SHEET"; }
gen_sheet_empty_population() { sed -i '2s/pop1//' "$SHEET"; }
gen_sheet_empty() { : > "$D/samples.tsv"; SHEET=$D/samples.tsv; }
gen_sheet_header_only() { head -1 "$D/c/samples.tsv" > "$D/samples.tsv"; SHEET=$D/samples.tsv; }
gen_sheet_binary() { head -c 4096 "$T" > "$D/samples.tsv"; SHEET=$D/samples.tsv; }
gen_sheet_missing_fastq() { sheet_with "$(printf 'S0002\tpop1\tnope_1.fq.gz\tnope_2.fq.gz')"; }
gen_sheet_dir_as_fastq() { mkdir "$D/dir.fq"; SHEET=$D/samples.tsv
  printf 'sample\tpopulation\tfastq1\nS1\tpop1\t%s\n' "$D/dir.fq" > "$SHEET"; }
gen_sheet_fifo_as_fastq() { mkfifo "$D/pipe.fq"; SHEET=$D/samples.tsv
  printf 'sample\tpopulation\tfastq1\nS1\tpop1\t%s\n' "$D/pipe.fq" > "$SHEET"; }
gen_sheet_unreadable_fastq() { chmod 000 "$D/c/reads/S0001_1.fastq.gz"; }
gen_sheet_unreadable() { chmod 000 "$D/c/samples.tsv"; }
gen_sheet_fastq_and_bam() { SHEET=$D/samples.tsv
  printf 'sample\tpopulation\tfastq1\tbam\nS1\tpop1\t%s\t%s\n' "$D/c/reads/S0001_1.fastq.gz" "$D/c/reads/S0001_2.fastq.gz" > "$SHEET"; }
gen_sheet_missing() { SHEET=$D/nosuch.tsv; }
gen_ref_missing() { REF=$D/nosuch.fa; }
gen_ref_no_fai_builds() { rm -f "$D/c/ref.fa.fai"; EXPECT_FILE=$D/c/ref.fa.fai; }
gen_ref_no_fai_unwritable() { mkdir "$D/ro"; cp "$D/c/ref.fa" "$D/ro/"; REF=$D/ro/ref.fa; chmod 555 "$D/ro"; }
gen_ref_not_fasta() { mkdir "$D/r"; cp "$D/c/samples.tsv" "$D/r/ref.fa"; REF=$D/r/ref.fa; }
gen_ref_empty() { mkdir "$D/r"; : > "$D/r/ref.fa"; REF=$D/r/ref.fa; }
gen_bam_other_ref_length() { bam_cohort "$D/b" 14000; REF=$D/c/ref.fa; }
gen_bam_other_ref_contig() {
  bam_cohort "$D/b" 12000
  samtools view -H "$D/b/bam/S0001.bam" | sed 's/SN:sim1/SN:chrX/' > "$D/h.sam"
  samtools reheader "$D/h.sam" "$D/b/bam/S0001.bam" > "$D/b/bam/S0001.re.bam"
  mv "$D/b/bam/S0001.re.bam" "$D/b/bam/S0001.bam"; samtools index "$D/b/bam/S0001.bam"
}
gen_bam_garbage() { bam_cohort "$D/b" 12000; head -c 4096 "$T" > "$D/b/bam/S0001.bam"; }
gen_bam_sm_swapped() { # the sheet's two BAM lines point at each other's files: two people swapped
  bam_cohort "$D/b" 12000
  sed -i 's|bam/S0001\.bam|bam/TMP.bam|; s|bam/S0002\.bam|bam/S0001.bam|; s|bam/TMP\.bam|bam/S0002.bam|' "$SHEET"
}
gen_bam_sm_swapped_ignored() { gen_bam_sm_swapped; } # the same files, run with --ignore-sm: accepted
gen_bam_multi_sample() { # one BAM holding both samples' reads (two @RG SM), given as S0001's
  bam_cohort "$D/b" 12000
  samtools merge -f -o "$D/b/both.bam" "$D/b/bam/S0001.bam" "$D/b/bam/S0002.bam" 2>/dev/null
  samtools index "$D/b/both.bam"
  sed -i 's|bam/S0001\.bam|both.bam|' "$SHEET"
}
gen_bam_no_index() { bam_cohort "$D/b" 12000; rm -f "$D/b/bam/S0001.bam.bai"; }
gen_cram_ref_absent() {
  bam_cohort "$D/b" 12000; cp "$D/b/ref.fa" "$D/gone.fa"
  samtools view -C -T "$D/gone.fa" -o "$D/b/bam/S0001.cram" "$D/b/bam/S0001.bam"
  samtools index "$D/b/bam/S0001.cram"; rm -f "$D/gone.fa" "$D/gone.fa.fai"
  sed -i 's/S0001\.bam/S0001.cram/' "$SHEET"
}
gen_out_other_run() { finished_run; KEEP=$OUT/cohort.bcf; }
gen_out_not_empty() { mkdir -p "$OUT"; echo precious > "$OUT/notes.txt"; KEEP=$OUT/notes.txt; }
gen_out_is_file() { echo precious > "$OUT"; KEEP=$OUT; }
gen_out_unwritable() { mkdir "$D/ro"; chmod 555 "$D/ro"; OUT=$D/ro/out; }
gen_out_full_disk() {
  mkdir "$D/small"
  if mount -t tmpfs -o size=96k tmpfs "$D/small" 2>/dev/null; then
    MOUNTED=$D/small; OUT=$D/small/out
  else # no mount here: a file size limit instead (SIGXFSZ ignored, so writes fail with EFBIG)
    OUT=$D/small/out; LIMIT_FSIZE=96; EXPECT_FRAGS="File too large"
  fi
}
gen_out_locked() { # a run in progress holds the journal's lock (for longer than the run waits for it)
  finished_run; KEEP=$OUT/cohort.bcf
  export TSR_JOURNAL_LOCK_WAIT_S=2
  ( exec 9>>"$OUT/journal.tsv"; flock 9; exec sleep 30 ) >/dev/null 2>&1 & LOCKER=$!
  for _ in $(seq 1 100); do flock -n "$OUT/journal.tsv" true 2>/dev/null || break; sleep 0.05; done
}
gen_out_journal_damaged() { finished_run; KEEP=$OUT/cohort.bcf; sed -i '1s/TSRJ/XXXX/' "$OUT/journal.tsv"; }
gen_regions_unknown_contig() { :; }
gen_regions_bad_bed() { printf 'sim1\t0\t5000\nsim1\t9000\t100\n' > "$D/r.bed"; }
gen_verify_clean() { finished_run; }
gen_verify_changed() { finished_run; echo extra >> "$OUT/stats.tsv"; }
gen_verify_missing() { finished_run; rm "$OUT/aln/g00000/S0002.cram"; }
gen_verify_no_journal() { :; }
