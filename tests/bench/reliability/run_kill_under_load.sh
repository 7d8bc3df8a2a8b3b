#!/usr/bin/env bash
# run_kill_under_load.sh TESSERA [TRIALS] [MODE]: the kill-and-resume trials of
# tests/reliability/kill_trials.sh, TRIALS times (default 20) with a different seed each, while two busy
# loops load the machine (the condition under which a rerun once met the killed run's journal lock).
# Each trial is a separate kill_trials.sh run (one trial, seed 100+i), so a failure is counted, not
# fatal; prints each trial's result and "N of TRIALS passed". Exit 0 only if every trial passed.
# Not a CTest test: it takes minutes. MODE is worker (default: kill rank 1 only) or all.
set -uo pipefail
T=$(readlink -f "${1:?usage: run_kill_under_load.sh TESSERA [TRIALS] [MODE]}")
N=${2:-20} MODE=${3:-worker}
HERE=$(cd "$(dirname "$0")" && pwd)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export TSR_TESSERA=$T TSR_MPIEXEC=${TSR_MPIEXEC:-mpirun}
busy=()
for _ in 1 2; do (while :; do :; done) & busy+=($!); done
trap 'kill "${busy[@]}" 2>/dev/null' EXIT
pass=0
for i in $(seq 1 "$N"); do
  t0=$(date +%s)
  if out=$(bash "$HERE/../../reliability/kill_trials.sh" "$MODE" 1 $((100 + i)) 2>&1); then
    pass=$((pass + 1)); r=pass
  else
    r=FAIL
  fi
  echo "trial $i (seed $((100 + i))): $r in $(( $(date +%s) - t0 )) s; $(grep -c 'again earlier' <<<"$out") retries earlier"
  [ "$r" = FAIL ] && sed 's/^/    /' <<<"$out" | tail -20
done
echo "$pass of $N $MODE kill trials passed under load (2 busy loops, $(nproc) cores)"
[ "$pass" = "$N" ]
