#!/usr/bin/env bash
# `tessera run --plan-only` (issue 18): on a small simulated cohort (2 FASTQ samples at 10x over 30 kb, so the
# plan has align, call, joint and cohort tasks) it
#   - is listed by `tessera run --help`;
#   - exits 0, creates no --out directory, and leaves an existing one as it was;
#   - prints per-stage task counts equal to the real run's tasks.tsv (by type) and total equal to the run's;
#   - prints a file census whose count (files + evidence partitions in containers) equals the outputs the
#     real run journaled;
#   - prints the same at 2 ranks (rank 0 plans alone);
#   - refuses a bad sheet with one error line and a non-zero exit, as a run does.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_plan_only.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "plan_only: $*" >&2; exit 1; }

help=$("$T" run --help)
grep -q -- '--plan-only' <<< "$help" || fail "run --help does not list --plan-only"

"$T" simulate --out "$W/sim" --samples 2 --coverage 10 --length 30000 --seed 11 > /dev/null
args=(--ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --threads 1 --shard-size 10000)
"$T" run "${args[@]}" --out "$W/plan" --plan-only > "$W/plan.txt" 2> "$W/plan.err" \
  || { cat "$W/plan.err" >&2; fail "--plan-only failed"; }
[ ! -e "$W/plan" ] || fail "--plan-only created its --out directory"
grep -q '^tessera plan: nothing written' "$W/plan.txt" || fail "no 'nothing written' line"
grep -q '^tessera plan: memory: plan [0-9.]* MiB' "$W/plan.txt" || fail "no memory line"

"$MPI" --oversubscribe -n 2 "$T" run "${args[@]}" --out "$W/plan2" --plan-only > "$W/plan2.txt" 2> "$W/plan2.err" \
  || { cat "$W/plan2.err" >&2; fail "--plan-only at 2 ranks failed"; }
[ ! -e "$W/plan2" ] || fail "--plan-only at 2 ranks created its --out directory"
diff <(grep -E '^tessera plan: ([0-9]+ (tasks|samples)|files)' "$W/plan.txt") \
     <(grep -E '^tessera plan: ([0-9]+ (tasks|samples)|files)' "$W/plan2.txt") > /dev/null \
  || fail "the plan printed at 2 ranks differs from 1 rank's"

"$T" run "${args[@]}" --out "$W/run" > "$W/run.log" 2>&1 || { cat "$W/run.log" >&2; fail "the real run failed"; }
total=$(sed -n 's/^tessera run: \([0-9]*\) tasks.*/\1/p' "$W/run.log")
planned=$(sed -n 's/^tessera plan: \([0-9]*\) tasks:.*/\1/p' "$W/plan.txt")
[ -n "$total" ] && [ "$total" -gt 4 ] || fail "the real run printed no task count"
[ "$planned" = "$total" ] || fail "--plan-only planned $planned tasks, the run ran $total"
for k in 0:align 1:call 2:joint 3:cohort; do
  n=$(awk -F'\t' -v t="${k%%:*}" '$2 == t' "$W/run/tasks.tsv" | wc -l)
  p=$(sed -n "s/^tessera plan: .* ${k#*:} \([0-9]*\) (.*/\1/p" "$W/plan.txt" | head -1)
  [ "$n" -gt 0 ] || fail "the run had no ${k#*:} task (the test needs every stage)"
  [ "$p" = "$n" ] || fail "--plan-only planned '$p' ${k#*:} tasks, the run's tasks.tsv has $n"
done
files=$(sed -n 's/^tessera plan: files the tasks write: \([0-9]*\) in.*/\1/p' "$W/plan.txt")
journaled=$(awk -F'\t' 'FNR == NR { task[$3] = 1; next } $1 == "D" && ($2 in task) { n += $3 } END { print n + 0 }' \
  "$W/run/tasks.tsv" "$W/run/journal.tsv")
# evidence partitions appended to containers (the default layout) are counted apart from the files
packed=$(sed -n 's/^tessera plan: and \([0-9]*\) evidence partitions appended to containers.*/\1/p' "$W/plan.txt")
[ -n "$packed" ] || fail "--plan-only does not count the evidence partitions appended to containers"
[ $((files + packed)) = "$journaled" ] ||
  fail "--plan-only counts $files files + $packed packed partitions, the run journaled $journaled outputs"

# an existing run directory is left as it was
before=$(cd "$W/run" && find . -type f -exec stat -c '%n %s %Y' {} + | sort | md5sum)
"$T" run "${args[@]}" --out "$W/run" --plan-only > "$W/plan3.txt" 2>&1 || fail "--plan-only on a run failed"
after=$(cd "$W/run" && find . -type f -exec stat -c '%n %s %Y' {} + | sort | md5sum)
[ "$before" = "$after" ] || fail "--plan-only changed an existing run directory"

# a sheet naming a missing file: one error line, exit non-zero, nothing created
printf 'sample\tpopulation\tbam\ns1\tp\tmissing.bam\n' > "$W/bad.tsv"
if "$T" run --ref "$W/sim/ref.fa" --samples "$W/bad.tsv" --out "$W/bad" --plan-only > "$W/bad.out" 2> "$W/bad.err"; then
  fail "--plan-only accepted a sheet naming a missing file"
fi
grep -q 'missing.bam' "$W/bad.err" || fail "the error does not name the missing file"
[ ! -e "$W/bad" ] || fail "--plan-only created --out for a bad sheet"
echo "plan_only: ok ($planned tasks, $files files)"
