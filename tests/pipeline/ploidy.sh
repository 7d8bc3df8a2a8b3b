#!/usr/bin/env bash
# Ploidy through `tessera run` (issue 21): a sheet with a sex column (male, female, unknown in several
# spellings) and a --ploidy-bed that splits one simulated 30 kb contig into zones like a genome's:
#   [0, 10000)      PAR: every sample diploid (no rule)
#   [10000, 20000)  X outside the PARs: males haploid
#   [20000, 25000)  MT: everyone haploid
#   [25000, 30000)  Y: males haploid, females nothing (GT `.`), unknown diploid
# Asserts per site and sample that GT has the zone's ploidy; that INFO AN is the sum of the called
# alleles and, where no sample is missing, 2*diploid + 1*haploid samples of the zone; that
# bcftools +fill-tags recomputes the same AN, AC, AC_Het, AC_Hom, NS, HWE and ExcHet from the GTs (and
# stats.tsv's AN/AC agree, and `tessera stats --vcf` on cohort.bcf gives the run's statistics); that every zone
# has sites (the checks cannot pass empty); that cohort.bcf and stats.tsv are identical at 1 and 2 ranks;
# and that a bad sex value and a bad BED line each fail with one line naming the file and line.
# The simulated males carry two haplotypes (a het there is called as one of its alleles); where their simulated
# genotype is homozygous, the haploid call must be that allele. Last, the built-in rules by contig name: the
# contig renamed MT and no --ploidy-bed calls every sample haploid.
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun}
W=$(mktemp -d /tmp/tsr_ploidy.XXXXXX)
trap 'rm -rf "$W"' EXIT
fail() { echo "ploidy: $*" >&2; exit 1; }
"$T" simulate --out "$W/sim" --samples 6 --coverage 12 --length 30000 --seed 5 --bam > /dev/null
# sexes by sample: S0001 M, S0002 male, S0003 F, S0004 2 (female), S0005 empty, S0006 unknown
awk 'BEGIN { OFS = "\t"; split("M,male,F,2,,unknown", sx, ",") }
     NR == 1 { print $0, "sex"; next } { print $0, sx[NR - 1] }' "$W/sim/samples.tsv" > "$W/sim/sheet.tsv"
printf 'sim1\t10000\t20000\tM\t1\nsim1\t20000\t25000\t*\t1\nsim1\t25000\t30000\tM\t1\nsim1\t25000\t30000\tF\t0\n' \
  > "$W/ploidy.bed"
run() { # run NP DIR [extra args]: a deep run; its log on failure
  local np=$1 out=$2
  shift 2
  "$MPI" --oversubscribe -n "$np" "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/sheet.tsv" --out "$out" \
    --mode deep --threads 1 --ploidy-bed "$W/ploidy.bed" "$@" > "$out.log" 2>&1 || { cat "$out.log" >&2; return 1; }
}
run 1 "$W/r1" || fail "the 1-rank run failed"
run 2 "$W/r2" || fail "the 2-rank run failed"
grep -q "ploidy: $W/ploidy.bed" "$W/r1.log" || fail "the run did not log its ploidy rules"
cmp "$W/r1/cohort.bcf" "$W/r2/cohort.bcf" || fail "cohort.bcf differs between 1 and 2 ranks"
cmp "$W/r1/stats.tsv" "$W/r2/stats.tsv" || fail "stats.tsv differs between 1 and 2 ranks"

# Per site: zone, GT shapes, AN from the GTs against INFO AN and the zone's full count.
bcftools query -f '%POS\t%AN\t%AC[\t%GT]\n' "$W/r1/cohort.bcf" > "$W/gt.tsv"
[ -s "$W/gt.tsv" ] || fail "no sites"
awk -F'\t' '
  function zone(p) { return p <= 10000 ? "par" : p <= 20000 ? "x" : p <= 25000 ? "mt" : "y" }
  # want[zone, sample]: 2 diploid, 1 haploid, 0 nothing
  BEGIN { split("2 2 2 2 2 2", a, " "); split("1 1 2 2 2 2", b, " "); split("1 1 1 1 1 1", c, " ")
          split("1 1 0 0 2 2", d, " ")
          for (j = 1; j <= 6; j++) { want["par", j] = a[j]; want["x", j] = b[j]; want["mt", j] = c[j]; want["y", j] = d[j] } }
  { z = zone($1); n[z]++; an = 0; full = 1; expect = 0
    for (j = 1; j <= 6; j++) {
      g = $(3 + j); w = want[z, j]; expect += w
      if (w == 0) { if (g != ".") { print "POS " $1 " sample " j ": GT " g ", want . (ploidy 0)"; bad++ } continue }
      if (w == 1 && g !~ /^([0-9]+|\.)$/) { print "POS " $1 " sample " j ": GT " g ", want haploid"; bad++ }
      if (w == 2 && g !~ /^([0-9]+|\.)\/([0-9]+|\.)$/) { print "POS " $1 " sample " j ": GT " g ", want diploid"; bad++ }
      k = split(g, al, "/"); for (h = 1; h <= k; h++) { if (al[h] == ".") full = 0; else an++ } }
    if (an != $2) { print "POS " $1 ": INFO AN " $2 ", GTs carry " an " alleles"; bad++ }
    if (full) { nf[z]++; if ($2 != expect) { print "POS " $1 ": AN " $2 ", want " expect; bad++ } } }
  END { for (z in n) printf "ploidy: zone %s: %d sites, %d fully called\n", z, n[z], nf[z]
        split("par x mt y", zs, " ")
        for (i = 1; i <= 4; i++) if (nf[zs[i]] < 2) { print "zone " zs[i] ": fewer than 2 fully called sites"; bad++ }
        exit bad > 0 }' "$W/gt.tsv" || fail "GT ploidy or AN wrong (above)"

# bcftools +fill-tags recomputes the statistics from the GTs (tessera's INFO removed first): AN, AC, AC_Het,
# AC_Hom and NS exactly as tessera wrote them, HWE and ExcHet (diploid calls only) within relative 1e-5.
Q='%POS\t%AN\t%AC\t%AC_Het\t%AC_Hom\t%NS\t%HWE\t%ExcHet\n'
bcftools query -f "$Q" "$W/r1/cohort.bcf" > "$W/ours_all.tsv"
bcftools annotate -x INFO "$W/r1/cohort.bcf" -Ou | bcftools +fill-tags -- -t AN,AC,AC_Het,AC_Hom,NS,HWE,ExcHet |
  bcftools query -f "$Q" > "$W/fill_all.tsv"
cut -f1-6 "$W/ours_all.tsv" > "$W/ours6.tsv"
cut -f1-6 "$W/fill_all.tsv" > "$W/fill6.tsv"
cmp "$W/ours6.tsv" "$W/fill6.tsv" || { diff "$W/ours6.tsv" "$W/fill6.tsv" | head >&2; fail "AN/AC/AC_Het/AC_Hom/NS differ from bcftools +fill-tags"; }
paste "$W/ours_all.tsv" "$W/fill_all.tsv" | awk -F'\t' '
  function off(x, y) { d = x - y; d = d < 0 ? -d : d; return d > 1e-5 * (x < 0 ? -x : x) + 1e-30 }
  { for (c = 7; c <= 8; c++) { n = split($c, u, ","); split($(c + 8), v, ",")
      for (i = 1; i <= n; i++) if (off(u[i], v[i])) { print "POS " $1 ": column " c " " $c " vs " $(c + 8); bad++ } } }
  END { exit bad > 0 }' || fail "HWE/ExcHet differ from bcftools +fill-tags"
cut -f1-3 "$W/gt.tsv" > "$W/ours.tsv"
# stats.tsv: the cohort's AC and AN columns
awk -F'\t' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next } { print $2 "\t" $(col["AN"]) "\t" $(col["AC"]) }' \
  "$W/r1/stats.tsv" > "$W/stats.tsv"
cmp "$W/ours.tsv" "$W/stats.tsv" || fail "stats.tsv AN/AC differ from cohort.bcf"
# `tessera stats --vcf` reads the haploid GTs back to the same cohort statistics (AC .. F) as the run wrote
"$T" stats --vcf "$W/r1/cohort.bcf" --out "$W/st" > "$W/st.log" 2>&1 || { cat "$W/st.log" >&2; fail "tessera stats failed"; }
cmp <(cut -f1-16 "$W/r1/stats.tsv") <(cut -f1-16 "$W/st/stats.tsv") || fail "tessera stats --vcf differs from the run's stats.tsv"

# Haploid calls against the truth: where a haploid-called sample's simulated genotype is homozygous (same
# REF/ALT record), its one allele is that genotype's (>= 95% of at least 30 such calls).
bcftools query -f '%POS\t%REF\t%ALT[\t%GT]\n' "$W/sim/truth.vcf.gz" > "$W/truth.tsv"
bcftools query -f '%POS\t%REF\t%ALT[\t%GT]\n' "$W/r1/cohort.bcf" > "$W/calls.tsv"
awk -F'\t' 'NR == FNR { for (j = 1; j <= 6; j++) t[$1 "\t" $2 "\t" $3, j] = $(3 + j); next }
  { for (j = 1; j <= 6; j++) { g = $(3 + j); x = t[$1 "\t" $2 "\t" $3, j]
      if (g ~ /\// || g == "." || x == "" || split(x, a, "/") != 2 || a[1] != a[2]) continue
      n++; ok += a[1] == g } }
  END { printf "ploidy: haploid calls at homozygous truth: %d of %d agree\n", ok, n; exit !(n >= 30 && ok >= 0.95 * n) }' \
  "$W/truth.tsv" "$W/calls.tsv" || fail "haploid calls disagree with the truth"

# The built-in rules, chosen by contig name: the same reference and reads with the contig named MT (GRCh37's
# mitochondrion) and no --ploidy-bed: every sample haploid at every site, whatever its sex.
mkdir -p "$W/mt"
sed 's/^>sim1/>MT/' "$W/sim/ref.fa" > "$W/mt/ref.fa"
printf 'sample\tpopulation\tbam\tsex\n' > "$W/mt/sheet.tsv"
for s in S0001 S0003 S0005; do
  samtools view -H "$W/sim/bam/$s.bam" | sed 's/SN:sim1/SN:MT/' > "$W/mt/$s.hdr"
  samtools reheader "$W/mt/$s.hdr" "$W/sim/bam/$s.bam" > "$W/mt/$s.bam" && samtools index "$W/mt/$s.bam"
  printf '%s\tpop1\t%s\t%s\n' "$s" "$W/mt/$s.bam" "$(awk -F'\t' -v s="$s" '$1 == s { print $4 }' "$W/sim/sheet.tsv")" >> "$W/mt/sheet.tsv"
done
"$MPI" --oversubscribe -n 1 "$T" run --ref "$W/mt/ref.fa" --samples "$W/mt/sheet.tsv" --out "$W/mt/out" --mode deep \
  --threads 1 > "$W/mt.log" 2>&1 || { cat "$W/mt.log" >&2; fail "the MT run failed"; }
grep -q "ploidy: GRCh37 built-in" "$W/mt.log" || fail "the MT run did not pick the GRCh37 built-in rules"
bcftools query -f '%AN[\t%GT]\n' "$W/mt/out/cohort.bcf" > "$W/mt.tsv"
awk -F'\t' '{ n++; for (j = 2; j <= NF; j++) if ($j ~ /\//) { print "MT: diploid GT " $j; bad++ } }
  END { print "ploidy: MT (built-in): " n " sites"; exit bad > 0 || n < 10 }' "$W/mt.tsv" || fail "MT calls are not all haploid"

# Bad input: one line naming the file and line.
sed 's/\tunknown$/\tXY/' "$W/sim/sheet.tsv" > "$W/sim/bad.tsv"
if "$T" run --ref "$W/sim/ref.fa" --samples "$W/sim/bad.tsv" --out "$W/bad1" --mode deep > "$W/bad1.log" 2>&1; then
  fail "a sheet with sex XY ran"
fi
grep -q "bad.tsv line 7: sex 'XY' of sample 'S0006'" "$W/bad1.log" || { cat "$W/bad1.log" >&2; fail "no line naming the bad sex"; }
printf 'sim1\t100\t50\tM\t1\n' > "$W/bad.bed"
if run 1 "$W/bad2" --ploidy-bed "$W/bad.bed" 2> /dev/null; then fail "a bad --ploidy-bed ran"; fi
grep -q "bad.bed line 1: expected 5 columns" "$W/bad2.log" || { cat "$W/bad2.log" >&2; fail "no line naming the bad BED line"; }
echo "ploidy: haploid GTs by sex and zone, AN/AC as bcftools +fill-tags, identical at 1 and 2 ranks"
