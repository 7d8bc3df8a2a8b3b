#!/usr/bin/env python3
"""Append GRCh38-shaped extra contigs to a reference (issue 18's decoy case).

    make_decoys.py IN.fa OUT.fa [--n 3000] [--seed 1] [--min 1000] [--max 10000]

OUT.fa is IN.fa followed by N contigs named the way GRCh38's are: unplaced
(chrUn_KI270302v1), unlocalised (chr1_KI270706v1_random), alt haplotypes
(chr6_GL000250v2_alt), decoys (chrUn_JTFH01000001v1_decoy), HLA alleles
(HLA-A*01:01:01:01) and chrEBV. Lengths are log-uniform in [min, max]
(GRCh38's decoys are mostly 1-10 kb). Their bases are random, with the
features real references carry: lowercase (soft-masked) stretches, runs of
N and IUPAC codes (R, Y, K, M, S, W, B, D, H, V). Deterministic for a seed.
Writes OUT.fa.fai too (samtools-style, 60 bases a line), so nothing else is
needed to use OUT.fa as --ref.
"""
import argparse
import math
import random


def names(n, rng):
    kinds = ["un", "random", "alt", "decoy", "hla"]
    out = ["chrEBV", "chrUn_KI270302v1", "chr1_KI270706v1_random", "HLA-A*01:01:01:01"]
    hla_genes = ["A", "B", "C", "DRB1", "DQA1", "DQB1", "DPB1"]
    i = 0
    while len(out) < n:
        k = kinds[i % len(kinds)]
        i += 1
        if k == "un":
            out.append("chrUn_KI27%04dv1" % (len(out)))
        elif k == "random":
            out.append("chr%d_KI27%04dv1_random" % (1 + len(out) % 22, len(out)))
        elif k == "alt":
            out.append("chr%d_GL%06dv2_alt" % (1 + len(out) % 22, len(out)))
        elif k == "decoy":
            out.append("chrUn_JTFH01%06dv1_decoy" % len(out))
        else:
            g = hla_genes[len(out) % len(hla_genes)]
            out.append("HLA-%s*%02d:%02d:%02d:%02d" % (g, 1 + len(out) % 80, len(out) // 80 % 100, len(out) % 7 + 1,
                                                       len(out) % 3 + 2))
    return out[:n]


def sequence(length, rng):
    seq = [rng.choice("ACGT") for _ in range(length)]
    # soft-masked stretches (~20% of bases)
    p = 0
    while p < length:
        run = rng.randint(50, 400)
        if rng.random() < 0.2:
            for j in range(p, min(length, p + run)):
                seq[j] = seq[j].lower()
        p += run
    # a run of N in some contigs, and a few IUPAC codes
    if length > 2000 and rng.random() < 0.3:
        s = rng.randint(0, length - 500)
        for j in range(s, s + rng.randint(10, 300)):
            seq[j] = "N"
    for _ in range(rng.randint(0, 3)):
        j = rng.randrange(length)
        seq[j] = rng.choice("RYKMSWBDHV")
    return "".join(seq)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("inp")
    ap.add_argument("out")
    ap.add_argument("--n", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--min", type=int, default=1000)
    ap.add_argument("--max", type=int, default=10000)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with open(a.inp) as f:
        text = f.read()
    # the input's contigs, re-wrapped at 60 so one .fai describes the whole file
    contigs = []
    for block in text.split(">")[1:]:
        lines = block.split("\n")
        contigs.append((lines[0].split()[0], "".join(lines[1:])))
    for name in names(a.n, rng):
        length = int(math.exp(rng.uniform(math.log(a.min), math.log(a.max))))
        contigs.append((name, sequence(length, rng)))
    off = 0
    with open(a.out, "w") as fa, open(a.out + ".fai", "w") as fai:
        for name, seq in contigs:
            head = ">%s\n" % name
            off += len(head)
            fai.write("%s\t%d\t%d\t60\t61\n" % (name, len(seq), off))
            body = "".join(seq[i:i + 60] + "\n" for i in range(0, len(seq), 60))
            fa.write(head + body)
            off += len(body)


if __name__ == "__main__":
    main()
