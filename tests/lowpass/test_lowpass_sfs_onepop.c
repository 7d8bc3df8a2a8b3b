/*
 * The low-pass SFS of every variant in a cohort of one population (issue 16, seventh round): no other
 * population's frequency can be a site's prior, so each reported site's posterior over its ALT count k
 * takes the prior k^-alpha with alpha fitted by the reported sites' truncated likelihood, and the variants
 * discovery missed are M x prior(k) x (1 - P(reported | k)), M = reported / sum prior x P. Here the cohort is drawn with known
 * counts (the neutral spectrum, 1/k), reads at 1x without errors, a site reported when it shows at least
 * two ALT reads, and the power function is that rule's exact Poisson tail: the estimate must find the
 * sites discovery missed (log2-class distance to every drawn variant's spectrum, their number), fit
 * alpha near 1, give the same bytes from any split of the sites, and leave a two-population cohort to the
 * other-population prior (prior_exponent NaN).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "io/callset.h"
#include "kernels/stats/stats.h"
#include "lp_test_rng.h"

enum { S = 100, N = 2 * S, SITES = 4000 };
static const double DEPTH = 1.0;

typedef struct {
    tsr_callset_t cs;
    int64_t pos[SITES], af_off[SITES + 1], pl_off[SITES + 1], ad_off[SITES + 1];
    int32_t n_alleles[SITES];
    uint8_t filter[SITES];
    float af[2 * SITES], qual[SITES];
    int32_t pl[SITES * S * 3], dp[SITES * S], ad[SITES * S * 2];
    int k[SITES];        /* ALT copies drawn */
    int reported[SITES]; /* at least two ALT reads */
} op_cs_t;

/* The rule's power: the ALT reads of K copies at depth DEPTH are Poisson(K x DEPTH / 2); reported at >= 2. */
static int exact_power(int n_samples, const double *lam, const int64_t *qh_ref, const int64_t *qh_alt, int n_qh,
                       int min_alt_obs, double min_qual, int K_max, double *pw)
{
    (void)n_samples, (void)lam, (void)qh_ref, (void)qh_alt, (void)n_qh, (void)min_qual;
    assert_int_equal(min_alt_obs, 2); /* the accumulator saw the fewest ALT reads of a reported site */
    for (int K = 0; K <= K_max; K++) {
        double mu = K * DEPTH / 2;
        pw[K] = K ? 1 - exp(-mu) * (1 + mu) : 1;
    }
    return 0;
}

static void op_fill(op_cs_t *m)
{
    memset(m, 0, sizeof *m);
    lp_rng = 0x5eed0e11ULL;
    m->cs.contig = "chr1";
    m->cs.n_samples = S;
    m->cs.n_sites = SITES;
    m->cs.pos = m->pos;
    m->cs.n_alleles = m->n_alleles;
    m->cs.filter = m->filter;
    m->cs.qual = m->qual;
    m->cs.af = m->af;
    m->cs.af_off = m->af_off;
    m->cs.pl = m->pl;
    m->cs.pl_off = m->pl_off;
    m->cs.dp = m->dp;
    m->cs.ad = m->ad;
    m->cs.ad_off = m->ad_off;
    double cum[N];
    cum[0] = 0;
    for (int k = 1; k < N; k++)
        cum[k] = cum[k - 1] + 1.0 / k; /* the neutral spectrum over 1 .. 2n - 1 copies */
    int chrom[N];
    for (int i = 0; i <= SITES; i++) {
        m->af_off[i] = 2 * i;
        m->pl_off[i] = 3 * (int64_t)S * i;
        m->ad_off[i] = 2 * (int64_t)S * i;
    }
    for (int i = 0; i < SITES; i++) {
        m->pos[i] = 1000 + 7 * i;
        m->n_alleles[i] = 2;
        m->qual[i] = 100;
        double u = urand() * cum[N - 1];
        int K = 1;
        while (K < N - 1 && cum[K] < u)
            K++;
        m->k[i] = K;
        for (int c = 0; c < N; c++)
            chrom[c] = c;
        int g[S] = {0};
        for (int c = 0; c < K; c++) {
            int t = c + (int)(urand() * (N - c)), x = chrom[c];
            chrom[c] = chrom[t];
            chrom[t] = x;
            g[chrom[c] / 2]++;
        }
        int alt_total = 0;
        for (int j = 0; j < S; j++) {
            int d = poisson(DEPTH), alt = 0;
            for (int r = 0; r < d; r++)
                alt += urand() < g[j] / 2.0;
            alt_total += alt;
            m->dp[(int64_t)i * S + j] = d;
            m->ad[m->ad_off[i] + 2 * j] = d - alt;
            m->ad[m->ad_off[i] + 2 * j + 1] = alt;
            int32_t *pl = m->pl + 3 * ((int64_t)S * i + j);
            if (d == 0) {
                pl[0] = pl[1] = pl[2] = 0;
                continue;
            }
            double l[3], mx = -HUGE_VAL, e = 1e-3;
            for (int h = 0; h < 3; h++) {
                double pa = h / 2.0 * (1 - e) + (1 - h / 2.0) * e;
                l[h] = alt * log10(pa) + (d - alt) * log10(1 - pa);
                mx = l[h] > mx ? l[h] : mx;
            }
            for (int h = 0; h < 3; h++) {
                long q = lround(-10 * (l[h] - mx));
                pl[h] = (int32_t)(q > 255 ? 255 : q);
            }
        }
        m->reported[i] = alt_total >= 2;
        m->af[2 * i + 1] = (float)K / N;
        m->af[2 * i] = 1 - m->af[2 * i + 1];
    }
}

/* The result of the reported sites, in one accumulator or split over two and merged. */
static tsr_lp_result_t *op_result(const op_cs_t *m, int n_pops, int split)
{
    int pop[S];
    for (int j = 0; j < S; j++)
        pop[j] = n_pops == 1 ? 0 : j % 2;
    tsr_lp_acc_t *a = NULL, *b = NULL;
    assert_int_equal(tsr_lp_acc_create(S, pop, n_pops, 0, &a), TSR_OK);
    assert_int_equal(tsr_lp_acc_create(S, pop, n_pops, 0, &b), TSR_OK);
    tsr_lp_acc_set_power(a, exact_power);
    for (int i = 0; i < SITES; i++) {
        int k = split ? SITES - 1 - i : i;
        if (m->reported[k])
            assert_int_equal(tsr_lp_acc_add_site(split && i % 3 ? b : a, &m->cs, k, "A,C", 1), TSR_OK);
    }
    assert_int_equal(tsr_lp_acc_merge(a, b), TSR_OK);
    tsr_lp_result_t *r = NULL;
    assert_int_equal(tsr_lp_acc_result(a, &r), TSR_OK);
    tsr_lp_acc_destroy(&a);
    tsr_lp_acc_destroy(&b);
    return r;
}

/* Total-variation distance of two spectra over the classes [1, 2), [2, 4), ... below N. */
static double tv_log2(const double *x, const double *y)
{
    double cx[16] = {0}, cy[16] = {0}, tx = 0, ty = 0, d = 0;
    for (int k = 1; k < N; k++) {
        int c = (int)floor(log2(k));
        cx[c] += x[k];
        cy[c] += y[k];
        tx += x[k];
        ty += y[k];
    }
    for (int c = 0; c < 16; c++)
        d += fabs(cx[c] / tx - cy[c] / ty);
    return d / 2;
}

static void test_onepop_finds_the_missed_sites(void **state)
{
    (void)state;
    static op_cs_t m;
    op_fill(&m);
    double truth[N + 1] = {0};
    int reported = 0;
    for (int i = 0; i < SITES; i++) {
        truth[m.k[i]] += 1;
        reported += m.reported[i];
    }
    /* discovery misses most rare sites: what the correction has to restore */
    assert_true(reported > SITES / 3 && reported < SITES * 4 / 5);
    tsr_lp_result_t *r = op_result(&m, 1, 0);
    const tsr_lp_sfs_t *s = &r->sfs[0];
    assert_int_equal(s->n_chrom, N);
    assert_int_equal(s->power_model, 1);
    assert_int_equal(s->sites, reported);
    assert_true(s->prior_exponent > 0.8 && s->prior_exponent < 1.2);
    double est = 0, tv_full = tv_log2(s->unfolded, truth), tv_disc = tv_log2(s->discovered, truth);
    for (int k = 1; k < N; k++)
        est += s->unfolded[k];
    print_message("one population: alpha %.3f, variants %.0f of %d (%d reported), log2 TV %.4f (reported sites' "
                  "spectrum %.4f)\n", s->prior_exponent, est, SITES, reported, tv_full, tv_disc);
    assert_true(fabs(est - SITES) < 0.05 * SITES);
    assert_true(tv_full < 0.05 && tv_full < tv_disc / 3);
    /* any split of the sites, merged: the same bytes */
    tsr_lp_result_t *r2 = op_result(&m, 1, 1);
    assert_memory_equal(r->sfs[0].unfolded, r2->sfs[0].unfolded, (N + 1) * sizeof(double));
    assert_true(r->sfs[0].prior_exponent == r2->sfs[0].prior_exponent);
    tsr_lp_result_destroy(&r);
    tsr_lp_result_destroy(&r2);
}

/* Two populations: the sites' priors come from the other population (the sixth round's), no exponent. */
static void test_twopop_keeps_the_other_population_prior(void **state)
{
    (void)state;
    static op_cs_t m;
    op_fill(&m);
    static float pop_af[4 * SITES]; /* each population's EM frequency, as discovery writes it */
    m.cs.n_pops = 2;
    for (int i = 0; i < SITES; i++)
        for (int p = 0; p < 2; p++) {
            pop_af[4 * i + 2 * p + 1] = m.af[2 * i + 1];
            pop_af[4 * i + 2 * p] = m.af[2 * i];
        }
    m.cs.pop_af = pop_af;
    tsr_lp_result_t *r = op_result(&m, 2, 0);
    for (int p = 0; p < 2; p++) {
        assert_true(isnan(r->sfs[p].prior_exponent));
        assert_int_equal(r->sfs[p].power_model, 1);
    }
    tsr_lp_result_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_onepop_finds_the_missed_sites),
        cmocka_unit_test(test_twopop_keeps_the_other_population_prior),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
