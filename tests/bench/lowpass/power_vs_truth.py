#!/usr/bin/env python3
"""Discovery's power per true ALT count, from a low-pass run and its truth (issue 16; a bench, not a test).

usage: power_vs_truth.py COHORT.bcf TRUTH.vcf.gz
For each class of true cohort ALT count K (every biallelic SNV of the truth; K = ALT alleles among all
samples' GTs), prints the reported biallelic SNVs without LowQual that match a true one (position and
alleles) over the true ones: the rate the discovery power model (tsr_lp_power, printed for the same
counts by `tessera run --log-level debug`, line "discovery power P(reported | K)") estimates.
"""
import subprocess
import sys
from collections import defaultdict


def query(args):
    return subprocess.run(["bcftools", "query"] + args, capture_output=True, text=True, check=True).stdout


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    bcf, truth = sys.argv[1:3]
    k_of = {}
    for line in query(["-i", 'TYPE="snp" && N_ALT=1', "-f", "%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n", truth]).splitlines():
        f = line.split("\t")
        k_of[tuple(f[:4])] = sum(g.count("1") for g in f[4:])
    total, found = defaultdict(int), defaultdict(int)
    for k in k_of.values():
        total[k] += 1
    for line in query(["-i", 'TYPE="snp" && N_ALT=1 && FILTER!~"LowQual"', "-f", "%CHROM\t%POS\t%REF\t%ALT\n",
                       bcf]).splitlines():
        k = k_of.get(tuple(line.split("\t")))
        if k is not None:
            found[k] += 1
    for lo, hi in ((1, 1), (2, 2), (3, 3), (4, 4), (5, 6), (7, 8), (9, 12), (13, 16), (17, 24), (25, 32)):
        n = sum(total[k] for k in range(lo, hi + 1))
        x = sum(found[k] for k in range(lo, hi + 1))
        label = str(lo) if lo == hi else f"{lo}-{hi}"
        print(f"K {label}: {x} / {n} = {x / n:.4f}" if n else f"K {label}: no true SNV")


if __name__ == "__main__":
    main()
