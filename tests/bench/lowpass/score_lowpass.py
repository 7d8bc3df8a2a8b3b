#!/usr/bin/env python3
"""Score a call set against a tessera simulate truth set (SNVs, after `bcftools norm -m -any`).

usage: score_lowpass.py REF.fa TRUTH.vcf.gz CALLS.vcf.gz|bcf AF_TAG [POP_TAGS]
Prints one line of key=value figures: precision, recall by true-AF bin (<1%, 1-5%, >=5%),
AF r-squared of AF_TAG against the true cohort AF over the true SNVs (0 where not called),
and per population (truth AF_<pop> against AF_TAG_<pop>) when POP_TAGS names them.
PASS calls only (FILTER "." counts as PASS: `bcftools call` sets no filter); calls are
normalised the same way as the truth. A multi-allelic call's AF_TAG is split per ALT by the norm.
"""
import subprocess
import sys


def query(path, ref, fmt, pass_only):
    view = ["bcftools", "view", "-v", "snps"] + (["-f", "PASS,."] if pass_only else []) + [path]
    norm = ["bcftools", "norm", "-m", "-any", "-f", ref, "-"]
    q = ["bcftools", "query", "-f", fmt, "-"]
    p1 = subprocess.Popen(view, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    p2 = subprocess.Popen(norm, stdin=p1.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    out = subprocess.run(q, stdin=p2.stdout, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    rows = {}
    for line in out.decode().splitlines():
        f = line.split("\t")
        if len(f[2]) != 1 or len(f[3]) != 1:
            continue
        rows[(f[0], int(f[1]), f[2], f[3])] = [float(x) if x not in (".", "") else float("nan") for x in f[4:]]
    return rows


def r2(xs, ys):
    pairs = [(x, y) for x, y in zip(xs, ys) if x == x and y == y]
    n = len(pairs)
    if n < 3:
        return float("nan")
    mx = sum(p[0] for p in pairs) / n
    my = sum(p[1] for p in pairs) / n
    sxy = sum((p[0] - mx) * (p[1] - my) for p in pairs)
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    syy = sum((p[1] - my) ** 2 for p in pairs)
    return sxy * sxy / (sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def main():
    ref, truth, calls, tag = sys.argv[1:5]
    pops = sys.argv[5].split(",") if len(sys.argv) > 5 and sys.argv[5] else []
    tf = "%CHROM\t%POS\t%REF\t%ALT\t%INFO/AF" + "".join("\t%%INFO/AF_%s" % p for p in pops) + "\n"
    cf = "%CHROM\t%POS\t%REF\t%ALT\t%INFO/" + tag + "".join("\t%%INFO/%s_%s" % (tag, p) for p in pops) + "\n"
    t = query(truth, ref, tf, False)
    c = query(calls, ref, cf, True)
    tp = sum(1 for k in c if k in t)
    prec = tp / len(c) if c else float("nan")
    bins = [("lt1", 0, 0.01), ("1to5", 0.01, 0.05), ("ge5", 0.05, 1.01)]
    out = ["calls=%d" % len(c), "truth=%d" % len(t), "tp=%d" % tp, "precision=%.4f" % prec]
    for name, lo, hi in bins:
        ks = [k for k in t if lo <= t[k][0] < hi]
        hit = sum(1 for k in ks if k in c)
        out.append("recall_%s=%.4f(%d/%d)" % (name, hit / len(ks) if ks else float("nan"), hit, len(ks)))
    keys = sorted(t)
    out.append("af_r2=%.4f" % r2([t[k][0] for k in keys], [c[k][0] if k in c else 0.0 for k in keys]))
    for i, p in enumerate(pops):
        out.append("af_r2_%s=%.4f" % (p, r2([t[k][1 + i] for k in keys],
                                            [c[k][1 + i] if k in c else 0.0 for k in keys])))
    print(" ".join(out))


if __name__ == "__main__":
    main()
