/* test_joint_pretest.c - the joint pre-test (kernels/joint_pretest.c) over hand-made batches. */
#include "kernels/joint_internal.h"
#include "kernels/kernels.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#define NB 30 /* batches */
#define NS 8  /* samples a batch */
#define LEN 40
static char REF[LEN + 1];

/* Position of the true singleton (batch 3, sample 5) and of the common SNV (every batch). */
#define POS_SINGLE 33
#define POS_COMMON 36

/* One SNV record A,C|G,<*> of batch b (G = 6: (0,0) (0,1) (1,1) (0,2) (1,2) (2,2)). */
static void snv_record(tsr_evidence_t *ev, int i, int64_t pos, const char *alleles, const int32_t *pl, const int32_t *dp)
{
    ev->pos[i] = pos;
    ev->kind[i] = TSR_SITE_SNV;
    ev->n_alleles[i] = 3;
    size_t l = strlen(alleles);
    memcpy(ev->allele_blob + ev->allele_off[i], alleles, l);
    ev->allele_off[i + 1] = ev->allele_off[i] + (int64_t)l;
    memcpy(ev->pl + ev->pl_off[i], pl, NS * 6 * sizeof(int32_t));
    ev->pl_off[i + 1] = ev->pl_off[i] + NS * 6;
    for (int j = 0; j < NS; j++) {
        ev->ad[ev->ad_off[i] + j * 3] = dp[j];
        ev->dp[i * NS + j] = dp[j];
    }
    ev->ad_off[i + 1] = ev->ad_off[i] + NS * 3;
}

/* A sample's PLs over A,X,<*> from its REF/ALT read counts at base error eps (the <*> genotypes far off). */
static void sample_pl(int32_t *pl, int ref, int alt, double eps)
{
    double l[3];
    for (int k = 0; k < 3; k++) { /* k ALT copies */
        double p = k / 2.0 * (1 - eps) + (1 - k / 2.0) * eps;
        l[k] = alt * log10(p) + ref * log10(1 - p);
    }
    double best = fmax(l[0], fmax(l[1], l[2]));
    pl[0] = (int32_t)lround(-10 * (l[0] - best));
    pl[1] = (int32_t)lround(-10 * (l[1] - best));
    pl[2] = (int32_t)lround(-10 * (l[2] - best));
    pl[3] = pl[0] + 60;
    pl[4] = pl[1] + 60;
    pl[5] = pl[2] + 120;
}

/*
 * Batch b: sample j's DP is 1 + (b + j) % 6 everywhere (one reference block over the region). Error
 * candidates: batch b nominates C at 2 + b % 25, one sample showing 1 + b % 5 of its 12 reads ALT at
 * error rate 0.01 + 0.003 b; batch 3 holds a true het singleton (8 of 16 reads ALT); every batch holds the
 * common SNV G (a quarter of its samples het, 6 of 12 reads).
 */
static tsr_evidence_t *make_batch(int b)
{
    tsr_evidence_t *ev;
    assert_int_equal(tsr_evidence_create(&ev), TSR_OK);
    ev->contig = strdup("chrP");
    ev->start = 0;
    ev->end = LEN;
    ev->n_samples = NS;
    ev->sample_ids = calloc(NS, sizeof(char *));
    for (int j = 0; j < NS; j++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", b * NS + j);
        ev->sample_ids[j] = strdup(id);
    }
    int n = b == 3 ? 3 : 2;
    ev->n_sites = n;
    ev->pos = calloc((size_t)n + 1, sizeof *ev->pos);
    ev->kind = calloc((size_t)n + 1, 1);
    ev->n_alleles = calloc((size_t)n + 1, sizeof *ev->n_alleles);
    ev->allele_off = calloc((size_t)n + 1, sizeof(int64_t));
    ev->pl_off = calloc((size_t)n + 1, sizeof(int64_t));
    ev->ad_off = calloc((size_t)n + 1, sizeof(int64_t));
    ev->dp = calloc((size_t)n * NS + 1, sizeof(int32_t));
    ev->allele_blob = calloc((size_t)n * 8 + 1, 1);
    ev->pl = calloc((size_t)n * NS * 6 + 1, sizeof(int32_t));
    ev->ad = calloc((size_t)n * NS * 3 + 1, sizeof(int32_t));
    int32_t pl[NS * 6], dp[NS];
    int i = 0;
    /* the error candidate: 1 + b % 5 reads ALT of 12 at an error rate the batch's quality sets */
    for (int j = 0; j < NS; j++) {
        dp[j] = j == b % NS ? 12 : 1 + (b + j) % 6;
        sample_pl(pl + j * 6, dp[j] - (j == b % NS ? 1 + b % 5 : 0), j == b % NS ? 1 + b % 5 : 0, 0.01 + 0.003 * b);
    }
    snv_record(ev, i++, 2 + b % 25, "A,C,<*>", pl, dp);
    if (b == 3) {
        for (int j = 0; j < NS; j++) {
            dp[j] = j == 5 ? 16 : 1 + (b + j) % 6;
            sample_pl(pl + j * 6, j == 5 ? 8 : dp[j], j == 5 ? 8 : 0, 0.01);
        }
        snv_record(ev, i++, POS_SINGLE, "A,C,<*>", pl, dp);
    }
    for (int j = 0; j < NS; j++) {
        dp[j] = 12;
        sample_pl(pl + j * 6, j % 4 == 0 ? 6 : 12, j % 4 == 0 ? 6 : 0, 0.01);
    }
    snv_record(ev, i++, POS_COMMON, "A,G,<*>", pl, dp);
    ev->n_blocks = NS;
    ev->block_sample = calloc(NS + 1, sizeof(int32_t));
    ev->block_start = calloc(NS + 1, sizeof(int64_t));
    ev->block_end = calloc(NS + 1, sizeof(int64_t));
    ev->block_min_dp = calloc(NS + 1, sizeof(int32_t));
    for (int j = 0; j < NS; j++) {
        ev->block_sample[j] = j;
        ev->block_start[j] = 0;
        ev->block_end[j] = LEN;
        ev->block_min_dp[j] = 1 + (b + j) % 6;
    }
    return ev;
}

/* Whether two call sets hold the same sites, alleles, QUAL, filters and per-sample values. */
static void assert_callsets_equal(const tsr_callset_t *a, const tsr_callset_t *b)
{
    assert_int_equal(a->n_sites, b->n_sites);
    assert_int_equal(a->n_samples, b->n_samples);
    int64_t S = a->n_sites, N = a->n_samples;
    assert_memory_equal(a->pos, b->pos, (size_t)S * sizeof *a->pos);
    assert_memory_equal(a->allele_off, b->allele_off, (size_t)(S + 1) * sizeof *a->allele_off);
    assert_memory_equal(a->allele_blob, b->allele_blob, (size_t)a->allele_off[S]);
    assert_memory_equal(a->qual, b->qual, (size_t)S * sizeof *a->qual);
    assert_memory_equal(a->filter, b->filter, (size_t)S * sizeof *a->filter);
    assert_memory_equal(a->af, b->af, (size_t)a->af_off[S] * sizeof *a->af);
    assert_memory_equal(a->gt, b->gt, (size_t)(S * N * 2));
    assert_memory_equal(a->gq, b->gq, (size_t)(S * N) * sizeof *a->gq);
    assert_memory_equal(a->pl, b->pl, (size_t)a->pl_off[S] * sizeof *a->pl);
}

static int has_site(const tsr_callset_t *cs, int64_t pos)
{
    for (int64_t i = 0; i < cs->n_sites; i++)
        if (cs->pos[i] == pos)
            return 1;
    return 0;
}

static void test_pretest_keeps_records(void **state)
{
    (void)state;
    memset(REF, 'A', LEN);
    tsr_evidence_t *bt[NB];
    for (int b = 0; b < NB; b++)
        bt[b] = make_batch(b);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    tsr_callset_t *with = NULL, *all = NULL;
    assert_int_equal(tsr_joint_region(bt, NB, REF, &o, &with), TSR_OK);
    o.pretest_check = 1; /* every site genotyped: the call set without the pre-test */
    assert_int_equal(tsr_joint_region(bt, NB, REF, &o, &all), TSR_OK);
    o.pretest_check = 0;
    assert_callsets_equal(with, all);
    assert_true(has_site(with, POS_SINGLE));
    assert_true(has_site(with, POS_COMMON));

    /* ask the pre-test about every union position: it skips some error sites and never a kept one */
    tsr_joint_pretest_t *pt = NULL;
    assert_int_equal(tsr_joint_pretest_create(bt, NB, NB * NS, &o, &pt), TSR_OK);
    int64_t rec[2 * NB];
    int skipped = 0, tested = 0;
    for (int64_t pos = 0; pos < LEN; pos++) {
        int any = 0;
        for (int b = 0; b < NB; b++) {
            rec[2 * b] = rec[2 * b + 1] = -1;
            for (int64_t i = 0; i < bt[b]->n_sites; i++)
                if (bt[b]->pos[i] == pos)
                    rec[2 * b] = i;
            any |= rec[2 * b] >= 0;
        }
        if (!any)
            continue;
        int skip = -1;
        uint8_t keep[TSR_JOINT_MAX_ALLELES + 1];
        assert_int_equal(tsr_joint_site_pretest(pt, bt, NB, rec, pos, REF, &o, keep, &skip), TSR_OK);
        assert_int_equal(keep[0], 1);
        assert_int_equal(skip, !keep[1]); /* one ALT a site here */
        tested++;
        skipped += skip;
        if (skip)
            assert_false(has_site(all, pos));
        if (pos == POS_SINGLE || pos == POS_COMMON)
            assert_int_equal(skip, 0);
    }
    tsr_joint_pretest_destroy(&pt);
    print_message("pre-test: %d union sites, %d skipped, %lld kept by the EM\n", tested, skipped, (long long)all->n_sites);
    assert_int_equal(tested, 27); /* 25 error positions, the singleton, the common SNV */
    assert_true(skipped >= 15);        /* the weak error candidates */
    assert_true(all->n_sites > 2);     /* and stronger ones the EM keeps (so "skipped -> not kept" bites) */
    assert_true(skipped <= tested - all->n_sites);
    tsr_callset_destroy(&with);
    tsr_callset_destroy(&all);
    for (int b = 0; b < NB; b++)
        tsr_evidence_destroy(&bt[b]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pretest_keeps_records),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
