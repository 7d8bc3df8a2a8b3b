#!/usr/bin/env bash
# The exports' memory against the size of evidence/index.tsv (issue 18): a small packed run (6 samples, 3 units
# x 3 batches, 2 ranks), its index padded with PAD lines that no export reads (a sub-folder x/ in each unit,
# one run of lines a unit, as a national run's 5.2 M lines would be to an export of one sample), then
# `tessera export --gvcf SAMPLE` with and without the padding. Prints the index's lines and bytes, the
# export's user+sys CPU seconds and peak RSS (/usr/bin/time -v), and whether the records are the same.
#
#   run_index_bench.sh BUILD_DIR [WORK_DIR] [PAD_LINES]        (default 5200000: ~5.2 M, the national index)
set -euo pipefail
B=${1:?usage: run_index_bench.sh BUILD_DIR [WORK_DIR] [PAD_LINES]}
W=${2:-$(mktemp -d /tmp/tsr_index_bench.XXXXXX)}
PAD=${3:-5200000}
T="$B/tessera"
mkdir -p "$W"
[ -s "$W/sim/samples.tsv" ] || "$T" simulate --out "$W/sim" --samples 6 --coverage 8 --length 60000 --seed 3 > /dev/null
if [ ! -s "$W/run/evidence/index.tsv" ]; then
  rm -rf "$W/run"
  mpirun --oversubscribe -n 2 "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/run" \
    --mode deep --threads 1 --shard-size 20000 --batch-size 2 > "$W/run.log" 2>&1 || { cat "$W/run.log" >&2; exit 1; }
fi
s=$(bcftools query -l "$W/sim/truth.vcf.gz" | head -1)
cp "$W/run/evidence/index.tsv" "$W/index.orig"
printf '%-10s %-12s %-8s %-8s %-6s\n' pad_lines index_MiB cpu_s rss_MiB same
for p in 0 "$PAD"; do
  # the unit folders' lines stay together; each unit gets p / units padding lines in its x/ sub-folder
  awk -F'\t' -v pad="$p" '
    { d = $1; sub(/[^\/]*$/, "", d); if (!(d in seen)) { seen[d] = 1; u[n++] = d } print }
    END { for (k = 0; k < n; k++) for (i = 0; i < int(pad / n); i++)
            printf "%sx/p%08d.h5\tevidence/s0001/r000000.pack@0+4096\n", u[k], i }' "$W/index.orig" \
    > "$W/run/evidence/index.tsv"
  rm -rf "$W/run/gvcf"
  /usr/bin/time -v "$T" export --gvcf "$s" --out "$W/run" --ref "$W/sim/ref.fa" > /dev/null 2> "$W/time.$p.txt" ||
    { cat "$W/time.$p.txt" >&2; exit 1; }
  bcftools view -H "$W/run/gvcf/$s.g.vcf.gz" > "$W/records.$p.txt"
  same=$(cmp -s "$W/records.0.txt" "$W/records.$p.txt" && echo yes || echo NO)
  awk -v p="$p" -v same="$same" -v mib="$(stat -c %s "$W/run/evidence/index.tsv")" '
    /User time/ { cpu += $4 } /System time/ { cpu += $4 } /Maximum resident/ { rss = $6 / 1024 }
    END { printf "%-10s %-12.1f %-8.2f %-8.1f %-6s\n", p, mib / 1048576, cpu, rss, same }' "$W/time.$p.txt"
done
cp "$W/index.orig" "$W/run/evidence/index.tsv"
