#!/usr/bin/env python3
"""Score tessera's low-pass cohort statistics against a `tessera simulate` truth set.

usage: score_lowpass_stats.py RUN_DIR TRUTH.vcf.gz SAMPLES.tsv
Prints one line of key=value figures:
- sfs_tv_lik_<pop>, sfs_tv_hard_<pop>: total-variation distance between the normalised SFS (classes
  1 .. 2n-1, sites polymorphic in the population) of the cohort's truth and (a) the likelihood SFS of
  statistics.json "sfs", (b) the hard-call SFS: each called biallelic SNV at round(AC_Hard_<pop> /
  AN_<pop> x 2n) ALT copies (at 0.1-1x no site is fully called, so the hard-call SFS of statistics.json,
  "sfs_hard_calls", is empty: this is what hard calls give a user who scales them up). Both are over the
  sites the published spectrum is over: the reported biallelic SNVs without the LowQual filter (the
  spectrum is conditional on discovery). The truth SFS is taken over the same sites (matched by position
  and alleles; a reported site that is no true SNV adds nothing to the truth): the comparison is of the
  estimators on the same sites against the spectrum they estimate; sfs_tv_lik_all_<pop> and
  sfs_tv_hard_all_<pop> compare with the truth over every true biallelic SNV (the full spectrum:
  discovery misses rare sites, which these distances then also count).
- fst_<p1>_<p2>, fst_true_<p1>_<p2>: tessera's F_ST ("fst_hudson", from the 2D SFS) and Hudson's F_ST
  (Bhatia et al. 2013, ratio of sums) from the true genotypes over every true biallelic SNV;
  fst_em_af_<p1>_<p2>: tessera's "fst_hudson_em_af" (EM allele frequencies).
- sfs_tv_floor_<pop>: the distance the sampling noise of the truth histogram alone gives: half the
  total-variation distance between the truth SFS of the called sites at odd and at even positions (each
  half's histogram differs from the expected SFS by about sqrt(2) x the whole's noise; their difference by
  about 2 x). No estimator gets much below it, whatever its accuracy.
- sfs_tv2_*: the same distances (lik, hard, lik_all, hard_all, floor) on the spectrum summed into classes of
  allele counts [1, 2), [2, 4), [4, 8), ... (log2_classes). The per-count distance's floor, the truth
  histogram's own sampling noise over 2n - 1 classes, is about 0.1 at 300 samples and 0.2 at 2,000 (more
  classes than sites per population can fill), so there even a perfect estimator shows 0.2, and "<= 1/3 of
  the hard-call distance" (0.16) cannot be met by any; the classes keep the spectrum's shape at a floor
  of 0.01-0.03.
- sfs_tv2_disc_all_<pop>: the distance between the truth of the spectrum's sites and the truth over every
  true biallelic SNV (log2 classes): what discovery alone costs. Any estimator of the spectrum conditional
  on discovery is about this far from the full truth, however good, so "<= 1/3 of the hard-call distance"
  against the full truth needs the undiscovered sites' mass estimated, not a better EM over the reported
  ones.
- sfs_tv_discovered_<pop>, sfs_tv2_discovered_<pop>: statistics.json "sfs_discovered" (the spectrum of the
  reported sites, cohort kernel 12) against the truth of the same sites; since kernel 12 "sfs" is the spectrum
  of every variant, so its own figure is sfs_tv2_lik_all_<pop> (sfs_tv*_lik_<pop> then compare it with the
  reported sites' truth, which it is not meant to match). sfs_sites_<pop>: the sites of "sfs" in classes
  1 .. 2n-1 / the true SNVs polymorphic in the population.
- false_ge<Q>, null_ge<Q> (Q = 30, 40, 50, 60): reported biallelic SNVs at no true variant's position with QUAL >= Q,
  and L x 10^(-Q/10), L the reference length in the truth's header (about one test a position). If the
  base-quality error rates the likelihoods assume are the real ones, QUAL is a calibrated p-value and the
  false sites are the tail of ~L null tests: false_geQ stays at or under null_geQ and falls tenfold a 10
  QUAL; an error model that underestimated the errors would give many more, and at high QUAL too.
- hwe_lt01: fraction of PASS biallelic SNVs with INFO/HWE < 0.01 (cohort-wide: with populations at
  F_ST > 0 this includes the Wahlund effect, a real departure); hwe_lt01_<pop>: with INFO/HWE_<pop> < 0.01,
  the populations being each under HWE in `tessera simulate`.
"""
import json
import subprocess
import sys


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout.decode()


def tv(a, b):
    sa, sb = sum(a), sum(b)
    if sa <= 0 or sb <= 0:
        return 1.0
    return 0.5 * sum(abs(x / sa - y / sb) for x, y in zip(a, b))


def log2_classes(h, n):
    """The polymorphic classes 1 .. n-1 of a spectrum summed over allele counts [2^i, 2^(i+1)) (folded at n/2 is
    not applied: the ALT is known). With 2n in the thousands and a few thousand sites, most single-count
    classes hold 0-2 sites, so the per-count distance is mostly the truth histogram's own noise (the floor);
    the classes keep the spectrum's shape (singletons, doubletons, 3-4, ...) and a floor well below it."""
    out, lo = [], 1
    while lo < n:
        hi = min(2 * lo, n)
        out.append(sum(h[lo:hi]))
        lo = hi
    return out


def hudson(rows):
    num = den = 0.0
    for a1, n1, a2, n2 in rows:
        if n1 < 2 or n2 < 2:
            continue
        p1, p2 = a1 / n1, a2 / n2
        num += (p1 - p2) ** 2 - p1 * (1 - p1) / (n1 - 1) - p2 * (1 - p2) / (n2 - 1)
        den += p1 * (1 - p2) + p2 * (1 - p1)
    return num / den if den else float("nan")


def main():
    rundir, truth, sheet = sys.argv[1:4]
    pop_of = {}
    with open(sheet) as f:
        hdr = f.readline().rstrip("\n").split("\t")
        for line in f:
            x = dict(zip(hdr, line.rstrip("\n").split("\t")))
            pop_of[x["sample"]] = x["population"]
    pops = sorted(set(pop_of.values()))
    samples = run(["bcftools", "query", "-l", truth]).split()
    col_pop = [pops.index(pop_of[s]) for s in samples]
    nchr = [2 * sum(1 for c in col_pop if c == p) for p in range(len(pops))]
    # truth: per biallelic SNV, ALT count per population
    true_ac = {}
    for line in run(["bcftools", "query", "-i", 'TYPE="snp" && N_ALT=1', "-f", "%POS\t%REF\t%ALT[\t%GT]\n",
                     truth]).splitlines():
        f = line.split("\t")
        ac = [0] * len(pops)
        for c, gt in zip(col_pop, f[3:]):
            ac[c] += gt.count("1")
        true_ac[(int(f[0]), f[1], f[2])] = ac
    stats = json.load(open(rundir + "/statistics.json"))
    ref_len = sum(int(x.split("length=")[1].split(",")[0].rstrip(">")) for x in
                  run(["bcftools", "view", "-h", truth]).splitlines() if x.startswith("##contig=") and "length=" in x)
    keys = "%POS\t%REF\t%ALT\t%QUAL\t%FILTER\t%INFO/HWE" + "".join("\t%%INFO/AC_Hard_%s\t%%INFO/AN_%s\t%%INFO/HWE_%s" % (p, p, p)
                                                           for p in pops) + "\n"
    called, qual = {}, {}
    for line in run(["bcftools", "query", "-i", 'TYPE="snp" && N_ALT=1', "-f", keys,
                     rundir + "/cohort.bcf"]).splitlines():
        f = line.split("\t")
        called[(int(f[0]), f[1], f[2])] = f[4:]
        qual[(int(f[0]), f[1], f[2])] = float(f[3]) if f[3] != "." else 0.0
    out = []
    for p, name in enumerate(pops):
        n = nchr[p]
        t_called, t_all, hard = [0] * (n + 1), [0] * (n + 1), [0] * (n + 1)
        halves = [[0] * (n + 1), [0] * (n + 1)]
        for k, ac in true_ac.items():
            t_all[ac[p]] += 1
            if k in called and "LowQual" not in called[k][0].split(";"):
                t_called[ac[p]] += 1
                halves[k[0] % 2][ac[p]] += 1
        for k, f in called.items():
            if "LowQual" in f[0].split(";"):
                continue
            ach, an = f[2 + 3 * p], f[3 + 3 * p]
            if ach != "." and an not in (".", "0"):
                hard[min(n, int(round(int(ach) / int(an) * n)))] += 1
        lik = stats["sfs"][name]["unfolded"]
        mid = slice(1, n)
        out.append("sfs_tv_lik_%s=%.4f" % (name, tv(lik[mid], t_called[mid])))
        out.append("sfs_tv_hard_%s=%.4f" % (name, tv(hard[mid], t_called[mid])))
        out.append("sfs_tv_lik_all_%s=%.4f" % (name, tv(lik[mid], t_all[mid])))
        out.append("sfs_tv_hard_all_%s=%.4f" % (name, tv(hard[mid], t_all[mid])))
        out.append("sfs_tv_floor_%s=%.4f" % (name, tv(halves[0][mid], halves[1][mid]) / 2))
        lb = lambda h: log2_classes(h, n)
        out.append("sfs_tv2_lik_%s=%.4f" % (name, tv(lb(lik), lb(t_called))))
        out.append("sfs_tv2_hard_%s=%.4f" % (name, tv(lb(hard), lb(t_called))))
        out.append("sfs_tv2_lik_all_%s=%.4f" % (name, tv(lb(lik), lb(t_all))))
        out.append("sfs_tv2_hard_all_%s=%.4f" % (name, tv(lb(hard), lb(t_all))))
        out.append("sfs_tv2_floor_%s=%.4f" % (name, tv(lb(halves[0]), lb(halves[1])) / 2))
        out.append("sfs_tv2_disc_all_%s=%.4f" % (name, tv(lb(t_called), lb(t_all))))
        if "sfs_discovered" in stats:
            disc = stats["sfs_discovered"][name]["unfolded"]
            out.append("sfs_tv_discovered_%s=%.4f" % (name, tv(disc[mid], t_called[mid])))
            out.append("sfs_tv2_discovered_%s=%.4f" % (name, tv(lb(disc), lb(t_called))))
        out.append("sfs_sites_%s=%.0f/%d" % (name, sum(lik[mid]), sum(t_all[mid])))
    for pr in stats["fst_hudson"]["pairs"]:
        a, b = pops.index(pr["pop1"]), pops.index(pr["pop2"])
        truth_f = hudson([(ac[a], nchr[a], ac[b], nchr[b]) for ac in true_ac.values()])
        out.append("fst_%s_%s=%.4f" % (pr["pop1"], pr["pop2"], pr["fst"] if pr["fst"] is not None else float("nan")))
        out.append("fst_true_%s_%s=%.4f" % (pr["pop1"], pr["pop2"], truth_f))
    for pr in stats.get("fst_hudson_em_af", {"pairs": []})["pairs"]:
        out.append("fst_em_af_%s_%s=%.4f" % (pr["pop1"], pr["pop2"], pr["fst"] if pr["fst"] is not None else float("nan")))
    true_pos = set(int(x) for x in run(["bcftools", "query", "-f", "%POS\n", truth]).split())
    for q in (30, 40, 50, 60):
        out.append("false_ge%d=%d null_ge%d=%.1f" % (q, sum(1 for k, x in qual.items() if x >= q and k[0] not in true_pos), q,
                                                      ref_len * 10 ** (-q / 10)))
    hw = [float(f[1]) for f in called.values() if f[0] == "PASS" and f[1] != "."]
    out.append("hwe_lt01=%.4f(%d)" % (sum(1 for x in hw if x < 0.01) / len(hw) if hw else float("nan"), len(hw)))
    for p, name in enumerate(pops):
        hw = [float(f[4 + 3 * p]) for f in called.values() if f[0] == "PASS" and f[4 + 3 * p] != "."]
        out.append("hwe_lt01_%s=%.4f(%d)" % (name, sum(1 for x in hw if x < 0.01) / len(hw) if hw else float("nan"),
                                            len(hw)))
    print(" ".join(out))


if __name__ == "__main__":
    main()
