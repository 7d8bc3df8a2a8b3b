#!/usr/bin/env bash
# `tessera stats --vcf` on real 1000 Genomes genotypes (Debian's shapeit4-example: phase 3 chr20,
# 203 samples; a 400 kb slice, ~3,200 sites, with missing and half-missing calls put in
# deterministically) against bcftools +fill-tags, plink2 and vcftools, and identical at 1, 2 and 3 ranks.
# Usage: stats_vs_peers.sh  (needs $TSR_TESSERA, $TSR_MPIEXEC, $TSR_BUILD_DIR from CTest)
set -euo pipefail
T=${TSR_TESSERA:?} MPI=${TSR_MPIEXEC:-mpirun} CMP=${TSR_BUILD_DIR:?}/tests/stats/compare_fill_tags
SRC=/usr/share/doc/shapeit4/examples/test/unphased.vcf.gz
fail() { echo "FAIL: $*" >&2; exit 1; }
[ -r "$SRC" ] || fail "$SRC missing: install the shapeit4-example package (deploy/setup.sh does)"
command -v plink2 >/dev/null || fail "plink2 missing: install the plink2 package (deploy/setup.sh does)"
command -v vcftools >/dev/null || fail "vcftools missing: install the vcftools package (deploy/setup.sh does)"
W=$(mktemp -d /tmp/tsr_stats.XXXXXX)
trap 'rm -rf "$W"' EXIT

# Missing calls (./.) everywhere; half-missing calls (0/.) only in the bcftools input, because
# plink2 has no notion of them (bcftools counts their one allele in AC/AN, like tessera).
inject() { # inject HALF(0|1)
  bcftools view -r 20:1000000-1400000 "$SRC" | awk -v half="$1" 'BEGIN{OFS="\t"} /^#/{print;next}
    {for(i=10;i<=NF;i++){ if(((NR*7+i*13)%97)==0) $i="./."; else if(half && ((NR*11+i*5)%211)==0) $i=substr($i,1,1)"/."} print}'
}
inject 1 | bcftools view -Oz -o "$W/half.vcf.gz" && bcftools index "$W/half.vcf.gz"
inject 0 | bcftools view -Oz -o "$W/full.vcf.gz" && bcftools index -t "$W/full.vcf.gz"
bcftools query -l "$W/half.vcf.gz" | awk 'BEGIN{print "sample\tpopulation"}{print $1"\t"(NR%3==0?"AFR":"EUR")}' > "$W/pops.tsv"
n_sites=$(bcftools view -H "$W/half.vcf.gz" | wc -l)
[ "$n_sites" -gt 1000 ] || fail "only $n_sites sites in the slice"

# 1, 2, 3 ranks: stats.tsv byte-identical.
for np in 1 2 3; do
  "$MPI" --oversubscribe -n $np "$T" stats --vcf "$W/half.vcf.gz" --samples "$W/pops.tsv" --window 50k \
    --out "$W/np$np" > "$W/np$np.log" || fail "np=$np: $(cat "$W/np$np.log")"
  [ "$(tail -n +2 "$W/np$np/stats.tsv" | wc -l)" -eq "$n_sites" ] || fail "np=$np: not $n_sites lines"
  grep -q "\"sites\": $n_sites" "$W/np$np/summary.json" || fail "np=$np: summary.json site count"
  # Outputs, and what resuming needs (journal.tsv, tasks.tsv, stats.d/); no temporary file.
  [ -z "$(ls -A "$W/np$np" | grep -v -e '^stats.tsv$' -e '^summary.json$' -e '^sample_qc.tsv$' -e '^report.html$' \
          -e '^journal.tsv$' -e '^tasks.tsv$' -e '^stats.d$')" ] || fail "np=$np: files left behind"
  [ -z "$(find "$W/np$np" -name '.tmp.*')" ] || fail "np=$np: temporary files left behind"
  # The cohort-wide statistics: the "statistics" object (the last key of summary.json) and sample_qc.tsv.
  sed -n '/^  "statistics": {/,$p' "$W/np$np/summary.json" > "$W/np$np.statistics"
  grep -q '"fst_hudson"' "$W/np$np.statistics" || fail "np=$np: no statistics object in summary.json"
  [ "$(tail -n +2 "$W/np$np/sample_qc.tsv" | wc -l)" -eq 203 ] || fail "np=$np: sample_qc.tsv is not one line per sample"
  if [ $np -gt 1 ]; then
    cmp "$W/np1/stats.tsv" "$W/np$np/stats.tsv" || fail "np=$np stats.tsv differs from np=1"
    cmp "$W/np1.statistics" "$W/np$np.statistics" || fail "np=$np: the statistics object differs from np=1"
    cmp "$W/np1/sample_qc.tsv" "$W/np$np/sample_qc.tsv" || fail "np=$np: sample_qc.tsv differs from np=1"
  fi
done
# Independent counts from bcftools: sites, Ti/Tv of the biallelic SNVs, and a few per-sample columns.
bcftools view -H -m2 -M2 -v snps "$W/half.vcf.gz" | awk '{t=$4$5; if(t=="AG"||t=="GA"||t=="CT"||t=="TC") ti++; else tv++}
  END{print ti, tv}' > "$W/titv.bcftools"
grep -o '"transitions": [0-9]*' "$W/np1.statistics" | head -1 | grep -o '[0-9]*$' > "$W/ti"
grep -o '"transversions": [0-9]*' "$W/np1.statistics" | head -1 | grep -o '[0-9]*$' > "$W/tv"
[ "$(cat "$W/ti") $(cat "$W/tv")" = "$(cat "$W/titv.bcftools")" ] ||
  fail "transitions/transversions $(cat "$W/ti") $(cat "$W/tv") vs bcftools $(cat "$W/titv.bcftools")"
# nhet and nhomalt per sample against bcftools query (fully called diploid genotypes only).
bcftools query -f '[%SAMPLE\t%GT\n]' "$W/half.vcf.gz" | awk -F'\t' '{split($2,g,/[\/|]/)}
  g[1]!="." && g[2]!="." && g[2]!="" {if(g[1]!=g[2]) het[$1]++; else if(g[1]!="0") hom[$1]++; seen[$1]=1}
  END{for(s in seen) print s, het[s]+0, hom[s]+0}' | sort > "$W/qc.bcftools"
tail -n +2 "$W/np1/sample_qc.tsv" | awk -F'\t' '{print $1, $7, $8}' | sort > "$W/qc.tessera"
cmp "$W/qc.bcftools" "$W/qc.tessera" || fail "sample_qc.tsv nhet/nhomalt differ from bcftools query"

# bcftools +fill-tags, cohort and per population: AC, AN exactly, HWE and ExcHet within 1e-6.
tail -n +2 "$W/pops.tsv" > "$W/pops.bcftools"
bcftools +fill-tags "$W/half.vcf.gz" -Ob -o "$W/ft.bcf" -- -S "$W/pops.bcftools" -t AC,AN,HWE,ExcHet
"$CMP" "$W/ft.bcf" "$W/np1/stats.tsv" AFR EUR

# plink2 --freq --hardy on the file without half calls: AN = OBS_CT and AC = ALT_FREQS * OBS_CT exactly,
# HWE = P within the precision plink2 prints (6 significant digits: relative 5e-6).
"$T" stats --vcf "$W/full.vcf.gz" --out "$W/all" > /dev/null
plink2 --vcf "$W/full.vcf.gz" --freq --hardy --threads 1 --out "$W/pl" > /dev/null
paste <(tail -n +2 "$W/all/stats.tsv" | cut -f 2,7,8,14) <(tail -n +2 "$W/pl.afreq" | cut -f 5,6) \
      <(tail -n +2 "$W/pl.hardy" | cut -f 10) | awk -F'\t' '
  { n++; ac=$5*$6; if ($3 != $6 || (ac - $2 > 0.5 || $2 - ac > 0.5)) { print "FAIL: POS " $1 ": AC/AN " $2 "/" $3 " vs plink2 " $5 "*" $6; bad=1; exit 1 }
    d=$4-$7; if (d<0) d=-d; if (d > 5e-6*$7) { print "FAIL: POS " $1 ": HWE " $4 " vs plink2 " $7; bad=1; exit 1 } }
  END { if (!bad) printf "plink2: %d sites, AC/AN equal, HWE within the 6 digits plink2 prints\n", n; if (n < 1000) exit 1 }'

# vcftools --hardy on the same file: P_HWE = HWE and P_HET_EXCESS = ExcHet within relative 1e-6
# (vcftools prints 7 significant digits).
vcftools --gzvcf "$W/full.vcf.gz" --hardy --out "$W/vt" > /dev/null 2>&1 || fail "vcftools --hardy failed"
paste <(tail -n +2 "$W/all/stats.tsv" | cut -f 2,14,15) <(tail -n +2 "$W/vt.hwe" | cut -f 2,6,8) | awk -F'\t' '
  { n++; if ($1 != $4) { print "FAIL: position " $1 " vs vcftools " $4; bad=1; exit 1 }
    for (k = 2; k <= 3; k++) { d = $k - $(k+3); if (d < 0) d = -d; ref = $(k+3) > 0 ? $(k+3) : 1
      if (d > 1e-6 * ref) { print "FAIL: POS " $1 ": " (k == 2 ? "HWE " : "ExcHet ") $k " vs vcftools " $(k+3); bad=1; exit 1 } } }
  END { if (!bad) printf "vcftools: %d sites, HWE and ExcHet within relative 1e-6\n", n; if (n < 1000) exit 1 }'
echo "stats_vs_peers: $n_sites sites; stats.tsv, statistics and sample_qc.tsv identical at 1, 2, 3 ranks; bcftools, plink2 and vcftools agree"
