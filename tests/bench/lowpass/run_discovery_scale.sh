#!/bin/bash
# Low-pass discovery scaling (issue 18; a benchmark, not a CTest test): `tessera simulate --bam` cohorts of
# N1 and N2 samples at COV x over LEN bp, `tessera run --mode lowpass` at 1 and 2 ranks, CPU (user + system
# of the whole command, all ranks) and wall per run, then cpu(N2) / cpu(N1) at 2 ranks and wall(2 ranks) /
# wall(1 rank) per cohort. On a shared machine trust CPU over wall: each run also prints its stages' CPU and
# the CPU critical path (evidence, discovery and cohort.h5 CPU / ranks + the serial cohort task's CPU), and
# the last lines its ratio at 2 / 1 ranks beside the wall's.
# usage: run_discovery_scale.sh [TESSERA] [N1 N2 COV LEN]     defaults: 5000 20000 0.1 50000
# TSR_LP_RUN_ARGS: extra `tessera run` options (e.g. "--discover-windows 1" for discovery as one task).
# TSR_LP_SCALE_DIR=DIR keeps the cohorts there and reuses them (generating 20,000 BAMs takes ~1 min, ~240 MB);
#   default: a temporary directory, removed at the end.
# TSR_LP_PRETEST_CHECK=BUILD/tests/lowpass/test_lowpass_pretest (optional) also discovers each cohort's
#   evidence with the full per-sample test everywhere (the code before the pooled pre-test) and with the
#   pre-test, and says whether every site is the same (it prints how many sites the pre-test skipped).
set -euo pipefail
T=${1:-${TSR_TESSERA:-tessera}}
N1=${2:-5000}; N2=${3:-20000}; C=${4:-0.1}; L=${5:-50000}
MPIEXEC=${TSR_MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if [ -n "${TSR_LP_SCALE_DIR:-}" ]; then W=$TSR_LP_SCALE_DIR; mkdir -p "$W"; else
    W=$(mktemp -d /tmp/tsr_lpscale.XXXXXX); trap 'rm -rf "$W"' EXIT; fi
printf "%-8s %5s %9s %9s %7s\n" samples ranks cpu_s wall_s sites
declare -A CPU WALL CRIT
for n in "$N1" "$N2"; do
    d=$W/n$n
    [ -s "$d/sim/samples.tsv" ] || "$T" simulate --out "$d/sim" --samples "$n" --coverage "$C" --length "$L" --bam \
        --seed 7 --threads 2 --force > /dev/null
    for np in 1 2; do
        rm -rf "$d/r$np"
        /usr/bin/time -f "%e %U %S" -o "$d/t$np" "$MPIEXEC" --oversubscribe -n "$np" "$T" run --ref "$d/sim/ref.fa" \
            --samples "$d/sim/samples.tsv" --out "$d/r$np" --mode lowpass --threads 1 --log-level warn ${TSR_LP_RUN_ARGS:-} > "$d/log$np" 2>&1 \
            || { cat "$d/log$np"; exit 1; }
        read -r e u s < "$d/t$np"
        CPU[$n.$np]=$(echo "$u + $s" | bc); WALL[$n.$np]=$e
        printf "%-8s %5s %9.1f %9.1f %7s\n" "$n" "$np" "${CPU[$n.$np]}" "$e" \
            "$(bcftools view -H "$d/r$np/cohort.bcf" | wc -l)"
        # per-stage CPU (summary.json via tessera inspect) and the CPU critical path: the stages that spread
        # over ranks (evidence, discovery windows, the collective cohort.h5) / ranks + the serial cohort task
        "$T" inspect "$d/r$np" | awk -v np="$np" -v n="$n" '
            $1 ~ /^(lowpass_evidence|lowpass_discover|cohort|cohort_h5)$/ && $2 ~ /^[0-9]+$/ {
                printf "    %-18s tasks %4d  CPU s %7.2f  wall s %7.2f\n", $1, $2, $3, $4
                c += ($1 == "cohort" ? $3 : $3 / np) }
            END { printf "    CPU critical path (%s samples, %d ranks): %.2f s\n", n, np, c }' | tee "$d/crit$np"
        CRIT[$n.$np]=$(awk '/critical path/ { print $(NF - 1) + 0 }' "$d/crit$np")
    done
    for f in cohort.bcf stats.tsv statistics.json; do
        cmp -s "$d/r1/$f" "$d/r2/$f" && echo "  $n samples: $f identical at 1 and 2 ranks" \
            || echo "  $n samples: $f DIFFERS between 1 and 2 ranks"
    done
    if [ -n "${TSR_LP_PRETEST_CHECK:-}" ]; then
        for R in "$d"/r2/evidence/*/*/; do
            rc=0; out=$("$TSR_LP_PRETEST_CHECK" "$d/pretest" "$R"/b*.h5 2>&1) || rc=$?
            echo "  $n samples, region $(basename "$R"): $(echo "$out" | tr '\n' ' ')(exit $rc: 0 = every site the same)"
        done
    fi
done
awk -v a="${CPU[$N2.2]}" -v b="${CPU[$N1.2]}" -v n1="$N1" -v n2="$N2" \
    'BEGIN { printf "cpu ratio %s / %s samples (2 ranks): %.2f for %.1fx the samples\n", n2, n1, a / b, n2 / n1 }'
for n in "$N1" "$N2"; do
    awk -v a="${WALL[$n.2]}" -v b="${WALL[$n.1]}" -v c="${CRIT[$n.2]}" -v d="${CRIT[$n.1]}" -v n="$n" \
        'BEGIN { printf "wall ratio 2 ranks / 1 rank, %s samples: %.2f (CPU critical path: %.2f)\n", n, a / b, c / d }'
done
