#!/usr/bin/env bash
# kill_trials.sh MODE [TRIALS] [SEED]: kill-and-resume trials of `tessera run` (2 ranks, several regions
# and batches). MODE all: SIGKILL every process of the run's session (mpirun and both ranks) at a seeded
# random moment, rerun, and compare cohort.bcf and stats.tsv bytes and cohort.h5's datasets with an
# uninterrupted run.
# MODE worker: SIGKILL only rank 1 (a worker); mpirun must abort the job with a non-zero exit, and
# the rerun must resume and end identical. A trial whose run finished before the kill is tried again
# at half the moment (up to 7 attempts; the trial fails if none interrupts the run), so a trial always
# tests a resume. The rerun starts at once and waits for the killed run's lock itself; its whole error
# is printed if it fails. Needs $TSR_TESSERA and $TSR_MPIEXEC (CTest).
set -euo pipefail
MODE=$1 TRIALS=${2:-3} SEED=${3:-8}
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_kill.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL [$MODE]: $*" >&2; exit 1; }

"$T" simulate --out "$W/c" --samples 6 --coverage 6 --length 40000 --populations 2 --seed 21 >/dev/null
OPTS=(--ref "$W/c/ref.fa" --samples "$W/c/samples.tsv" --shard-size 5000 --batch-size 2 --threads 1 --log-level error)
"$MPI" --oversubscribe -n 2 "$T" run "${OPTS[@]}" --out "$W/ref" >/dev/null
total=$(wc -l < "$W/ref/tasks.tsv")
# How long an uninterrupted run takes (ms), to spread the kill moments over it.
t0=$(date +%s%N); "$MPI" --oversubscribe -n 2 "$T" run "${OPTS[@]}" --out "$W/timing" >/dev/null; t1=$(date +%s%N)
span=$(( (t1 - t0) / 1000000 )); rm -rf "$W/timing"
RANDOM=$SEED
for trial in $(seq 1 "$TRIALS"); do
  out=$W/trial$trial
  delay=$(( 150 + RANDOM % (span > 200 ? span : 200) ))
  # A run that finished before the kill has not tested resume: try again at half the moment (a loaded
  # machine can be slow to start the run, or fast to end it), and fail if no attempt interrupts it.
  for attempt in 1 2 3 4 5 6 7; do
    rm -rf "$out"
    killed=0
    setsid "$MPI" --oversubscribe -n 2 "$T" run "${OPTS[@]}" --out "$out" >/dev/null 2>"$W/err" &
    pid=$!
    sleep "$(awk -v d="$delay" 'BEGIN { printf "%.3f", d / 1000 }')"
    if [ "$MODE" = all ]; then
      # Open MPI gives each rank its own process group: kill every process of the session.
      kill -9 $(ps -o pid= -s "$pid") 2>/dev/null || true
    else
      # ps exits 1 when the session is already gone (the run may finish before the kill).
      rank1=$( (ps -o pid=,args= -s "$pid" || true) | awk '/tessera run/ && !/mpirun/ { print $1 }' | sort -n | tail -1)
      for _ in $(seq 1 40); do
        [ -n "$(awk 'NR==1' <(ps -o pid= -s "$pid"))" ] || break
        for p in $(ps -o pid= -s "$pid"); do
          grep -qz '^OMPI_COMM_WORLD_RANK=1$' "/proc/$p/environ" 2>/dev/null && { rank1=$p; break 2; }
        done
        sleep 0.05
      done
      [ -n "$rank1" ] && kill -9 "$rank1" 2>/dev/null && killed=1
    fi
    rc=0; wait "$pid" || rc=$?
    [ "$MODE" = worker ] && [ "$rc" = 0 ] && [ "$killed" = 1 ] && fail "trial $trial: rank 1 was killed but mpirun exited 0"
    [ "$rc" != 0 ] && break
    echo "trial $trial: attempt $attempt: the run finished before the kill (${delay} ms); again earlier"
    delay=$(( delay / 2 > 20 ? delay / 2 : 20 ))
  done
  [ "$rc" != 0 ] || fail "trial $trial: no attempt interrupted the run (the last at ${delay} ms)"
  done_before=$(grep -c '^D' "$out/journal.tsv" 2>/dev/null || true)
  if [ "$MODE" = worker ]; then
    [ "$rc" -ne 75 ] || fail "trial $trial: a killed worker must not look like a clean interruption (exit 75)"
  fi
  # Processes of the killed run may still be exiting and hold the journal's lock: the rerun waits for it
  # itself (up to TSR_JOURNAL_LOCK_WAIT_S, 60 s), as a user's immediate rerun or a Slurm requeue does.
  "$MPI" --oversubscribe -n 2 "$T" run "${OPTS[@]}" --out "$out" > "$W/rerun.log" 2>"$W/rerun.err" \
    || fail "trial $trial: the rerun failed: $(cat "$W/rerun.err")"
  cmp "$W/ref/cohort.bcf" "$out/cohort.bcf" || fail "trial $trial: cohort.bcf differs from the uninterrupted run"
  cmp "$W/ref/stats.tsv" "$out/stats.tsv" || fail "trial $trial: stats.tsv differs from the uninterrupted run"
  # cohort.h5 (the collective stage after the task graph): every dataset's values, not the file's bytes
  cmp <(h5dump "$W/ref/cohort.h5" | tail -n +2) <(h5dump "$out/cohort.h5" | tail -n +2) >/dev/null \
    || fail "trial $trial: cohort.h5 datasets differ from the uninterrupted run"
  "$T" verify "$out" >/dev/null || fail "trial $trial: verify found damage after the resume"
  [ -z "$(find "$out" -name '.tmp.*')" ] || fail "trial $trial: temporary files left behind"
  echo "trial $trial: killed ($MODE) at ${delay} ms of ~${span} ms, exit $rc, ${done_before:-0}/$total tasks journaled; resumed identical"
  rm -rf "$out"
done
