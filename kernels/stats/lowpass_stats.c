/*
 * lowpass_stats.c - statistics from genotype likelihoods (low-pass mode):
 * the Hardy-Weinberg test and F from genotype frequencies estimated by EM,
 * per-site sample-allele-frequency likelihoods (SAF) and the
 * maximum-likelihood site-frequency spectrum across sites by EM (the
 * realSFS method), Hudson F_ST from EM allele frequencies, and the
 * accumulator that carries them as sufficient statistics.
 *
 * Design.
 * - HWE. Per sample the likelihoods of 0, 1, 2 copies of the ALT. Genotype
 *   frequencies (g0, g1, g2) by EM without constraint (ANGSD's -doHWE idea),
 *   F = 1 - g1 / (2 p (1 - p)) with p = g1 / 2 + g2, and the LRT against the
 *   HWE fit kept as a statistic; the p-value is the score test of F = 0 with
 *   its null distribution given the read counts (tsr_lp_hwe_test says why);
 *   p = 1 where a population's reads show one allele only.
 * - SAF. L(k) = P(reads | k ALT copies among the 2m chromosomes of the m
 *   samples with reads) by the dynamic programme over samples written in its
 *   hypergeometric form (each step mixes L_{j-1}(k), L_{j-1}(k-1), L_{j-1}(k-2)
 *   with weights that sum to 1), so values never overflow and the programme
 *   can be banded: after each sample the entries below 1e-12 of the maximum
 *   are dropped from both ends. Cost O(m x band) instead of O(m^2). Samples
 *   without reads carry no information, so the SAF over all 2n chromosomes of
 *   the population is the hypergeometric projection of the 2m-chromosome SAF,
 *   computed only around its mass (again down to 1e-12 of the maximum).
 * - SFS. The EM needs every site's SAF at every iteration, which is not a sum
 *   over sites. The accumulator keeps, per population, a bounded sample of
 *   per-site SAF bands: the TSR_LP_SFS_SITES sites with the smallest 64-bit
 *   hash of (contig, position, alleles), a bottom-k sample. It is a uniform
 *   sample of the sites, its memory is bounded by k x band whatever the
 *   genome, and it is order-independent: the union of two accumulators keeps
 *   the k smallest hashes of both, so any split of the sites over ranks or
 *   regions and any merge order gives the same sample, hence the same SFS.
 *   Below k sites (any region of a few Mb) the sample is every site and the
 *   EM is exact; above, the ML SFS shape comes from k sites and is scaled by
 *   the exact count of sites (an int64 sum).
 * - F_ST. Hudson's estimator (Bhatia et al. 2013, ratio of sums) with the EM
 *   allele frequencies of the two populations, and the chromosome count n of
 *   the sampling-variance term p(1-p)/(n-1) replaced by the effective number
 *   of chromosomes the population's reads observe: n_eff = I(p_c) p_c (1-p_c),
 *   I the Fisher information of the population's HWE likelihood at the
 *   cohort frequency p_c (n_eff = 2 x samples when genotypes are certain,
 *   about 1 per sample with one read). Taken at p_c rather than at the
 *   population's own estimate, which sits at or near 0 where the population
 *   lacks the ALT and there makes 1 / I(p) a wild overestimate of the
 *   variance. Numerator and denominator are summed as fixed point, like the
 *   hard-call F_ST.
 */
#include "kernels/stats/stats_internal.h"

#include <limits.h>

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SAF_EPS 1e-12

/* 10^(-PL/10) as one exp (cheaper than pow; no table, so no shared state) */
double tsr_lp_pl_to_lik(int32_t pl) { return exp(-0.23025850929940458 * (pl < 0 ? 0 : pl)); }

/* ------------------------------------------------------------------ HWE */

/* log-likelihood of genotype frequencies g over n rows, row j standing for cnt[j] samples (cnt NULL: 1 each) */
static double geno_loglik(const double *lik, const int32_t *cnt, int n, const double *g)
{
    double ll = 0;
    for (int j = 0; j < n; j++) {
        const double *l = lik + 3 * j;
        double w = g[0] * l[0] + g[1] * l[1] + g[2] * l[2];
        if (w > 0)
            ll += (cnt ? cnt[j] : 1) * log(w);
    }
    return ll;
}

/*
 * The score test of HWE (F = 0) with its null distribution computed, not
 * assumed. Genotype frequencies (q^2 + Fpq, 2pq(1 - F), p^2 + Fpq); per
 * sample the score of F at F = 0, u_F = pq (l0 - 2 l1 + l2) / w, made
 * orthogonal to the allele frequency (estimated): v = u_F - b u_p, b =
 * I_Fp / I_pp from the expected information. The observed U = sum v is
 * referred to its exact distribution under HWE given each sample's read
 * count d, which is ancillary: with error-free reads a sample shows only the
 * REF (probabilities 1, 2^-d, 0 for 0, 1, 2 ALT copies), only the ALT
 * (0, 2^-d, 1) or both (0, 1 - 2^(1-d), 0), so v takes three values whose
 * probabilities are known at the estimated p. The tail of the sum of these
 * independent three-point variables comes from its cumulant generating
 * function by the Lugannani-Rice saddlepoint formula. Why not the LRT or a
 * normal score test: at 0.1-1x most samples have one read, which says nothing
 * about F (v = 0), so F rests on the few samples with two or more reads; the
 * chi-square limit of the LRT then does not hold (the unconstrained fit sits
 * on a boundary and the LRT is conservative: 0.16% of sites below 0.01 at
 * 0.1x), and a normal score test with the observed information is
 * anti-conservative (a skewed sum: rare "both alleles" samples). The
 * saddlepoint tail is accurate for sums of few skewed terms.
 */
#define HWE_MAX_DEPTH 64

/* the three outcomes' probabilities and (u_F, u_p) at allele frequency p, h = 2^-d */
static void hwe_outcomes(double p, double h, double P[3], double uf[3], double up[3])
{
    const double q = 1 - p;
    const double lv[3][3] = {{1, h, 0}, {0, h, 1}, {0, 1, 0}};
    P[0] = q * q + 2 * p * q * h;
    P[1] = p * p + 2 * p * q * h;
    P[2] = 2 * p * q * (1 - 2 * h);
    for (int o = 0; o < 3; o++) {
        const double *l = lv[o];
        double w = q * q * l[0] + 2 * p * q * l[1] + p * p * l[2];
        uf[o] = p * q * (l[0] - 2 * l[1] + l[2]) / w;
        up[o] = (-2 * q * l[0] + 2 * (q - p) * l[1] + 2 * p * l[2]) / w;
    }
}

/* K(t), K'(t), K''(t) of sum over depth groups (cnt[d] samples) of the three-point variables val[d][o] */
static void hwe_cgf(const int *cnt, const double (*P)[3], const double (*val)[3], double t, double *k)
{
    k[0] = k[1] = k[2] = 0;
    for (int d = 1; d <= HWE_MAX_DEPTH; d++) {
        if (!cnt[d])
            continue;
        double mx = -INFINITY, s0 = 0, s1 = 0, s2 = 0;
        for (int o = 0; o < 3; o++)
            if (P[d][o] > 0 && t * val[d][o] > mx)
                mx = t * val[d][o];
        for (int o = 0; o < 3; o++) {
            if (!(P[d][o] > 0))
                continue;
            double e = P[d][o] * exp(t * val[d][o] - mx);
            s0 += e;
            s1 += e * val[d][o];
            s2 += e * val[d][o] * val[d][o];
        }
        k[0] += cnt[d] * (mx + log(s0));
        k[1] += cnt[d] * s1 / s0;
        k[2] += cnt[d] * (s2 / s0 - (s1 / s0) * (s1 / s0));
    }
}

static double norm_upper(double z) { return 0.5 * erfc(z / sqrt(2.0)); }

/* P(sum >= x) by Lugannani-Rice (x above the mean 0); exact at the upper end of the support */
static double hwe_upper_tail(const int *cnt, const double (*P)[3], const double (*val)[3], double x)
{
    double top = 0, ptop = 1;
    for (int d = 1; d <= HWE_MAX_DEPTH; d++) {
        if (!cnt[d])
            continue;
        double m = -INFINITY, pm = 0;
        for (int o = 0; o < 3; o++)
            if (P[d][o] > 0 && val[d][o] > m)
                m = val[d][o];
        for (int o = 0; o < 3; o++)
            if (P[d][o] > 0 && val[d][o] >= m - 1e-12 * (1 + fabs(m)))
                pm += P[d][o];
        top += cnt[d] * m;
        ptop *= pow(pm, cnt[d]);
    }
    if (x >= top - 1e-9 * (1 + fabs(top)))
        return ptop;
    double k[3], t = 0;
    hwe_cgf(cnt, P, val, 0, k);
    const double var = k[2];
    if (!(var > 0))
        return 1.0;
    for (int it = 0; it < 200; it++) { /* Newton on K'(t) = x, K' increasing; steps bounded */
        hwe_cgf(cnt, P, val, t, k);
        if (!(k[2] > 0))
            break;
        double step = (x - k[1]) / k[2];
        step = step > 4 ? 4 : step < -4 ? -4 : step;
        t += step;
        if (fabs(x - k[1]) < 1e-10 * (1 + fabs(x)))
            break;
    }
    hwe_cgf(cnt, P, val, t, k);
    double r = 2 * (t * x - k[0]);
    if (t < 1e-6 || !(k[2] > 0) || !(r > 0))
        return norm_upper(x / sqrt(var));
    double w = sqrt(r), v = t * sqrt(k[2]);
    if (w < 1e-4)
        return norm_upper(x / sqrt(var));
    double tail = norm_upper(w) + exp(-0.5 * w * w) / sqrt(2 * M_PI) * (1 / v - 1 / w);
    return tail < 0 ? 0 : tail > 1 ? 1 : tail;
}

int tsr_lp_hwe_test_rows(const double *lik, const int32_t *depth, const int32_t *count, int n_rows, double p_start,
                         tsr_lp_hwe_t *out)
{
    int m = 0; /* samples: the rows' multiplicities summed */
    for (int j = 0; j < n_rows; j++)
        m += count ? count[j] : 1;
    *out = (tsr_lp_hwe_t){{NAN, NAN, NAN}, NAN, 0.0, 1.0, 1.0, NAN, m};
    if (m <= 0)
        return 0;
#define ROW_N(j) (count ? count[j] : 1)
    /* EM to a parameter change below 1e-8; the log-likelihoods once at the end (logs dominate otherwise) */
    double p = p_start > 0 && p_start < 1 ? p_start : 0.5;
    for (int it = 0; it < 500; it++) { /* allele frequency under HWE */
        double q = 1 - p, pr[3] = {q * q, 2 * p * q, p * p}, s = 0;
        for (int j = 0; j < n_rows; j++) {
            const double *l = lik + 3 * j;
            double w = pr[0] * l[0] + pr[1] * l[1] + pr[2] * l[2];
            if (w > 0)
                s += ROW_N(j) * ((pr[1] * l[1] + 2 * pr[2] * l[2]) / w);
        }
        double np = s / (2.0 * m), d = fabs(np - p);
        p = np;
        if (d < 1e-8)
            break;
    }
    const double h0[3] = {(1 - p) * (1 - p), 2 * p * (1 - p), p * p};
    const double ll0 = geno_loglik(lik, count, n_rows, h0);
    /* genotype frequencies without constraint, from the HWE point nudged off the boundary */
    double g[3];
    for (int k = 0; k < 3; k++)
        g[k] = 0.98 * h0[k] + 0.02 / 3;
    for (int it = 0; it < 500; it++) {
        double s[3] = {0, 0, 0}, d = 0;
        for (int j = 0; j < n_rows; j++) {
            const double *l = lik + 3 * j;
            double w = g[0] * l[0] + g[1] * l[1] + g[2] * l[2];
            if (!(w > 0))
                continue;
            for (int k = 0; k < 3; k++)
                s[k] += ROW_N(j) * (g[k] * l[k] / w);
        }
        for (int k = 0; k < 3; k++) {
            d = fmax(d, fabs(s[k] / m - g[k]));
            g[k] = s[k] / m;
        }
        if (d < 1e-8)
            break;
    }
    double ll1 = geno_loglik(lik, count, n_rows, g);
    if (ll1 < ll0) /* the EM from off the HWE point may stop short of it: HWE is in the unconstrained model */
        ll1 = ll0;
    double lrt = 2.0 * (ll1 - ll0);
    if (!(lrt > 0))
        lrt = 0;
    double pm = g[1] / 2 + g[2];
    out->g[0] = g[0];
    out->g[1] = g[1];
    out->g[2] = g[2];
    out->p = pm;
    out->lrt = lrt;
    double het_exp = 2 * pm * (1 - pm);
    if (het_exp < 1e-9 || !(p > 1e-9 && p < 1 - 1e-9)) {
        out->p_hwe = out->p_exchet = 1.0;
        out->F = het_exp < 1e-9 ? NAN : 1.0 - g[1] / het_exp;
        return 0;
    }
    out->F = 1.0 - g[1] / het_exp;
    /* score test: samples grouped by read count and outcome (REF only, ALT only, both) */
    int cnt[HWE_MAX_DEPTH + 1] = {0}, seen[HWE_MAX_DEPTH + 1][3] = {{0}};
    for (int j = 0; j < n_rows; j++) {
        const double *l = lik + 3 * j, hm = fmax(l[0], l[2]);
        if (!(hm > 0 || l[1] > 0))
            continue;
        /* flat likelihoods (reads of neither allele, e.g. of another ALT or a deletion): no outcome, not "both" */
        if (fmax(hm, l[1]) - fmin(fmin(l[0], l[2]), l[1]) <= 1e-9 * fmax(hm, l[1]))
            continue;
        int d = depth ? depth[j] : 0;
        if (d <= 0) /* from the likelihoods: REF or ALT only, l1 / l_hom = 2^-d; both alleles seen: 2 reads */
            d = l[1] < hm ? (int)lround(-log2(fmax(l[1] / hm, 1e-300))) : 2;
        const int o = l[1] >= hm ? 2 : l[0] >= l[2] ? 0 : 1;
        d = d < (o == 2 ? 2 : 1) ? (o == 2 ? 2 : 1) : d > HWE_MAX_DEPTH ? HWE_MAX_DEPTH : d; /* both alleles: 2+ reads */
        cnt[d] += ROW_N(j);
        seen[d][o] += ROW_N(j);
    }
    /*
     * Every sample's reads show one allele only: the population is monomorphic in its reads, the fit's p sits
     * at the boundary (to the EM's tolerance) and U at the one outcome the null gives probability ~1; the
     * test has nothing to measure, so its p-values are those of a monomorphic site (1), as above.
     */
    int with_ref = 0, with_alt = 0;
    for (int d = 1; d <= HWE_MAX_DEPTH; d++) {
        with_ref += seen[d][0] + seen[d][2];
        with_alt += seen[d][1] + seen[d][2];
    }
    if (!with_ref || !with_alt) {
        out->p_hwe = out->p_exchet = 1.0;
        return 0;
    }
    double P[HWE_MAX_DEPTH + 1][3], uf[HWE_MAX_DEPTH + 1][3], up[HWE_MAX_DEPTH + 1][3];
    double iff = 0, ifp = 0, ipp = 0;
    for (int d = 1; d <= HWE_MAX_DEPTH; d++) {
        if (!cnt[d])
            continue;
        hwe_outcomes(p, ldexp(1.0, -d), P[d], uf[d], up[d]);
        for (int o = 0; o < 3; o++) {
            iff += cnt[d] * P[d][o] * uf[d][o] * uf[d][o];
            ifp += cnt[d] * P[d][o] * uf[d][o] * up[d][o];
            ipp += cnt[d] * P[d][o] * up[d][o] * up[d][o];
        }
    }
    const double b = ipp > 0 ? ifp / ipp : 0;
    if (!(iff - b * ifp > 1e-12)) { /* no information on F (every sample with one read) */
        out->p_hwe = out->p_exchet = 1.0;
        return 0;
    }
    /* U = sum of u_F - b u_p at each sample's outcome (error-free values, so U lies in the support) */
    double val[HWE_MAX_DEPTH + 1][3], neg[HWE_MAX_DEPTH + 1][3], U = 0;
    for (int d = 1; d <= HWE_MAX_DEPTH; d++)
        for (int o = 0; cnt[d] && o < 3; o++) {
            val[d][o] = uf[d][o] - b * up[d][o];
            neg[d][o] = -val[d][o];
            U += seen[d][o] * val[d][o];
        }
    /* one-sided tails: U large = heterozygote deficit, U small = excess */
    double up_tail = U > 0 ? hwe_upper_tail(cnt, (const double(*)[3])P, (const double(*)[3])val, U) : 1.0;
    double lo_tail = U < 0 ? hwe_upper_tail(cnt, (const double(*)[3])P, (const double(*)[3])neg, -U) : 1.0;
    if (U > 0)
        lo_tail = 1.0 - up_tail;
    else if (U < 0)
        up_tail = 1.0 - lo_tail;
    else
        up_tail = lo_tail = 0.5;
    double two = 2 * fmin(up_tail, lo_tail);
    out->p_hwe = two > 1 ? 1 : two;
    out->p_exchet = lo_tail;
    return 0;
#undef ROW_N
}

/* a likelihood row's bits and read count, mixed (splitmix64's finaliser per word) */
static uint64_t hwe_row_hash(const double *l, int32_t d)
{
    uint64_t h = (uint32_t)d;
    for (int k = 0; k < 3; k++) {
        uint64_t b;
        memcpy(&b, &l[k], sizeof b);
        h = (h ^ b) + 0x9e3779b97f4a7c15ULL;
        h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
        h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
        h ^= h >> 31;
    }
    return h;
}

int tsr_lp_hwe_test(const double *lik, const int32_t *depth, int m, double p_start, tsr_lp_hwe_t *out)
{
    if (m <= 0)
        return tsr_lp_hwe_test_rows(lik, depth, NULL, 0, p_start, out);
    /* identical rows (bitwise, with the same read count) collapsed in first-appearance order */
    size_t cap = 16;
    while (cap < 2 * (size_t)m)
        cap *= 2;
    int32_t *tab = malloc(cap * sizeof *tab), *first = malloc((size_t)m * sizeof *first),
            *cnt = malloc((size_t)m * sizeof *cnt), *dr = malloc((size_t)m * sizeof *dr);
    double *lr = malloc(3 * (size_t)m * sizeof *lr);
    int rc = -1, n = 0;
    if (tab && first && cnt && dr && lr) {
        memset(tab, 0xff, cap * sizeof *tab);
        for (int j = 0; j < m; j++) {
            const double *l = lik + 3 * j;
            const int32_t d = depth ? depth[j] : 0;
            size_t b = (size_t)hwe_row_hash(l, d) & (cap - 1);
            for (; tab[b] >= 0; b = (b + 1) & (cap - 1)) {
                const int f = first[tab[b]];
                if ((depth ? depth[f] : 0) == d && memcmp(lik + 3 * f, l, 3 * sizeof *l) == 0)
                    break;
            }
            if (tab[b] < 0) {
                tab[b] = n;
                first[n] = j;
                cnt[n] = 0;
                memcpy(lr + 3 * n, l, 3 * sizeof *l);
                dr[n] = d;
                n++;
            }
            cnt[tab[b]]++;
        }
        rc = tsr_lp_hwe_test_rows(lr, dr, cnt, n, p_start, out);
    } else
        *out = (tsr_lp_hwe_t){{NAN, NAN, NAN}, NAN, 0.0, 1.0, 1.0, NAN, m};
    free(tab);
    free(first);
    free(cnt);
    free(dr);
    free(lr);
    return rc;
}

/* ------------------------------------------------------------------ SAF */

void tsr_lp_saf_destroy(tsr_lp_saf_t *s)
{
    if (!s)
        return;
    free(s->v);
    free(s->tmp);
    free(s->lf);
    memset(s, 0, sizeof *s);
}

static int saf_reserve(tsr_lp_saf_t *s, int n_chrom)
{
    if (n_chrom + 1 <= s->cap)
        return 0;
    double *v = realloc(s->v, ((size_t)n_chrom + 3) * sizeof *v), *t;
    if (!v)
        return -1;
    s->v = v;
    if (!(t = realloc(s->tmp, ((size_t)n_chrom + 3) * sizeof *t)))
        return -1;
    s->tmp = t;
    if (!(t = realloc(s->lf, ((size_t)n_chrom + 3) * sizeof *t)))
        return -1;
    s->lf = t;
    s->lf[0] = 0;
    for (int k = 1; k <= n_chrom + 2; k++)
        s->lf[k] = s->lf[k - 1] + log((double)k);
    s->cap = n_chrom + 1;
    return 0;
}

/* log C(a, b) from the log-factorial table */
static double lchoose(const double *lf, int a, int b) { return lf[a] - lf[b] - lf[a - b]; }

int tsr_lp_saf_compute(tsr_lp_saf_t *s, const double *lik, int m, int n_ind)
{
    if (m > n_ind || saf_reserve(s, 2 * n_ind) != 0)
        return -1;
    double *L = s->v, *T = s->tmp;
    int lo = 0, hi = 0; /* band [lo, hi] */
    L[0] = 1.0;
    for (int j = 1; j <= m; j++) {
        const double *l = lik + 3 * (size_t)(j - 1);
        const double N = 2.0 * j, d = N * (N - 1);
        int nlo = lo, nhi = hi + 2;
        double mx = 0;
        for (int k = nlo; k <= nhi; k++) {
            double v = 0;
            if (k <= hi)
                v += (N - k) * (N - k - 1) / d * l[0] * L[k];
            if (k - 1 >= lo && k - 1 <= hi)
                v += 2.0 * k * (N - k) / d * l[1] * L[k - 1];
            if (k - 2 >= lo)
                v += k * (k - 1.0) / d * l[2] * L[k - 2];
            T[k] = v;
            if (v > mx)
                mx = v;
        }
        if (!(mx > 0))
            return -1;
        while (T[nlo] < SAF_EPS * mx)
            nlo++;
        while (T[nhi] < SAF_EPS * mx)
            nhi--;
        for (int k = nlo; k <= nhi; k++)
            L[k] = T[k] / mx;
        lo = nlo;
        hi = nhi;
    }
    if (m == n_ind || m == 0) {
        if (m == 0) { /* no reads: flat */
            s->lo = 0;
            s->len = 0;
            return 0;
        }
        s->lo = lo;
        s->len = hi - lo + 1;
        memmove(s->v, L + lo, (size_t)s->len * sizeof *L);
        return 0;
    }
    /* Project to 2n chromosomes: P(k' of the 2m | k of the 2n) is hypergeometric. */
    const int M2 = 2 * m, N2 = 2 * n_ind;
    const double *lf = s->lf, lnorm = lchoose(lf, N2, M2);
    int mode = lo;
    for (int k = lo; k <= hi; k++)
        if (L[k] > L[mode])
            mode = k;
    for (int k = lo; k <= hi; k++)
        T[k] = L[k];
    double *P = L; /* the projection overwrites L after T holds a copy */
    int kc = (int)llround((mode + 0.5) * (double)N2 / (double)M2);
    kc = kc < 0 ? 0 : kc > N2 ? N2 : kc;
    /* hypergeometric P(q | k): one exp per k, then the ratio of neighbouring terms */
#define PROJ(k, out)                                                                                   \
    do {                                                                                               \
        int a_ = lo > M2 - (N2 - (k)) ? lo : M2 - (N2 - (k)), b_ = hi < (k) ? hi : (k);               \
        double v_ = 0;                                                                                 \
        if (a_ <= b_) {                                                                                \
            double h_ = exp(lchoose(lf, (k), a_) + lchoose(lf, N2 - (k), M2 - a_) - lnorm);            \
            for (int q_ = a_; q_ <= b_; q_++) {                                                        \
                v_ += T[q_] * h_;                                                                      \
                h_ *= (double)((k) - q_) * (double)(M2 - q_) /                                         \
                      ((double)(q_ + 1) * (double)(N2 - (k) - M2 + q_ + 1));                           \
            }                                                                                          \
        }                                                                                              \
        (out) = v_;                                                                                    \
    } while (0)
    double *U = malloc(((size_t)N2 + 1) * sizeof *U);
    if (!U)
        return -1;
    double mx = 0;
    int plo = kc, phi = kc;
    PROJ(kc, U[kc]);
    mx = U[kc];
    for (int k = kc + 1; k <= N2; k++) {
        PROJ(k, U[k]);
        if (U[k] > mx)
            mx = U[k];
        phi = k;
        if (U[k] < SAF_EPS * mx && U[k] < U[k - 1])
            break;
    }
    for (int k = kc - 1; k >= 0; k--) {
        PROJ(k, U[k]);
        if (U[k] > mx)
            mx = U[k];
        plo = k;
        if (U[k] < SAF_EPS * mx && U[k] < U[k + 1])
            break;
    }
#undef PROJ
    if (!(mx > 0)) {
        free(U);
        return -1;
    }
    while (U[plo] < SAF_EPS * mx)
        plo++;
    while (U[phi] < SAF_EPS * mx)
        phi--;
    s->lo = plo;
    s->len = phi - plo + 1;
    for (int k = 0; k < s->len; k++)
        P[k] = U[plo + k] / mx;
    free(U);
    return 0;
}

/* ------------------------------------------------------------------ SFS EM */

int tsr_lp_sfs_em(int n_sites, const int *lo, const int *len, const float *const *v, int n_chrom, int max_iter,
                  double tol, double *sfs)
{
    const int K = n_chrom + 1;
    double *nx = malloc((size_t)K * sizeof *nx);
    if (!nx)
        return -1;
    for (int k = 0; k < K; k++)
        sfs[k] = 1.0 / K;
    int it;
    for (it = 0; it < max_iter; it++) {
        memset(nx, 0, (size_t)K * sizeof *nx);
        int used = 0;
        for (int s = 0; s < n_sites; s++) {
            if (len[s] == 0) { /* no reads: the posterior is the prior */
                for (int k = 0; k < K; k++)
                    nx[k] += sfs[k];
                used++;
                continue;
            }
            double w = 0;
            for (int k = 0; k < len[s]; k++)
                w += sfs[lo[s] + k] * v[s][k];
            if (!(w > 0))
                continue;
            for (int k = 0; k < len[s]; k++)
                nx[lo[s] + k] += sfs[lo[s] + k] * v[s][k] / w;
            used++;
        }
        if (used == 0)
            break;
        double d = 0;
        for (int k = 0; k < K; k++) {
            double x = nx[k] / used;
            d += fabs(x - sfs[k]);
            sfs[k] = x;
        }
        if (d < tol)
            break;
    }
    free(nx);
    return it;
}

/* ------------------------------------------------------------ accumulator */

typedef struct {
    uint64_t hash;
    int lo, len;
    int confident; /* not LowQual: in the published 1D SFS */
    float fo;      /* the other populations' EM ALT frequency (NaN: none), the site's prior in the 1D SFS */
    float *v;
} lp_site_t;

typedef struct {
    int n_ind;         /* samples of the population */
    int64_t sites;     /* biallelic SNVs seen */
    int64_t confident; /* of them not LowQual */
    int n, cap;        /* sampled sites */
    lp_site_t *s;
} lp_pop_t;

/*
 * Per-sample heterozygosity by EM over the sample's sites (a single-sample
 * SFS). The EM needs each site's likelihoods, so each biallelic SNV where the
 * sample has reads is counted in a cell of a fixed grid of its PLs: each PL,
 * less the smallest, rounded to a multiple of HET_PL_STEP and capped at
 * HET_PL_CAP, so one PL of the three is 0: 3 x 11^2 - 3 x 11 + 1 = 331
 * cells. The counts are sufficient statistics of the grid's EM (they merge by
 * addition; 1.3 KiB per sample) and the grid keeps likelihood ratios to 10^3.
 */
#define HET_PL_STEP 3
#define HET_PL_CAP 30
#define HET_Q (HET_PL_CAP / HET_PL_STEP + 1) /* 11 levels */
#define HET_CELLS (3 * HET_Q * HET_Q - 3 * HET_Q + 1)

/* Cell of a PL triple (any of them may be the smallest); -1 if missing. */
static int het_cell(const int32_t *pl)
{
    if (pl[0] < 0)
        return -1;
    int32_t mn = pl[0] < pl[1] ? pl[0] : pl[1];
    mn = pl[2] < mn ? pl[2] : mn;
    int q[3];
    for (int g = 0; g < 3; g++) {
        int v = (int)((pl[g] - mn + HET_PL_STEP / 2) / HET_PL_STEP);
        q[g] = v > HET_Q - 1 ? HET_Q - 1 : v;
    }
    /* the levels (q0, q1, q2) with a zero, numbered: q0 = 0 first (HET_Q^2), then q0 > 0, q1 = 0, then q0, q1 > 0, q2 = 0 */
    if (q[0] == 0)
        return q[1] * HET_Q + q[2];
    if (q[1] == 0)
        return HET_Q * HET_Q + (q[0] - 1) * HET_Q + q[2];
    return HET_Q * HET_Q + (HET_Q - 1) * HET_Q + (q[0] - 1) * (HET_Q - 1) + (q[1] - 1);
}

/* The likelihoods (0, 1, 2 ALT copies) of a cell's centre. */
static void het_cell_lik(int c, double *l)
{
    int q[3];
    if (c < HET_Q * HET_Q) {
        q[0] = 0;
        q[1] = c / HET_Q;
        q[2] = c % HET_Q;
    } else if ((c -= HET_Q * HET_Q) < (HET_Q - 1) * HET_Q) {
        q[0] = 1 + c / HET_Q;
        q[1] = 0;
        q[2] = c % HET_Q;
    } else {
        c -= (HET_Q - 1) * HET_Q;
        q[0] = 1 + c / (HET_Q - 1);
        q[1] = 1 + c % (HET_Q - 1);
        q[2] = 0;
    }
    for (int g = 0; g < 3; g++)
        l[g] = tsr_lp_pl_to_lik(q[g] * HET_PL_STEP);
}

/*
 * The ML genotype frequencies of one sample's cell counts by EM (over its
 * non-empty cells only; `lik` holds every cell's likelihoods); returns the
 * heterozygous one (NaN without sites).
 */
static double het_em(const int32_t *cnt, const double (*lik)[3])
{
    int used[HET_CELLS], nu = 0;
    double g[3] = {1.0 / 3, 1.0 / 3, 1.0 / 3}, n = 0;
    for (int c = 0; c < HET_CELLS; c++)
        if (cnt[c] > 0) {
            used[nu++] = c;
            n += cnt[c];
        }
    if (n <= 0)
        return NAN;
    for (int it = 0; it < 1000; it++) {
        double s[3] = {0, 0, 0}, d = 0;
        for (int u = 0; u < nu; u++) {
            const double *l = lik[used[u]];
            double w = g[0] * l[0] + g[1] * l[1] + g[2] * l[2];
            for (int k = 0; k < 3; k++)
                s[k] += cnt[used[u]] * g[k] * l[k] / w;
        }
        for (int k = 0; k < 3; k++) {
            d = fmax(d, fabs(s[k] / n - g[k]));
            g[k] = s[k] / n;
        }
        if (d < 1e-9)
            break;
    }
    return g[1];
}

#define LP_QH 100 /* one-read PL histograms: 0 .. 99 */

struct tsr_lp_acc {
    int n_samples, n_pops, max_sites;
    int *sample_pop;
    lp_pop_t *pop;
    int64_t *fst;    /* per pair: sites, num, den (fixed point) */
    int64_t *het;    /* per sample: sites with reads, sum of GP(het) x TSR_COHORT_FST_SCALE */
    int32_t *cell;   /* per sample: biallelic SNVs with reads by likelihood cell (HET_CELLS) */
    double *lik;     /* scratch: 3 per sample */
    tsr_lp_saf_t saf;
    /* the discovery power model's inputs (lp_power): sums over the biallelic SNV records */
    int64_t *dp_sum;            /* per sample: read depth summed */
    int64_t dp_sites;           /* records summed */
    int64_t qh_ref[LP_QH];      /* one-read samples: the PL of the other homozygote, REF read (every record) */
    int64_t qh_alt[LP_QH];      /* ... ALT read (records without LowQual) */
    int min_alt_obs;            /* the fewest ALT observations of a record (the evidence's --min-alt-obs) */
    double min_pass_qual;       /* the lowest QUAL without LowQual (the LowQual bar) */
    tsr_lp_power_fn power;      /* the model (NULL: none; tsr_lp_acc_set_power) */
};

void tsr_lp_acc_destroy(tsr_lp_acc_t **ap)
{
    if (!ap || !*ap)
        return;
    tsr_lp_acc_t *a = *ap;
    for (int p = 0; a->pop && p < a->n_pops; p++) {
        for (int k = 0; k < a->pop[p].n; k++)
            free(a->pop[p].s[k].v);
        free(a->pop[p].s);
    }
    free(a->pop);
    free(a->sample_pop);
    free(a->fst);
    free(a->het);
    free(a->cell);
    free(a->lik);
    free(a->dp_sum);
    tsr_lp_saf_destroy(&a->saf);
    free(a);
    *ap = NULL;
}

tsr_status_t tsr_lp_acc_create(int n_samples, const int *sample_pop, int n_pops, int max_sites, tsr_lp_acc_t **out)
{
    *out = NULL;
    tsr_lp_acc_t *a = calloc(1, sizeof *a);
    if (!a)
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the likelihood statistics");
    a->n_samples = n_samples;
    a->n_pops = n_pops;
    a->max_sites = max_sites > 0 ? max_sites : TSR_LP_SFS_SITES;
    int np = n_pops * (n_pops - 1) / 2;
    int ok = (a->sample_pop = calloc((size_t)n_samples + 1, sizeof *a->sample_pop)) &&
             (a->pop = calloc((size_t)n_pops + 1, sizeof *a->pop)) &&
             (a->fst = calloc(3 * (size_t)np + 1, sizeof *a->fst)) &&
             (a->het = calloc(2 * (size_t)n_samples + 1, sizeof *a->het)) &&
             (a->cell = calloc((size_t)HET_CELLS * ((size_t)n_samples + 1), sizeof *a->cell)) &&
             (a->lik = malloc(3 * ((size_t)n_samples + 1) * sizeof *a->lik)) &&
             (a->dp_sum = calloc((size_t)n_samples + 1, sizeof *a->dp_sum));
    a->min_alt_obs = INT_MAX;
    a->min_pass_qual = HUGE_VAL;
    for (int j = 0; ok && j < n_samples; j++) {
        int p = sample_pop ? sample_pop[j] : -1;
        a->sample_pop[j] = p >= 0 && p < n_pops ? p : -1;
        if (a->sample_pop[j] >= 0)
            a->pop[p].n_ind++;
    }
    if (!ok) {
        tsr_lp_acc_destroy(&a);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory creating the likelihood statistics");
    }
    *out = a;
    return TSR_OK;
}

/* splitmix64 finaliser */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

uint64_t tsr_lp_site_hash(const char *contig, int64_t pos, const char *alleles)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (const char *c = contig; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    h = mix64(h ^ (uint64_t)pos);
    for (const char *c = alleles; *c; c++)
        h = (h ^ (unsigned char)*c) * 1099511628211ULL;
    return mix64(h);
}

/* Keep (hash, band) if it is among the max_sites smallest hashes; takes ownership of v. */
static int pop_offer(lp_pop_t *P, int max_sites, uint64_t hash, int lo, int len, int confident, float fo, float *v)
{
    if (P->n < max_sites) {
        if (P->n == P->cap) {
            int c = P->cap ? 2 * P->cap : 64;
            lp_site_t *s = realloc(P->s, (size_t)c * sizeof *s);
            if (!s) {
                free(v);
                return -1;
            }
            P->s = s;
            P->cap = c;
        }
        P->s[P->n++] = (lp_site_t){hash, lo, len, confident, fo, v};
        return 0;
    }
    int worst = 0;
    for (int k = 1; k < P->n; k++)
        if (P->s[k].hash > P->s[worst].hash)
            worst = k;
    if (hash >= P->s[worst].hash) {
        free(v);
        return 0;
    }
    free(P->s[worst].v);
    P->s[worst] = (lp_site_t){hash, lo, len, confident, fo, v};
    return 0;
}

/* Copy the SAF band of `s` into a new float array (NULL when empty or out of memory: *oom set). */
static float *band_copy(const tsr_lp_saf_t *s, int *oom)
{
    *oom = 0;
    if (s->len == 0)
        return NULL;
    float *v = malloc((size_t)s->len * sizeof *v);
    if (!v) {
        *oom = 1;
        return NULL;
    }
    for (int k = 0; k < s->len; k++)
        v[k] = (float)s->v[k];
    return v;
}

/* Biallelic likelihoods (0, 1, 2 ALT copies) of every sample with reads, from PL; returns the sample count. */
static int lik_from_pl(const int32_t *pl, const int *sample_pop, int n_samples, int pop, double *lik, int *idx)
{
    int m = 0;
    for (int j = 0; j < n_samples; j++) {
        const int32_t *q = pl + 3 * (size_t)j;
        if (q[0] < 0 || (pop >= 0 && sample_pop[j] != pop))
            continue;
        for (int g = 0; g < 3; g++)
            lik[3 * m + g] = tsr_lp_pl_to_lik(q[g]);
        if (idx)
            idx[m] = j;
        m++;
    }
    return m;
}

/* Observed Fisher information of the HWE likelihood at p over m samples' likelihoods. */
static double hwe_information(const double *lik, int m, double p)
{
    double info = 0, q = 1 - p;
    for (int j = 0; j < m; j++) {
        const double *l = lik + 3 * j;
        double L = q * q * l[0] + 2 * p * q * l[1] + p * p * l[2];
        double d1 = -2 * q * l[0] + 2 * (1 - 2 * p) * l[1] + 2 * p * l[2];
        double d2 = 2 * l[0] - 4 * l[1] + 2 * l[2];
        if (L > 0)
            info += (d1 / L) * (d1 / L) - d2 / L;
    }
    return info;
}

/*
 * The ALT frequency of biallelic site i in the populations other than p: their
 * EM frequencies weighted by their samples; NaN where none has one. At least
 * half an ALT copy among their chromosomes, at most all but half: an EM
 * frequency of 0 says "under one copy", and a prior at exactly 0 would
 * overrule any reads of population p.
 */
static float other_af(const tsr_lp_acc_t *a, const tsr_callset_t *cs, int64_t i, int p)
{
    if (!cs->pop_af || cs->n_pops != a->n_pops)
        return NAN;
    double sum = 0, w = 0;
    for (int q = 0; q < a->n_pops; q++) {
        double f = cs->pop_af[cs->af_off[i] * cs->n_pops + (int64_t)q * 2 + 1];
        if (q == p || a->pop[q].n_ind == 0 || isnan(f))
            continue;
        sum += a->pop[q].n_ind * f;
        w += a->pop[q].n_ind;
    }
    if (!(w > 0))
        return NAN;
    double f = sum / w, eps = 0.25 / w; /* half a copy of the 2w chromosomes */
    return (float)(f < eps ? eps : f > 1 - eps ? 1 - eps : f);
}

tsr_status_t tsr_lp_acc_add_site(tsr_lp_acc_t *a, const tsr_callset_t *cs, int64_t i, const char *alleles,
                                 int bisnv)
{
    const int S = a->n_samples, n = cs->n_alleles[i], G = n * (n + 1) / 2;
    const int32_t *pl = cs->pl + cs->pl_off[i];
    const float *gp = cs->gp ? cs->gp + cs->pl_off[i] : NULL;
    /* per-sample expected heterozygosity: GP of the genotypes with two different alleles */
    for (int j = 0; j < S; j++) {
        if (pl[(size_t)j * G] < 0 || !gp)
            continue;
        double h = 1.0;
        for (int b = 0; b < n; b++)
            h -= gp[(size_t)j * G + (size_t)b * (b + 3) / 2];
        a->het[2 * j]++;
        a->het[2 * j + 1] += llround((h < 0 ? 0 : h) * TSR_COHORT_FST_SCALE);
    }
    if (!bisnv || n != 2)
        return TSR_OK;
    for (int j = 0; j < S; j++) {
        int c = het_cell(pl + 3 * (size_t)j);
        if (c >= 0)
            a->cell[(size_t)j * HET_CELLS + c]++;
    }
    uint64_t hash = tsr_lp_site_hash(cs->contig, cs->pos[i], alleles);
    const int confident = !(cs->filter && (cs->filter[i] & TSR_FILTER_LOWQUAL));
    int32_t alt_obs = 0;
    for (int j = 0; cs->ad && j < S; j++)
        alt_obs += cs->ad[cs->ad_off[i] + 2 * (int64_t)j + 1];
    if (cs->dp) {
        a->dp_sites++;
        for (int j = 0; j < S; j++) {
            int32_t d = cs->dp[i * S + j];
            const int32_t *q = pl + 3 * (size_t)j;
            a->dp_sum[j] += d > 0 ? d : 0;
            if (d == 1 && q[0] == 0 && q[2] > 0)
                a->qh_ref[q[2] < LP_QH ? q[2] : LP_QH - 1]++;
            else if (d == 1 && q[2] == 0 && q[0] > 0 && confident)
                a->qh_alt[q[0] < LP_QH ? q[0] : LP_QH - 1]++;
        }
    }
    if (cs->ad && alt_obs < a->min_alt_obs)
        a->min_alt_obs = alt_obs;
    if (confident && cs->qual && cs->qual[i] < a->min_pass_qual)
        a->min_pass_qual = cs->qual[i];
    for (int p = 0; p < a->n_pops; p++) {
        lp_pop_t *P = &a->pop[p];
        if (P->n_ind == 0)
            continue;
        P->sites++;
        P->confident += confident;
        int m = lik_from_pl(pl, a->sample_pop, S, p, a->lik, NULL);
        if (tsr_lp_saf_compute(&a->saf, a->lik, m, P->n_ind) != 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the SAF of %s:%lld", cs->contig,
                                 (long long)cs->pos[i] + 1);
        int oom;
        float *v = band_copy(&a->saf, &oom);
        if (oom || pop_offer(P, a->max_sites, hash, a->saf.lo, a->saf.len, confident, other_af(a, cs, i, p), v) != 0)
            return tsr_error_set(TSR_ERR_NOMEM, "out of memory keeping the SAF of %s:%lld", cs->contig,
                                 (long long)cs->pos[i] + 1);
    }
    /* Hudson F_ST with EM frequencies and their variance from the Fisher information */
    int64_t *f = a->fst;
    for (int x = 0; x < a->n_pops; x++)
        for (int y = x + 1; y < a->n_pops; y++, f += 3) {
            if (!cs->pop_af)
                continue;
            double px = cs->pop_af[cs->af_off[i] * cs->n_pops + (int64_t)x * n + 1];
            double py = cs->pop_af[cs->af_off[i] * cs->n_pops + (int64_t)y * n + 1];
            if (isnan(px) || isnan(py))
                continue;
            double pc = cs->af[cs->af_off[i] + 1];
            if (!(pc > 0 && pc < 1))
                continue;
            int mx = lik_from_pl(pl, a->sample_pop, S, x, a->lik, NULL);
            double nx = hwe_information(a->lik, mx, pc) * pc * (1 - pc);
            int my = lik_from_pl(pl, a->sample_pop, S, y, a->lik, NULL);
            double ny = hwe_information(a->lik, my, pc) * pc * (1 - pc);
            if (!(nx >= 2 && ny >= 2))
                continue;
            double vx = px * (1 - px) / (nx - 1), vy = py * (1 - py) / (ny - 1);
            double d = px - py;
            double num = d * d - vx - vy, den = px * (1 - py) + py * (1 - px);
            f[0]++;
            f[1] += llround(num * TSR_COHORT_FST_SCALE);
            f[2] += llround(den * TSR_COHORT_FST_SCALE);
        }
    return TSR_OK;
}

tsr_status_t tsr_lp_acc_merge(tsr_lp_acc_t *dst, tsr_lp_acc_t *src)
{
    if (dst->n_samples != src->n_samples || dst->n_pops != src->n_pops || dst->max_sites != src->max_sites)
        return tsr_error_set(TSR_ERR_INTERNAL, "cannot merge likelihood statistics of different cohorts");
    for (int p = 0; p < dst->n_pops; p++) {
        lp_pop_t *D = &dst->pop[p], *S = &src->pop[p];
        D->sites += S->sites;
        D->confident += S->confident;
        for (int k = 0; k < S->n; k++) {
            lp_site_t *e = &S->s[k];
            float *v = NULL;
            if (e->len > 0) {
                if (!(v = malloc((size_t)e->len * sizeof *v)))
                    return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging likelihood statistics");
                memcpy(v, e->v, (size_t)e->len * sizeof *v);
            }
            if (pop_offer(D, dst->max_sites, e->hash, e->lo, e->len, e->confident, e->fo, v) != 0)
                return tsr_error_set(TSR_ERR_NOMEM, "out of memory merging likelihood statistics");
        }
    }
    int np = dst->n_pops * (dst->n_pops - 1) / 2;
    for (int k = 0; k < 3 * np; k++)
        dst->fst[k] += src->fst[k];
    for (int k = 0; k < 2 * dst->n_samples; k++)
        dst->het[k] += src->het[k];
    for (size_t k = 0; k < (size_t)HET_CELLS * (size_t)dst->n_samples; k++)
        dst->cell[k] += src->cell[k];
    for (int j = 0; j < dst->n_samples; j++)
        dst->dp_sum[j] += src->dp_sum[j];
    dst->dp_sites += src->dp_sites;
    for (int k = 0; k < LP_QH; k++) {
        dst->qh_ref[k] += src->qh_ref[k];
        dst->qh_alt[k] += src->qh_alt[k];
    }
    dst->min_alt_obs = src->min_alt_obs < dst->min_alt_obs ? src->min_alt_obs : dst->min_alt_obs;
    dst->min_pass_qual = src->min_pass_qual < dst->min_pass_qual ? src->min_pass_qual : dst->min_pass_qual;
    return TSR_OK;
}

/* ------------------------------------------------------ 2D SFS and F_ST */

/*
 * Bins of allele counts 0 .. C for the 2D SFS: {0}, then the counts 1 .. C-1
 * in nb - 2 runs of (nearly) equal length, then {C}; nb = C + 1 (one count a
 * bin) up to TSR_LP_SFS2D_BINS. first[b] is the first count of bin b,
 * first[nb] = C + 1. Returns nb.
 */
static int count_bins(int C, int *first)
{
    int nb = C + 1 <= TSR_LP_SFS2D_BINS ? C + 1 : TSR_LP_SFS2D_BINS;
    if (nb == C + 1) {
        for (int b = 0; b <= nb; b++)
            first[b] = b;
        return nb;
    }
    const int inner = nb - 2;
    first[0] = 0;
    for (int b = 0; b < inner; b++)
        first[1 + b] = 1 + (int)((int64_t)b * (C - 1) / inner);
    first[nb - 1] = C;
    first[nb] = C + 1;
    return nb;
}

/* A site's SAF band averaged over the bins (a piecewise-uniform prior within each bin): bins [*blo, *blo + *bn). */
static void bin_band(const lp_site_t *e, const int *first, int nb, double *out, int *blo, int *bn)
{
    if (e->len == 0) { /* flat */
        *blo = 0;
        *bn = nb;
        for (int b = 0; b < nb; b++)
            out[b] = 1.0;
        return;
    }
    int lo = 0, hi = nb - 1;
    while (first[lo + 1] <= e->lo)
        lo++;
    while (first[hi] > e->lo + e->len - 1)
        hi--;
    for (int b = lo; b <= hi; b++) {
        double sum = 0;
        for (int k = first[b]; k < first[b + 1]; k++)
            if (k >= e->lo && k < e->lo + e->len)
                sum += e->v[k - e->lo];
        out[b - lo] = sum / (first[b + 1] - first[b]);
    }
    *blo = lo;
    *bn = hi - lo + 1;
}

/*
 * The 2D SFS of populations x and y by EM over the sites both sampled
 * (the same sites: the sample is by hash), on count bins, and Hudson F_ST
 * from it: per site the posterior over the 2D SFS cells, the expectations of
 * Hudson's numerator and denominator with the sample allele frequencies of all
 * 2n chromosomes (exact moments over each bin's counts), summed over the sites.
 */
static int sfs2d_pair(const lp_pop_t *X, const lp_pop_t *Y, const double *sfs_a, const double *sfs_b,
                      tsr_lp_sfs2d_t *out)
{
    const int n = X->n, Ca = 2 * X->n_ind, Cb = 2 * Y->n_ind;
    if (n == 0 || Y->n != n)
        return 0;
    for (int k = 0; k < n; k++)
        if (X->s[k].hash != Y->s[k].hash)
            return 0;
    int fa[TSR_LP_SFS2D_BINS + 1], fb[TSR_LP_SFS2D_BINS + 1];
    const int na = count_bins(Ca, fa), nb = count_bins(Cb, fb);
    double *phi = calloc((size_t)na * nb, sizeof *phi), *nx = malloc((size_t)na * nb * sizeof *nx);
    double *La = malloc((size_t)n * na * sizeof *La), *Lb = malloc((size_t)n * nb * sizeof *Lb);
    int *lo = malloc(4 * (size_t)n * sizeof *lo);
    out->first_a = malloc(((size_t)na + 1) * sizeof *out->first_a);
    out->first_b = malloc(((size_t)nb + 1) * sizeof *out->first_b);
    if (!phi || !nx || !La || !Lb || !lo || !out->first_a || !out->first_b) {
        free(phi);
        free(nx);
        free(La);
        free(Lb);
        free(lo);
        return -1;
    }
    memcpy(out->first_a, fa, ((size_t)na + 1) * sizeof *fa);
    memcpy(out->first_b, fb, ((size_t)nb + 1) * sizeof *fb);
    for (int k = 0; k < n; k++) {
        bin_band(&X->s[k], fa, na, La + (size_t)k * na, &lo[4 * k], &lo[4 * k + 1]);
        bin_band(&Y->s[k], fb, nb, Lb + (size_t)k * nb, &lo[4 * k + 2], &lo[4 * k + 3]);
    }
    /* start from the product of the two 1D spectra (binned), kept off zero so the EM can move every cell */
    double A[TSR_LP_SFS2D_BINS], B[TSR_LP_SFS2D_BINS], ta = 0, tb = 0, tot = 0;
    for (int i = 0; i < na; i++) {
        A[i] = 0;
        for (int k = fa[i]; k < fa[i + 1]; k++)
            A[i] += sfs_a[k];
        ta += A[i];
    }
    for (int j = 0; j < nb; j++) {
        B[j] = 0;
        for (int k = fb[j]; k < fb[j + 1]; k++)
            B[j] += sfs_b[k];
        tb += B[j];
    }
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) {
            double v = ta > 0 && tb > 0 ? A[i] / ta * B[j] / tb : 0;
            phi[(size_t)i * nb + j] = v + 1e-4 / (na * nb);
            tot += phi[(size_t)i * nb + j];
        }
    for (int c = 0; c < na * nb; c++)
        phi[c] /= tot;
    int it;
    for (it = 0; it < TSR_LP_SFS_MAX_ITER; it++) {
        memset(nx, 0, (size_t)na * nb * sizeof *nx);
        int used = 0;
        for (int k = 0; k < n; k++) {
            const int al = lo[4 * k], an = lo[4 * k + 1], bl = lo[4 * k + 2], bn = lo[4 * k + 3];
            const double *la = La + (size_t)k * na, *lb = Lb + (size_t)k * nb;
            double w = 0;
            for (int i = 0; i < an; i++) {
                const double *row = phi + (size_t)(al + i) * nb + bl;
                double r = 0;
                for (int j = 0; j < bn; j++)
                    r += row[j] * lb[j];
                w += la[i] * r;
            }
            if (!(w > 0))
                continue;
            used++;
            for (int i = 0; i < an; i++) {
                const double *row = phi + (size_t)(al + i) * nb + bl;
                double *dst = nx + (size_t)(al + i) * nb + bl, f = la[i] / w;
                for (int j = 0; j < bn; j++)
                    dst[j] += row[j] * lb[j] * f;
            }
        }
        if (used == 0)
            break;
        double d = 0;
        for (int c = 0; c < na * nb; c++) {
            double v = nx[c] / used;
            d += fabs(v - phi[c]);
            phi[c] = v;
        }
        if (d < 1e-6)
            break;
    }
    /* exact moments of p = k / C over each bin's counts */
    double ma[TSR_LP_SFS2D_BINS][2], mb[TSR_LP_SFS2D_BINS][2];
    for (int b = 0; b < na; b++) {
        double s1 = 0, s2 = 0;
        for (int k = fa[b]; k < fa[b + 1]; k++) {
            s1 += (double)k / Ca;
            s2 += ((double)k / Ca) * ((double)k / Ca);
        }
        ma[b][0] = s1 / (fa[b + 1] - fa[b]);
        ma[b][1] = s2 / (fa[b + 1] - fa[b]);
    }
    for (int b = 0; b < nb; b++) {
        double s1 = 0, s2 = 0;
        for (int k = fb[b]; k < fb[b + 1]; k++) {
            s1 += (double)k / Cb;
            s2 += ((double)k / Cb) * ((double)k / Cb);
        }
        mb[b][0] = s1 / (fb[b + 1] - fb[b]);
        mb[b][1] = s2 / (fb[b + 1] - fb[b]);
    }
    double num = 0, den = 0;
    for (int k = 0; k < n && Ca > 1 && Cb > 1; k++) {
        const int al = lo[4 * k], an = lo[4 * k + 1], bl = lo[4 * k + 2], bn = lo[4 * k + 3];
        const double *la = La + (size_t)k * na, *lb = Lb + (size_t)k * nb;
        double w = 0, sn = 0, sd = 0;
        for (int i = 0; i < an; i++)
            for (int j = 0; j < bn; j++) {
                double q = phi[(size_t)(al + i) * nb + bl + j] * la[i] * lb[j];
                const double *A = ma[al + i], *B = mb[bl + j];
                double d2 = A[1] - 2 * A[0] * B[0] + B[1];
                sn += q * (d2 - (A[0] - A[1]) / (Ca - 1) - (B[0] - B[1]) / (Cb - 1));
                sd += q * (A[0] + B[0] - 2 * A[0] * B[0]);
                w += q;
            }
        if (w > 0) {
            num += sn / w;
            den += sd / w;
        }
    }
    out->n_a = na;
    out->n_b = nb;
    out->sites_in_em = n;
    out->iterations = it;
    out->fst = den > 0 ? num / den : NAN;
    out->num = num;
    out->den = den;
    out->sfs = phi;
    free(nx);
    free(La);
    free(Lb);
    free(lo);
    return 0;
}

void tsr_lp_result_destroy(tsr_lp_result_t **rp)
{
    if (!rp || !*rp)
        return;
    tsr_lp_result_t *r = *rp;
    for (int k = 0; r->sfs2d && k < r->n_pairs; k++) {
        free(r->sfs2d[k].sfs);
        free(r->sfs2d[k].first_a);
        free(r->sfs2d[k].first_b);
    }
    free(r->sfs2d);
    for (int p = 0; r->sfs && p < r->n_pops; p++) {
        free(r->sfs[p].unfolded);
        free(r->sfs[p].folded);
        free(r->sfs[p].discovered);
    }
    free(r->sfs);
    free(r->fst);
    free(r->het_sites);
    free(r->het_rate);
    free(r->het_em);
    free(r);
    *rp = NULL;
}

/* ------------------------------------------------ discovery power model */

/*
 * The published SFS counts every variant of the population, found or not (issue 16: "the true SFS of the
 * cohort"), but only the reported sites have SAFs: at 0.1-0.5x a variant of few copies is often not reported
 * (the reads show its ALT too seldom). So each reported site counts 1 / P(reported | its cohort ALT count K)
 * (a Horvitz-Thompson weight), and the power P(reported | K) comes from the run itself:
 * - lp_power (tsr_lp_power, kernels/lowpass_power.c): the discovery rule of kernels/lowpass_discover.c run on
 *   synthetic pileups. K copies on random
 *   chromosomes of the cohort; each sample's depth Poisson with its mean over the run's biallelic SNV records;
 *   each read the ALT with probability (copies / 2), a sequencing error (e / 3) turning a REF read into the
 *   ALT and back; qualities drawn from the run's one-read samples (their PLs give the read's error); the
 *   site reported PASS when it has the run's fewest ALT observations, its EM frequency (tsr_lp_em) an
 *   expected ALT count of at least min_alt_count and its QUAL (tsr_lp_lrt, tsr_lp_qual) at least the lowest
 *   QUAL without LowQual. LP_POWER_REPS pileups per K, seeded by K: the same table at any rank count.
 * - site_weights: a reported site's K is not known; its posterior is the convolution of the populations'
 *   posteriors over their ALT counts (the ones sfs_discovered sums: SAF x Balding-Nichols prior), and its
 *   weight the posterior mean of 1 / power(K). The published spectrum sums the same per-population posteriors
 *   times the weights. Measured (README, issue 16's sixth round): log2-class distance to every true SNV's
 *   spectrum 0.04-0.09 against the hard calls' 0.25-0.32.
 */
/* The model is tsr_lp_power (kernels/lowpass_power.c: discovery is a layer above), handed over by the pipeline. */
void tsr_lp_acc_set_power(tsr_lp_acc_t *a, tsr_lp_power_fn fn) { a->power = fn; }

/* tsr_lp_power with the accumulator's inputs: the depths' means, the one-read PLs, the evidence's bars. */
static int lp_power(const tsr_lp_acc_t *a, int K_max, double *pw)
{
    if (!a->power || a->dp_sites < 1 || a->min_alt_obs == INT_MAX || !(a->min_pass_qual < HUGE_VAL))
        return 1;
    double *lam = malloc(((size_t)a->n_samples + 1) * sizeof *lam);
    if (!lam)
        return -1;
    for (int j = 0; j < a->n_samples; j++)
        lam[j] = (double)a->dp_sum[j] / (double)a->dp_sites;
    int r = a->power(a->n_samples, lam, a->qh_ref, a->qh_alt, LP_QH, a->min_alt_obs, a->min_pass_qual, K_max,
                           pw);
    free(lam);
    return r;
}

static int cmp_site(const void *x, const void *y)
{
    const lp_site_t *a = x, *b = y;
    return (a->hash > b->hash) - (a->hash < b->hash);
}

/*
 * The population's SFS by EM: `all` over every sampled site (the 2D SFS's
 * start, sites as before), s->unfolded / s->folded over the sampled sites
 * not LowQual, scaled to s->sites. The published spectrum is conditional on
 * discovery: it is the spectrum of the sites reported as confident variants.
 * LowQual sites (QUAL under 60 where ~10^6 positions a Mb are tested) are
 * mostly sequencing-error positions (68% on the bench's 0.5x cohort, none of
 * them among the PASS sites); their SAFs peak at 2-8 copies, so in the EM
 * they put mass there that no variant has. Returns 0, -1 on out of memory.
 */
/*
 * The spectrum of the confident sampled sites as the sum of their posteriors
 * over the population's ALT count k of 2n, the prior of each site from the
 * other populations' frequency fo by the Balding-Nichols model (the
 * population's frequency ~ Beta around fo with drift F: k beta-binomial),
 * the site's SAF the likelihood; a site without fo takes the population's
 * ML spectrum `phi` as prior (realSFS's posterior). Why: per population at
 * 0.1-0.5x a site's reads barely tell 0 from 1-3 copies (L(k) / L(0) ~
 * 0.78^k where none of its reads shows the ALT), so the ML spectrum of one
 * population moves its rare classes to 0 or back at random (pop2 of the
 * bench's 300 x 0.5x cohort: 21 and 24 sites in classes 1 and 2-3, truth 76
 * and 122); the other populations' frequency says which. Writes
 * out[0..2n] (summing to the sites used); returns the sites used, -1 on out
 * of memory.
 */
/* Site e's posterior over the population's ALT count (pop_sfs_eb's prior) in w[*lo..*hi], summing to 1; 0 if none. */
static int site_post(const lp_site_t *e, int N, double F, const double *phi, double *w, int *plo, int *phi_)
{
    int lo = e->len ? e->lo : 0, hi = e->len ? e->lo + e->len - 1 : N;
    double tot = 0;
    if (!isnan(e->fo) && F > 0) {
        double al = e->fo * (1 - F) / F, be = (1 - e->fo) * (1 - F) / F, mx = -HUGE_VAL;
        for (int k = lo; k <= hi; k++) {
            w[k] = lgamma(k + al) + lgamma(N - k + be) - lgamma(k + 1.0) - lgamma(N - k + 1.0);
            mx = w[k] > mx ? w[k] : mx;
        }
        for (int k = lo; k <= hi; k++)
            tot += (w[k] = exp(w[k] - mx) * (e->len ? e->v[k - lo] : 1.0));
    }
    if (!(tot > 0)) { /* no other population's frequency: the population's own spectrum */
        tot = 0;
        for (int k = lo; k <= hi; k++)
            tot += (w[k] = phi[k] * (e->len ? e->v[k - lo] : 1.0));
    }
    if (!(tot > 0))
        return 0;
    for (int k = lo; k <= hi; k++)
        w[k] /= tot;
    *plo = lo;
    *phi_ = hi;
    return 1;
}

/*
 * The sum over the confident sampled sites of their posteriors (site_post), each times site_w[i] (NULL: 1),
 * into out[0..2n]. Returns the sites used, -1 on out of memory.
 */
static int pop_sfs_eb(const lp_pop_t *P, int n_chrom, double F, const double *phi, const double *site_w, double *out)
{
    const int N = n_chrom;
    double *w = malloc(((size_t)N + 1) * sizeof *w);
    if (!w)
        return -1;
    memset(out, 0, ((size_t)N + 1) * sizeof *out);
    int used = 0;
    for (int i = 0; i < P->n; i++) {
        int lo, hi;
        if (!P->s[i].confident || !site_post(&P->s[i], N, F, phi, w, &lo, &hi))
            continue;
        double sw = site_w ? site_w[i] : 1.0;
        for (int k = lo; k <= hi; k++)
            out[k] += sw * w[k];
        used++;
    }
    free(w);
    return used;
}

/*
 * site_w[i] for the sampled sites (every population's sample holds the same sites, sorted by hash): the
 * posterior mean of 1 / pw(K) of the site's cohort ALT count K, the convolution of the populations'
 * posteriors (site_post), counted only below k_full (pw = 1 from there). Returns 0, -1 on out of memory,
 * 1 when the populations' samples differ (no weights).
 */
static int site_weights(const tsr_lp_acc_t *a, double F, double *const *ml, const double *pw, int k_full,
                        double *site_w)
{
    const lp_pop_t *P0 = NULL;
    int nmax = 0;
    for (int p = 0; p < a->n_pops; p++)
        if (a->pop[p].n_ind > 0) {
            if (!P0)
                P0 = &a->pop[p];
            if (a->pop[p].n != P0->n)
                return 1;
            nmax = 2 * a->pop[p].n_ind > nmax ? 2 * a->pop[p].n_ind : nmax;
        }
    if (!P0)
        return 1;
    double *w = malloc(((size_t)nmax + 1) * sizeof *w), *c = malloc(((size_t)k_full + 1) * sizeof *c);
    double *t = malloc(((size_t)k_full + 1) * sizeof *t);
    int ok = w && c && t;
    for (int i = 0; ok && i < P0->n; i++) {
        site_w[i] = 1.0;
        if (!P0->s[i].confident)
            continue;
        int lo_sum = 0; /* the SAF bands' lowest counts: a site surely at k_full or more has weight 1 */
        for (int p = 0; p < a->n_pops; p++)
            lo_sum += a->pop[p].n_ind > 0 && a->pop[p].s[i].len ? a->pop[p].s[i].lo : 0;
        if (lo_sum >= k_full)
            continue;
        memset(c, 0, ((size_t)k_full + 1) * sizeof *c);
        c[0] = 1.0; /* the distribution of the count so far, below k_full (the rest is at k_full or more) */
        int top = 0, valid = 1;
        for (int p = 0; p < a->n_pops && valid; p++) {
            const lp_pop_t *P = &a->pop[p];
            int lo, hi;
            if (P->n_ind == 0)
                continue;
            if (P->s[i].hash != P0->s[i].hash)
                return free(w), free(c), free(t), 1;
            if (!site_post(&P->s[i], 2 * P->n_ind, F, ml[p], w, &lo, &hi)) {
                valid = 0;
                break;
            }
            int nt = top + hi < k_full - 1 ? top + hi : k_full - 1;
            memset(t, 0, ((size_t)k_full + 1) * sizeof *t);
            for (int x = 0; x <= top; x++)
                if (c[x] > 0)
                    for (int k = lo; k <= hi && x + k <= nt; k++)
                        t[x + k] += c[x] * w[k];
            memcpy(c, t, ((size_t)k_full + 1) * sizeof *c);
            top = nt;
        }
        if (!valid)
            continue;
        double m = 1.0; /* E[1 / pw(K)] = 1 + sum over K < k_full of P(K) (1 / pw(K) - 1); K = 0 counts 1 */
        for (int K = 1; K <= top; K++)
            m += c[K] * (1.0 / pw[K] - 1.0);
        site_w[i] = m;
    }
    free(w);
    free(c);
    free(t);
    return ok ? 0 : -1;
}

/*
 * One population: every sample is in it, so its ALT count k is the cohort's and no other population's
 * frequency can be a site's prior. The spectrum of every variant is then the expected count at each k
 * given the reported sites: the sum over the confident sampled sites of post_s(k), the site's posterior
 * over k under the prior pr(k) ~ k^-alpha (1 <= k <= 2n; 2n takes 2n - 1's), plus the variants discovery
 * missed, M pr(k) (1 - pw(k)) with M = sites / sum_k pr(k) pw(k) (the truncated model's total), alpha
 * fitted by the reported sites' truncated likelihood, sum_s log sum_k pr(k) L_s(k) - sites x log sum_k
 * pr(k) pw(k) (golden section on [0, 3]). Not Horvitz-Thompson (post_s(k) / pw(k)): where discovery's
 * power is ~0 (below ~16 copies at 5,000 x 0.1x) no reported site's posterior reaches k, so it counts
 * nothing there (log2 distance 0.28 against 0.02 for this, README, issue 16's seventh round).
 * Why a one-parameter prior, not the ML spectrum: at 0.1-1x a reported site's SAF is nearly flat over 1-8
 * copies (the real haplotypes' true singletons: median L(1) / L(4) = 0.5) and 1 / pw(1) is 30-250, so the
 * nonparametric ML (the power-corrected spectrum iterated to its fixed point) puts the rare mass on one
 * class at random (a spike at 2-3 or 4-7 copies, none at 1); the spectrum's shape below ~8 copies is not
 * identified by these sites. k^-alpha is the neutral spectrum's shape (Watterson's theta / k) at alpha = 1;
 * the fit gave 0.94-1.0 on the real and the simulated cohorts (README, issue 16's seventh round).
 */
static void power_law_prior(int N, double alpha, double *pr)
{
    double t = 0;
    pr[0] = 0;
    for (int k = 1; k <= N; k++)
        t += (pr[k] = pow(k < N || N < 2 ? k : N - 1, -alpha));
    for (int k = 1; k <= N; k++)
        pr[k] /= t;
}

/* sum_k pr(k) L(k) over site e's band [*lo, *hi] (all of 0..N without one), each term into w[k] when w is given. */
static double site_mass(const lp_site_t *e, int N, const double *pr, double *w, int *lo, int *hi)
{
    double t = 0;
    *lo = e->len ? e->lo : 0;
    *hi = e->len ? e->lo + e->len - 1 : N;
    for (int k = *lo; k <= *hi; k++) {
        double x = pr[k] * (e->len ? e->v[k - *lo] : 1.0);
        t += x;
        if (w)
            w[k] = x;
    }
    return t;
}

/* The reported sites' truncated log-likelihood under the prior pr (up to a constant); 0 without sites. */
static double truncated_loglik(const lp_pop_t *P, int N, const double *pr, const double *pw)
{
    double ll = 0, d = 0;
    int used = 0, lo, hi;
    for (int i = 0; i < P->n; i++) {
        if (!P->s[i].confident)
            continue;
        double t = site_mass(&P->s[i], N, pr, NULL, &lo, &hi);
        if (t > 0) {
            ll += log(t);
            used++;
        }
    }
    for (int k = 1; k <= N; k++)
        d += pr[k] * pw[k];
    return used && d > 0 ? ll - used * log(d) : 0;
}

/* out[0..N]: every variant's spectrum of the one population (see power_law_prior); returns the sites used, -1 on OOM. */
static int pop_sfs_one(const lp_pop_t *P, int N, const double *pw, double *alpha_out, double *out)
{
    double *pr = malloc(((size_t)N + 1) * sizeof *pr), *w = malloc(((size_t)N + 1) * sizeof *w);
    if (!pr || !w)
        return free(pr), free(w), -1;
    const double g = 0.6180339887498949;
    double a = 0, b = 3, c1 = b - g * (b - a), c2 = a + g * (b - a), f1, f2;
    power_law_prior(N, c1, pr);
    f1 = truncated_loglik(P, N, pr, pw);
    power_law_prior(N, c2, pr);
    f2 = truncated_loglik(P, N, pr, pw);
    for (int it = 0; it < 32; it++) { /* the bracket 3 x 0.618^32: alpha to 1e-6 */
        if (f1 > f2) {
            b = c2, c2 = c1, f2 = f1, c1 = b - g * (b - a);
            power_law_prior(N, c1, pr);
            f1 = truncated_loglik(P, N, pr, pw);
        } else {
            a = c1, c1 = c2, f1 = f2, c2 = a + g * (b - a);
            power_law_prior(N, c2, pr);
            f2 = truncated_loglik(P, N, pr, pw);
        }
    }
    *alpha_out = (a + b) / 2;
    power_law_prior(N, *alpha_out, pr);
    memset(out, 0, ((size_t)N + 1) * sizeof *out);
    int used = 0, lo, hi;
    for (int i = 0; i < P->n; i++) {
        if (!P->s[i].confident)
            continue;
        double t = site_mass(&P->s[i], N, pr, w, &lo, &hi);
        if (!(t > 0))
            continue;
        for (int k = lo; k <= hi; k++)
            out[k] += w[k] / t;
        used++;
    }
    double d = 0; /* the variants discovery missed: M pr(k) (1 - pw(k)), M = used / sum_k pr(k) pw(k) */
    for (int k = 1; k <= N; k++)
        d += pr[k] * pw[k];
    for (int k = 1; used > 0 && d > 0 && k <= N; k++)
        out[k] += used / d * pr[k] * (1 - pw[k]);
    free(pr);
    free(w);
    return used;
}

static int pop_sfs(lp_pop_t *P, tsr_lp_sfs_t *s, double *all, double F, double *ml)
{
    /* the EM visits the sites in hash order: the same sample gives the same sums */
    qsort(P->s, (size_t)P->n, sizeof *P->s, cmp_site);
    int *lo = malloc((size_t)P->n * sizeof *lo), *len = malloc((size_t)P->n * sizeof *len);
    const float **v = malloc((size_t)P->n * sizeof *v);
    int ok = lo && len && v;
    for (int pass = 0; ok && pass < 2; pass++) {
        int m = 0;
        for (int k = 0; k < P->n; k++)
            if (pass == 0 || P->s[k].confident) {
                lo[m] = P->s[k].lo;
                len[m] = P->s[k].len;
                v[m++] = P->s[k].v;
            }
        double *out = pass == 0 ? all : s->unfolded;
        if (m == 0)
            continue;
        int it = tsr_lp_sfs_em(m, lo, len, v, s->n_chrom, TSR_LP_SFS_MAX_ITER, 1e-6, out);
        ok = it >= 0;
        if (pass == 1) {
            s->iterations = it;
            s->sampled = m;
        }
    }
    if (ml)
        memcpy(ml, s->unfolded, ((size_t)s->n_chrom + 1) * sizeof *ml);
    if (ok && F > 0 && s->sampled > 0) { /* the EM's spectrum stays the prior of the sites without fo */
        double *eb = malloc(((size_t)s->n_chrom + 1) * sizeof *eb);
        int used = eb ? pop_sfs_eb(P, s->n_chrom, F, s->unfolded, NULL, eb) : -1;
        ok = used >= 0;
        for (int k = 0; ok && used > 0 && k <= s->n_chrom; k++)
            s->unfolded[k] = eb[k] / used;
        free(eb);
    }
    memcpy(s->discovered, s->unfolded, ((size_t)s->n_chrom + 1) * sizeof *s->unfolded);
    free(lo);
    free(len);
    free(v);
    for (int k = 0; ok && k <= s->n_chrom; k++) {
        all[k] *= (double)P->sites;
        s->unfolded[k] *= (double)s->sites;
        s->discovered[k] *= (double)s->sites;
        s->folded[k <= s->n_chrom - k ? k : s->n_chrom - k] += s->unfolded[k];
    }
    return ok ? 0 : -1;
}

/* s->unfolded / folded: the spectrum of every variant `full` over `used` sampled sites, scaled to all of s->sites. */
static void publish_full(tsr_lp_sfs_t *s, const double *full, int used)
{
    memset(s->folded, 0, ((size_t)s->n_chrom / 2 + 1) * sizeof *s->folded);
    for (int k = 0; k <= s->n_chrom; k++) {
        s->unfolded[k] = full[k] / used * (double)s->sites;
        s->folded[k <= s->n_chrom - k ? k : s->n_chrom - k] += s->unfolded[k];
    }
    s->power_model = 1;
}

tsr_status_t tsr_lp_acc_result(tsr_lp_acc_t *a, tsr_lp_result_t **out)
{
    *out = NULL;
    tsr_lp_result_t *r = calloc(1, sizeof *r);
    int np = a->n_pops * (a->n_pops - 1) / 2, ok = r != NULL;
    if (ok) {
        r->n_pops = a->n_pops;
        r->n_pairs = np;
        r->n_samples = a->n_samples;
        ok = (r->sfs = calloc((size_t)a->n_pops + 1, sizeof *r->sfs)) &&
             (r->fst = calloc((size_t)np + 1, sizeof *r->fst)) &&
             (r->sfs2d = calloc((size_t)np + 1, sizeof *r->sfs2d)) &&
             (r->het_sites = calloc((size_t)a->n_samples + 1, sizeof *r->het_sites)) &&
             (r->het_rate = calloc((size_t)a->n_samples + 1, sizeof *r->het_rate)) &&
             (r->het_em = calloc((size_t)a->n_samples + 1, sizeof *r->het_em));
    }
    /*
     * The drift of a population from the others' pooled frequency for the 1D
     * SFS's site priors (pop_sfs_eb): under the Balding-Nichols model each of
     * P populations drifts from the ancestral frequency by F, Hudson's F_ST of
     * a pair estimates F, and the pool of the other P - 1 has drifted by
     * about F / (P - 1) itself, so F x P / (P - 1). F from every pair's sums
     * (ratio of sums); 0 (the ML spectrum alone) with under two populations.
     */
    double F = 0;
    {
        int64_t num = 0, den = 0;
        int np_used = 0;
        for (int p = 0; p < a->n_pops; p++)
            np_used += a->pop[p].n_ind > 0;
        for (int k = 0; k < np; k++) {
            num += a->fst[3 * k + 1];
            den += a->fst[3 * k + 2];
        }
        if (np_used >= 2 && den > 0) {
            F = (double)num / (double)den * np_used / (np_used - 1.0);
            F = F < 1e-4 ? 1e-4 : F > 0.5 ? 0.5 : F;
        }
    }
    /* per population the spectrum of every sampled site: the 2D SFS's start (its sites are all of them) */
    double **all = ok ? calloc((size_t)a->n_pops + 1, sizeof *all) : NULL;
    double **ml = ok ? calloc((size_t)a->n_pops + 1, sizeof *ml) : NULL;
    ok = ok && all && ml;
    for (int p = 0; ok && p < a->n_pops; p++) {
        lp_pop_t *P = &a->pop[p];
        tsr_lp_sfs_t *s = &r->sfs[p];
        s->n_chrom = 2 * P->n_ind;
        s->prior_exponent = NAN;
        s->sites = P->confident;
        ok = (s->unfolded = calloc((size_t)s->n_chrom + 1, sizeof *s->unfolded)) &&
             (s->folded = calloc((size_t)s->n_chrom / 2 + 1, sizeof *s->folded)) &&
             (s->discovered = calloc((size_t)s->n_chrom + 1, sizeof *s->discovered)) &&
             (ml[p] = calloc((size_t)s->n_chrom + 1, sizeof *ml[p])) &&
             (all[p] = calloc((size_t)s->n_chrom + 1, sizeof *all[p]));
        if (ok && P->n > 0)
            ok = pop_sfs(P, s, all[p], F, ml[p]) == 0;
    }
    /*
     * The published spectrum over every variant: each reported site's posterior weighted by its posterior
     * mean of 1 / P(reported | cohort ALT count) (site_weights, tsr_lp_power); without the model's inputs
     * (or when the populations' samples differ) it stays the spectrum of the reported sites.
     */
    if (ok && a->n_pops > 0) {
        const int K_max = 2 * a->n_samples;
        const double cpu0 = tsr_cpu_seconds();
        double *pw = malloc(((size_t)K_max + 1) * sizeof *pw), *site_w = NULL;
        int pr = pw ? lp_power(a, K_max, pw) : -1, n0 = 0;
        const double cpu1 = tsr_cpu_seconds();
        ok = pr >= 0;
        for (int p = 0; p < a->n_pops; p++)
            n0 = a->pop[p].n > n0 ? a->pop[p].n : n0;
        if (ok && pr == 0 && n0 > 0) {
            int k_full = 1; /* from there on the power is 1 */
            while (k_full < K_max && pw[k_full] < 1.0)
                k_full++;
            char pws[256] = ""; /* the power at a few counts, for --log-level debug (README, issue 16's seventh round) */
            int pl = 0;
            static const int show[] = {1, 2, 3, 4, 6, 8, 12, 16, 24, 32};
            for (size_t i = 0; i < sizeof show / sizeof *show && show[i] <= K_max; i++)
                pl += snprintf(pws + pl, sizeof pws - (size_t)pl, "%s%d:%.4f", i ? " " : "", show[i], pw[show[i]]);
            tsr_log_debug("low-pass SFS: discovery power P(reported | K) at K = %s", pws);
            int one = -1, n_used = 0; /* the population, when one holds every sample */
            for (int p = 0; p < a->n_pops; p++)
                if (a->pop[p].n_ind > 0)
                    one = p, n_used++;
            if (n_used == 1 && 2 * a->pop[one].n_ind == K_max) {
                tsr_lp_sfs_t *s = &r->sfs[one];
                double *full = malloc(((size_t)s->n_chrom + 1) * sizeof *full);
                int used = full ? pop_sfs_one(&a->pop[one], s->n_chrom, pw, &s->prior_exponent, full) : -1;
                ok = used >= 0;
                if (ok && used > 0)
                    publish_full(s, full, used);
                free(full);
                n0 = 0; /* done: no per-site weights */
            }
            ok = ok && (site_w = malloc((size_t)(n0 ? n0 : 1) * sizeof *site_w)) != NULL;
            int sw = ok && n0 ? site_weights(a, F, ml, pw, k_full, site_w) : ok ? 1 : -1;
            ok = sw >= 0;
            for (int p = 0; ok && sw == 0 && p < a->n_pops; p++) {
                tsr_lp_sfs_t *s = &r->sfs[p];
                if (a->pop[p].n == 0)
                    continue;
                double *full = malloc(((size_t)s->n_chrom + 1) * sizeof *full);
                int used = full ? pop_sfs_eb(&a->pop[p], s->n_chrom, F, ml[p], site_w, full) : -1;
                ok = used >= 0;
                if (ok && used > 0)
                    publish_full(s, full, used);
                free(full);
            }
            tsr_log_debug("low-pass SFS: discovery power up to %d copies in %.2f CPU s, site weights and spectra in "
                          "%.2f CPU s", k_full, cpu1 - cpu0, tsr_cpu_seconds() - cpu1);
        }
        free(pw);
        free(site_w);
    }
    for (int x = 0, k = 0; ok && x < a->n_pops; x++)
        for (int y = x + 1; ok && y < a->n_pops; y++, k++) {
            tsr_lp_sfs2d_t *d = &r->sfs2d[k];
            d->pop_a = x;
            d->pop_b = y;
            d->fst = NAN;
            ok = sfs2d_pair(&a->pop[x], &a->pop[y], all[x], all[y], d) == 0;
            /* scale the 2D spectrum to the sites of the pair (every biallelic SNV is in both) */
            for (int c = 0; ok && d->sfs && c < d->n_a * d->n_b; c++)
                d->sfs[c] *= (double)a->pop[x].sites;
        }
    for (int p = 0; all && p < a->n_pops; p++)
        free(all[p]);
    free(all);
    for (int p = 0; ml && p < a->n_pops; p++)
        free(ml[p]);
    free(ml);
    const int64_t *f = a->fst;
    for (int x = 0, k = 0; ok && x < a->n_pops; x++)
        for (int y = x + 1; y < a->n_pops; y++, k++, f += 3)
            r->fst[k] = (tsr_cohort_fst_t){x, y, f[0], f[1], f[2], f[2] != 0 ? (double)f[1] / (double)f[2] : NAN};
    double cell_lik[HET_CELLS][3];
    for (int c = 0; c < HET_CELLS; c++)
        het_cell_lik(c, cell_lik[c]);
    for (int j = 0; ok && j < a->n_samples; j++) {
        r->het_sites[j] = a->het[2 * j];
        r->het_em[j] = het_em(a->cell + (size_t)j * HET_CELLS, (const double(*)[3])cell_lik);
        r->het_rate[j] = a->het[2 * j] > 0 ? (double)a->het[2 * j + 1] / TSR_COHORT_FST_SCALE / (double)a->het[2 * j]
                                           : NAN;
    }
    if (!ok) {
        tsr_lp_result_destroy(&r);
        return tsr_error_set(TSR_ERR_NOMEM, "out of memory computing the likelihood statistics");
    }
    *out = r;
    return TSR_OK;
}
