#!/usr/bin/env bash
# Benchmark (not a test): `tessera stats --vcf` at 1 and 2 ranks against bcftools +fill-tags and
# plink2 --freq --hardy on the same large simulated BCF. Prints CPU seconds (user + system, children
# included, from /usr/bin/time), wall seconds, the tessera/peer CPU ratios and the 1 -> 2 rank
# parallel efficiency.
#
# Usage: run_stats_bench.sh TESSERA [COPIES] [SAMPLES] [LENGTH]
#   The input: `tessera simulate --samples SAMPLES --coverage 0.01 --length LENGTH --theta 0.01`
#   (about 50,000 sites per Mb), its truth genotypes replicated COPIES times as contigs sim1_1 ..
#   sim1_COPIES (defaults 10, 500, 2000000: about 1,000,000 sites x 500 samples). The work folder
#   is under /tmp and removed at the end; TSR_BENCH_KEEP=1 keeps it.
set -euo pipefail
T=${1:?usage: run_stats_bench.sh TESSERA [COPIES] [SAMPLES] [LENGTH]}
COPIES=${2:-10} SAMPLES=${3:-500} LENGTH=${4:-2000000}
MPI=${TSR_MPIEXEC:-mpirun}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
for tool in bcftools plink2 /usr/bin/time; do
  command -v "$tool" > /dev/null || { echo "run_stats_bench: $tool is missing" >&2; exit 1; }
done
W=$(mktemp -d /tmp/tsr_stats_bench.XXXXXX)
[ "${TSR_BENCH_KEEP:-0}" = 1 ] || trap 'rm -rf "$W"' EXIT

echo "preparing: $SAMPLES samples, $LENGTH bp x $COPIES copies in $W" >&2
"$T" simulate --out "$W/sim" --samples "$SAMPLES" --coverage 0.01 --length "$LENGTH" --theta 0.01 \
  --seed 42 > /dev/null
parts=()
for k in $(seq 1 "$COPIES"); do
  printf 'sim1\tsim1_%d\n' "$k" > "$W/rename"
  bcftools annotate --rename-chrs "$W/rename" -Ob -o "$W/part$k.bcf" "$W/sim/truth.vcf.gz"
  parts+=("$W/part$k.bcf")
done
bcftools concat -Ob -o "$W/in.bcf" "${parts[@]}" 2> /dev/null
rm -f "${parts[@]}" && rm -rf "$W/sim/reads"
bcftools index "$W/in.bcf"
SITES=$(bcftools index -n "$W/in.bcf" 2> /dev/null)

# run LABEL CMD...: "LABEL user+sys wall" appended to $W/times (CPU of every child: mpirun's ranks too).
run() {
  local label=$1; shift
  /usr/bin/time -f "%U %S %e" -o "$W/t" "$@" > "$W/$label.log" 2>&1 || { echo "$label failed:" >&2; cat "$W/$label.log" >&2; exit 1; }
  awk -v l="$label" '{ printf "%s %.2f %.2f\n", l, $1 + $2, $3 }' "$W/t" >> "$W/times"
}
: > "$W/times"
run tessera_np1 "$MPI" --oversubscribe -n 1 "$T" stats --vcf "$W/in.bcf" --out "$W/ts1"
run tessera_np2 "$MPI" --oversubscribe -n 2 "$T" stats --vcf "$W/in.bcf" --out "$W/ts2"
cmp "$W/ts1/stats.tsv" "$W/ts2/stats.tsv" || { echo "stats.tsv differs between 1 and 2 ranks" >&2; exit 1; }
run bcftools_fill_tags bcftools +fill-tags "$W/in.bcf" -Ou -o /dev/null -- -t AC,AN,AF,HWE,ExcHet
run plink2_freq_hardy plink2 --bcf "$W/in.bcf" --allow-extra-chr --freq --hardy --threads 1 \
  --memory 4000 --out "$W/pl"

# tessera's own account (getrusage summed over ranks, without mpirun) from summary.json.
own1=$(sed -n 's/.*"cpu_seconds": \([0-9.]*\).*/\1/p' "$W/ts1/summary.json")
own2=$(sed -n 's/.*"cpu_seconds": \([0-9.]*\).*/\1/p' "$W/ts2/summary.json")
awk -v sites="$SITES" -v samples="$SAMPLES" -v own1="$own1" -v own2="$own2" '
  { cpu[$1] = $2; wall[$1] = $3; order[++n] = $1 }
  END {
    printf "input: %d sites x %d samples (BCF); CPU = user + system seconds (mpirun included for tessera)\n\n", sites, samples
    printf "| tool | CPU s | wall s | tessera 1-rank CPU / this |\n|---|---|---|---|\n"
    for (i = 1; i <= n; i++) { t = order[i]
      printf "| %s | %.2f | %.2f | %.2f |\n", t, cpu[t], wall[t], cpu["tessera_np1"] / cpu[t] }
    printf "\ntessera CPU by its own account (getrusage summed over ranks, mpirun excluded): 1 rank %.2f s, 2 ranks %.2f s\n", own1, own2
    printf "parallel efficiency 1 -> 2 ranks: wall %.2f (T1 / (2 x T2)), CPU %.2f (CPU1 / CPU2)\n",
           wall["tessera_np1"] / (2 * wall["tessera_np2"]), cpu["tessera_np1"] / cpu["tessera_np2"]
    printf "ratios (tessera 1 rank / peer, CPU): bcftools +fill-tags %.2f (target <= 0.5), plink2 --freq --hardy %.2f (target <= 1.5)\n",
           cpu["tessera_np1"] / cpu["bcftools_fill_tags"], cpu["tessera_np1"] / cpu["plink2_freq_hardy"]
  }' "$W/times"
