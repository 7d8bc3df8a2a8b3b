#!/usr/bin/env bash
# compare_builds.sh OLD_TESSERA NEW_TESSERA [WORKDIR]
#
# Byte-identity of two builds on the demo and test cohorts, for refactors that must not change any
# output: simulates four cohorts once (with OLD), runs the same commands with both binaries, and
# compares every file the runs leave with cmp. Cases: the demo (16 samples at 20x from FASTQ, CRAM,
# 2 ranks, as deploy/quickstart.sh runs it), the demo with --aln-format bam and other shards/batches,
# 60 samples at 0.5x in 3 populations (--mode lowpass), 8 BAM samples at 15x on 3 ranks, a low-pass run
# followed by `tessera add`, `tessera stats` on the demo's cohort.bcf, and the aggregate export.
# summary.json, journal.tsv and report.html carry times, dates and hosts and are not compared; files
# only one side has are listed (a new output is not an error, a missing one is).
# Prints "compared N files, K differ" and exits 1 when K > 0 or a file is missing. Not a CTest test.
set -euo pipefail
OLD=$(realpath "${1:?usage: compare_builds.sh OLD_TESSERA NEW_TESSERA [WORKDIR]}")
NEW=$(realpath "${2:?usage: compare_builds.sh OLD_TESSERA NEW_TESSERA [WORKDIR]}")
W=${3:-$(mktemp -d /tmp/tsr_identity.XXXXXX)}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
MPI="mpirun --oversubscribe"
C=$W/cohorts
if [ ! -d "$C" ]; then
  mkdir -p "$C"
  "$OLD" simulate --out "$C/demo" --samples 16 --coverage 20 --length 200000 --populations 2 --fst 0.05 --seed 7 >/dev/null
  "$OLD" simulate --out "$C/lp" --samples 60 --coverage 0.5 --length 100000 --populations 3 --fst 0.1 --seed 3 --bam >/dev/null
  "$OLD" simulate --out "$C/deepbam" --samples 8 --coverage 15 --length 150000 --populations 2 --seed 11 --bam >/dev/null
  "$OLD" simulate --out "$C/add" --samples 10 --coverage 0.5 --length 60000 --seed 5 --bam >/dev/null
  head -6 "$C/add/samples.tsv" > "$C/add/add_a.tsv"
  (head -1 "$C/add/samples.tsv"; tail -n +7 "$C/add/samples.tsv") > "$C/add/add_b.tsv"
fi
run_all() { # run_all BIN OUT
  local T=$1 O=$2
  rm -rf "$O"; mkdir -p "$O"
  $MPI -n 2 "$T" run --ref "$C/demo/ref.fa" --samples "$C/demo/samples.tsv" --out "$O/demo" --shard-size 100000 \
    --batch-size 8 --log-level warn
  $MPI -n 2 "$T" run --ref "$C/demo/ref.fa" --samples "$C/demo/samples.tsv" --out "$O/demo_bam" --shard-size 70000 \
    --batch-size 5 --aln-format bam --log-level warn
  $MPI -n 2 "$T" run --ref "$C/lp/ref.fa" --samples "$C/lp/samples.tsv" --out "$O/lp" --shard-size 40000 \
    --batch-size 16 --mode lowpass --log-level warn
  $MPI -n 3 "$T" run --ref "$C/deepbam/ref.fa" --samples "$C/deepbam/samples.tsv" --out "$O/deepbam" \
    --shard-size 50000 --batch-size 3 --log-level warn
  $MPI -n 2 "$T" run --ref "$C/add/ref.fa" --samples "$C/add/add_a.tsv" --out "$O/add" --mode lowpass --log-level warn
  $MPI -n 2 "$T" add --out "$O/add" --samples "$C/add/add_b.tsv" --log-level warn
  $MPI -n 2 "$T" stats --vcf "$O/demo/cohort.bcf" --samples "$C/demo/samples.tsv" --out "$O/stats_demo" \
    --window 50000 --log-level warn
  "$T" export --aggregate-only --in "$O/demo" --out "$O/agg.vcf.gz"
}
run_all "$OLD" "$W/old" > "$W/old.log" 2>&1 || { cat "$W/old.log"; echo "compare_builds: the old build failed" >&2; exit 1; }
run_all "$NEW" "$W/new" > "$W/new.log" 2>&1 || { cat "$W/new.log"; echo "compare_builds: the new build failed" >&2; exit 1; }
n=0 bad=0
while IFS= read -r f; do
  case "$f" in */summary.json|*/journal.tsv|*/report.html) continue;; esac
  n=$((n + 1))
  if [ ! -f "$W/new/$f" ]; then echo "missing in the new build's outputs: $f"; bad=$((bad + 1)); continue; fi
  cmp -s "$W/old/$f" "$W/new/$f" || { echo "differs: $f"; bad=$((bad + 1)); }
done < <(cd "$W/old" && find . -type f | sort)
(cd "$W/new" && find . -type f | sort) | while IFS= read -r f; do
  [ -f "$W/old/$f" ] || echo "only in the new build's outputs: $f"
done
echo "compared $n files, $bad differ (outputs in $W)"
[ "$bad" -eq 0 ]
