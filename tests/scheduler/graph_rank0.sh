#!/usr/bin/env bash
# Rank 0 alone holds the task graph (issue 18): on a 4-sample FASTQ cohort (align, call, joint and cohort
# tasks; the align and call tasks are task families whose strings the master makes on demand) run at 1 and
# 2 ranks:
#   - summary.json's task_graph_bytes_by_rank is [>0] and [>0, 0]: rank 1 built no graph;
#   - rank 1 still ran tasks of every kind it was sent (tasks_by_rank), so it ran them from the
#     dispatcher's messages alone;
#   - tasks.tsv, the records and the audit head equal the 1-rank run's.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_graph_rank0.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "graph_rank0: $*" >&2; exit 1; }

"$T" simulate --out "$W/sim" --samples 4 --coverage 4 --length 20000 --seed 5 > /dev/null
args=(--ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --threads 1 --shard-size 2000 --batch-size 1)
"$T" run "${args[@]}" --out "$W/one" > "$W/one.log" 2>&1 || { cat "$W/one.log" >&2; fail "1-rank run failed"; }
"$MPI" --oversubscribe -n 2 "$T" run "${args[@]}" --out "$W/two" > "$W/two.log" 2>&1 \
  || { cat "$W/two.log" >&2; fail "2-rank run failed"; }
field() { tr -d '\n ' < "$1" | grep -o "\"$2\":\[[0-9,]*\]" | sed 's/.*\[\(.*\)\]/\1/'; }
one=$(field "$W/one/summary.json" task_graph_bytes_by_rank)
two=$(field "$W/two/summary.json" task_graph_bytes_by_rank)
[ -n "$one" ] && [ "$one" -gt 0 ] || fail "1 rank: task_graph_bytes_by_rank is '$one' (expected the graph's bytes)"
g0=${two%%,*} g1=${two#*,}
[ -n "$two" ] && [ "$g0" -gt 0 ] || fail "2 ranks: rank 0 reports '$g0' task graph bytes (expected > 0)"
[ "$g1" = 0 ] || fail "2 ranks: rank 1 holds a task graph of $g1 bytes (only rank 0 may build it)"
# rank 1 ran call tasks (and others): each arrived with its key and outputs in the dispatcher's message
ran1=$(tr -d '\n' < "$W/two/summary.json" | grep -o '"stage": "call"[^}]*' | grep -o '"tasks_by_rank": \[[0-9, ]*\]' \
  | sed 's/.*, *\([0-9]*\)\]/\1/')
[ -n "$ran1" ] && [ "$ran1" -gt 0 ] || fail "rank 1 ran no call task (the test needs both ranks to work)"
cmp -s "$W/one/tasks.tsv" "$W/two/tasks.tsv" || fail "tasks.tsv differs between 1 and 2 ranks"
cmp -s <(bcftools view -H "$W/one/cohort.bcf") <(bcftools view -H "$W/two/cohort.bcf") \
  || fail "the 2-rank run's records differ from the 1-rank run's"
h1=$(grep -o 'audit sha256:[0-9a-f]*' "$W/one.log") h2=$(grep -o 'audit sha256:[0-9a-f]*' "$W/two.log")
[ -n "$h1" ] && [ "$h1" = "$h2" ] || fail "audit heads differ: '$h1' (1 rank) vs '$h2' (2 ranks)"
echo "graph_rank0: ok (task graph bytes by rank: 1 rank [$one], 2 ranks [$two]; rank 1 ran $ran1 call tasks)"
