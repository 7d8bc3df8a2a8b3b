#!/bin/bash
# The cohort stage of one deep run (issue 17; not a CTest test): summary.json's figures for the stage
# (CPU, wall per rank, tasks per rank) and, from the run's log at --log-level info (each cohort task logs
# "cohort/pNNNNN: S sites in W s wall, C CPU s", the join "... (joined from the parts) in ..."), the
# parts' CPU summed, the longest part, the join and the critical path (longest part + join) as a share
# of the stage's CPU: what bounds the stage's wall however many ranks run it.
# usage: cohort_critical_path.sh OUTDIR LOG
#   e.g. mpirun -np 2 tessera run ... --shard-size 10000 --log-level info --out OUT > OUT.log 2>&1
#        cohort_critical_path.sh OUT OUT.log
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: cohort_critical_path.sh OUTDIR LOG" >&2; exit 2; }
python3 - "$1" "$2" <<'PY'
import json, re, sys
out, log = sys.argv[1], sys.argv[2]
j = json.load(open(out + "/summary.json"))
c = [s for s in j["stages"] if s["stage"] == "cohort"]
if not c:
    sys.exit("no cohort stage in %s/summary.json" % out)
c = c[0]
print("stage: %d tasks, %.3f CPU s, wall by rank %s s, tasks by rank %s" % (
    c["tasks"], c["cpu_seconds"], c["wall_seconds_by_rank"], c["tasks_by_rank"]))
parts, join = [], None
for line in open(log):
    m = re.search(r"cohort/p\d+: \d+ sites in ([\d.]+) s wall, ([\d.]+) CPU s", line)
    if m:
        parts.append((float(m.group(1)), float(m.group(2))))
    m = re.search(r"joined from the parts\) in ([\d.]+) s wall, ([\d.]+) CPU s", line)
    if m:
        join = (float(m.group(1)), float(m.group(2)))
if not parts or join is None:
    sys.exit("%s: no cohort part or join lines (run with --log-level info, deep mode)" % log)
cpu = sum(p[1] for p in parts)
longest = max(p[1] for p in parts)
print("parts %d: CPU %.3f s summed, longest %.3f; join %.3f CPU s (%.3f wall); critical path %.3f CPU s = "
      "%.1f%% of the stage's CPU" % (len(parts), cpu, longest, join[1], join[0], longest + join[1],
                                      100 * (longest + join[1]) / (cpu + join[1])))
PY
