#!/usr/bin/env python3
"""Score one normalised call set against the normalised truth (used by run_accuracy_bench.sh).

Inputs are `bcftools query -f '%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n'` dumps of biallelic records
(after `bcftools norm -m -any -f REF`), the calls already restricted to PASS records with a
non-reference genotype, with the same samples in the same order as the truth.
Prints one TSV line: snv_p snv_r snv_f1 indel_p indel_r indel_f1 gc nrc af_r2 del_snv.
  GC  = genotype concordance over true variant records x samples (a call absent = hom-ref;
        a missing call counts as discordant);
  NRC = non-reference concordance: pairs where truth or call is non-reference, concordant share;
  AF r2 = squared Pearson correlation of the called and the true ALT frequency over true records;
  del_snv = false SNV sites inside a true deletion's span: position in (p, p + len(REF) - 1] of a true
        deletion at p (reads that end in a deletion aligned with a mismatch instead of a gap).

`score_calls.py --curve TRUTH RANKED SNV_P_FLOOR INDEL_P_FLOOR`: RANKED holds `CHROM POS REF ALT QUAL`
of every normalised non-reference record whatever its QUAL (a caller's low-quality filter included).
For SNVs, then indels, ranked by QUAL (a threshold keeps every record of equal QUAL), the line printed
is: the best F1 over QUAL thresholds and its threshold, then the best recall at precision >= the
class's floor (the best precision a peer reaches on the same BAMs) and its threshold (0 and - where
none reaches the floor). It shows where each tool's whole precision/recall trade-off stands against
the others' single points, whatever QUAL scale each uses.
"""
import sys


def dosage(gt):
    if gt in ('.', './.', '.|.'):
        return None
    a = gt.replace('|', '/').split('/')
    if any(x == '.' for x in a):
        return None
    return sum(1 for x in a if x != '0')


def load(path):
    recs = {}
    with open(path) as f:
        for line in f:
            p = line.rstrip('\n').split('\t')
            if len(p) < 4 or p[3] in ('*', '<*>', '.'):
                continue
            recs[(p[0], int(p[1]), p[2], p[3])] = [dosage(g) for g in p[4:]]
    return recs


def prf(tp, fp, fn):
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main():
    truth, calls = load(sys.argv[1]), load(sys.argv[2])
    out = []
    for want_snv in (True, False):
        def kind(k):
            return (len(k[2]) == 1 and len(k[3]) == 1) == want_snv
        t = {k for k in truth if kind(k)}
        c = {k for k in calls if kind(k)}
        out += prf(len(t & c), len(c - t), len(t - c))
    agree = total = nr_agree = nr_total = 0
    xs, ys = [], []
    for k, tg in truth.items():
        cg = calls.get(k)
        n_called = dos_sum = 0
        for j, td in enumerate(tg):
            if td is None:
                continue
            cd = 0 if cg is None else cg[j]
            total += 1
            agree += cd == td
            if td != 0 or (cd is not None and cd != 0):
                nr_total += 1
                nr_agree += cd == td
            if cd is not None:
                n_called += 1
                dos_sum += cd
        n_true = sum(1 for d in tg if d is not None)
        if n_true:
            xs.append(sum(d for d in tg if d is not None) / (2.0 * n_true))
            ys.append(dos_sum / (2.0 * n_called) if n_called else 0.0)
    gc = agree / total if total else 0.0
    nrc = nr_agree / nr_total if nr_total else 0.0
    r2 = 0.0
    n = len(xs)
    if n > 1:
        mx, my = sum(xs) / n, sum(ys) / n
        sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
        sxx = sum((x - mx) ** 2 for x in xs)
        syy = sum((y - my) ** 2 for y in ys)
        r2 = sxy * sxy / (sxx * syy) if sxx > 0 and syy > 0 else 0.0
    out += [gc, nrc, r2]
    print('\t'.join('%.4f' % v for v in out) + '\t%d' % len(snvs_in_deletions(truth, calls)))


def snvs_in_deletions(truth, calls):
    """False SNV calls whose position lies in (p, p + len(REF) - 1] of a true deletion at p."""
    spans = {}
    for c, p, ref, alt in truth:
        if len(ref) > 1 and len(alt) == 1:
            for q in range(p + 1, p + len(ref)):
                spans[(c, q)] = True
    return [k for k in calls if len(k[2]) == 1 and len(k[3]) == 1 and k not in truth and (k[0], k[1]) in spans]


def curve(truth_path, ranked_path, p_floors):
    """The --curve line: best F1 and recall at the precision floor, SNVs then indels."""
    truth = load(truth_path)
    quals = {}
    with open(ranked_path) as f:
        for line in f:
            p = line.rstrip('\n').split('\t')
            if len(p) < 5 or p[3] in ('*', '<*>', '.'):
                continue
            k = (p[0], int(p[1]), p[2], p[3])
            q = float(p[4]) if p[4] != '.' else 0.0
            quals[k] = max(q, quals.get(k, q))
    out = []
    for want_snv, p_floor in zip((True, False), p_floors):
        def kind(k):
            return (len(k[2]) == 1 and len(k[3]) == 1) == want_snv
        n_true = sum(1 for k in truth if kind(k))
        ranked = sorted(((q, k in truth) for k, q in quals.items() if kind(k)), key=lambda x: -x[0])
        tp = fp = 0
        f1, q_f1, r_at_p, q_at_p = 0.0, '-', 0.0, '-'
        for i, (q, is_true) in enumerate(ranked):
            tp += is_true
            fp += not is_true
            if i + 1 < len(ranked) and ranked[i + 1][0] == q:
                continue  # a threshold keeps every record of equal QUAL
            prec, rec, f = prf(tp, fp, n_true - tp)
            if f > f1:
                f1, q_f1 = f, '%.1f' % q
            if prec >= p_floor and rec > r_at_p:
                r_at_p, q_at_p = rec, '%.1f' % q
        out += ['%.4f' % f1, q_f1, '%.4f' % r_at_p, q_at_p]
    print('\t'.join(out))


if __name__ == '__main__':
    if len(sys.argv) == 6 and sys.argv[1] == '--curve':
        curve(sys.argv[2], sys.argv[3], (float(sys.argv[4]), float(sys.argv[5])))
    else:
        main()
