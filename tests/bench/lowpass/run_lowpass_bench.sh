#!/bin/bash
# Low-pass benchmark (issue 6; not a CTest test): tessera --mode lowpass side
# by side with `bcftools mpileup -f REF -b bams.txt | bcftools call -mv` on
# simulated cohorts, scored against the truth after `bcftools norm -m -any`.
# usage: run_lowpass_bench.sh [TESSERA] [SAMPLES1 COV1 SAMPLES2 COV2 LENGTH]
#   defaults: 300 x 0.5x (3 populations, F_ST 0.05) and 2000 x 0.1x, 1 Mb.
# TSR_LP_MANY=N (optional) adds N tiny BAMs (3 kb, 0.5x) run under `ulimit -n 1024`.
# bcftools' AF is AC/AN from its GTs (`bcftools +fill-tags -t AF`, per population with -S);
# tessera's is INFO/AF (AF_<pop>), the EM estimate since issue 16. cpu_ratio = tessera cpu_s / bcftools cpu_s.
# After the table rows of each cohort, a `stats:` line scores tessera's likelihood statistics
# (score_lowpass_stats.py: SFS total-variation distance, likelihood and hard calls, against the truth;
# F_ST against the true Hudson F_ST; fraction of HWE p < 0.01); sfs_tv2_* are the same distances on
# log2 classes of allele counts, whose noise floor is well below the per-count one (see the script).
# TSR_LP_OLD=BINARY (optional) also runs that tessera build on the same BAMs (row "old": CPU before a change).
# TSR_LP_NO_PEERS=1 skips bcftools.
set -euo pipefail
T=${1:-${TSR_TESSERA:-tessera}}
N1=${2:-300}; C1=${3:-0.5}; N2=${4:-2000}; C2=${5:-0.1}; L=${6:-1000000}
HERE=$(cd "$(dirname "$0")" && pwd)
W=$(mktemp -d /tmp/tsr_lpbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
printf "%-22s %-8s %9s %9s %9s %9s %7s %7s %7s %7s %9s %9s %9s\n" cohort tool precision rec_lt1 rec_1to5 rec_ge5 \
    af_r2 r2_pop1 r2_pop2 r2_pop3 cpu_s cpu_ratio peak_MiB
run_one() { # name n cov
    local name=$1 n=$2 cov=$3 d=$W/$1
    "$T" simulate --out "$d/sim" --samples "$n" --coverage "$cov" --length "$L" --bam --populations 3 --fst 0.05 \
        --threads 2 --seed 11 > /dev/null
    /usr/bin/time -f "%U %S %M" -o "$d/t.tess" "$T" run --ref "$d/sim/ref.fa" --samples "$d/sim/samples.tsv" \
        --out "$d/tess" --mode lowpass --threads 2 --log-level warn > /dev/null
    if [ -n "${TSR_LP_OLD:-}" ]; then
        /usr/bin/time -f "%U %S %M" -o "$d/t.old" "$TSR_LP_OLD" run --ref "$d/sim/ref.fa" --samples "$d/sim/samples.tsv" \
            --out "$d/old" --mode lowpass --threads 2 --log-level warn > /dev/null
        read -r u sy m < "$d/t.old"
        printf "%-22s %-8s %9s %9s %9s %9s %7s %7s %7s %7s %9.1f %9s %9.0f\n" "$name" old "" "" "" "" "" "" "" "" \
            "$(echo "$u + $sy" | bc)" "" "$(echo "$m / 1024" | bc)"
    fi
    awk 'NR > 1 { print $3 }' "$d/sim/samples.tsv" | sed "s|^|$d/sim/|" > "$d/bams.txt"
    [ -n "${TSR_LP_NO_PEERS:-}" ] || /usr/bin/time -f "%U %S %M" -o "$d/t.bcf" sh -c "bcftools mpileup -a AD,DP -f '$d/sim/ref.fa' -b '$d/bams.txt' \
        2> /dev/null | bcftools call -mv -Ob -o '$d/bcftools.bcf' 2> /dev/null"
    [ -n "${TSR_LP_NO_PEERS:-}" ] || bcftools +fill-tags "$d/bcftools.bcf" -Ob -o "$d/bcftools.tags.bcf" -- -S <(awk 'NR > 1 { print $1 "\t" $2 }' \
        "$d/sim/samples.tsv") -t AF 2> /dev/null || cp "$d/bcftools.bcf" "$d/bcftools.tags.bcf"
    local tess_cpu=""
    for tool in tessera bcftools; do
        [ $tool = bcftools ] && [ -n "${TSR_LP_NO_PEERS:-}" ] && continue
        if [ $tool = tessera ]; then calls=$d/tess/cohort.bcf; tag=AF; tf=$d/t.tess
        else calls=$d/bcftools.tags.bcf; tag=AF; tf=$d/t.bcf; fi
        s=$(python3 "$HERE/score_lowpass.py" "$d/sim/ref.fa" "$d/sim/truth.vcf.gz" "$calls" "$tag" pop1,pop2,pop3)
        g() { echo "$s" | tr ' ' '\n' | sed -n "s/^$1=\([^(]*\).*/\1/p"; }
        read -r u sy m < "$tf"
        local cpu ratio=""
        cpu=$(echo "$u + $sy" | bc)
        if [ $tool = tessera ]; then tess_cpu=$cpu; else ratio=$(awk -v a="$tess_cpu" -v b="$cpu" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'); fi
        printf "%-22s %-8s %9s %9s %9s %9s %7s %7s %7s %7s %9.1f %9s %9.0f\n" "$name" $tool "$(g precision)" \
            "$(g recall_lt1)" "$(g recall_1to5)" "$(g recall_ge5)" "$(g af_r2)" "$(g af_r2_pop1)" "$(g af_r2_pop2)" \
            "$(g af_r2_pop3)" "$cpu" "$ratio" "$(echo "$m / 1024" | bc)"
    done
    echo "stats: $(python3 "$HERE/score_lowpass_stats.py" "$d/tess" "$d/sim/truth.vcf.gz" "$d/sim/samples.tsv")"
}
run_one "${N1}x${C1}x" "$N1" "$C1"
run_one "${N2}x${C2}x" "$N2" "$C2"
if [ -n "${TSR_LP_MANY:-}" ]; then
    d=$W/many
    "$T" simulate --out "$d/sim" --samples "$TSR_LP_MANY" --coverage 0.5 --length 3000 --bam --threads 2 --seed 5 \
        > /dev/null
    if ( ulimit -n 1024 && /usr/bin/time -f "%e %U %S %M" -o "$d/t" "$T" run --ref "$d/sim/ref.fa" \
        --samples "$d/sim/samples.tsv" --out "$d/tess" --mode lowpass --threads 2 --log-level warn > "$d/log" 2>&1 ); then
        read -r e u sy m < "$d/t"
        echo "many files: $TSR_LP_MANY BAMs under ulimit -n 1024: ok, $(grep -c -v '^#' <(bcftools view -H \
            "$d/tess/cohort.bcf")) sites, wall ${e} s, cpu $(echo "$u + $sy" | bc) s, peak $(echo "$m / 1024" | bc) MiB"
    else
        echo "many files: $TSR_LP_MANY BAMs under ulimit -n 1024: FAILED"; tail -3 "$d/log"
    fi
fi
echo "cpu_s: user+sys of the whole command; peak_MiB: max RSS (tessera: one rank)."
