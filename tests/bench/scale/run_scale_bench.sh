#!/bin/bash
# Scale benchmark (issue 17; not a CTest test): deep mode on simulated BAMs
# (`tessera simulate --bam`, 4x over 200 kb unless told otherwise) at growing
# cohort sizes, at 1 and 2 ranks. Prints per run: peak RSS per rank (the run's
# own summary.json figures, peak_rss_bytes_by_rank), CPU seconds (user+sys of
# mpirun and every rank, /usr/bin/time), CPU ms per sample, wall seconds and
# the peak ratio against the first size, so "does memory grow with samples"
# reads off one column.
# Also the cohort stage's wall seconds (summary.json "stages": the parts and the final task, summed over
# ranks, then the largest rank's) to see it fall with ranks.
# usage: run_scale_bench.sh [TESSERA] [SIZES...]      (defaults: tessera; 250 1000)
#   the 4,000-sample row is optional: run_scale_bench.sh tessera 250 1000 4000 (its simulation alone takes
#   several minutes of two cores, and the run about 4x the 1,000-sample one's CPU)
# environment:
#   TSR_SCALE_COV=4 TSR_SCALE_LEN=200000   coverage and reference length
#   TSR_SCALE_RANKS="1 2"                   rank counts (mpirun --oversubscribe -np R)
#   TSR_SCALE_ARGS="--mem-per-rank 200M"    extra `tessera run` options (e.g. a budget)
#   TSR_SCALE_DATA=DIR                      keep simulated cohorts in DIR (reused when present)
#   TSR_SCALE_KEEP=1                        keep the run directories (under TSR_SCALE_DATA or /tmp)
#   TSR_SCALE_WORK=DIR                      run in DIR and keep it (run_N_npR/, its .log and .time)
# After each run a second line: CPU seconds per stage (summary.json "stages": call / joint / cohort /
# cohort_h5, ms per sample in brackets) and the joint's union sites, those its pre-test skipped and
# those kept (the `--log-level info` lines of kernels/joint_region.c, summed over regions); a third line: the
# call regions' CPU per batch sample (min / median / max over the (region, batch) tasks), by phase, and the
# call stage's CPU outside them (the `--log-level info` lines of kernels/call_region.c).
# Each run uses --threads 1 per rank; measure CPU rather than wall on a shared machine.
set -euo pipefail
T=${1:-${TSR_TESSERA:-tessera}}
shift || true
SIZES=${*:-250 1000}
COV=${TSR_SCALE_COV:-4}; LEN=${TSR_SCALE_LEN:-200000}; RANKS=${TSR_SCALE_RANKS:-1 2}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ -n "${TSR_SCALE_WORK:-}" ]; then
    W=$TSR_SCALE_WORK
    mkdir -p "$W"
else
    W=$(mktemp -d /tmp/tsr_scale.XXXXXX)
    [ -n "${TSR_SCALE_KEEP:-}" ] || trap 'rm -rf "$W"' EXIT
fi
DATA=${TSR_SCALE_DATA:-$W}
mkdir -p "$DATA"
printf "%-8s %5s %-18s %12s %12s %9s %10s %8s %8s %9s %12s\n" samples ranks args peak_MiB_max peak_MiB_r0 cpu_s \
    cpu_ms_smp wall_s sites peak_vs_1st cohort_wall_s
first_peak=""
for n in $SIZES; do
    sim=$DATA/sim_${n}_${COV}x_${LEN}
    if [ ! -s "$sim/samples.tsv" ]; then
        "$T" simulate --out "$sim" --samples "$n" --coverage "$COV" --length "$LEN" --bam --seed 17 --threads 2 \
            --force > /dev/null
    fi
    for r in $RANKS; do
        out=$W/run_${n}_np$r
        rm -rf "$out"
        # shellcheck disable=SC2086
        /usr/bin/time -f "%e %U %S" -o "$out.time" mpirun --oversubscribe -np "$r" "$T" run --ref "$sim/ref.fa" \
            --samples "$sim/samples.tsv" --out "$out" --mode deep --threads 1 --log-level info \
            ${TSR_SCALE_ARGS:-} > "$out.log" 2>&1 || { echo "run $n x np$r FAILED:"; tail -5 "$out.log"; exit 1; }
        read -r e u s < "$out.time"
        read -r pmax p0 sites cw < <(python3 -c 'import json,sys
j = json.load(open(sys.argv[1]))
b = j["peak_rss_bytes_by_rank"]
c = [s for s in j.get("stages", []) if s["stage"] == "cohort"]
cw = "%.1f/%.1f" % (c[0]["wall_seconds"], max(c[0]["wall_seconds_by_rank"])) if c else "-"
print("%.1f %.1f %d %s" % (max(b) / 1048576, b[0] / 1048576, j["sites"], cw))' "$out/summary.json")
        [ -n "$first_peak" ] || first_peak=$pmax
        awk -v n="$n" -v r="$r" -v a="${TSR_SCALE_ARGS:--}" -v pm="$pmax" -v p0="$p0" -v u="$u" -v s="$s" -v e="$e" \
            -v st="$sites" -v fp="$first_peak" -v cw="$cw" 'BEGIN { printf "%-8s %5s %-18s %12s %12s %9.1f %10.1f %8.1f %8s %9.2f %12s\n",
            n, r, a, pm, p0, u + s, (u + s) * 1000 / n, e, st, pm / fp, cw }'
        python3 -c 'import json,re,sys
j = json.load(open(sys.argv[1]))
n = int(sys.argv[2])
st = " / ".join("%s %.2f (%.1f)" % (s["stage"], s["cpu_seconds"], s["cpu_seconds"] * 1000 / n) for s in j.get("stages", []))
u = sk = k = 0
for line in open(sys.argv[3]):
    m = re.search(r"(\d+) union sites, (\d+) skipped by the pre-test, (\d+) kept", line)
    if m:
        u += int(m.group(1)); sk += int(m.group(2)); k += int(m.group(3))
print("    stages CPU s (ms/sample): %s; joint union sites %d, skipped by the pre-test %d, kept %d" % (st, u, sk, k))
calls = []
for line in open(sys.argv[3]):
    m = re.search(r"call \S+: (\d+) samples, (\d+) candidate sites in ([\d.]+) s wall, ([\d.]+) CPU s \(pass 1 ([\d.]+), "
                  r"candidates ([\d.]+), pass 2 ([\d.]+), evidence ([\d.]+)\)", line)
    if m:
        calls.append([float(x) for x in m.groups()])
if calls:
    per = sorted(1000 * c[3] / c[0] for c in calls)
    ns = sum(c[0] for c in calls)
    ph = [1000 * sum(c[i] for c in calls) / ns for i in (4, 5, 6, 7)]
    stage = [s["cpu_seconds"] for s in j.get("stages", []) if s["stage"] == "call"]
    out = 1000 * (stage[0] - sum(c[3] for c in calls)) / n if stage else float("nan")
    print("    call regions %d: CPU ms a batch sample min %.1f / median %.1f / max %.1f; by phase pass 1 %.1f, "
          "candidates %.1f, pass 2 %.1f, evidence %.1f; candidate sites a region %.0f; the call stage outside "
          "the regions (task set-up, evidence write, the dispatcher) %.1f ms a sample" %
          (len(calls), per[0], per[len(per) // 2], per[-1], ph[0], ph[1], ph[2], ph[3],
           sum(c[1] for c in calls) / len(calls), out))' \
            "$out/summary.json" "$n" "$out.log"
    done
done
echo "peak_MiB: the run's summary.json (peak RSS per rank; _max over ranks, _r0 rank 0); cpu_s: user+sys of"
echo "mpirun and its ranks (/usr/bin/time); cpu_ms_smp = cpu_s * 1000 / samples; peak_vs_1st: against the first row;"
echo "cohort_wall_s: the cohort stage's wall seconds summed over ranks / on its busiest rank (summary.json stages)."
