#!/usr/bin/env python3
"""Checks of tests/federation/federation_test.sh (bcftools on PATH). Each subcommand exits 1 with a message
on the first difference.

  gtc COHORT.bcf EXPORT.vcf.gz SHEET        INFO/GTC_<pop> equals the call set's genotype counts
  mask MASK.bed.gz SHEET GVCF_DIR           the mask equals per position the count of samples with a gVCF record
  fill BCFTOOLS_MERGED GVCF_DIR OUT.vcf COHORT.bcf...
                                            the pooled call set: an institution's samples without its record
                                            get 0/0 where callable, ./. elsewhere; sites with AC 0 dropped
  compare MERGED.stats.tsv GOLD.stats.tsv MERGED.vcf.gz EXPORT.vcf.gz...
                                            per site and population equal statistics; AC = sum of the exports'
  sfs MERGED.statistics.json GOLD.summary.json   SFS and F_ST equal
"""
import gzip
import json
import subprocess
import sys


def die(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def lines(*cmd):
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.splitlines()


def sheet(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path) if l.strip()]
    h = rows[0]
    return {r[h.index("sample")]: r[h.index("population")] for r in rows[1:]}


def gt_pair(g):
    g = g.replace("|", "/")
    if g in (".", "./."):
        return None
    a, b = g.split("/")
    a, b = int(a), int(b)
    return (min(a, b), max(a, b))


def gtc(bcf, exp, sh):
    pops = sorted(set(sheet(sh).values()))
    samples = lines("bcftools", "query", "-l", bcf)
    pop = [sheet(sh)[s] for s in samples]
    want = {}
    for l in lines("bcftools", "query", "-f", "%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n", bcf):
        f = l.split("\t")
        n = 1 + (0 if f[3] == "." else len(f[3].split(",")))
        G = n * (n + 1) // 2
        c = {p: [0] * G for p in pops}
        for j, g in enumerate(f[4:]):
            ab = gt_pair(g)
            if ab:
                c[pop[j]][ab[1] * (ab[1] + 1) // 2 + ab[0]] += 1
        want[tuple(f[:4])] = c
    fmt = "%CHROM\t%POS\t%REF\t%ALT" + "".join("\t%INFO/GTC_" + p for p in pops) + "\n"
    got = {}
    for l in lines("bcftools", "query", "-f", fmt, exp):
        f = l.split("\t")
        got[tuple(f[:4])] = {p: [int(x) for x in f[4 + i].split(",")] for i, p in enumerate(pops)}
    if got != want:
        bad = [k for k in want if got.get(k) != want[k]][:3]
        die("%s: GTC differs from %s at %s (%d sites there, %d here)" % (exp, bcf, bad, len(want), len(got)))
    print("GTC: %d sites equal the genotype counts of %s" % (len(got), bcf))


def callable_sets(gvcf_dir, samples):
    cov = {}
    for s in samples:
        pos = set()
        for l in lines("bcftools", "query", "-f", "%POS\t%INFO/END\n", "%s/%s.g.vcf.gz" % (gvcf_dir, s)):
            p, e = l.split("\t")
            p = int(p) - 1
            pos.update(range(p, int(e)) if e != "." else [p])
        cov[s] = pos
    return cov


def mask(path, sh, gvcf_dir):
    smap = sheet(sh)
    pops = sorted(set(smap.values()))
    cov = callable_sets(gvcf_dir, list(smap))
    want = {}
    for s, ps in cov.items():
        for p in ps:
            want.setdefault(p, [0] * len(pops))[pops.index(smap[s])] += 1
    got = {}
    with gzip.open(path, "rt") as f:
        head = f.readline().rstrip("\n").split("\t")
        if head != ["#CHROM", "START", "END"] + pops:
            die("%s: header %s" % (path, head))
        for l in f:
            c = l.rstrip("\n").split("\t")
            for p in range(int(c[1]), int(c[2])):
                got[p] = [int(x) for x in c[3:]]
    if got != want:
        bad = sorted(p for p in set(got) | set(want) if got.get(p) != want.get(p))[:5]
        die("%s differs from the gVCFs at 0-based positions %s: %s vs %s" %
            (path, bad, [got.get(p) for p in bad], [want.get(p) for p in bad]))
    print("mask: %d callable positions equal the gVCFs' of %d samples" % (len(got), len(cov)))


def fill(merged, gvcf_dir, out, *bcfs):
    inst_of, keys = {}, []
    for i, b in enumerate(bcfs):
        for s in lines("bcftools", "query", "-l", b):
            inst_of[s] = i
        keys.append({tuple(l.split("\t")) for l in lines("bcftools", "query", "-f", "%CHROM\t%POS\t%REF\n", b)})
    cov = callable_sets(gvcf_dir, list(inst_of))
    n_out = n_filled = 0
    seen = set()
    with open(out, "w") as o:
        for l in lines("bcftools", "view", merged):
            if l.startswith("##"):
                if not l.startswith("##FORMAT") or l.startswith("##FORMAT=<ID=GT,"):
                    o.write(l + "\n")
                continue
            f = l.split("\t")
            if l.startswith("#"):
                samples = f[9:]
                o.write("\t".join(f[:9] + samples) + "\n")
                continue
            key = (f[0], f[1], f[3])
            if key in seen:
                die("%s: two records for %s (SNV and indel with one REF): the test needs another seed" % (merged, key))
            seen.add(key)
            gi = f[8].split(":").index("GT")
            gts, ac = [], 0
            for j, s in enumerate(samples):
                g = f[9 + j].split(":")[gi]
                if key not in keys[inst_of[s]]:
                    if gt_pair(g) is not None:
                        die("%s: %s has a genotype at %s its institution did not call" % (merged, s, key))
                    g = "0/0" if int(f[1]) - 1 in cov[s] else "./."
                    n_filled += g == "0/0"
                ab = gt_pair(g)
                ac += (ab[0] > 0) + (ab[1] > 0) if ab else 0
                gts.append(g)
            if ac == 0:
                continue
            o.write("\t".join(f[:7] + [".", "GT"] + gts) + "\n")
            n_out += 1
    print("pooled call set: %d sites, %d genotypes filled 0/0 from callability" % (n_out, n_filled))


def read_tsv(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path)]
    return rows[0], rows[1:]


PER_ALT = ("AC", "AF", "nhomalt", "HWE", "ExcHet")


def compare(m_tsv, g_tsv, m_vcf, *exports):
    hm, rm = read_tsv(m_tsv)
    hg, rg = read_tsv(g_tsv)
    if hm != hg:
        die("stats.tsv columns differ:\n%s\n%s" % (hm, hg))
    gold = {}
    for r in rg:
        gold[(r[0], r[1], r[2], frozenset(r[3].split(",")))] = r
    n = 0
    for r in rm:
        alts = r[3].split(",")
        key = (r[0], r[1], r[2], frozenset(alts))
        g = gold.pop(key, None)
        if g is None:
            die("merged site %s:%s %s>%s is not in the pooled call set" % (r[0], r[1], r[2], r[3]))
        perm = [g[3].split(",").index(a) for a in alts]
        for c, name in enumerate(hm):
            if c < 6:
                continue
            base = name.split("_")[0]
            x, y = r[c].split(","), g[c].split(",")
            if base in PER_ALT:
                y = [y[k] for k in perm]
            for a, b in zip(x, y):
                if a == b:
                    continue
                if base in ("HWE", "ExcHet", "AF", "F", "F") or name.startswith("F_MISSING"):
                    fa, fb = float(a), float(b)
                    if abs(fa - fb) <= 1e-6 * max(abs(fa), abs(fb), 1e-300):
                        continue
                die("%s:%s %s>%s: %s is %s merged, %s pooled" % (r[0], r[1], r[2], r[3], name, r[c], g[c]))
        n += 1
    if gold:
        die("%d pooled sites are missing from the merge, e.g. %s" % (len(gold), sorted(gold)[:3]))
    # AC of every ALT = the sum of the exports' AC for it
    ex = {}
    for e in exports:
        for l in lines("bcftools", "query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%INFO/AC\n", e):
            c, p, ref, alt, ac = l.split("\t")
            for a, v in zip(alt.split(","), ac.split(",")):
                ex[(c, p, ref, a)] = ex.get((c, p, ref, a), 0) + int(v)
    k = 0
    for l in lines("bcftools", "query", "-f", "%CHROM\t%POS\t%REF\t%ALT\t%INFO/AC\n", m_vcf):
        c, p, ref, alt, ac = l.split("\t")
        for a, v in zip(alt.split(","), ac.split(",")):
            if int(v) != ex.get((c, p, ref, a), -1):
                die("%s:%s %s>%s: merged AC %s, the exports' sum %s" % (c, p, ref, a, v, ex.get((c, p, ref, a))))
            k += 1
    if n == 0 or k == 0:
        die("nothing compared")
    print("merge = pooled: %d sites, %d columns each (AC AN AF NS nhet nhomalt F_MISSING HWE ExcHet F, cohort and "
          "populations); %d ALT alleles with AC = the exports' sum" % (n, len(hm) - 6, k))


def sfs(m_json, g_json):
    m = json.load(open(m_json))["statistics"]
    g = json.load(open(g_json))["statistics"]
    for p, s in g["sfs"].items():
        t = m["sfs"].get(p)
        for k in ("chromosomes", "sites", "sites_not_fully_called", "unfolded", "folded"):
            if t is None or t[k] != s[k]:
                die("SFS of %s: %s is %s merged, %s pooled" % (p, k, t and t[k], s[k]))
    gp, mp = g["fst_hudson"]["pairs"], m["fst_hudson"]["pairs"]
    if len(gp) != len(mp) or not gp:
        die("F_ST pairs: %d merged, %d pooled" % (len(mp), len(gp)))
    for a, b in zip(mp, gp):
        for k in ("pop1", "pop2", "sites", "numerator_fixed", "denominator_fixed", "fst"):
            if a[k] != b[k]:
                die("F_ST %s-%s: %s is %s merged, %s pooled" % (b["pop1"], b["pop2"], k, a[k], b[k]))
    for k in ("sites", "biallelic_snvs", "transitions", "transversions"):
        if m[k] != g[k]:
            die("%s: %s merged, %s pooled" % (k, m[k], g[k]))
    print("SFS of %d populations and F_ST of %d pairs (%s) equal the pooled ones" %
          (len(g["sfs"]), len(gp), ", ".join("%.6f" % x["fst"] for x in gp)))


# Two hand-made exports (population p; A 3 samples, B 2) whose merge needs ALT alleles united and
# remapped, and absent sites filled from the other's mask (or left missing outside it).
HAND = {
    "A": (3, [("100", "A", "C", [2, 1, 0]), ("200", "T", "TA", [1, 1, 1]), ("300", "G", "A", [0, 2, 0])],
          ["c1\t395\t405\t1"]),
    "B": (2, [("100", "A", "G", [0, 1, 1]), ("400", "C", "T,G", [0, 0, 0, 0, 1, 1])], ["c1\t150\t250\t2"]),
}
# merged genotype counts by allele names, and NS
HAND_WANT = {
    "100": ({("A", "A"): 2, ("A", "C"): 1, ("A", "G"): 1, ("G", "G"): 1}, 5),
    "200": ({("T", "T"): 3, ("T", "TA"): 1, ("TA", "TA"): 1}, 5),
    "300": ({("A", "G"): 2}, 2),
    "400": ({("C", "C"): 1, ("G", "T"): 1, ("G", "G"): 1}, 3),
}


def handmade(d):
    import hashlib
    for name, (n, recs, mask_lines) in HAND.items():
        base = "%s.vcf.gz" % name
        mtext = "#CHROM\tSTART\tEND\tp\n" + "".join(l + "\n" for l in mask_lines)
        body = ""
        for pos, ref, alt, g in recs:
            k = 1 + len(alt.split(","))
            ac = [sum(c * ((a == x) + (b == x)) for (a, b), c in zip(((a, b) for b in range(k) for a in range(b + 1)), g))
                  for x in range(1, k)]
            body += "c1\t%s\t.\t%s\t%s\t.\t.\tAC=%s;GTC_p=%s\n" % (pos, ref, alt, ",".join(map(str, ac)),
                                                                ",".join(map(str, g)))
        sha = lambda t: "sha256:" + hashlib.sha256(t.encode()).hexdigest()
        head = ("##fileformat=VCFv4.3\n##contig=<ID=c1,length=1000,md5=%s>\n"
                "##tessera_federation=<ID=export,format=1,mode=deep,tessera=test,populations=1,samples=%d>\n"
                "##tessera_population=<ID=p,samples=%d>\n"
                "##tessera_callable_mask=<ID=mask,file=%s.callable.bed.gz,sha256=%s,intervals=%d>\n"
                "##tessera_content_sha256=%s (hand-made)\n"
                "##INFO=<ID=AC,Number=A,Type=Integer,Description=\"ALT count\">\n"
                "##INFO=<ID=GTC_p,Number=.,Type=Integer,Description=\"genotype counts\">\n"
                "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
                % ("0" * 32, n, n, base, sha(mtext), len(mask_lines), sha(body)))
        open("%s/%s.vcf" % (d, name), "w").write(head + body)
        open("%s/%s.mask" % (d, name), "w").write(mtext)


def handcheck(merged):
    got = {}
    for l in lines("bcftools", "query", "-f", "%POS\t%REF\t%ALT\t%INFO/GTC_p\t%INFO/NS\t%INFO/AN\t%INFO/AC\n", merged):
        pos, ref, alt, g, ns, an, ac = l.split("\t")
        al = [ref] + alt.split(",")
        pairs = [(a, b) for b in range(len(al)) for a in range(b + 1)]
        counts = {}
        for (a, b), c in zip(pairs, map(int, g.split(","))):
            if c:
                counts[tuple(sorted((al[a], al[b])))] = c
        want = {tuple(sorted(k)): v for k, v in HAND_WANT[pos][0].items()}
        if counts != want or int(ns) != HAND_WANT[pos][1] or int(an) != 2 * HAND_WANT[pos][1]:
            die("hand-made site %s: %s NS %s AN %s, expected %s NS %d" % (pos, counts, ns, an, want, HAND_WANT[pos][1]))
        for x, v in zip(al[1:], ac.split(",")):
            w = sum(c * ((a == x) + (b == x)) for (a, b), c in counts.items())
            if int(v) != w:
                die("hand-made site %s: AC of %s is %s, expected %d" % (pos, x, v, w))
        got[pos] = counts
    if set(got) != set(HAND_WANT):
        die("hand-made merge has sites %s, expected %s" % (sorted(got), sorted(HAND_WANT)))
    print("hand-made: %d sites (ALTs united and remapped, absent sites hom-ref where callable, missing elsewhere)"
          % len(got))


def r2(a, b):
    n = len(a)
    ma, mb = sum(a) / n, sum(b) / n
    sab = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    saa, sbb = sum((x - ma) ** 2 for x in a), sum((y - mb) ** 2 for y in b)
    return sab * sab / (saa * sbb)


def lowpass(pooled, merged, n_inputs, pops):
    """Low-pass merge against the pooled run (default thresholds). The institutions ran with --min-site-qual 0
    --min-alt-obs 1 (every site with an ALT read), so the merge calls the sites by the pooled likelihood (its
    QUAL, from the summed curves, against --min-site-qual 30) as the pooled run's discovery does.
    Site sets: >= 95% of the pooled run's sites are in the merge and >= 95% of the merge's in the pooled run
    (both differ only by sites near QUAL 30: PL rounding and the grid move QUAL by a fraction).
    At the biallelic sites both carry: QUAL r2 >= 0.999 (the same phred scale); AF r2 >= 0.999 over all of
    them; AF_<pop> r2 >= 0.995 (an institution without ALT reads at a site counts through its depth mask,
    depth averaged over a 500-bp window; measured 0.9988 and 0.9999 on this data); at the sites every input
    reported, AF and AF_<pop> r2 >= 0.999 and |diff| <= 0.005 (PL rounding and the grid only)."""
    pops = pops.split(",")
    keys = "%QUAL\t%AF" + "".join("\t%AF_" + p for p in pops)
    P, Pall = {}, set()
    for l in lines("bcftools", "query", "-f", "%POS\t%REF\t%ALT\t" + keys + "\n", pooled):
        f = l.split("\t")
        Pall.add(tuple(f[:3]))
        if "," not in f[2]:
            P[tuple(f[:3])] = [float(x) for x in f[3:]]
    rows, Mall = [], set()
    for l in lines("bcftools", "query", "-f", "%POS\t%REF\t%ALT\t" + keys + "\t%NINST\n", merged):
        f = l.split("\t")
        Mall.add(tuple(f[:3]))
        if tuple(f[:3]) in P:
            rows.append((P[tuple(f[:3])], [float(x) for x in f[3:-1]], int(f[-1])))
    full = [r for r in rows if r[2] == int(n_inputs)]
    if len(rows) < 100 or len(full) < 30 or len(rows) < len(full) + 10:
        die("low-pass: only %d shared sites (%d reported by every input)" % (len(rows), len(full)))
    both = len(Pall & Mall)
    fp, fm = both / len(Pall), both / len(Mall)
    if fp < 0.95 or fm < 0.95:
        die("low-pass site sets: %.3f of the pooled run's %d sites in the merge, %.3f of the merge's %d in the "
            "pooled run (want >= 0.95 both)" % (fp, len(Pall), fm, len(Mall)))
    out = ["sites: %.3f of the pooled run's %d in the merge, %.3f of the merge's %d in the pooled run"
           % (fp, len(Pall), fm, len(Mall))]
    for j, name in enumerate(["QUAL", "AF"] + ["AF_" + p for p in pops]):
        ra = r2([r[0][j] for r in rows], [r[1][j] for r in rows])
        want = 0.999 if j < 2 else 0.995
        if ra < want:
            die("low-pass %s at all %d shared sites: r2 %.5f (want >= %g)" % (name, len(rows), ra, want))
        if j == 0:
            out.append("QUAL r2 %.5f" % ra)
            continue
        a, b = [r[0][j] for r in full], [r[1][j] for r in full]
        rf, dmax = r2(a, b), max(abs(x - y) for x, y in zip(a, b))
        if rf < 0.999 or dmax > 0.005:
            die("low-pass %s at the %d sites every input reported: r2 %.5f, max |diff| %.4f (want r2 >= 0.999, "
                "|diff| <= 0.005)" % (name, len(full), rf, dmax))
        out.append("%s r2 %.5f (every input: %.5f, max |diff| %.4f)" % (name, ra, rf, dmax))
    print("low-pass merge vs pooled run, %d shared sites (%d reported by every input): %s"
          % (len(rows), len(full), "; ".join(out)))


def dropcheck(full, dropped, power_max, n_samples):
    """--drop-to-power: `dropped` keeps the most sites M whose power Phi(sqrt(M/N) - z_0.95) is <= power_max,
    and they are the sites of `full` left after dropping the lowest cohort MAF first (ties: later first)."""
    from statistics import NormalDist
    nd = NormalDist()
    z = nd.inv_cdf(0.95)
    sites = []
    for i, l in enumerate(lines("bcftools", "query", "-f", "%CHROM:%POS:%REF:%ALT\t%INFO/AF\n", full)):
        k, af = l.split("\t")
        f = sum(float(x) for x in af.split(",") if x != ".")
        sites.append((min(f, 1 - f), -i, k))
    n, N, P = len(sites), int(n_samples), float(power_max)
    keep = max(m for m in range(n + 1) if m == 0 or nd.cdf((m / N) ** 0.5 - z) <= P)
    if keep >= n:
        die("dropcheck: the full release (%d sites) is already under power %g: no test" % (n, P))
    want = sorted(s[2] for s in sorted(sites)[n - keep:])
    got = sorted(lines("bcftools", "query", "-f", "%CHROM:%POS:%REF:%ALT\n", dropped))
    if got != want:
        die("dropcheck: %d sites kept, expected %d (lowest MAF dropped first); differ at %s"
            % (len(got), keep, sorted(set(got) ^ set(want))[:5]))
    hdr = "\n".join(lines("bcftools", "view", "-h", dropped))
    if "dropped_to_power=%d," % (n - keep) not in hdr:
        die("dropcheck: the header does not record dropped_to_power=%d" % (n - keep))
    print("drop-to-power: %d of %d sites kept (power <= %g), the %d lowest-MAF dropped and recorded"
          % (keep, n, P, n - keep))


if __name__ == "__main__":
    {"gtc": gtc, "mask": mask, "fill": fill, "compare": compare, "sfs": sfs, "handmade": handmade,
     "handcheck": handcheck, "lowpass": lowpass, "dropcheck": dropcheck}[sys.argv[1]](*sys.argv[2:])
