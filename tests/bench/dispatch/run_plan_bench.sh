#!/usr/bin/env bash
# Planning a national cohort on a GRCh38-shaped genome (issue 18): `tessera run --plan-only` at several
# cohort sizes, one rank, to show how planning grows with samples (not one size).
#
#   run_plan_bench.sh BUILD_DIR [WORK_DIR] [SIZES...]     (default sizes: 10000 30000 100000)
#   TSR_PLAN_FASTQ=1 run_plan_bench.sh ...                 (FASTQ samples: align tasks, and the call tasks'
#                                                           dependencies on them through one gate a batch)
#   TSR_PLAN_RUN_OPTS='--evidence-layout files' ...          (more `tessera run` options, e.g. to compare the
#                                                           dispatcher's bytes without evidence containers)
#
# Inputs per size (make_grch38_plan.py): a sparse 3.2 Gb reference with 3,100 contigs (GRCh38's 25
# primary ones at their real lengths + small contigs with GRCh38-style names), one empty BAM whose header
# lists them, and a sheet of N samples each naming its own symbolic link to it. --mode deep, so no sample's
# depth is measured (--mode auto would measure 32 samples through their index, whatever N); --ignore-sm,
# since every link reaches the one BAM. The input checks still open every sample's file and read its
# header (on rank 0 only), so they are measured as a real cohort would pay them, less the page cache misses.
#
# Prints one line per size: samples, tasks, plan/checks/graph wall and CPU seconds (tessera's own
# figures), the plan's, graph's and dispatcher's bytes, and the process's user+sys CPU and peak RSS
# (/usr/bin/time -v). CPU seconds are the figure to compare on a shared machine; wall includes waiting.
set -euo pipefail
B=${1:?usage: run_plan_bench.sh BUILD_DIR [WORK_DIR] [SIZES...]}
W=${2:-$(mktemp -d /tmp/tsr_plan_bench.XXXXXX)}
shift $(( $# >= 2 ? 2 : 1 ))
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(10000 30000 100000)
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$W"
FQ=${TSR_PLAN_FASTQ:-0}
SUFFIX=$([ "$FQ" = 1 ] && echo fq || true)
printf '%-8s %-8s %-9s %-10s %-16s %-16s %-16s %-10s %-10s %-11s %-8s %-8s\n' samples units tasks deps \
  "plan_s(cpu)" "checks_s(cpu)" "graph_s(cpu)" plan_MiB graph_MiB dispatch_MiB cpu_s rss_MiB
for n in "${SIZES[@]}"; do
  d="$W/n$n$SUFFIX"
  [ -s "$d/samples.tsv" ] || python3 "$HERE/make_grch38_plan.py" "$d" --samples "$n" \
    $([ "$FQ" = 1 ] && echo --fastq || true) > /dev/null
  /usr/bin/time -v "$B/tessera" run --ref "$d/ref.fa" --samples "$d/samples.tsv" --out "$d/out" --plan-only \
    --mode deep --ignore-sm ${TSR_PLAN_RUN_OPTS:-} > "$d/plan.txt" 2> "$d/time.txt" || { cat "$d/time.txt" >&2; exit 1; }
  awk -v n="$n" '
    /^tessera plan: [0-9]+ samples/ { for (i = 1; i <= NF; i++) if ($(i+1) == "units") units = $i }
    /^tessera plan: [0-9]+ tasks:/ { tasks = $3; deps = "-"; for (i = 1; i <= NF; i++) if ($(i+1) == "dependencies") deps = $i }
    /^tessera plan: memory:/ { plan = $5; graph = $12; disp = $15 }
    /^tessera plan: time:/ { p = $5 "(" substr($7, 2) ")"; c = $12 "(" substr($14, 2) ")"; g = $19 "(" substr($21, 2) ")" }
    /User time/ { cpu += $4 } /System time/ { cpu += $4 }
    /Maximum resident/ { rss = $6 / 1024 }
    END { printf "%-8s %-8s %-9s %-10s %-16s %-16s %-16s %-10s %-10s %-11s %-8.2f %-8.0f\n", n, units, tasks, deps, p, c, g,
          plan, graph, disp, cpu, rss }' "$d/plan.txt" "$d/time.txt"
done
