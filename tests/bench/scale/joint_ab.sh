#!/bin/bash
# joint_ab.sh: the joint and cohort stages of one finished deep run, rerun by two builds in turn on the same
# evidence (issue 17; a benchmark, not a test). Each rerun copies RUN's evidence and the journal's lines of
# its other tasks (call, audit) into a fresh directory, so `tessera run` resumes there and runs only the
# joint, cohort and cohort.h5 stages; it prints each stage's CPU seconds (summary.json) with ms per sample,
# and the records' md5 (`bcftools view -H cohort.bcf`), which must agree between the builds.
# usage: joint_ab.sh A_TESSERA B_TESSERA RUN SIM [REPEATS] [-- extra tessera run options]
#   RUN  a finished run directory of run_scale_bench.sh (TSR_SCALE_WORK=W keeps W/run_N_np1)
#   SIM  its simulated cohort (ref.fa, samples.tsv), e.g. DATA/sim_4000_4x_200000
#   REPEATS  rounds of A then B (default 1); the work directories are W.ab/{a,b}
# One rank, --threads 1; on a shared machine read CPU seconds, and compare A and B within a round.
set -euo pipefail
A=$1; B=$2; RUN=${3%/}; SIM=${4%/}; REP=1
shift 4
if [ $# -gt 0 ] && [ "$1" != "--" ]; then REP=$1; shift; fi
if [ "${1:-}" = "--" ]; then shift; fi
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
W=$RUN.ab
mkdir -p "$W"
n=$(($(wc -l < "$SIM/samples.tsv") - 1))
for ((i = 1; i <= REP; i++)); do
    for side in a b; do
        T=$A; [ $side = b ] && T=$B
        out=$W/$side
        rm -rf "$out"
        mkdir -p "$out"
        cp -r "$RUN/evidence" "$RUN/run.tsv" "$out/"
        for f in audit_inputs.sha256 samples.d; do [ -e "$RUN/$f" ] && cp -r "$RUN/$f" "$out/"; done
        # the journal without the joint and cohort tasks (and its head line): those are rerun
        grep -v -P '^D\t(joint|cohort)|^H\t' "$RUN/journal.tsv" > "$out/journal.tsv"
        /usr/bin/time -f "%e %U %S" -o "$out.time" mpirun --oversubscribe -np 1 "$T" run --ref "$SIM/ref.fa" \
            --samples "$SIM/samples.tsv" --out "$out" --mode deep --threads 1 --log-level info "$@" \
            > "$out.log" 2>&1 || { echo "round $i $side FAILED:"; tail -5 "$out.log"; exit 1; }
        md5=$(bcftools view -H "$out/cohort.bcf" | md5sum | cut -c1-12)
        python3 -c 'import json,sys
j = json.load(open(sys.argv[1])); n = int(sys.argv[2])
st = " / ".join("%s %.2f (%.1f)" % (s["stage"], s["cpu_seconds"], s["cpu_seconds"] * 1000 / n) for s in j["stages"])
print("round %s %s: %s; records md5 %s   [%s]" % (sys.argv[3], sys.argv[4], st, sys.argv[5], sys.argv[6]))' \
            "$out/summary.json" "$n" "$i" "$side" "$md5" "$T"
    done
done
echo "CPU seconds per stage (summary.json), ms per sample in brackets; A and B ran on the same evidence."
