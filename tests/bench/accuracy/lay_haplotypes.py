#!/usr/bin/env python3
"""Lay phased 1000 Genomes records onto another reference sequence (used by make_cohort.sh).

`lay_haplotypes.py lay WINDOW.fa OFFSET CONTIG LENGTH < SOURCE.vcf > LAID.vcf`
  SOURCE is uncompressed VCF text (the source window, samples already chosen); WINDOW.fa is the target
  window as `samtools faidx REF CONTIG:BEG-END` writes it, LENGTH the whole contig's. Every record moves
  to CONTIG at POS + OFFSET
  and its alleles are rewritten so that they are valid there:
    SNV        REF = the target base; ALT keeps the original's class: the transition partner of the new
               REF for an original transition, else a fixed transversion (A>C, C>A, G>T, T>G);
    deletion   REF = the target bases of the original REF length, ALT = its first base;
    insertion  REF = the target base, ALT = that base + the original inserted sequence.
  Other shapes (MNPs, complex, symbolic, multi-allelic) and records outside the window are dropped.
  Counts go to stderr.

`lay_haplotypes.py drop-overlaps < SORTED.vcf > CLEAN.vcf`
  Drops every record whose REF span overlaps the span of a record kept before it, and records that no
  sample carries, so that `bcftools consensus` applies every record that remains (run after
  `bcftools norm -f`, which may shift an indel left onto a neighbour).
"""
import sys

TRANSITION = {'A': 'G', 'G': 'A', 'C': 'T', 'T': 'C'}
TRANSVERSION = {'A': 'C', 'C': 'A', 'G': 'T', 'T': 'G'}


def read_window(path):
    with open(path) as f:
        name = f.readline()[1:].split()[0]
        seq = ''.join(line.strip() for line in f).upper()
    beg = int(name.rsplit(':', 1)[1].split('-')[0])
    return beg, seq


def lay(window_path, offset, contig, length):
    beg, seq = read_window(window_path)
    end = beg + len(seq) - 1
    kept = dropped = 0
    for line in sys.stdin:
        if line.startswith('##contig'):
            continue
        if line.startswith('#'):
            if line.startswith('#CHROM'):
                sys.stdout.write('##contig=<ID=%s,length=%d>\n' % (contig, length))
            sys.stdout.write(line)
            continue
        f = line.rstrip('\n').split('\t')
        pos = int(f[1]) + offset
        ref, alt = f[3].upper(), f[4].upper()
        ok = ',' not in alt and set(ref) <= set('ACGT') and set(alt) <= set('ACGT')
        if ok and len(ref) == 1 and len(alt) == 1:
            new_ref = seq[pos - beg] if beg <= pos <= end else 'N'
            table = TRANSITION if TRANSITION[ref] == alt else TRANSVERSION
            new_alt = table.get(new_ref)
        elif ok and len(ref) > 1 and len(alt) == 1:
            new_ref = seq[pos - beg:pos - beg + len(ref)] if beg <= pos and pos + len(ref) - 1 <= end else 'N'
            new_alt = new_ref[0]
        elif ok and len(ref) == 1 and len(alt) > 1:
            new_ref = seq[pos - beg] if beg <= pos <= end else 'N'
            new_alt = new_ref + alt[1:]
        else:
            new_ref = 'N'
        if 'N' in new_ref or new_alt is None:
            dropped += 1
            continue
        f[0], f[1], f[3], f[4] = contig, str(pos), new_ref, new_alt
        sys.stdout.write('\t'.join(f) + '\n')
        kept += 1
    sys.stderr.write('lay_haplotypes: %d records laid, %d dropped (shape or N)\n' % (kept, dropped))


def drop_overlaps():
    last_end = {}
    kept = overlapping = absent = 0
    for line in sys.stdin:
        if line.startswith('#'):
            sys.stdout.write(line)
            continue
        f = line.rstrip('\n').split('\t', 10)
        pos, ref = int(f[1]), f[3]
        if pos <= last_end.get(f[0], 0):
            overlapping += 1
            continue
        gts = line.rstrip('\n').split('\t')[9:]
        if not any(a not in ('0', '.') for g in gts for a in g.split(':')[0].replace('|', '/').split('/')):
            absent += 1
            continue
        last_end[f[0]] = pos + len(ref) - 1
        sys.stdout.write(line)
        kept += 1
    sys.stderr.write('lay_haplotypes: %d records kept, %d overlapping dropped, %d carried by no sample\n'
                     % (kept, overlapping, absent))


if __name__ == '__main__':
    if len(sys.argv) == 6 and sys.argv[1] == 'lay':
        lay(sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5]))
    elif len(sys.argv) == 2 and sys.argv[1] == 'drop-overlaps':
        drop_overlaps()
    else:
        sys.exit(__doc__)
