/*
 * test_lowpass_stats.c - the likelihood statistics of low-pass mode
 * (kernels/stats/lowpass_stats.c) on small inputs checked by hand or by an
 * independent unbanded computation: the SAF dynamic programme, its banding
 * and projection, the SFS EM (certain genotypes give the hard-call SFS), the
 * 2D SFS, its F_ST and the per-sample heterozygosity EM with certain genotypes,
 * the HWE likelihood-ratio test and F, and the accumulator's order-independent
 * merge.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "kernels/stats/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng = 88172645463325252ULL;
static double urand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) / 9007199254740992.0;
}

static double lchoose(int a, int b) { return lgamma(a + 1.0) - lgamma(b + 1.0) - lgamma(a - b + 1.0); }

/*
 * Unbanded reference: P(data | k of 2n) = sum over genotype vectors, by the
 * textbook recursion h_j(k) = h(k) l0 + 2 h(k-1) l1 + h(k-2) l2 over all n
 * samples (flat likelihoods for those without reads), divided by C(2n, k);
 * in logs to stay finite. Returns L scaled to a maximum of 1.
 */
static void saf_naive(const double *lik, int m, int n, double *L)
{
    const int K = 2 * n;
    double *h = malloc((K + 1) * sizeof *h), *t = malloc((K + 1) * sizeof *t);
    for (int k = 0; k <= K; k++)
        h[k] = -INFINITY;
    h[0] = 0;
    for (int j = 0; j < n; j++) {
        const double one[3] = {1, 1, 1}, *l = j < m ? lik + 3 * j : one;
        for (int k = 0; k <= K; k++) {
            double terms[3] = {h[k] + log(l[0]), k >= 1 ? h[k - 1] + log(2 * l[1]) : -INFINITY,
                               k >= 2 ? h[k - 2] + log(l[2]) : -INFINITY};
            double mx = fmax(terms[0], fmax(terms[1], terms[2]));
            t[k] = isinf(mx) ? -INFINITY : mx + log(exp(terms[0] - mx) + exp(terms[1] - mx) + exp(terms[2] - mx));
        }
        memcpy(h, t, (K + 1) * sizeof *h);
    }
    double mx = -INFINITY;
    for (int k = 0; k <= K; k++) {
        h[k] -= lchoose(K, k);
        mx = fmax(mx, h[k]);
    }
    for (int k = 0; k <= K; k++)
        L[k] = exp(h[k] - mx);
    free(h);
    free(t);
}

static void random_lik(double *lik, int m, double p)
{
    for (int j = 0; j < m; j++) {
        int g = (urand() < p) + (urand() < p);
        int reads = 1 + (urand() < 0.4) + (urand() < 0.2);
        double l[3] = {1, 1, 1};
        for (int r = 0; r < reads; r++) {
            int alt = urand() < g / 2.0;
            if (urand() < 0.01)
                alt = !alt;
            l[0] *= alt ? 0.01 / 3 : 0.99;
            l[1] *= 0.5 * 0.99 + 0.5 * 0.01 / 3;
            l[2] *= alt ? 0.99 : 0.01 / 3;
        }
        memcpy(lik + 3 * j, l, sizeof l);
    }
}

/* The banded, projected SAF equals the unbanded sum inside its band and is negligible outside. */
static void test_saf_matches_naive(void **state)
{
    (void)state;
    const int cases[][2] = {{12, 12}, {7, 20}, {30, 30}, {25, 60}, {1, 9}};
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        int m = cases[c][0], n = cases[c][1];
        double *lik = malloc(3 * m * sizeof *lik), *ref = malloc((2 * n + 1) * sizeof *ref);
        random_lik(lik, m, 0.3);
        saf_naive(lik, m, n, ref);
        tsr_lp_saf_t s = {0};
        assert_int_equal(tsr_lp_saf_compute(&s, lik, m, n), 0);
        assert_true(s.len > 0 && s.lo >= 0 && s.lo + s.len <= 2 * n + 1);
        for (int k = 0; k <= 2 * n; k++) {
            double v = k >= s.lo && k < s.lo + s.len ? s.v[k - s.lo] : 0;
            assert_true(fabs(v - ref[k]) < 1e-9 + 1e-6 * ref[k]);
        }
        tsr_lp_saf_destroy(&s);
        free(lik);
        free(ref);
    }
}

/* Certain genotypes: the SAF is a spike at the true ALT count. */
static void test_saf_certain(void **state)
{
    (void)state;
    const int g[6] = {0, 1, 2, 1, 0, 0};
    double lik[18];
    for (int j = 0; j < 6; j++)
        for (int k = 0; k < 3; k++)
            lik[3 * j + k] = k == g[j] ? 1.0 : 1e-20;
    tsr_lp_saf_t s = {0};
    assert_int_equal(tsr_lp_saf_compute(&s, lik, 6, 6), 0);
    assert_int_equal(s.lo, 4);
    assert_int_equal(s.len, 1);
    assert_true(fabs(s.v[0] - 1) < 1e-12);
    tsr_lp_saf_destroy(&s);
}

/* With certain genotypes the ML SFS is the hard-call SFS (normalised). */
static void test_sfs_certain_is_hard(void **state)
{
    (void)state;
    enum { N = 5, SITES = 200 };
    int lo[SITES], len[SITES];
    const float *v[SITES];
    float *store = malloc(SITES * sizeof *store);
    double hard[2 * N + 1] = {0}, sfs[2 * N + 1];
    tsr_lp_saf_t s = {0};
    for (int i = 0; i < SITES; i++) {
        double lik[3 * N], p = 0.05 + 0.9 * urand();
        for (int j = 0; j < N; j++) {
            int gg = (urand() < p) + (urand() < p);
            for (int k = 0; k < 3; k++)
                lik[3 * j + k] = k == gg ? 1.0 : 1e-30;
        }
        assert_int_equal(tsr_lp_saf_compute(&s, lik, N, N), 0);
        assert_int_equal(s.len, 1);
        lo[i] = s.lo;
        len[i] = 1;
        store[i] = (float)s.v[0];
        v[i] = store + i;
        hard[s.lo] += 1.0 / SITES;
    }
    int it = tsr_lp_sfs_em(SITES, lo, len, v, 2 * N, 500, 1e-12, sfs);
    assert_true(it >= 0);
    for (int k = 0; k <= 2 * N; k++)
        assert_true(fabs(sfs[k] - hard[k]) < 1e-9);
    tsr_lp_saf_destroy(&s);
    free(store);
}

/* Weak data: the EM SFS recovers a known SFS better than counting per-site maxima. */
static void test_sfs_em_recovers(void **state)
{
    (void)state;
    enum { N = 10, SITES = 3000 };
    const double truth[2 * N + 1] = {0, .30, .15, .10, .08, .06, .05, .04, .035, .03, .025, .02, .02, .015,
                                     .015, .012, .01, .008, .006, .004, 0};
    double tsum = 0;
    for (int k = 0; k <= 2 * N; k++)
        tsum += truth[k];
    int *lo = malloc(SITES * sizeof *lo), *len = malloc(SITES * sizeof *len);
    const float **v = malloc(SITES * sizeof *v);
    double mode_sfs[2 * N + 1] = {0}, sfs[2 * N + 1];
    tsr_lp_saf_t s = {0};
    for (int i = 0; i < SITES; i++) {
        double u = urand() * tsum, acc = 0;
        int k = 0;
        while (k < 2 * N && (acc += truth[k]) < u)
            k++;
        /* shuffle k ALT copies over 2N chromosomes; each sample gets 1 or 2 reads (weak data) */
        int chrom[2 * N];
        for (int c = 0; c < 2 * N; c++)
            chrom[c] = c < k;
        for (int c = 2 * N - 1; c > 0; c--) {
            int r = (int)(urand() * (c + 1)), t = chrom[c];
            chrom[c] = chrom[r];
            chrom[r] = t;
        }
        double lik[3 * N];
        for (int j = 0; j < N; j++) {
            double l[3] = {1, 1, 1};
            for (int r = 0, nr = 1 + (urand() < 0.3); r < nr; r++) {
                int alt = chrom[2 * j + (urand() < 0.5)];
                l[0] *= alt ? 0.003 : 0.99;
                l[1] *= 0.5;
                l[2] *= alt ? 0.99 : 0.003;
            }
            memcpy(lik + 3 * j, l, sizeof l);
        }
        assert_int_equal(tsr_lp_saf_compute(&s, lik, N, N), 0);
        float *b = malloc(s.len * sizeof *b);
        int best = 0;
        for (int q = 0; q < s.len; q++) {
            b[q] = (float)s.v[q];
            if (s.v[q] > s.v[best])
                best = q;
        }
        lo[i] = s.lo;
        len[i] = s.len;
        v[i] = b;
        mode_sfs[s.lo + best] += 1.0 / SITES;
    }
    assert_true(tsr_lp_sfs_em(SITES, lo, len, v, 2 * N, TSR_LP_SFS_MAX_ITER, 1e-6, sfs) > 0);
    double tv_em = 0, tv_mode = 0;
    for (int k = 0; k <= 2 * N; k++) {
        tv_em += 0.5 * fabs(sfs[k] - truth[k] / tsum);
        tv_mode += 0.5 * fabs(mode_sfs[k] - truth[k] / tsum);
    }
    print_message("SFS TV: EM %.4f, per-site maximum %.4f\n", tv_em, tv_mode);
    assert_true(tv_em < 0.1); /* 3,000 sites: the sampling noise alone is about 0.03 */
    assert_true(tv_em < tv_mode / 2);
    for (int i = 0; i < SITES; i++)
        free((void *)v[i]);
    free(v);
    free(lo);
    free(len);
    tsr_lp_saf_destroy(&s);
}

static void certain_lik(double *lik, int n0, int n1, int n2)
{
    int j = 0;
    for (int c = 0; c < 3; c++)
        for (int r = 0; r < (c == 0 ? n0 : c == 1 ? n1 : n2); r++, j++)
            for (int k = 0; k < 3; k++)
                lik[3 * j + k] = k == c ? 1.0 : 1e-12;
}

static void test_hwe_lrt(void **state)
{
    (void)state;
    double lik[3 * 200];
    tsr_lp_hwe_t h;
    /* HWE genotype counts: p ~ 1, F ~ 0 */
    certain_lik(lik, 49, 42, 9);
    tsr_lp_hwe_test(lik, NULL, 100, 0.3, &h);
    assert_true(h.p_hwe > 0.95);
    assert_true(fabs(h.F) < 0.02);
    assert_true(fabs(h.p - 0.3) < 1e-6);
    assert_true(fabs(h.g[1] - 0.42) < 1e-6);
    /* het deficit: F = 1 - 0.1 / 0.5 = 0.8, tiny p, not an excess */
    certain_lik(lik, 45, 10, 45);
    tsr_lp_hwe_test(lik, NULL, 100, 0.5, &h);
    assert_true(h.p_hwe < 1e-10);
    assert_true(fabs(h.F - 0.8) < 1e-4);
    assert_true(h.p_exchet > 0.99);
    /* het excess: F < 0, small excess-heterozygosity p-value */
    certain_lik(lik, 10, 80, 10);
    tsr_lp_hwe_test(lik, NULL, 100, 0.5, &h);
    assert_true(h.F < -0.5);
    assert_true(h.p_exchet < 1e-6);
    /* LRT against the closed form: ll(genotype freqs) - ll(HWE) for certain genotypes */
    certain_lik(lik, 30, 20, 50);
    int32_t deep[100];
    for (int j = 0; j < 100; j++)
        deep[j] = 40; /* 2^-40: the genotype shows in the reads */
    tsr_lp_hwe_test(lik, deep, 100, 0.5, &h);
    double p = (20 + 100) / 200.0, q = 1 - p;
    double ll1 = 30 * log(0.3) + 20 * log(0.2) + 50 * log(0.5);
    double ll0 = 30 * log(q * q) + 20 * log(2 * p * q) + 50 * log(p * p);
    assert_true(fabs(h.lrt - 2 * (ll1 - ll0)) < 1e-3);
    /* certain genotypes: the score statistic is Pearson's X^2 = n F^2; its saddlepoint tail near the chi-square one */
    double F = 1 - 0.2 / (2 * p * q), x2 = 100 * F * F, chi = erfc(sqrt(x2 / 2));
    print_message("certain genotypes: X^2 %.2f, chi-square p %.3g, saddlepoint p %.3g\n", x2, chi, h.p_hwe);
    assert_true(h.p_hwe > chi / 10 && h.p_hwe < chi * 10);
    /* calibration under HWE with weak data: about 1% of sites below 0.01 */
    int below = 0, sites = 2000;
    double wl[3 * 200];
    for (int s = 0; s < sites; s++) {
        random_lik(wl, 200, 0.1 + 0.4 * urand());
        tsr_lp_hwe_test(wl, NULL, 200, 0.3, &h);
        below += h.p_hwe < 0.01;
    }
    print_message("HWE p < 0.01 under HWE: %d of %d\n", below, sites);
    assert_true(below >= 4 && below <= 60);
}

/* A two-site low-pass call set with PL for `S` samples (biallelic SNVs). */
typedef struct {
    tsr_callset_t cs;
    int64_t pos[64], af_off[65], pl_off[65];
    int32_t n_alleles[64];
    float af[128], pop_af[256];
    int32_t pl[64 * 40 * 3];
} mini_cs_t;

static void mini_fill(mini_cs_t *m, int n_sites, int S)
{
    memset(m, 0, sizeof *m);
    m->cs.contig = "chr1";
    m->cs.n_samples = S;
    m->cs.n_sites = n_sites;
    m->cs.pos = m->pos;
    m->cs.n_alleles = m->n_alleles;
    m->cs.af = m->af;
    m->cs.af_off = m->af_off;
    m->cs.pl = m->pl;
    m->cs.pl_off = m->pl_off;
    m->cs.n_pops = 2;
    m->cs.pop_af = m->pop_af;
    for (int i = 0; i <= n_sites; i++) {
        m->af_off[i] = 2 * i;
        m->pl_off[i] = 3 * (int64_t)S * i;
    }
    for (int i = 0; i < n_sites; i++) {
        m->pos[i] = 100 + 7 * i;
        m->n_alleles[i] = 2;
        double p = 0.1 + 0.8 * urand();
        m->af[2 * i] = (float)(1 - p);
        m->af[2 * i + 1] = (float)p;
        for (int q = 0; q < 2; q++) {
            m->pop_af[2 * (2 * i) + 2 * q] = (float)(1 - p);
            m->pop_af[2 * (2 * i) + 2 * q + 1] = (float)p;
        }
        double lik[3 * 40];
        random_lik(lik, S, p);
        for (int j = 0; j < S; j++) {
            double mx = fmax(lik[3 * j], fmax(lik[3 * j + 1], lik[3 * j + 2]));
            for (int k = 0; k < 3; k++)
                m->pl[3 * (S * i + j) + k] = j % 5 == 4 ? -1 : (int32_t)lround(-10 * log10(lik[3 * j + k] / mx));
        }
    }
}

static void check_equal(const tsr_lp_result_t *a, const tsr_lp_result_t *b)
{
    for (int p = 0; p < a->n_pops; p++) {
        assert_int_equal(a->sfs[p].sites, b->sfs[p].sites);
        assert_int_equal(a->sfs[p].sampled, b->sfs[p].sampled);
        assert_memory_equal(a->sfs[p].unfolded, b->sfs[p].unfolded, (a->sfs[p].n_chrom + 1) * sizeof(double));
    }
    for (int k = 0; k < a->n_pairs; k++) {
        assert_int_equal(a->fst[k].num_fixed, b->fst[k].num_fixed);
        assert_int_equal(a->fst[k].den_fixed, b->fst[k].den_fixed);
    }
}

/* Any split of the sites, merged in any order, gives the same bytes (also when the site sample is full). */
static void test_acc_merge(void **state)
{
    (void)state;
    enum { S = 40, SITES = 30 };
    static mini_cs_t m;
    mini_fill(&m, SITES, S);
    int pop[S];
    for (int j = 0; j < S; j++)
        pop[j] = j % 2;
    for (int cap = 8; cap <= 64; cap *= 8) {
        tsr_lp_acc_t *all = NULL, *a = NULL, *b = NULL;
        assert_int_equal(tsr_lp_acc_create(S, pop, 2, cap, &all), TSR_OK);
        assert_int_equal(tsr_lp_acc_create(S, pop, 2, cap, &a), TSR_OK);
        assert_int_equal(tsr_lp_acc_create(S, pop, 2, cap, &b), TSR_OK);
        for (int i = 0; i < SITES; i++) {
            assert_int_equal(tsr_lp_acc_add_site(all, &m.cs, i, "A,C", 1), TSR_OK);
            assert_int_equal(tsr_lp_acc_add_site(i % 3 ? a : b, &m.cs, SITES - 1 - i, "A,C", 1), TSR_OK);
        }
        assert_int_equal(tsr_lp_acc_merge(b, a), TSR_OK);
        tsr_lp_result_t *r1 = NULL, *r2 = NULL;
        assert_int_equal(tsr_lp_acc_result(all, &r1), TSR_OK);
        assert_int_equal(tsr_lp_acc_result(b, &r2), TSR_OK);
        assert_int_equal(r1->sfs[0].sampled, cap < SITES ? cap : SITES);
        assert_int_equal(r1->sfs[0].sites, SITES);
        check_equal(r1, r2);
        tsr_lp_result_destroy(&r1);
        tsr_lp_result_destroy(&r2);
        tsr_lp_acc_destroy(&all);
        tsr_lp_acc_destroy(&a);
        tsr_lp_acc_destroy(&b);
    }
}

/*
 * Certain genotypes (PL 0 for the true genotype, 255 for the others, every
 * sample with reads): the 2D SFS is the joint histogram of the hard counts
 * (one count a bin at these sizes) and its F_ST is Hudson's from the counts.
 */
static void test_sfs2d_certain(void **state)
{
    (void)state;
    enum { S = 40, SITES = 50 };
    static mini_cs_t m;
    mini_fill(&m, SITES, S);
    int pop[S], hard[SITES][2], nhet[S] = {0};
    for (int j = 0; j < S; j++)
        pop[j] = j % 2;
    double num = 0, den = 0;
    for (int i = 0; i < SITES; i++) {
        hard[i][0] = hard[i][1] = 0;
        double p = 0.05 + 0.9 * urand();
        for (int j = 0; j < S; j++) {
            int g = (urand() < p) + (urand() < p);
            hard[i][j % 2] += g;
            nhet[j] += g == 1;
            for (int k = 0; k < 3; k++)
                m.pl[3 * (S * i + j) + k] = k == g ? 0 : 255;
        }
        double p1 = hard[i][0] / 40.0, p2 = hard[i][1] / 40.0;
        num += (p1 - p2) * (p1 - p2) - p1 * (1 - p1) / 39 - p2 * (1 - p2) / 39;
        den += p1 * (1 - p2) + p2 * (1 - p1);
    }
    tsr_lp_acc_t *acc = NULL;
    assert_int_equal(tsr_lp_acc_create(S, pop, 2, 0, &acc), TSR_OK);
    for (int i = 0; i < SITES; i++)
        assert_int_equal(tsr_lp_acc_add_site(acc, &m.cs, i, "A,C", 1), TSR_OK);
    tsr_lp_result_t *r = NULL;
    assert_int_equal(tsr_lp_acc_result(acc, &r), TSR_OK);
    const tsr_lp_sfs2d_t *d = &r->sfs2d[0];
    assert_int_equal(d->n_a, 41);
    assert_int_equal(d->n_b, 41);
    double joint[41][41] = {{0}};
    for (int i = 0; i < SITES; i++)
        joint[hard[i][0]][hard[i][1]] += 1;
    for (int a = 0; a < 41; a++)
        for (int b = 0; b < 41; b++)
            assert_true(fabs(d->sfs[a * 41 + b] - joint[a][b]) < 0.05);
    assert_true(fabs(d->fst - num / den) < 2e-3);
    /* the 1D spectra are the hard-call spectra */
    for (int k = 0; k <= 40; k++) {
        double h = 0;
        for (int i = 0; i < SITES; i++)
            h += hard[i][0] == k;
        assert_true(fabs(r->sfs[0].unfolded[k] - h) < 0.05);
    }
    /* per-sample heterozygosity by EM over the sample's sites: the het fraction when genotypes are certain */
    for (int j = 0; j < S; j++) {
        assert_true(fabs(r->het_em[j] - nhet[j] / (double)SITES) < 0.01);
    }
    tsr_lp_result_destroy(&r);
    tsr_lp_acc_destroy(&acc);
}

/* The published per-site statistics of a low-pass site: EM AF, AC = round(AF x AN), LRT. */
static void test_site_stats_lowpass(void **state)
{
    (void)state;
    enum { S = 40 };
    static mini_cs_t m;
    mini_fill(&m, 1, S);
    int pop[S];
    int32_t gt[2 * S];
    for (int j = 0; j < S; j++) {
        pop[j] = j % 2;
        gt[2 * j] = m.pl[3 * j] < 0 ? -1 : 0;
        gt[2 * j + 1] = m.pl[3 * j] < 0 ? -1 : 1;
    }
    tsr_site_stats_t *st = NULL;
    assert_int_equal(tsr_site_stats_create(S, pop, 2, &st), TSR_OK);
    assert_int_equal(tsr_site_stats_compute(st, gt, 2), 0);
    assert_int_equal(st->an[0], 2 * 32);
    assert_int_equal(st->ac[0], 32); /* every called sample 0/1 */
    assert_int_equal(tsr_site_stats_lowpass(st, &m.cs, 0), 0);
    assert_int_equal(st->an[0], 64);
    assert_true(st->af[0] == m.af[1]);
    assert_int_equal(st->ac[0], (int)lround(m.af[1] * 64));
    assert_true(st->hwe[0] >= 0 && st->hwe[0] <= 1);
    assert_true(st->nhet[0] <= st->ns[0]);
    tsr_site_stats_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_saf_matches_naive), cmocka_unit_test(test_saf_certain),
        cmocka_unit_test(test_sfs_certain_is_hard), cmocka_unit_test(test_sfs_em_recovers),
        cmocka_unit_test(test_hwe_lrt),           cmocka_unit_test(test_acc_merge),
        cmocka_unit_test(test_site_stats_lowpass), cmocka_unit_test(test_sfs2d_certain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
