#!/bin/bash
# Stop signals part-way through 2-rank runs, each resumed from the journal the
# previous one left, in one output directory:
#   1. SIGTERM to every rank (what Slurm's scancel/srun do): mpirun exits 75.
#   2. SIGUSR1 to mpirun (sbatch --signal=USR1@N; Open MPI forwards it): 75.
#   3. SIGTERM to mpirun: Open MPI 4.1 forwards it to the ranks, which stop
#      cleanly and report "interrupted 1", but mpirun itself exits 1.
#   4. A last run completes: it skips exactly what the journal holds, and the
#      driver checks the final journal against the graph.
set -euo pipefail
driver=$1
mpiexec=${TSR_MPIEXEC:-mpirun}
tasks=4000
dir=$(mktemp -d /tmp/tsr_sigterm.XXXXXX)
sid=""
cleanup() {
  [ -n "$sid" ] && kill -9 $(ps -o pid= -s "$sid") 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

journal_count() {
  [ -f "$dir/run/journal.tsv" ] && grep -c '^D' "$dir/run/journal.tsv" || echo 0
}

# interrupt NAME TARGET SIGNAL: start a run, wait for 60 new records, signal, wait; sets rc.
interrupt() {
  local name=$1 target=$2 sig=$3 start
  start=$(journal_count)
  setsid "$mpiexec" --oversubscribe -n 2 "$driver" --out "$dir/run" --tasks $tasks --sleep-us 2000 \
    > "$dir/$name.txt" 2>&1 &
  sid=$!
  for _ in $(seq 1 400); do
    [ "$(journal_count)" -ge $((start + 60)) ] && break
    sleep 0.05
  done
  if [ "$target" = ranks ]; then
    kill -"$sig" $(ps -o pid= -s "$sid" | grep -vw "$sid")
  else
    kill -"$sig" "$sid"
  fi
  rc=0
  wait "$sid" || rc=$?
  for _ in $(seq 1 100); do
    [ -z "$(ps -o pid= -s "$sid")" ] && break
    sleep 0.05
  done
  sid=""
  echo "$name: exit code $rc; $(grep '^executed' "$dir/$name.txt" || echo 'no report')"
  if ! grep -q 'interrupted 1' "$dir/$name.txt"; then
    echo "FAIL: $name: the run did not report an interruption" >&2
    cat "$dir/$name.txt" >&2
    exit 1
  fi
}

# check_resumed NAME JOURNALED: the run NAME skipped exactly JOURNALED tasks.
check_resumed() {
  local skipped
  skipped=$(awk '/^executed/ {print $4}' "$dir/$1.txt")
  if [ "$skipped" != "$2" ]; then
    echo "FAIL: $1 skipped $skipped tasks, the journal held $2" >&2
    exit 1
  fi
}

interrupt term_ranks ranks TERM
[ "$rc" -eq 75 ] || { echo "FAIL: exit code $rc after SIGTERM to the ranks, expected 75" >&2; exit 1; }
held=$("$driver" --scan "$dir/run")

interrupt usr1_mpirun mpirun USR1
[ "$rc" -eq 75 ] || { echo "FAIL: exit code $rc after SIGUSR1 to mpirun, expected 75" >&2; exit 1; }
check_resumed usr1_mpirun "$held"
held=$("$driver" --scan "$dir/run")

interrupt term_mpirun mpirun TERM
[ "$rc" -ne 0 ] || { echo "FAIL: exit code 0 after SIGTERM to mpirun" >&2; exit 1; }
check_resumed term_mpirun "$held"
held=$("$driver" --scan "$dir/run")

"$mpiexec" --oversubscribe -n 2 "$driver" --out "$dir/run" --tasks $tasks > "$dir/final.txt"
cat "$dir/final.txt"
check_resumed final "$held"
grep -q "records $tasks\$" "$dir/final.txt" || { echo "FAIL: final journal incomplete" >&2; exit 1; }
echo "OK"
