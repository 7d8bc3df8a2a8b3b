/*
 * The low-pass 1D SFS of the reported sites (sfs_discovered; the published sfs
 * when the call sets have no depths for the discovery power model) is over the
 * reported biallelic SNVs without the LowQual filter (issue 16), while the 2D
 * SFS and its F_ST stay over every reported biallelic SNV. Certain genotypes
 * (PL 0 for the true genotype, 255 for the others) make each spectrum the
 * histogram of the hard counts of its sites, so the test knows the answer.
 * Also: any split of the sites over accumulators, merged, gives the same
 * bytes, with and without a full bottom-k site sample; and a population
 * without reads at a site takes the other population's frequency as prior.
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

enum { S = 40, SITES = 60 };


typedef struct {
    tsr_callset_t cs;
    int64_t pos[SITES], af_off[SITES + 1], pl_off[SITES + 1];
    int32_t n_alleles[SITES];
    uint8_t filter[SITES];
    float af[2 * SITES], pop_af[4 * SITES];
    int32_t pl[SITES * S * 3];
    int hard[SITES][2]; /* ALT copies per population (samples j % 2) */
} lq_cs_t;

/* Certain genotypes at frequency p per site; every third site LowQual (the rarest ones, as discovery's are). */
static void lq_fill(lq_cs_t *m)
{
    memset(m, 0, sizeof *m);
    m->cs.contig = "chr1";
    m->cs.n_samples = S;
    m->cs.n_sites = SITES;
    m->cs.pos = m->pos;
    m->cs.n_alleles = m->n_alleles;
    m->cs.filter = m->filter;
    m->cs.af = m->af;
    m->cs.af_off = m->af_off;
    m->cs.pl = m->pl;
    m->cs.pl_off = m->pl_off;
    m->cs.n_pops = 2;
    m->cs.pop_af = m->pop_af;
    for (int i = 0; i <= SITES; i++) {
        m->af_off[i] = 2 * i;
        m->pl_off[i] = 3 * (int64_t)S * i;
    }
    for (int i = 0; i < SITES; i++) {
        m->pos[i] = 1000 + 11 * i;
        m->n_alleles[i] = 2;
        m->filter[i] = i % 3 == 0 ? TSR_FILTER_LOWQUAL : i % 7 == 1 ? TSR_FILTER_STRANDBIAS : 0;
        double p = i % 3 == 0 ? 0.02 + 0.03 * urand() : 0.05 + 0.9 * urand();
        m->af[2 * i] = (float)(1 - p);
        m->af[2 * i + 1] = (float)p;
        for (int q = 0; q < 2; q++) {
            m->pop_af[4 * i + 2 * q] = (float)(1 - p);
            m->pop_af[4 * i + 2 * q + 1] = (float)p;
        }
        for (int j = 0; j < S; j++) {
            int g = (urand() < p) + (urand() < p);
            m->hard[i][j % 2] += g;
            for (int k = 0; k < 3; k++)
                m->pl[3 * (S * i + j) + k] = k == g ? 0 : 255;
        }
    }
}

static tsr_lp_result_t *lq_result(const lq_cs_t *m, int cap, int split)
{
    int pop[S];
    for (int j = 0; j < S; j++)
        pop[j] = j % 2;
    tsr_lp_acc_t *a = NULL, *b = NULL;
    assert_int_equal(tsr_lp_acc_create(S, pop, 2, cap, &a), TSR_OK);
    assert_int_equal(tsr_lp_acc_create(S, pop, 2, cap, &b), TSR_OK);
    for (int i = 0; i < SITES; i++) {
        int k = split ? SITES - 1 - i : i;
        assert_int_equal(tsr_lp_acc_add_site(split && i % 3 ? b : a, &m->cs, k, "A,C", 1), TSR_OK);
    }
    assert_int_equal(tsr_lp_acc_merge(a, b), TSR_OK);
    tsr_lp_result_t *r = NULL;
    assert_int_equal(tsr_lp_acc_result(a, &r), TSR_OK);
    tsr_lp_acc_destroy(&a);
    tsr_lp_acc_destroy(&b);
    return r;
}

/* The 1D spectrum counts the sites without LowQual (StrandBias sites stay); the 2D SFS every site. */
static void test_sfs_leaves_out_lowqual(void **state)
{
    (void)state;
    static lq_cs_t m;
    lq_fill(&m);
    tsr_lp_result_t *r = lq_result(&m, 0, 0);
    int confident = 0;
    for (int i = 0; i < SITES; i++)
        confident += !(m.filter[i] & TSR_FILTER_LOWQUAL);
    assert_true(confident > 0 && confident < SITES);
    for (int p = 0; p < 2; p++) {
        const tsr_lp_sfs_t *s = &r->sfs[p];
        assert_int_equal(s->sites, confident);
        assert_int_equal(s->sampled, confident);
        assert_int_equal(s->power_model, 0);
        double tot = 0;
        for (int k = 0; k <= s->n_chrom; k++) {
            double h = 0;
            for (int i = 0; i < SITES; i++)
                h += !(m.filter[i] & TSR_FILTER_LOWQUAL) && m.hard[i][p] == k;
            assert_true(fabs(s->unfolded[k] - h) < 0.05);
            /* no read depths in these call sets, so no discovery power model: sfs is sfs_discovered */
            assert_true(s->discovered[k] == s->unfolded[k]);
            tot += s->unfolded[k];
        }
        assert_true(fabs(tot - confident) < 1e-6);
    }
    /* the 2D SFS: the joint histogram of every site, and Hudson's F_ST of every site */
    const tsr_lp_sfs2d_t *d = &r->sfs2d[0];
    assert_int_equal(d->sites_in_em, SITES);
    double num = 0, den = 0, tot = 0;
    for (int i = 0; i < SITES; i++) {
        double p1 = m.hard[i][0] / 40.0, p2 = m.hard[i][1] / 40.0;
        num += (p1 - p2) * (p1 - p2) - p1 * (1 - p1) / 39 - p2 * (1 - p2) / 39;
        den += p1 * (1 - p2) + p2 * (1 - p1);
        assert_true(d->sfs[m.hard[i][0] * d->n_b + m.hard[i][1]] > 0.5);
    }
    for (int c = 0; c < d->n_a * d->n_b; c++)
        tot += d->sfs[c];
    assert_true(fabs(tot - SITES) < 1e-6);
    assert_true(fabs(d->fst - num / den) < 2e-3);
    tsr_lp_result_destroy(&r);
}

/* Split and merged in another order, and with a bottom-k sample smaller than the sites: the same bytes. */
static void test_sfs_lowqual_merge(void **state)
{
    (void)state;
    static lq_cs_t m;
    lq_fill(&m);
    for (int cap = 16; cap <= 64; cap *= 4) {
        tsr_lp_result_t *r1 = lq_result(&m, cap, 0), *r2 = lq_result(&m, cap, 1);
        for (int p = 0; p < 2; p++) {
            assert_int_equal(r1->sfs[p].sites, r2->sfs[p].sites);
            assert_int_equal(r1->sfs[p].sampled, r2->sfs[p].sampled);
            assert_true(r1->sfs[p].sampled <= (cap < SITES ? cap : SITES));
            assert_memory_equal(r1->sfs[p].unfolded, r2->sfs[p].unfolded,
                                (r1->sfs[p].n_chrom + 1) * sizeof(double));
        }
        assert_int_equal(r1->sfs2d[0].sites_in_em, cap < SITES ? cap : SITES);
        assert_memory_equal(r1->sfs2d[0].sfs, r2->sfs2d[0].sfs,
                            (size_t)r1->sfs2d[0].n_a * r1->sfs2d[0].n_b * sizeof(double));
        tsr_lp_result_destroy(&r1);
        tsr_lp_result_destroy(&r2);
    }
}

/*
 * The 1D SFS's site prior: a population without reads at a site (its SAF is
 * flat) gets the beta-binomial prior around the other population's
 * frequency, so its expected ALT count there is 2n x that frequency and its
 * spread follows F (2 x the pair's Hudson F_ST with two populations); sites
 * with certain genotypes stay at their count whatever the prior.
 */
static void test_sfs_prior_from_other_population(void **state)
{
    (void)state;
    static lq_cs_t m;
    lq_fill(&m);
    enum { BLIND = 45 }; /* sites from BLIND on: population 1 has no reads */
    double fo[SITES];
    for (int i = 0; i < SITES; i++) {
        m.filter[i] = 0;
        if (i < BLIND) {
            /* population 1 drifts from population 0: another draw around the same frequency */
            double p0 = (double)m.hard[i][0] / 40.0, p1 = p0 + 0.6 * (urand() - 0.5);
            p1 = p1 < 0.02 ? 0.02 : p1 > 0.98 ? 0.98 : p1;
            m.hard[i][1] = 0;
            for (int j = 1; j < S; j += 2) {
                int g = (urand() < p1) + (urand() < p1);
                m.hard[i][1] += g;
                for (int k = 0; k < 3; k++)
                    m.pl[3 * (S * i + j) + k] = k == g ? 0 : 255;
            }
            m.pop_af[4 * i + 3] = (float)(m.hard[i][1] / 40.0);
        } else {
            for (int j = 1; j < S; j += 2)
                for (int k = 0; k < 3; k++)
                    m.pl[3 * (S * i + j) + k] = -1;
            m.hard[i][1] = -1;
            m.pop_af[4 * i + 3] = NAN;
        }
        m.pop_af[4 * i + 1] = (float)(m.hard[i][0] / 40.0);
        fo[i] = m.pop_af[4 * i + 1];
    }
    tsr_lp_result_t *r = lq_result(&m, 0, 0);
    double F = 2 * r->fst[0].fst; /* the kernel's F: P / (P - 1) x F_ST, within [1e-4, 0.5] */
    assert_true(F > 0.01 && F < 0.5);
    const tsr_lp_sfs_t *s = &r->sfs[1];
    assert_int_equal(s->n_chrom, 40);
    double m1 = 0, m2 = 0, e1 = 0, e2 = 0, tot = 0;
    for (int k = 0; k <= 40; k++) {
        m1 += k * s->unfolded[k];
        m2 += (double)k * k * s->unfolded[k];
        tot += s->unfolded[k];
    }
    assert_true(fabs(tot - SITES) < 1e-6);
    for (int i = 0; i < SITES; i++) {
        if (i < BLIND) {
            e1 += m.hard[i][1];
            e2 += (double)m.hard[i][1] * m.hard[i][1];
            continue;
        }
        double f = fo[i] < 0.25 / 20 ? 0.25 / 20 : fo[i] > 1 - 0.25 / 20 ? 1 - 0.25 / 20 : fo[i];
        double ab = (1 - F) / F, mean = 40 * f, var = 40 * f * (1 - f) * (ab + 40) / (ab + 1);
        e1 += mean;
        e2 += var + mean * mean;
    }
    /* float SAFs and priors: agreement to ~1e-5 of the sums */
    assert_true(fabs(m1 - e1) < 1e-4 * e1);
    assert_true(fabs(m2 - e2) < 1e-4 * e2);
    tsr_lp_result_destroy(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sfs_leaves_out_lowqual),
        cmocka_unit_test(test_sfs_lowqual_merge),
        cmocka_unit_test(test_sfs_prior_from_other_population),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
