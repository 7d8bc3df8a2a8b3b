#!/bin/bash
# Low-pass statistics from the likelihoods, end to end (issue 16): a simulated 0.5x cohort in 3
# populations (F_ST 0.05) through `tessera run --mode lowpass`, scored against the simulator's truth.
# INFO/AF is the EM estimate (r2 floor), AC/AN/AC_Hard and their header descriptions, the same AF and
# HWE in stats.tsv, cohort.h5 and the aggregate export, the likelihood SFS closer to the truth than the
# hard-call SFS in every population, F_ST near the true Hudson F_ST, HWE p < 0.01 rare under HWE, the
# report's labels, the heterozygosity column, and the same statistics at 2 ranks and another batch size.
# Seen on this cohort (seed 4): AF r2 0.979, pops 0.936-0.950; SFS TV likelihood 0.26-0.35 against
# hard calls 0.38-0.43; F_ST within 0.008 of the truth; HWE p < 0.01 at 3 of 383 PASS SNVs (0.0078; the
# LRT it replaced: 0 of 383).
set -euo pipefail
T=${TSR_TESSERA:?}
SRC=${TSR_SOURCE_DIR:?}
MPIEXEC=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_lpstats.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$T" simulate --out "$W/sim" --samples 150 --coverage 0.5 --length 150000 --bam --populations 3 --fst 0.05 \
    --threads 2 --seed 4 > /dev/null
"$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/a" --mode lowpass --threads 2 \
    --batch-size 64 --shard-size 50000 --log-level warn > "$W/a.log" 2>&1 || { cat "$W/a.log"; fail "lowpass run"; }
B=$W/a/cohort.bcf

# header: how each value was estimated
hdr=$(bcftools view -h "$B")
grep -q '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency by EM over genotype likelihoods' <<< "$hdr" \
    || fail "INFO/AF header does not say EM over genotype likelihoods"
grep -q '##INFO=<ID=AC,Number=A,Type=Integer,Description="Expected ALT allele count, round(AF x AN)' <<< "$hdr" \
    || fail "INFO/AC header does not give its definition"
grep -q '##INFO=<ID=AF_pop2,.*EM over genotype likelihoods.*in population pop2' <<< "$hdr" || fail "AF_pop2 header"
grep -q '##INFO=<ID=AC_Hard_pop1,' <<< "$hdr" || fail "no AC_Hard_pop1"
grep -q '##INFO=<ID=HWE,.*score test of F = 0' <<< "$hdr" || fail "HWE header does not name the score test"

# INFO/AF is AF_EM; AC = round(AF x AN); AC_Hard differs from AC somewhere (it is another estimate)
bcftools query -f '%AF\t%AF_EM\t%AC\t%AN\t%AC_Hard\t%AF_pop1\t%AF_EM_pop1\n' "$B" > "$W/af.txt"
awk -F'\t' '$1 != $2 || $6 != $7 { bad++ } END { exit bad > 0 }' "$W/af.txt" || fail "INFO/AF differs from AF_EM"
awk -F'\t' '$1 !~ /,/ { d = $3 - $1 * $4; if (d > 0.5001 || d < -0.5001) bad++ } END { exit bad > 0 }' "$W/af.txt" \
    || fail "AC is not round(AF x AN)"
awk -F'\t' '$3 != $5 { n++ } END { exit !(n > 0) }' "$W/af.txt" || fail "AC_Hard equals AC everywhere"

score=$(python3 "$SRC/tests/bench/lowpass/score_lowpass.py" "$W/sim/ref.fa" "$W/sim/truth.vcf.gz" "$B" AF pop1,pop2,pop3)
echo "AF: $score"
get() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=\([-0-9.]*\).*/\1/p"; }
awk -v a="$(get "$score" af_r2)" -v p1="$(get "$score" af_r2_pop1)" -v p2="$(get "$score" af_r2_pop2)" \
    -v p3="$(get "$score" af_r2_pop3)" 'BEGIN {
    if (a < 0.975) { print "INFO/AF r2 " a " < 0.975"; exit 1 }
    if (p1 < 0.92 || p2 < 0.92 || p3 < 0.92) { print "AF_<pop> r2 " p1 "/" p2 "/" p3 " below 0.92"; exit 1 } }' \
    || fail "allele frequencies below the floor"

st=$(python3 "$SRC/tests/bench/lowpass/score_lowpass_stats.py" "$W/a" "$W/sim/truth.vcf.gz" "$W/sim/samples.tsv")
echo "stats: $st"
for p in pop1 pop2 pop3; do
    # the reported sites' spectrum (sfs_discovered) against their truth, the published one against every true SNV
    awk -v l="$(get "$st" sfs_tv_discovered_$p)" -v h="$(get "$st" sfs_tv_hard_$p)" 'BEGIN { exit !(l < h) }' \
        || fail "$p: likelihood SFS of the reported sites (TV $(get "$st" sfs_tv_discovered_$p)) not closer to their truth than hard calls ($(get "$st" sfs_tv_hard_$p))"
    awk -v l="$(get "$st" sfs_tv2_lik_all_$p)" -v h="$(get "$st" sfs_tv2_hard_all_$p)" 'BEGIN { exit !(l < h) }' \
        || fail "$p: full likelihood SFS (log2 TV $(get "$st" sfs_tv2_lik_all_$p)) not closer to every true SNV than hard calls ($(get "$st" sfs_tv2_hard_all_$p))"
done
for pr in pop1_pop2 pop1_pop3 pop2_pop3; do
    awk -v f="$(get "$st" fst_$pr)" -v t="$(get "$st" fst_true_$pr)" 'BEGIN { d = f - t; exit !(d < 0.015 && d > -0.015) }' \
        || fail "F_ST $pr $(get "$st" fst_$pr) vs true $(get "$st" fst_true_$pr)"
    awk -v f="$(get "$st" fst_em_af_$pr)" -v t="$(get "$st" fst_true_$pr)" 'BEGIN { d = f - t; exit !(d < 0.015 && d > -0.015) }' \
        || fail "F_ST (EM frequencies) $pr $(get "$st" fst_em_af_$pr) vs true $(get "$st" fst_true_$pr)"
done
awk -v h="$(get "$st" hwe_lt01)" 'BEGIN { exit !(h < 0.04) }' || fail "HWE p < 0.01 at $(get "$st" hwe_lt01) of sites under HWE"

# the same values in stats.tsv, cohort.h5 and the aggregate export
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next } { print $c["AF"] "\t" $c["AN"] "\t" $c["HWE"] }' \
    "$W/a/stats.tsv" > "$W/tsv.txt"
bcftools query -f '%AF\t%AN\t%HWE\n' "$B" > "$W/bcf.txt"
python3 - "$W/tsv.txt" "$W/bcf.txt" <<'EOF' || fail "stats.tsv differs from cohort.bcf"
import sys
a = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
b = [l.split("\t") for l in open(sys.argv[2]).read().split("\n") if l]
assert len(a) == len(b) and a, (len(a), len(b))
for x, y in zip(a, b):
    assert x[1] == y[1], (x, y)
    for u, v in ((x[0], y[0]), (x[2], y[2])):
        for p, q in zip(u.split(","), v.split(",")):
            assert abs(float(p) - float(q)) <= 1e-5 * max(1e-3, abs(float(q))), (x, y)
EOF
h5dump -d variant_AF -y -w 0 "$W/a/cohort.h5" | sed -n '/DATA {/,/}/p' | tr ',' '\n' | tr -d ' ' \
    | grep -E '^[-0-9.e]+$|^nan$' > "$W/h5af.txt" || true
bcftools query -f '%AF\n' "$B" | cut -d, -f1 > "$W/bcfaf.txt"
python3 - "$W/h5af.txt" "$W/bcfaf.txt" <<'EOF' || fail "cohort.h5 variant_AF differs from INFO/AF"
import sys
a = [float(x) for x in open(sys.argv[1]).read().split()]
b = [float(x) for x in open(sys.argv[2]).read().split()]
# variant_AF is variants x max ALTs: take each row's first column
k = len(a) // len(b)
assert k >= 1 and len(a) == k * len(b), (len(a), len(b))
for i, y in enumerate(b):
    assert abs(a[i * k] - y) <= 1e-6, (i, a[i * k], y)
EOF
"$T" export --aggregate-only --in "$W/a" --out "$W/agg.bcf" > /dev/null
cmp <(bcftools query -f '%POS\t%AF\t%AF_pop3\t%AC_Hard\t%HWE\n' "$W/agg.bcf") \
    <(bcftools query -i 'INFO/AC >= 1' -f '%POS\t%AF\t%AF_pop3\t%AC_Hard\t%HWE\n' "$B") \
    || fail "aggregate export does not carry the likelihood-based values"

# statistics.json, sample_qc.tsv, report.html; sfs_discovered is over the biallelic SNVs without LowQual, sfs over every
# variant (those weighted by 1 / discovery power), the 2D over all
n_bisnv=$(bcftools view -H -i 'TYPE="snp" && N_ALT=1' "$B" | wc -l)
n_conf=$(bcftools view -H -i 'TYPE="snp" && N_ALT=1 && FILTER!~"LowQual"' "$B" | wc -l)
python3 - "$W/a/statistics.json" "$n_bisnv" "$n_conf" <<'EOF' || fail "statistics.json"
import json, sys
d = json.load(open(sys.argv[1]))
n_bisnv, n_conf = int(sys.argv[2]), int(sys.argv[3])
assert 0 < n_conf < n_bisnv, (n_conf, n_bisnv)
assert "likelihood" in d["statistics_from"], d["statistics_from"]
assert "found or not" in d["sfs"]["method"] and "realSFS" in d["sfs_discovered"]["method"]
for p in ("pop1", "pop2", "pop3"):
    s, c = d["sfs"][p], d["sfs_discovered"][p]
    assert c["sites"] == n_conf, (c["sites"], n_conf)
    assert c["sites"] > 100 and abs(sum(c["unfolded"]) - c["sites"]) < 1e-3 * c["sites"], c["sites"]
    # every variant: each reported site counts 1 / its discovery power >= 1
    assert s["sites"] > n_conf and abs(sum(s["unfolded"]) - s["sites"]) <= 0.5, (s["sites"], n_conf)
    assert abs(sum(s["folded"]) - s["sites"]) <= 0.5
    assert len(s["unfolded"]) == s["chromosomes"] + 1 == len(c["unfolded"])
assert "sfs_hard_calls" in d and "fst_hudson_hard_calls" in d and len(d["fst_hudson"]["pairs"]) == 3
for pr in d["sfs_2d"]["pairs"]:
    m = pr["sfs"]
    assert len(m) == len(pr["bins_pop1"]) and len(m[0]) == len(pr["bins_pop2"])
    assert abs(sum(map(sum, m)) - n_bisnv) < 1e-3 * n_bisnv, (sum(map(sum, m)), n_bisnv)
    # its margins are spectra of the two populations
    assert pr["bins_pop1"][0] == 0 and pr["bins_pop1"][1] == 1
EOF
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; if (!c["heterozygosity_gl"]) exit 1; next }
    $c["heterozygosity_gl"] != "." && ($c["heterozygosity_gl"] < 0 || $c["heterozygosity_gl"] > 1) { exit 1 }
    $c["heterozygosity_gl"] != "." { n++ } END { exit !(n > 100) }' "$W/a/sample_qc.tsv" \
    || fail "sample_qc.tsv has no heterozygosity_gl column with values in [0, 1]"
grep -q 'id="lowpass-note"' "$W/a/report.html" || fail "report does not say the values are likelihood-based"
[ "$(grep -o 'likelihood-based' "$W/a/report.html" | wc -l)" -ge 3 ] || fail "report sections not labelled"

# 2 ranks and another batch size: the same statistics
"$MPIEXEC" --oversubscribe -n 2 "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/samples.tsv" --out "$W/b" \
    --mode lowpass --threads 1 --batch-size 37 --shard-size 50000 --log-level warn > /dev/null
for f in statistics.json stats.tsv sample_qc.tsv; do
    cmp "$W/a/$f" "$W/b/$f" || fail "$f depends on ranks or batches"
done
# One population (the same reads, every sample in one): the spectrum of every variant takes the fitted
# k^-alpha prior (no other population's frequency), nearer every true SNV than the hard calls by far, and
# the same at 2 ranks. Seen: alpha 0.99, log2 TV 0.104 against the hard calls' 0.282 (9b822e1: 0.425).
awk 'BEGIN { OFS = "\t" } NR > 1 { $2 = "all" } { print }' "$W/sim/samples.tsv" > "$W/sim/one.tsv"
"$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/one.tsv" --out "$W/c" --mode lowpass --threads 2 --batch-size 64 \
    --shard-size 50000 --log-level warn > "$W/c.log" 2>&1 || { cat "$W/c.log"; fail "one-population lowpass run"; }
st=$(python3 "$SRC/tests/bench/lowpass/score_lowpass_stats.py" "$W/c" "$W/sim/truth.vcf.gz" "$W/sim/one.tsv")
echo "one population: $st"
awk -v l="$(get "$st" sfs_tv2_lik_all_all)" -v h="$(get "$st" sfs_tv2_hard_all_all)" 'BEGIN { exit !(l < h / 2) }' \
    || fail "one population: full SFS (log2 TV $(get "$st" sfs_tv2_lik_all_all)) not within half the hard calls' distance ($(get "$st" sfs_tv2_hard_all_all))"
python3 - "$W/c/statistics.json" <<'EOF' || fail "one population: statistics.json"
import json, sys
s = json.load(open(sys.argv[1]))["sfs"]
assert "one population" in s["method"], s["method"]
a = s["all"]["prior_exponent"]
assert 0.5 < a < 1.5, a
EOF
"$MPIEXEC" --oversubscribe -n 2 "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/one.tsv" --out "$W/d" \
    --mode lowpass --threads 1 --batch-size 37 --shard-size 50000 --log-level warn > /dev/null
cmp "$W/c/statistics.json" "$W/d/statistics.json" || fail "one population: statistics.json depends on ranks or batches"

# A --mem-per-rank the run goes over (a rank's base alone is ~40 MiB) is said on stderr, naming what to
# lower; the records do not change; a run within its budget (none given) says nothing of it.
grep -q "warning: peak memory" "$W/c.log" && fail "a run without --mem-per-rank warned about its budget"
"$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/one.tsv" --out "$W/e" --mode lowpass --threads 2 --batch-size 64 \
    --shard-size 50000 --mem-per-rank 20M --log-level warn > "$W/e.out" 2> "$W/e.err" || { cat "$W/e.err"; fail "a run over its budget failed"; }
grep -q "warning: peak memory [0-9]* MiB per rank is over --mem-per-rank 20 MiB.*lower --shard-size" "$W/e.err" \
    || { cat "$W/e.err"; fail "a run over --mem-per-rank did not say so"; }
cmp <(bcftools view -H "$W/c/cohort.bcf") <(bcftools view -H "$W/e/cohort.bcf") || fail "the budget changed the records"
echo "lowpass_stats_e2e: ok"
