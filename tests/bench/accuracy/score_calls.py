#!/usr/bin/env python3
"""Score one normalised call set against the normalised truth (used by run_accuracy_bench.sh).

Inputs are `bcftools query -f '%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n'` dumps of biallelic records
(after `bcftools norm -m -any -f REF`), the calls already restricted to PASS records with a
non-reference genotype, with the same samples in the same order as the truth.
Prints one TSV line: snv_p snv_r snv_f1 indel_p indel_r indel_f1 gc nrc af_r2.
  GC  = genotype concordance over true variant records x samples (a call absent = hom-ref;
        a missing call counts as discordant);
  NRC = non-reference concordance: pairs where truth or call is non-reference, concordant share;
  AF r2 = squared Pearson correlation of the called and the true ALT frequency over true records.

`score_calls.py --curve TRUTH RANKED P_FLOOR R_FLOOR`: RANKED holds `CHROM POS REF ALT QUAL [AD...]`
of every normalised non-reference record whatever its QUAL (LowQual included); the SNVs are ranked by
QUAL and the line printed is: the best SNV recall at precision >= P_FLOOR, the QUAL threshold that
gives it, the best SNV precision at recall >= R_FLOOR, its QUAL threshold (0 and - where none reaches
the floor), and the oracle recall at precision >= P_FLOOR. It shows where the caller's whole
precision/recall trade-off stands against a peer's single point. The oracle knows the truth and picks
one QUAL threshold per class of record (samples with ALT reads, total ALT reads with 7+ as one class,
most ALT reads in one sample; from the per-sample REF,ALT depths) by a Lagrangian sweep over each
class's true and false counts: how much recall the read counts could add to QUAL's ranking.
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
    print('\t'.join('%.4f' % v for v in out))


def oracle_recall(by_class, n_true, p_floor):
    """Most true calls at precision >= p_floor with one QUAL threshold per class (Lagrangian sweep)."""
    prefixes = []
    for recs in by_class.values():
        recs.sort(key=lambda r: -r[0])
        pts, tp, fp = [(0, 0)], 0, 0
        for i, (q, is_true) in enumerate(recs):
            tp += is_true
            fp += not is_true
            if i + 1 == len(recs) or recs[i + 1][0] != q:
                pts.append((tp, fp))
        prefixes.append(pts)
    best = 0
    for e in range(-300, 400):
        mu = 10 ** (e / 100)
        tp = fp = 0
        for pts in prefixes:
            a, b = max(pts, key=lambda x: x[0] * (1 + mu * (1 - p_floor)) - mu * p_floor * x[1])
            tp += a
            fp += b
        if tp and tp / (tp + fp) >= p_floor:
            best = max(best, tp)
    return best / n_true if n_true else 0.0


def curve(truth_path, ranked_path, p_floor, r_floor):
    def snv(k):
        return len(k[2]) == 1 and len(k[3]) == 1
    t = {k for k in load(truth_path) if snv(k)}
    best = {}
    with open(ranked_path) as f:
        for line in f:
            p = line.rstrip('\n').split('\t')
            k = (p[0], int(p[1]), p[2], p[3])
            if snv(k) and p[3] not in ('*', '<*>', '.'):
                q = float(p[4]) if p[4] != '.' else 0.0
                alt = [int(a.split(',')[1]) for a in p[5:] if a.count(',') == 1 and a.split(',')[1] != '.']
                alt = [a for a in alt if a > 0]
                cls = (len(alt), min(sum(alt), 7), max(alt, default=0))
                if k not in best or q > best[k][0]:
                    best[k] = (q, cls)
    tp = fp = 0
    r_at_p, q_at_p, p_at_r, q_at_r = 0.0, '-', 0.0, '-'
    ranked = sorted(best.items(), key=lambda kv: -kv[1][0])
    by_class = {}
    for i, (k, (q, cls)) in enumerate(ranked):
        tp += k in t
        fp += k not in t
        by_class.setdefault(cls, []).append((q, k in t))
        if i + 1 < len(ranked) and ranked[i + 1][1][0] == q:
            continue  # a threshold keeps every record of equal QUAL
        prec, rec = tp / (tp + fp), tp / len(t) if t else 0.0
        if prec >= p_floor and rec > r_at_p:
            r_at_p, q_at_p = rec, '%.1f' % q
        if rec >= r_floor and prec > p_at_r:
            p_at_r, q_at_r = prec, '%.1f' % q
    print('%.4f\t%s\t%.4f\t%s\t%.4f' % (r_at_p, q_at_p, p_at_r, q_at_r, oracle_recall(by_class, len(t), p_floor)))


if __name__ == '__main__':
    if len(sys.argv) == 6 and sys.argv[1] == '--curve':
        curve(sys.argv[2], sys.argv[3], float(sys.argv[4]), float(sys.argv[5]))
    else:
        main()
