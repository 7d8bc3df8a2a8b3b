#!/usr/bin/env bash
# Plan once (issue 18): rank 0 plans and checks the inputs; the other ranks read the sheet's text and the
# reference index only. On a 4-sample BAM cohort run at 2 ranks (each rank under strace):
#   - rank 0 opens every sample's BAM for the sheet check (open with O_NONBLOCK), rank 1 none: the check
#     is done once, not once per rank; rank 1 still opens BAMs to run its call tasks (without O_NONBLOCK);
#   - the records equal the 1-rank run's.
# And the input checks, on several threads at rank 0, report the first bad sample in sheet order:
#   - a 200-sample sheet whose samples 71 and 130 are not BAMs is refused naming sample 71, at 1 and 2
#     threads, exit non-zero.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_plan_once.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "plan_once: $*" >&2; exit 1; }
command -v strace > /dev/null || { echo "plan_once: strace is missing (deploy/setup.sh installs it); this test cannot check which rank opens inputs without it"; exit 1; }

"$T" simulate --out "$W/sim" --samples 4 --coverage 4 --length 20000 --seed 5 --bam > /dev/null
args=(--ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --threads 1 --mode deep --shard-size 2000 --batch-size 1)
"$T" run "${args[@]}" --out "$W/one" > "$W/one.log" 2>&1 || { cat "$W/one.log" >&2; fail "1-rank run failed"; }
"$MPI" --oversubscribe -n 2 bash -c 'exec strace -f -e trace=openat -o "'"$W"'/trace.$OMPI_COMM_WORLD_RANK" "$@"' \
  tessera "$T" run "${args[@]}" --out "$W/two" > "$W/two.log" 2>&1 || { cat "$W/two.log" >&2; fail "2-rank run failed"; }
[ -s "$W/trace.0" ] && [ -s "$W/trace.1" ] || fail "no trace of rank 0 or rank 1"
checked0=$(grep -c 'bam/[^"]*\.bam".*O_NONBLOCK' "$W/trace.0" || true)
checked1=$(grep -c 'bam/[^"]*\.bam".*O_NONBLOCK' "$W/trace.1" || true)
opened1=$(grep -v O_NONBLOCK "$W/trace.1" | grep -c 'bam/[^"]*\.bam"' || true)
[ "$checked0" -ge 4 ] || fail "rank 0 checked $checked0 BAM opens for 4 samples (expected every sample)"
[ "$checked1" = 0 ] || fail "rank 1 opened the samples' BAMs $checked1 times to check them (plan once: rank 0 only)"
[ "$opened1" -gt 0 ] || fail "rank 1 ran no call task (the test needs both ranks to work)"
cmp -s <(bcftools view -H "$W/one/cohort.bcf") <(bcftools view -H "$W/two/cohort.bcf") \
  || fail "the 2-rank run's records differ from the 1-rank run's"

# 200 samples (every one the same BAM, --ignore-sm), samples 71 and 130 (0-based) not BAMs
bam=$(awk -F'\t' 'NR == 2 { print $3 }' "$W/sim/samples.tsv")
case "$bam" in /*) ;; *) bam="$W/sim/$bam" ;; esac
echo "not a bam" > "$W/text.bam"
{ printf 'sample\tpopulation\tbam\n'
  for i in $(seq 0 199); do
    f=$bam; [ "$i" = 71 ] || [ "$i" = 130 ] && f="$W/text.bam"
    printf 'X%03d\tp\t%s\n' "$i" "$f"
  done; } > "$W/bad.tsv"
for th in 1 2; do
  if "$T" run --ref "$W/sim/ref.fa" --samples "$W/bad.tsv" --out "$W/bad$th" --plan-only --ignore-sm --mode deep \
      --threads "$th" > /dev/null 2> "$W/bad$th.err"; then
    fail "a sheet with non-BAM inputs was accepted (--threads $th)"
  fi
  grep -q 'sample X071' "$W/bad$th.err" || { cat "$W/bad$th.err" >&2; fail "--threads $th: the error does not name X071, the first bad sample"; }
  [ "$(wc -l < "$W/bad$th.err")" = 1 ] || { cat "$W/bad$th.err" >&2; fail "--threads $th: more than one error line"; }
done
echo "plan_once: ok (rank 0 checked $checked0 BAM opens, rank 1 none)"
