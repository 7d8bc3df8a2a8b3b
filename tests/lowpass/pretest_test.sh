#!/bin/bash
# The pooled pre-test of low-pass discovery (issue 18) loses no site: a simulated 0.1x cohort of 800 samples
# (80x summed depth, so sequencing errors put ALT reads at many positions) is run through `tessera run --mode
# lowpass`; each region's evidence partitions are discovered with the full per-sample test everywhere (the
# old path, the reference) and with the pre-test, and test_lowpass_pretest fails unless every site, with all
# its fields, is the same and the pre-test skipped some. The reference's sites at true positions are counted
# (there must be some) and must all be in the run's cohort.bcf.
# usage: pretest_test.sh TEST_LOWPASS_PRETEST   (KEEP=1 keeps the temporary directory, to look at a failure)
set -euo pipefail
T=${TSR_TESSERA:?}
P=${1:?usage: pretest_test.sh TEST_LOWPASS_PRETEST}
W=$(mktemp -d /tmp/tsr_lppretest.XXXXXX)
trap '[ -n "${KEEP:-}" ] || rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$T" simulate --out "$W/sim" --samples 800 --coverage 0.1 --length 30000 --bam --seed 5 --threads 2 > /dev/null
# --evidence-layout files: the partitions are read below as files, one per region and batch
"$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/r" --mode lowpass --batch-size 300 \
    --evidence-layout files --shard-size 15000 --threads 2 --log-level warn > "$W/run.log" 2>&1 || { cat "$W/run.log"; fail "lowpass run"; }
n=0
for R in "$W"/r/evidence/*/*/; do  # evidence/gGGGGG/UNIT/ (regions of 15 kb: one region a unit, whole files)
    name=$(basename "$R")
    "$P" "$W/$name" "$R"/b*.h5 || fail "region $name: the pre-test changed the calls (see above)"
    n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "expected 2 regions, found $n"
zcat "$W/sim/truth.vcf.gz" | awk '!/^#/ { print $2 }' | sort -u > "$W/truth.pos"
cat "$W"/*.full.tsv | cut -f1 | sort -u > "$W/full.pos"
bcftools query -f '%POS\n' "$W/r/cohort.bcf" | sort -u > "$W/run.pos"
true_full=$(comm -12 "$W/truth.pos" "$W/full.pos" | wc -l)
lost=$(comm -12 "$W/truth.pos" "$W/full.pos" | comm -23 - "$W/run.pos" | wc -l)
echo "true sites called by the full test: $true_full; of them missing from the run's cohort.bcf: $lost"
[ "$true_full" -gt 0 ] || fail "the full test called no true site: nothing compared"
[ "$lost" -eq 0 ] || fail "$lost true sites of the full test are not in cohort.bcf"
echo "PASS"
