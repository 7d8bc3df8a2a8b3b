#!/usr/bin/env python3
"""Inputs for planning a national cohort on a GRCh38-shaped genome (issue 18), without the data.

    make_grch38_plan.py DIR --samples N [--contigs 3100] [--fastq]

Writes
  DIR/ref.fa      a sparse file as long as a 60-column FASTA of the contigs would be: each '>' line at its
                  place, holes between (no bytes on disk); planning reads only the index
  DIR/ref.fa.fai  GRCh38's 25 primary contigs (chr1..chr22, chrX, chrY, chrM, their real lengths),
                  then small contigs named as GRCh38's are (chrUn_KI270302v1, HLA-A*01:01:01:01, alts,
                  decoys; make_decoys.py's names) up to --contigs, lengths log-uniform in 1-200 kb
  DIR/empty.bam   a BAM with no reads whose header lists every contig (samtools), read group SM=empty
  DIR/bam/SNNNNNN.bam  N symbolic links to empty.bam: every sample is its own path, so each open or
                  stat is a real metadata operation (the page cache holds the one file they reach)
  DIR/samples.tsv sample, population (4 populations), bam
With --fastq: DIR/fq/SNNNNNN_{1,2}.fastq.gz, links to one gzipped read pair, and a sheet of fastq1, fastq2
(deep mode then plans align tasks and the call tasks' dependencies on them).
Plan it with `tessera run --plan-only --mode deep --ignore-sm` (the samples' read groups say SM=empty).
"""
import argparse
import math
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_decoys import names  # noqa: E402

GRCH38 = [("chr1", 248956422), ("chr2", 242193529), ("chr3", 198295559), ("chr4", 190214555),
          ("chr5", 181538259), ("chr6", 170805979), ("chr7", 159345973), ("chr8", 145138636),
          ("chr9", 138394717), ("chr10", 133797422), ("chr11", 135086622), ("chr12", 133275309),
          ("chr13", 114364328), ("chr14", 107043718), ("chr15", 101991189), ("chr16", 90338345),
          ("chr17", 83257441), ("chr18", 80373285), ("chr19", 58617616), ("chr20", 64444167),
          ("chr21", 46709983), ("chr22", 50818468), ("chrX", 156040895), ("chrY", 57227415), ("chrM", 16569)]


def write_fastq_sheet(d, n):
    """One read pair, gzipped, and N samples whose FASTQ paths are their own links to it."""
    import gzip
    os.makedirs(os.path.join(d, "fq"), exist_ok=True)
    for mate in (1, 2):
        with gzip.open(os.path.join(d, "one_%d.fastq.gz" % mate), "wt") as f:
            f.write("@r1/%d\n%s\n+\n%s\n" % (mate, "ACGT" * 25, "I" * 100))
    with open(os.path.join(d, "samples.tsv"), "w") as f:
        f.write("sample\tpopulation\tfastq1\tfastq2\n")
        for i in range(n):
            for mate in (1, 2):
                link = os.path.join(d, "fq", "S%06d_%d.fastq.gz" % (i, mate))
                if not os.path.lexists(link):
                    os.symlink("../one_%d.fastq.gz" % mate, link)
            f.write("S%06d\tP%d\tfq/S%06d_1.fastq.gz\tfq/S%06d_2.fastq.gz\n" % (i, i % 4, i, i))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir")
    ap.add_argument("--samples", type=int, required=True)
    ap.add_argument("--contigs", type=int, default=3100)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fastq", action="store_true")
    a = ap.parse_args()
    os.makedirs(os.path.join(a.dir, "bam"), exist_ok=True)
    rng = random.Random(a.seed)
    contigs = list(GRCH38)
    for n in names(a.contigs - len(GRCH38), rng):
        contigs.append((n, int(math.exp(rng.uniform(math.log(1000), math.log(200000))))))
    fa, off, heads = os.path.join(a.dir, "ref.fa"), 0, []
    with open(fa + ".fai", "w") as fai:
        for n, ln in contigs:
            heads.append((off, (">%s\n" % n).encode()))
            off += len(n) + 2
            fai.write("%s\t%d\t%d\t60\t61\n" % (n, ln, off))
            off += ln + (ln + 59) // 60
    with open(fa, "wb") as f:  # each contig's '>' line at its place; the bases between are holes
        for at, line in heads:
            f.seek(at)
            f.write(line)
        f.truncate(off)
    os.utime(fa + ".fai")  # newer than the FASTA, so htslib keeps it
    hdr = os.path.join(a.dir, "empty.sam")
    with open(hdr, "w") as f:
        f.write("@HD\tVN:1.6\tSO:coordinate\n")
        for n, ln in contigs:
            f.write("@SQ\tSN:%s\tLN:%d\n" % (n, ln))
        f.write("@RG\tID:empty\tSM:empty\n")
    subprocess.run(["samtools", "view", "-b", "-o", os.path.join(a.dir, "empty.bam"), hdr], check=True)
    if a.fastq:
        write_fastq_sheet(a.dir, a.samples)
        print("%s: %d contigs, %d FASTQ samples" % (a.dir, len(contigs), a.samples))
        return
    with open(os.path.join(a.dir, "samples.tsv"), "w") as f:
        f.write("sample\tpopulation\tbam\n")
        for i in range(a.samples):
            link = os.path.join(a.dir, "bam", "S%06d.bam" % i)
            if not os.path.lexists(link):
                os.symlink("../empty.bam", link)
            f.write("S%06d\tP%d\tbam/S%06d.bam\n" % (i, i % 4, i))
    print("%s: %d contigs, %.3f Gb, %d samples" % (a.dir, len(contigs), sum(c[1] for c in contigs) / 1e9, a.samples))


if __name__ == "__main__":
    main()
