#!/bin/bash
# kill -9 the whole mpirun process group part-way through a 2-rank run, rerun,
# and check that the rerun executes exactly the tasks the journal did not
# prove done and that the final journal content equals an uninterrupted run's.
set -euo pipefail
driver=$1
mpiexec=${TSR_MPIEXEC:-mpirun}
tasks=2000
dir=$(mktemp -d /tmp/tsr_kill_resume.XXXXXX)
pgid=""
cleanup() {
  [ -n "$pgid" ] && kill -9 $(ps -o pid= -s "$pgid") 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT

"$mpiexec" --oversubscribe -n 1 "$driver" --out "$dir/ref" --tasks $tasks > "$dir/ref.txt"
ref=$(grep '^journal-digest' "$dir/ref.txt")

setsid "$mpiexec" --oversubscribe -n 2 "$driver" --out "$dir/run" --tasks $tasks --sleep-us 2000 \
  > "$dir/killed.txt" 2>&1 &
pgid=$!
journaled=0
for _ in $(seq 1 400); do
  if [ -f "$dir/run/journal.tsv" ]; then
    journaled=$(grep -c '^D' "$dir/run/journal.tsv" || true)
    [ "$journaled" -ge 100 ] && break
  fi
  sleep 0.05
done
# Open MPI puts each rank in its own process group, so kill the whole session
# that setsid created (mpirun and its ranks) by process id, all at once.
kill -9 $(ps -o pid= -s "$pgid") 2>/dev/null || true
wait "$pgid" 2>/dev/null || true
for _ in $(seq 1 100); do
  [ -z "$(ps -o pid= -s "$pgid")" ] && break
  sleep 0.05
done
pgid=""
if [ "$journaled" -lt 100 ]; then
  echo "FAIL: the run did not journal 100 records in 20 s" >&2
  cat "$dir/killed.txt" >&2
  exit 1
fi

at_kill=$("$driver" --scan "$dir/run")
if [ "$at_kill" -ge $tasks ]; then
  echo "FAIL: the run finished before it was killed ($at_kill records)" >&2
  exit 1
fi
"$mpiexec" --oversubscribe -n 2 "$driver" --out "$dir/run" --tasks $tasks --sleep-us 2000 \
  --report "$dir/report.txt" > "$dir/resumed.txt"
read -r _ executed _ skipped _ total _ _ < "$dir/report.txt"
got=$(grep '^journal-digest' "$dir/resumed.txt")
echo "journaled at kill: $at_kill; resumed run: executed $executed skipped $skipped total $total"
echo "reference: $ref; resumed: $got"
if [ "$executed" -ne $((total - at_kill)) ] || [ "$skipped" -ne "$at_kill" ]; then
  echo "FAIL: expected $((total - at_kill)) executed and $at_kill skipped" >&2
  exit 1
fi
if [ "$got" != "$ref" ]; then
  echo "FAIL: journal content after resume differs from an uninterrupted run" >&2
  exit 1
fi
echo "OK"
