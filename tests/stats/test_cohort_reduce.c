/*
 * test_cohort_reduce.c - the cohort-wide accumulator against a hand-worked
 * 4-sample, 2-population cohort (site classes, Ti/Tv, AF bins, SFS, Hudson
 * F_ST, per-sample QC), merge = the same counts for any split and order,
 * the counts file (tessera stats' merge by files), outlier flags, errors,
 * and the sample_qc.tsv / JSON writers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <math.h>

#include "kernels/stats/stats.h"
#include "io/io.h"

static const char *ids[4] = {"S0", "S1", "S2", "S3"};
static const char *pops[2] = {"A", "B"};
static const int spop[4] = {0, 0, 1, 1};

/* The hand-worked sites (see the expected numbers in test_hand_worked). */
static const char *al1[] = {"C", "T"}, *al2[] = {"A", "C"}, *al3[] = {"A", "AT"}, *al4[] = {"G", "A", "T"};
static const int32_t gt1[] = {0, 1, 1, 1, 0, 0, 0, 0}, gt2[] = {0, 0, -1, -1, 0, 1, 0, 0},
                     gt3[] = {0, 0, 0, 0, 0, 0, 1, 1}, gt4[] = {1, 2, 0, 0, 2, 2, 0, 0};
static const int32_t dp1[] = {10, 20, -1, 30};

static void add(tsr_cohort_acc_t *a, int site)
{
    switch (site) {
    case 1: assert_int_equal(tsr_cohort_acc_add_site(a, al1, 2, gt1, dp1), TSR_OK); break;
    case 2: assert_int_equal(tsr_cohort_acc_add_site(a, al2, 2, gt2, NULL), TSR_OK); break;
    case 3: assert_int_equal(tsr_cohort_acc_add_site(a, al3, 2, gt3, NULL), TSR_OK); break;
    default: assert_int_equal(tsr_cohort_acc_add_site(a, al4, 3, gt4, NULL), TSR_OK); break;
    }
}

static tsr_cohort_acc_t *make(void)
{
    tsr_cohort_acc_t *a = NULL;
    assert_int_equal(tsr_cohort_acc_create(4, ids, spop, 2, pops, &a), TSR_OK);
    return a;
}

static void test_hand_worked(void **state)
{
    (void)state;
    tsr_cohort_acc_t *a = make();
    for (int s = 1; s <= 4; s++)
        add(a, s);
    tsr_cohort_result_t *r = NULL;
    assert_int_equal(tsr_cohort_acc_result(a, &r), TSR_OK);
    assert_int_equal(r->sites, 4);
    assert_int_equal(r->snv_sites, 3);
    assert_int_equal(r->indel_sites, 1);
    assert_int_equal(r->multiallelic_sites, 1);
    assert_int_equal(r->biallelic_snvs, 2);
    assert_int_equal(r->transitions, 1);
    assert_int_equal(r->transversions, 1);
    assert_true(r->ti_tv == 1.0);
    /* AF bins of 1/20: site 1 3/8 -> 7, site 2 1/6 -> 3, site 3 2/8 -> 5, site 4 1/8 -> 2 and 3/8 -> 7. */
    int64_t hist[TSR_COHORT_AF_BINS] = {0};
    hist[7] = 2, hist[3] = 1, hist[5] = 1, hist[2] = 1;
    assert_memory_equal(r->af_hist, hist, sizeof hist);
    /* SFS: A has site 1 (AC 3 of 4) and misses a call at site 2; B has site 1 (AC 0) and site 2 (AC 1). */
    assert_int_equal(r->sfs[0].n_chrom, 4);
    assert_int_equal(r->sfs[0].sites, 1);
    assert_int_equal(r->sfs[0].skipped, 1);
    int64_t ua[5] = {0, 0, 0, 1, 0}, fa[3] = {0, 1, 0}, ub[5] = {1, 1, 0, 0, 0}, fb[3] = {1, 1, 0};
    assert_memory_equal(r->sfs[0].unfolded, ua, sizeof ua);
    assert_memory_equal(r->sfs[0].folded, fa, sizeof fa);
    assert_int_equal(r->sfs[1].sites, 2);
    assert_memory_equal(r->sfs[1].unfolded, ub, sizeof ub);
    assert_memory_equal(r->sfs[1].folded, fb, sizeof fb);
    /* Hudson: site 1 p = 3/4 vs 0 (n = 4, 4): N = 9/16 - (3/16)/3 = 1/2, D = 3/4;
     * site 2 p = 0 vs 1/4 (n = 2, 4): N = 1/16 - (3/16)/3 = 0, D = 1/4. F_ST = (1/2) / 1. */
    assert_int_equal(r->n_pairs, 1);
    assert_int_equal(r->fst[0].sites, 2);
    assert_int_equal(r->fst[0].num_fixed, 2147483648LL);
    assert_int_equal(r->fst[0].den_fixed, 4294967296LL);
    assert_true(r->fst[0].fst == 0.5);
    /* Per sample. */
    const tsr_cohort_sample_t *s = r->samples;
    assert_int_equal(s[0].called, 4);
    assert_int_equal(s[0].nhomref, 2);
    assert_int_equal(s[0].nhet, 2);
    assert_int_equal(s[0].nhomalt, 0);
    assert_int_equal(s[0].singletons, 1);
    assert_int_equal(s[0].ti, 1);
    assert_int_equal(s[0].tv, 0);
    assert_true(s[0].mean_dp == 10.0);
    assert_true(isnan(s[0].het_hom));
    assert_int_equal(s[1].called, 3);
    assert_true(s[1].call_rate == 0.75);
    assert_int_equal(s[1].nhomalt, 1);
    assert_int_equal(s[2].nhet, 1);
    assert_int_equal(s[2].nhomalt, 1);
    assert_int_equal(s[2].singletons, 1);
    assert_int_equal(s[2].tv, 1);
    assert_true(isnan(s[2].mean_dp));
    assert_true(s[2].het_hom == 1.0);
    assert_int_equal(s[3].nhomref, 3);
    assert_int_equal(s[3].nhomalt, 1);
    assert_true(s[3].mean_dp == 30.0);
    tsr_cohort_result_destroy(&r);
    assert_null(r);
    tsr_cohort_acc_destroy(&a);
    assert_null(a);
    tsr_cohort_acc_destroy(&a);
}

/* Any split into parts and any merge order gives the same counts; MPI_SUM of the arrays is that merge. */
static void test_merge(void **state)
{
    (void)state;
    tsr_cohort_acc_t *all = make(), *p1 = make(), *p2 = make(), *p3 = make(), *q = make();
    for (int s = 1; s <= 4; s++)
        add(all, s);
    add(p1, 3);
    add(p2, 1);
    add(p2, 4);
    add(p3, 2);
    assert_int_equal(tsr_cohort_acc_merge(q, p3), TSR_OK);
    assert_int_equal(tsr_cohort_acc_merge(q, p1), TSR_OK);
    assert_int_equal(tsr_cohort_acc_merge(q, p2), TSR_OK);
    int64_t n = tsr_cohort_acc_n_counts(all);
    assert_int_equal(tsr_cohort_acc_n_counts(q), n);
    assert_memory_equal(tsr_cohort_acc_counts(q), tsr_cohort_acc_counts(all), (size_t)n * sizeof(int64_t));
    int64_t *sum = calloc((size_t)n, sizeof *sum);
    assert_non_null(sum);
    for (int64_t k = 0; k < n; k++)
        sum[k] = tsr_cohort_acc_counts(p1)[k] + tsr_cohort_acc_counts(p2)[k] + tsr_cohort_acc_counts(p3)[k];
    assert_memory_equal(sum, tsr_cohort_acc_counts(all), (size_t)n * sizeof(int64_t));
    free(sum);
    /* A cohort with other populations cannot be merged in. */
    const int other[4] = {0, 1, 0, 1};
    tsr_cohort_acc_t *x = NULL;
    assert_int_equal(tsr_cohort_acc_create(4, ids, other, 2, pops, &x), TSR_OK);
    assert_int_equal(tsr_cohort_acc_merge(q, x), TSR_ERR_INTERNAL);
    tsr_cohort_acc_destroy(&x);
    tsr_cohort_acc_destroy(&all);
    tsr_cohort_acc_destroy(&p1);
    tsr_cohort_acc_destroy(&p2);
    tsr_cohort_acc_destroy(&p3);
    tsr_cohort_acc_destroy(&q);
}

/*
 * The accumulator's counting paths agree: random sites (biallelic SNVs and indels, multi-allelic, missing
 * and haploid calls, singletons) through a cohort without populations and with one population of every
 * sample (the register path for biallelic sites), and through two populations, one of every sample and
 * one empty (the general path): the same per-sample QC, AF histogram and site classes, and the
 * everyone-population's SFS equal in both.
 */
static void test_paths_agree(void **state)
{
    (void)state;
    enum { S = 37 };
    char names[S][8];
    const char *sid[S];
    int all[S], empty_b[S];
    for (int j = 0; j < S; j++) {
        snprintf(names[j], sizeof names[j], "s%d", j);
        sid[j] = names[j];
        all[j] = 0;
        empty_b[j] = 0;
    }
    tsr_cohort_acc_t *none = NULL, *one = NULL, *two = NULL;
    assert_int_equal(tsr_cohort_acc_create(S, sid, NULL, 0, pops, &none), TSR_OK);
    assert_int_equal(tsr_cohort_acc_create(S, sid, all, 1, pops, &one), TSR_OK);
    assert_int_equal(tsr_cohort_acc_create(S, sid, empty_b, 2, pops, &two), TSR_OK);
    static const char *snv[] = {"A", "G", "T"}, *indel[] = {"A", "AT", "ATT"};
    uint64_t x = 88172645463325252ull;
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    int32_t gt[2 * S], dp[S];
    for (int site = 0; site < 500; site++) {
        int n = 2 + (int)(RND() % 4 == 0), rare = (int)(RND() % 3 == 0);
        for (int k = 0; k < 2 * S; k++) {
            int u = (int)(RND() % 100);
            int32_t alt = (int32_t)(1 + RND() % (uint64_t)(n - 1));
            gt[k] = u < 5 ? -1 : (k & 1) && u < 8 ? -2 : RND() % (rare ? 60 : 3) == 0 ? alt : 0;
        }
        for (int j = 0; j < S; j++)
            dp[j] = (int32_t)(RND() % 40) - 5;
        const char *const *al = site % 2 ? snv : indel;
        const int32_t *d = site % 3 ? dp : NULL;
        assert_int_equal(tsr_cohort_acc_add_site(none, al, n, gt, d), TSR_OK);
        assert_int_equal(tsr_cohort_acc_add_site(one, al, n, gt, d), TSR_OK);
        assert_int_equal(tsr_cohort_acc_add_site(two, al, n, gt, d), TSR_OK);
    }
#undef RND
    tsr_cohort_result_t *r[3] = {NULL, NULL, NULL};
    assert_int_equal(tsr_cohort_acc_result(none, &r[0]), TSR_OK);
    assert_int_equal(tsr_cohort_acc_result(one, &r[1]), TSR_OK);
    assert_int_equal(tsr_cohort_acc_result(two, &r[2]), TSR_OK);
    int64_t singles = 0;
    for (int k = 1; k < 3; k++) {
        assert_int_equal(r[k]->sites, r[0]->sites);
        assert_int_equal(r[k]->snv_sites, r[0]->snv_sites);
        assert_int_equal(r[k]->indel_sites, r[0]->indel_sites);
        assert_int_equal(r[k]->multiallelic_sites, r[0]->multiallelic_sites);
        assert_memory_equal(r[k]->af_hist, r[0]->af_hist, sizeof r[0]->af_hist);
        for (int j = 0; j < S; j++) {
            const tsr_cohort_sample_t *a = &r[k]->samples[j], *b = &r[0]->samples[j];
            assert_int_equal(a->called, b->called);
            assert_int_equal(a->nhomref, b->nhomref);
            assert_int_equal(a->nhet, b->nhet);
            assert_int_equal(a->nhomalt, b->nhomalt);
            assert_int_equal(a->singletons, b->singletons);
            assert_int_equal(a->dp_sum, b->dp_sum);
            assert_int_equal(a->dp_n, b->dp_n);
            assert_int_equal(a->ti, b->ti);
            assert_int_equal(a->tv, b->tv);
            singles += a->singletons;
        }
    }
    assert_true(singles > 0); /* the singleton pass was met */
    const tsr_cohort_sfs_t *f1 = &r[1]->sfs[0], *f2 = &r[2]->sfs[0];
    assert_int_equal(f1->n_chrom, 2 * S);
    assert_int_equal(f1->n_chrom, f2->n_chrom);
    assert_int_equal(f1->sites, f2->sites);
    assert_true(f1->sites > 0);
    assert_int_equal(f1->skipped, f2->skipped);
    assert_memory_equal(f1->unfolded, f2->unfolded, (size_t)(f1->n_chrom + 1) * sizeof *f1->unfolded);
    for (int k = 0; k < 3; k++)
        tsr_cohort_result_destroy(&r[k]);
    tsr_cohort_acc_destroy(&none);
    tsr_cohort_acc_destroy(&one);
    tsr_cohort_acc_destroy(&two);
}

/*
 * Hom-ref calls reach the per-sample counts when the array is read (the accumulator defers them): reading
 * between adds, resetting with some deferred, merging and writing with some deferred all give the counts
 * of the whole.
 */
static void test_deferred_homref(void **state)
{
    (void)state;
    tsr_cohort_acc_t *all = make(), *q = make(), *r = make();
    for (int s = 1; s <= 4; s++)
        add(all, s);
    const int64_t n = tsr_cohort_acc_n_counts(all);
    add(q, 4); /* deferred, then reset away */
    tsr_cohort_acc_reset(q);
    add(q, 1);
    (void)tsr_cohort_acc_counts(q); /* a read between adds */
    add(q, 2);
    add(r, 3);
    add(r, 4);
    assert_int_equal(tsr_cohort_acc_merge(q, r), TSR_OK); /* both with deferred calls */
    assert_memory_equal(tsr_cohort_acc_counts(q), tsr_cohort_acc_counts(all), (size_t)n * sizeof(int64_t));
    tsr_cohort_result_t *res = NULL;
    assert_int_equal(tsr_cohort_acc_result(q, &res), TSR_OK);
    assert_int_equal(res->samples[0].nhomref, 2);
    assert_int_equal(res->samples[3].nhomref, 3);
    tsr_cohort_result_destroy(&res);
    tsr_cohort_acc_destroy(&all);
    tsr_cohort_acc_destroy(&q);
    tsr_cohort_acc_destroy(&r);
}

/*
 * The counts file: written parts added back give the counts of the whole (the merge by files), in any
 * order; reset empties an accumulator; a file of another cohort, a truncated, a padded or a foreign file
 * is TSR_ERR_FORMAT naming it.
 */
static void test_counts_file(void **state)
{
    (void)state;
    tsr_cohort_acc_t *all = make(), *part = make(), *q = make();
    for (int s = 1; s <= 4; s++)
        add(all, s);
    char path[3][64];
    for (int k = 0; k < 3; k++) {
        snprintf(path[k], sizeof path[k], "/tmp/tsr_test_counts.%d.%d", (int)getpid(), k);
        tsr_cohort_acc_reset(part);
        add(part, k + 1);
        if (k == 2)
            add(part, 4);
        FILE *fp = fopen(path[k], "wb");
        assert_non_null(fp);
        assert_int_equal(tsr_cohort_acc_counts_write(part, fp, path[k]), TSR_OK);
        assert_int_equal(fclose(fp), 0);
    }
    for (int k = 2; k >= 0; k--) {
        FILE *fp = fopen(path[k], "rb");
        assert_non_null(fp);
        assert_int_equal(tsr_cohort_acc_counts_add(q, fp, path[k]), TSR_OK);
        fclose(fp);
    }
    int64_t n = tsr_cohort_acc_n_counts(all);
    assert_memory_equal(tsr_cohort_acc_counts(q), tsr_cohort_acc_counts(all), (size_t)n * sizeof(int64_t));
    /* 16 header bytes ("TSRACC01", n little-endian), then n int64 little-endian */
    FILE *fp = fopen(path[0], "rb");
    assert_non_null(fp);
    unsigned char head[16];
    assert_int_equal(fread(head, 1, 16, fp), 16);
    assert_memory_equal(head, "TSRACC01", 8);
    assert_int_equal(head[8] | head[9] << 8, n);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    assert_int_equal(ftell(fp), 16 + 8 * n);
    fclose(fp);
    tsr_cohort_acc_reset(q);
    for (int64_t k = 0; k < n; k++)
        assert_int_equal(tsr_cohort_acc_counts(q)[k], 0);

    /* another cohort (one population): another number of counts */
    tsr_cohort_acc_t *one = NULL;
    assert_int_equal(tsr_cohort_acc_create(4, ids, NULL, 1, pops, &one), TSR_OK);
    fp = fopen(path[0], "rb");
    assert_non_null(fp);
    tsr_error_clear();
    assert_int_equal(tsr_cohort_acc_counts_add(one, fp, path[0]), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), path[0]));
    fclose(fp);
    tsr_cohort_acc_destroy(&one);
    /* truncated, then padded */
    assert_int_equal(truncate(path[1], 16 + 8 * (n - 1)), 0);
    fp = fopen(path[1], "rb");
    assert_non_null(fp);
    tsr_error_clear();
    assert_int_equal(tsr_cohort_acc_counts_add(q, fp, path[1]), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), "truncated"));
    fclose(fp);
    fp = fopen(path[2], "ab");
    assert_non_null(fp);
    fputc(0, fp);
    fclose(fp);
    fp = fopen(path[2], "rb");
    assert_non_null(fp);
    tsr_error_clear();
    assert_int_equal(tsr_cohort_acc_counts_add(q, fp, path[2]), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), "bytes after"));
    fclose(fp);
    /* not a counts file */
    fp = fopen(path[0], "wb");
    assert_non_null(fp);
    fputs("CHROM\tPOS\n", fp);
    fclose(fp);
    fp = fopen(path[0], "rb");
    assert_non_null(fp);
    tsr_error_clear();
    assert_int_equal(tsr_cohort_acc_counts_add(q, fp, path[0]), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), "not a tessera counts file"));
    fclose(fp);
    for (int k = 0; k < 3; k++)
        unlink(path[k]);
    tsr_cohort_acc_destroy(&all);
    tsr_cohort_acc_destroy(&part);
    tsr_cohort_acc_destroy(&q);
}

static void test_errors(void **state)
{
    (void)state;
    tsr_cohort_acc_t *a = make();
    const int32_t bad[] = {0, 2, 0, 0, 0, 0, 0, 0};
    tsr_error_clear();
    assert_int_equal(tsr_cohort_acc_add_site(a, al1, 2, bad, NULL), TSR_ERR_FORMAT);
    assert_non_null(strstr(tsr_error_msg(), "S0"));
    assert_int_equal(tsr_cohort_acc_counts(a)[0], 0); /* nothing added */
    tsr_cohort_acc_destroy(&a);
}

/* 10 samples, 20 sites; S3 misses 10 calls: only its call rate is flagged (the MAD of call rate is 0). */
/* Near-identical call rates (0.985-1) flag nobody: the call-rate scale's floor is 0.005; 0.9 is flagged. */
static void test_outlier_floor(void **state)
{
    (void)state;
    const char *id11[11] = {"S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9", "S10"};
    tsr_cohort_acc_t *a = NULL;
    assert_int_equal(tsr_cohort_acc_create(11, id11, NULL, 0, NULL, &a), TSR_OK);
    const int missing[11] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 15, 100};
    for (int i = 0; i < 1000; i++) {
        int32_t gt[22];
        for (int j = 0; j < 11; j++) {
            gt[2 * j] = (i + j) % 2;
            gt[2 * j + 1] = 0;
            if (i < missing[j])
                gt[2 * j] = gt[2 * j + 1] = -1;
        }
        const char *al[2] = {"A", "G"};
        assert_int_equal(tsr_cohort_acc_add_site(a, al, 2, gt, NULL), TSR_OK);
    }
    tsr_cohort_result_t *r = NULL;
    assert_int_equal(tsr_cohort_acc_result(a, &r), TSR_OK);
    assert_true(r->qc_mad[0] > 0 && r->qc_mad[0] < 0.005);
    assert_true(r->qc_scale[0] == 0.005);
    for (int j = 0; j < 10; j++)
        assert_false(r->samples[j].outlier & TSR_QC_CALL_RATE);
    assert_true(r->samples[10].outlier & TSR_QC_CALL_RATE);
    tsr_cohort_result_destroy(&r);
    tsr_cohort_acc_destroy(&a);
}

static void test_outliers_and_writers(void **state)
{
    (void)state;
    const char *id10[10] = {"S0", "S1", "S2", "S3", "S4", "S5", "S6", "S7", "S8", "S9"};
    tsr_cohort_acc_t *a = NULL;
    assert_int_equal(tsr_cohort_acc_create(10, id10, NULL, 0, NULL, &a), TSR_OK);
    for (int i = 0; i < 20; i++) {
        int32_t gt[20];
        for (int j = 0; j < 10; j++) {
            gt[2 * j] = (i + j) % 3 == 0;
            gt[2 * j + 1] = (i * 7 + j) % 4 == 0;
            if (j == 3 && i % 2)
                gt[2 * j] = gt[2 * j + 1] = -1;
        }
        const char *al[2] = {"A", i % 2 ? "G" : "T"};
        assert_int_equal(tsr_cohort_acc_add_site(a, al, 2, gt, NULL), TSR_OK);
    }
    tsr_cohort_result_t *r = NULL;
    assert_int_equal(tsr_cohort_acc_result(a, &r), TSR_OK);
    assert_true(r->samples[3].call_rate == 0.5);
    assert_true(r->samples[3].outlier & TSR_QC_CALL_RATE);
    for (int j = 0; j < 10; j++)
        if (j != 3)
            assert_false(r->samples[j].outlier & TSR_QC_CALL_RATE);
    assert_true(r->qc_median[0] == 1.0 && r->qc_mad[0] == 0.0);
    assert_int_equal(r->n_pairs, 0);

    char dir[] = "/tmp/tsr_reduce_XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256], line[1024];
    snprintf(path, sizeof path, "%s/sample_qc.tsv", dir);
    assert_int_equal(tsr_cohort_result_write_sample_qc(r, path), TSR_OK);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int found = 0;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "S3\t.\t20\t10\t0.500000\t", 20)) {
            found = 1;
            assert_non_null(strstr(line, "\tcall_rate\n"));
        }
    fclose(f);
    assert_true(found);
    char json[256];
    snprintf(json, sizeof json, "%s/s.json", dir);
    f = fopen(json, "w");
    assert_non_null(f);
    assert_int_equal(tsr_cohort_result_write_json(r, f, ""), TSR_OK);
    fclose(f);
    f = fopen(json, "r");
    assert_non_null(f);
    size_t n = fread(line, 1, sizeof line - 1, f);
    line[n] = '\0';
    fclose(f);
    assert_non_null(strstr(line, "\"sites\": 20,"));
    assert_non_null(strstr(line, "\"ancestral_allele\": \"REF\""));
    assert_int_equal(unlink(path), 0);
    assert_int_equal(unlink(json), 0);
    assert_int_equal(rmdir(dir), 0);
    tsr_cohort_result_destroy(&r);
    tsr_cohort_acc_destroy(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hand_worked),
        cmocka_unit_test(test_merge),
        cmocka_unit_test(test_deferred_homref),
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_counts_file),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_outlier_floor),
        cmocka_unit_test(test_outliers_and_writers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
