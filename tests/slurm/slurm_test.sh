#!/usr/bin/env bash
# tessera under a real Slurm (Debian's slurm-wlm, installed when missing), single node, private daemons:
#   1. `srun --mpi=pmix tessera info` shows every rank's binding (each thread bound to the PU it was given);
#   2. the demo-style cohort submitted through deploy/slurm/tessera.sbatch (srun --mpi=pmix, 2 ranks)
#      completes, and its cohort.bcf is byte-identical to a plain `mpirun -n 2` run;
#   3. the same template with TSR_LAUNCHER=mpirun completes with the same bytes;
#   4. a longer run gets the time-out signal part-way (`scancel --batch --signal=USR1`, what
#      `--signal=B:USR1@N` does), exits 75, is requeued by the template, resumes from the journal and
#      ends with a cohort.bcf byte-identical to an uninterrupted run.
# Exits 77 (CTest skip) with one line when the Slurm daemons cannot be installed or started here.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${TSR_SOURCE_DIR:-$(cd "$here/../.." && pwd)}
tessera=${TSR_TESSERA:?TSR_TESSERA must name the tessera binary}
mpiexec=${TSR_MPIEXEC:-mpirun}
template=$src/deploy/slurm/tessera.sbatch
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# shellcheck source=slurm_cluster.sh
source "$here/slurm_cluster.sh"

dir=$(mktemp -d /tmp/tsr_slurm_test.XXXXXX)
jobs_started=()
cleanup() {
  local j
  for j in "${jobs_started[@]}"; do scancel "$j" 2>/dev/null || true; done
  [ ${#jobs_started[@]} -gt 0 ] && sleep 1
  slurm_down
  rm -rf "$dir"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  local f
  for f in "$dir"/job-*.out; do [ -f "$f" ] && { echo "--- $f" >&2; cat "$f" >&2; }; done
  [ -f "$dir/cluster/log/slurmctld.log" ] && { echo "--- slurmctld.log (tail)" >&2; tail -20 "$dir/cluster/log/slurmctld.log" >&2; }
  exit 1
}
skip() { echo "SKIP: $*"; exit 77; }

slurm_install || skip "Slurm is not installed and could not be: $SLURM_UP_ERROR"
slurm_up "$dir/cluster" || skip "the Slurm daemons cannot start here: $SLURM_UP_ERROR"
echo "slurm: $(sinfo --version) up: $(sinfo -h -N -o '%N %c CPUs %t')"
srun --mpi=list 2>&1 | grep -w pmix > /dev/null || fail "Slurm has no pmix plugin (srun --mpi=list)"

field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1; }
# wait for a job to end, printing each change of state; prints nothing else
wait_job() {
  local j=$1 limit=$2 s last=""
  for _ in $(seq 1 $((limit * 5))); do
    s="JobState=$(field "$j" JobState) Restarts=$(field "$j" Restarts) ExitCode=$(field "$j" ExitCode)"
    [ "$s" != "$last" ] && echo "  $(date +%T) job $j $s"
    last=$s
    case $s in
      JobState=COMPLETED*|JobState=FAILED*|JobState=CANCELLED*|JobState=TIMEOUT*|JobState=NODE_FAIL*|JobState=OUT_OF_MEMORY*) return 0 ;;
    esac
    sleep 0.2
  done
  fail "job $j did not end within $limit s ($last)"
}
submit() {  # OUTDIR_NAME EXTRA_ENV tessera-run-args... -> prints the job id
  local name=$1 env=$2; shift 2
  # --time must exceed the template's --signal=B:USR1@600 lead, or Slurm signals the job as it starts.
  (cd "$dir" && sbatch --parsable --job-name="$name" --nodes=1 --ntasks-per-node=2 --cpus-per-task=1 --mem=1G \
     --time=30 --output="$dir/job-%x-%j.out" --export="ALL,TSR_TESSERA=$tessera${env:+,$env}" \
     "$template" "$@")
}

# 1. tessera info under srun: one line per rank and thread, each thread bound to its PU
out=$(srun --mpi=pmix -n 2 "$tessera" info --threads 1) || fail "srun tessera info failed: $out"
echo "$out"
grep -q "^ranks *2 " <<< "$out" || fail "srun tessera info does not see 2 ranks"
rows=$(echo "$out" | awk 'f && NF >= 7 && $2 ~ /^[0-9]+$/; $1 == "host" { f = 1 }')
[ "$(echo "$rows" | awk '{ printf "%s:%s ", $2, $5 }')" = "0:0 1:0 " ] || fail "expected one binding line per rank"
echo "$rows" | awk '$6 != $7 { bad = 1 } END { exit bad }' || fail "a thread under srun is not bound to its PU"
[ "$(echo "$rows" | awk '{ print $6 }' | sort -u | wc -l)" -eq 2 ] || fail "the 2 ranks share a PU"

# 2. + 3. a small cohort through the template, srun and mpirun; reference: plain mpirun outside Slurm
"$tessera" simulate --out "$dir/small" --samples 6 --coverage 12 --length 60000 --populations 2 --seed 3 >/dev/null
small=(--ref small/ref.fa --samples small/samples.tsv --shard-size 20000 --batch-size 3 --log-level warn)
(cd "$dir" && "$mpiexec" --oversubscribe -n 2 "$tessera" run "${small[@]}" --out "$dir/small_ref" >/dev/null)
for launcher in srun mpirun; do
  j=$(submit "small_$launcher" "TSR_LAUNCHER=$launcher" "${small[@]}" --out "$dir/small_$launcher")
  jobs_started+=("$j")
  echo "submitted job $j (tessera.sbatch, TSR_LAUNCHER=$launcher)"
  wait_job "$j" 120
  log="$dir/job-small_$launcher-$j.out"
  [ "$(field "$j" JobState)" = COMPLETED ] && [ "$(field "$j" ExitCode)" = 0:0 ] || fail "job $j did not complete"
  grep -q "restart 0: done" "$log" || fail "the template did not report success in $log"
  for f in cohort.bcf cohort.bcf.csi cohort.h5 stats.tsv summary.json; do
    [ -s "$dir/small_$launcher/$f" ] || fail "job $j: $f missing"
  done
  grep "^tessera run: " "$log"
  cmp "$dir/small_ref/cohort.bcf" "$dir/small_$launcher/cohort.bcf" ||
    fail "cohort.bcf under sbatch ($launcher) differs from plain mpirun"
  echo "cmp: cohort.bcf ($launcher under sbatch) identical to plain mpirun"
done

# 4. time-out signal part-way, requeue, resume
"$tessera" simulate --out "$dir/big" --samples 12 --coverage 12 --length 200000 --populations 2 --seed 11 >/dev/null
big=(--ref big/ref.fa --samples big/samples.tsv --threads 1 --shard-size 20000 --batch-size 3 --log-level warn)
j=$(submit requeue "" "${big[@]}" --out "$dir/big_run")
jobs_started+=("$j")
echo "submitted job $j (tessera.sbatch, srun, --requeue)"
journaled=0
for _ in $(seq 1 600); do
  [ -f "$dir/big_run/journal.tsv" ] && journaled=$(grep -c '^D' "$dir/big_run/journal.tsv" || true)
  [ "$journaled" -ge 10 ] && break
  sleep 0.1
done
[ "$journaled" -ge 10 ] || fail "the run did not journal 10 tasks in 60 s"
[ "$(field "$j" JobState)" = RUNNING ] || fail "job $j is not running when it should be signalled"
echo "  journal holds $journaled done tasks; scancel --batch --signal=USR1 $j (as --signal=B:USR1@N would)"
scancel --batch --signal=USR1 "$j"
wait_job "$j" 180
log="$dir/job-requeue-$j.out"
[ "$(field "$j" JobState)" = COMPLETED ] || fail "job $j did not complete after its requeue"
[ "$(field "$j" Restarts)" = 1 ] || fail "job $j was not restarted exactly once"
grep -q "restart 0: caught SIGUSR1" "$log" || fail "the template did not catch SIGUSR1"
grep -q "^tessera run: interrupted after" "$log" || fail "tessera did not report the interruption"
grep -q "restart 0: interrupted (exit 75), journal flushed; requeueing job $j" "$log" || fail "no requeue on exit 75"
grep -q "restart 1: done" "$log" || fail "the requeued job did not finish"
grep -E "restart [01]: (caught|interrupted|done)|^tessera run: (interrupted|[0-9]+ tasks)|DUE TO JOB REQUEUE|exit code 75" "$log" | sed 's/^/  /'
resumed=$(sed -n 's/^tessera run: [0-9]* tasks (\([0-9]*\) from the journal.*/\1/p' "$log")
[ -n "$resumed" ] && [ "$resumed" -ge "$journaled" ] ||
  fail "the resumed run took ${resumed:-no} tasks from the journal, expected at least $journaled"
(cd "$dir" && "$mpiexec" --oversubscribe -n 2 "$tessera" run "${big[@]}" --out "$dir/big_ref" >/dev/null)
cmp "$dir/big_ref/cohort.bcf" "$dir/big_run/cohort.bcf" || fail "cohort.bcf after requeue + resume differs from an uninterrupted run"
echo "cmp: cohort.bcf after requeue + resume ($resumed tasks from the journal) identical to an uninterrupted run"
echo "OK"
