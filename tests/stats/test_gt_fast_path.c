/*
 * test_gt_fast_path.c - the fast paths of `tessera stats` against their slow
 * references.
 *
 * 1. tsr_vcf_gt_decode (vcf_stats.c), which reads FORMAT/GT straight from a
 *    record's BCF bytes, against bcf_get_genotypes plus the per-genotype
 *    mapping tessera used before (vector end -> -2, missing -> -1, else the
 *    allele), over records written to a BCF file and read back: missing and
 *    half-missing calls, phased calls, a haploid sample inside a diploid
 *    record, a haploid record, a multi-allelic record, alleles that need
 *    int16 and int32 encodings (the test checks the encoding htslib chose, so
 *    each width is really exercised), a raw missing value, a record without
 *    GT and a triploid sample (refused by both, naming the same sample);
 *    and its list of the samples that are not hom-ref (phased 0|0 included)
 *    against the list made from the decoded calls.
 * 2. tsr_site_stats_compute's genotype-class histogram, and the listed
 *    pass that counts hom-ref calls from the group sizes, against the
 *    per-sample pass, field by field (also with one population holding every
 *    sample, whose statistics are copied from the cohort's), on the decoded records and on random
 *    genotypes (populations, unassigned samples, missing and haploid calls,
 *    1 to 20 alleles, so both paths and the switch between them are met).
 */
#include "kernels/stats/stats_internal.h"

#include <htslib/hts.h>
#include <htslib/vcf.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#define NS 7

/* Compare two computed statistics objects field by field (bitwise: NaN equals NaN). */
static void expect_same_stats(const tsr_site_stats_t *a, const tsr_site_stats_t *b, const char *what)
{
    const int G = a->n_groups, n = a->n_alleles, na = (n - 1) * G;
    assert_int_equal(a->n_alleles, b->n_alleles);
#define SAME(f, cnt)                                                                                              \
    do {                                                                                                          \
        if ((cnt) > 0 && memcmp(a->f, b->f, (size_t)(cnt) * sizeof *a->f)) {                                      \
            print_error("%s: field %s differs between the histogram and the per-sample pass\n", what, #f);       \
            fail();                                                                                               \
        }                                                                                                         \
    } while (0)
    SAME(an, G);
    SAME(ns, G);
    SAME(nhet, G);
    SAME(nhomalt_any, G);
    SAME(f_missing, G);
    SAME(inbreeding, G);
    SAME(ac, na);
    SAME(ac_het, na);
    SAME(ac_hom, na);
    SAME(nhomalt, na);
    SAME(af, na);
    SAME(hwe, na);
    SAME(exchet, na);
#undef SAME
}

/* stats.tsv's values of one site written with snprintf, column by column: the reference for tsv_values. */
static void reference_tsv(const tsr_site_stats_t *st, char *out, size_t cap)
{
    const int na = st->n_alleles - 1;
    size_t l = 0;
#define PUT(...) (l += (size_t)snprintf(out + l, cap - l, __VA_ARGS__))
#define ALTS(expr, fmt)                                                                                        \
    do {                                                                                                       \
        PUT("\t");                                                                                             \
        if (na == 0)                                                                                           \
            PUT(".");                                                                                          \
        for (int a = 0; a < na; a++) {                                                                         \
            double v_ = (double)(expr);                                                                        \
            PUT(a ? "," : "");                                                                                 \
            if (isnan(v_))                                                                                     \
                PUT(".");                                                                                      \
            else                                                                                               \
                PUT(fmt, v_);                                                                                  \
        }                                                                                                      \
    } while (0)
    for (int g = 0; g < st->n_groups; g++) {
        const int o = g * na;
        ALTS(st->ac[o + a], "%.0f");
        PUT("\t%d", st->an[g]);
        ALTS(st->af[o + a], "%g");
        PUT("\t%d\t%d", st->ns[g], st->nhet[g]);
        ALTS(st->nhomalt[o + a], "%.0f");
        if (isnan(st->f_missing[g]))
            PUT("\t.");
        else
            PUT("\t%g", (double)st->f_missing[g]);
        ALTS(st->hwe[o + a], "%.9g");
        ALTS(st->exchet[o + a], "%.9g");
        if (isnan(st->inbreeding[g]))
            PUT("\t.");
        else
            PUT("\t%.6f", st->inbreeding[g]);
    }
#undef ALTS
#undef PUT
}

/* Both passes on one genotype array: the same return and the same statistics. */
static void check_paths(const int32_t *gt, int S, const int *pop, int n_pops, int n_alleles, const char *what)
{
    tsr_site_stats_t *fast = NULL, *slow = NULL, *listed = NULL;
    assert_int_equal(tsr_site_stats_create(S, pop, n_pops, &fast), TSR_OK);
    assert_int_equal(tsr_site_stats_create(S, pop, n_pops, &slow), TSR_OK);
    assert_int_equal(tsr_site_stats_create(S, pop, n_pops, &listed), TSR_OK);
    int rf = tsr_site_stats_compute_path(fast, gt, n_alleles, 0);
    int rs = tsr_site_stats_compute_path(slow, gt, n_alleles, 1);
    assert_int_equal(rf, rs);
    if (rf == 0)
        expect_same_stats(fast, slow, what);
    /* The listed pass: the list is exactly the samples not (0, 0), in order. */
    int *nz = malloc(((size_t)S + 1) * sizeof *nz), m = tsr_gt_list_not_homref(gt, S, nz), k = 0;
    assert_non_null(nz);
    for (int j = 0; j < S; j++)
        if (gt[2 * j] != 0 || gt[2 * j + 1] != 0) {
            assert_true(k < m);
            assert_int_equal(nz[k++], j);
        }
    assert_int_equal(k, m);
    int rl = tsr_site_stats_compute_listed(listed, gt, n_alleles, nz, m);
    assert_int_equal(rl, rs);
    if (rl == 0) {
        expect_same_stats(listed, slow, what);
        /* stats.tsv's text (num_format.c, a population equal to the cohort copying its text) as snprintf's */
        static char want[1 << 16];
        tsr_str_t got = {0, 0, NULL};
        reference_tsv(listed, want, sizeof want);
        assert_int_equal(tsr_site_stats_tsv_values(&got, listed), 0);
        assert_string_equal(got.s, want);
        tsr_str_free(&got);
    }
    free(nz);
    tsr_site_stats_destroy(&listed);
    tsr_site_stats_destroy(&fast);
    tsr_site_stats_destroy(&slow);
}

/* The reference: bcf_get_genotypes and the mapping tessera applied per genotype before the fast path. */
static int reference_decode(const bcf_hdr_t *hdr, bcf1_t *rec, int32_t *dip)
{
    int32_t *gt = NULL;
    int cap = 0, n = bcf_get_genotypes(hdr, rec, &gt, &cap), bad = 0;
    if (n <= 0) {
        for (int k = 0; k < 2 * NS; k++)
            dip[k] = -1;
        free(gt);
        return 0;
    }
    int ploidy = n / NS;
    for (int j = 0; j < NS && !bad; j++) {
        const int32_t *p = gt + (size_t)j * ploidy;
        for (int h = 0; h < 2; h++) {
            int32_t v = h < ploidy ? p[h] : bcf_int32_vector_end;
            int32_t x = v == bcf_int32_vector_end ? -2 : bcf_gt_is_missing(v) ? -1 : bcf_gt_allele(v);
            /* A raw missing value gives a large negative index there; every consumer reads any
             * negative other than -2 as a missing allele, which the decoder writes as -1. */
            dip[2 * j + h] = x < 0 && x != -2 ? -1 : x;
        }
        if (ploidy > 2 && p[2] != bcf_int32_vector_end)
            bad = -1 - j;
    }
    free(gt);
    return bad;
}

typedef struct {
    int n_alleles, ploidy, type; /* expected BCF encoding of GT, or -1 when the record has none */
    int32_t gt[NS * 3];
} rec_spec_t;

#define U(a) bcf_gt_unphased(a)
#define P(a) bcf_gt_phased(a)
#define MISS bcf_gt_missing
#define END bcf_int32_vector_end
#define RAWMISS bcf_int32_missing

static const rec_spec_t specs[] = {
    /* diploid: hom-ref, het, phased het (0|1), hom-alt, ./., 0/., haploid sample (second allele vector end) */
    {2, 2, BCF_BT_INT8, {U(0), U(0), U(0), U(1), P(0), P(1), U(1), U(1), MISS, MISS, U(0), MISS, U(1), END}},
    /* multi-allelic, phased and unphased */
    {4, 2, BCF_BT_INT8, {U(0), U(3), P(2), P(3), U(1), U(2), U(3), U(3), U(2), U(2), MISS, U(3), U(0), U(1)}},
    /* a haploid record */
    {2, 1, BCF_BT_INT8, {U(0), U(1), MISS, U(1), U(0), U(0), P(1)}},
    /* alleles past 62 need int16 (with a phased REF and a raw missing value) */
    {70, 2, BCF_BT_INT16, {P(0), U(69), U(65), U(65), P(1), P(64), RAWMISS, U(68), U(0), U(0), U(2), END, U(3), U(63)}},
    /* an allele index no real record has, to force int32 (decoded only; the statistics refuse it) */
    {3, 2, BCF_BT_INT32, {P(0), U(20000), U(1), U(2), RAWMISS, MISS, U(0), U(0), U(2), U(2), U(1), U(0), U(0), END}},
    /* raw missing values (the type's own missing, not a missing allele) */
    {2, 2, BCF_BT_INT8, {RAWMISS, END, U(0), U(1), RAWMISS, RAWMISS, U(1), U(1), U(0), RAWMISS, U(0), U(0), U(1), U(0)}},
    /* hom-ref written every way (0/0, 0|0, phase bit on the first allele too) among calls that are not */
    {2, 2, BCF_BT_INT8, {U(0), P(0), P(0), P(0), P(0), U(0), U(0), U(0), U(0), U(1), MISS, U(0), U(0), END}},
    /* no GT in the record */
    {2, 0, -1, {0}},
    /* a triploid sample (index 2) among diploid ones */
    {2, 3, BCF_BT_INT8, {U(0), U(0), END, U(0), U(1), END, U(0), U(1), U(1), U(1), U(1), END, U(0), END, END,
                         MISS, MISS, END, U(0), U(0), END}},
};
#define N_SPECS ((int)(sizeof specs / sizeof *specs))

static void test_decode_against_htslib(void **state)
{
    (void)state;
    char path[] = "/tmp/tsr_test_gt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    bcf_hdr_t *hdr = bcf_hdr_init("w");
    assert_non_null(hdr);
    assert_int_equal(bcf_hdr_append(hdr, "##contig=<ID=c1,length=100000>"), 0);
    assert_int_equal(bcf_hdr_append(hdr, "##FORMAT=<ID=GT,Number=1,Type=String,Description=\"Genotype\">"), 0);
    assert_int_equal(bcf_hdr_append(hdr, "##FORMAT=<ID=DP,Number=1,Type=Integer,Description=\"Depth\">"), 0);
    for (int j = 0; j < NS; j++) {
        char name[16];
        snprintf(name, sizeof name, "s%d", j);
        assert_int_equal(bcf_hdr_add_sample(hdr, name), 0);
    }
    assert_int_equal(bcf_hdr_sync(hdr), 0);
    htsFile *out = hts_open(path, "wb");
    assert_non_null(out);
    assert_int_equal(bcf_hdr_write(out, hdr), 0);
    bcf1_t *rec = bcf_init();
    char alleles[4096];
    for (int r = 0; r < N_SPECS; r++) {
        const rec_spec_t *sp = &specs[r];
        bcf_clear(rec);
        rec->rid = 0;
        rec->pos = 100 * (r + 1);
        size_t l = 0;
        for (int a = 0; a < sp->n_alleles; a++) /* A, C, G, T, then distinct longer alleles */
            l += (size_t)snprintf(alleles + l, sizeof alleles - l, "%s%c%.*s", a ? "," : "", "ACGT"[a % 4],
                                  a / 4, "TTTTTTTTTTTTTTTTTTTT");
        assert_int_equal(bcf_update_alleles_str(hdr, rec, alleles), 0);
        int32_t dp[NS] = {5, 0, 12, 300, 7, 1, 40000};
        assert_int_equal(bcf_update_format_int32(hdr, rec, "DP", dp, NS), 0);
        if (sp->ploidy > 0)
            assert_int_equal(bcf_update_genotypes(hdr, rec, sp->gt, NS * sp->ploidy), 0);
        assert_int_equal(bcf_write(out, hdr, rec), 0);
    }
    assert_int_equal(hts_close(out), 0);

    htsFile *in = hts_open(path, "r");
    assert_non_null(in);
    bcf_hdr_t *h2 = bcf_hdr_read(in);
    assert_non_null(h2);
    int gt_id = bcf_hdr_id2int(h2, BCF_DT_ID, "GT");
    assert_true(gt_id >= 0);
    int pop[NS] = {0, 1, 0, -1, 1, 0, 1};
    for (int r = 0; r < N_SPECS; r++) {
        assert_int_equal(bcf_read(in, h2, rec), 0);
        assert_int_equal(bcf_unpack(rec, BCF_UN_FMT), 0);
        const bcf_fmt_t *fmt = bcf_get_fmt(h2, rec, "GT");
        if (specs[r].type < 0)
            assert_null(fmt);
        else {
            assert_non_null(fmt);
            assert_int_equal(fmt->type, specs[r].type); /* each width is really met */
            assert_int_equal(fmt->n, specs[r].ploidy);
        }
        int32_t want[2 * NS], got[2 * NS];
        int rw = reference_decode(h2, rec, want);
        int rg = tsr_vcf_gt_decode(rec, gt_id, NS, got);
        assert_int_equal(rg, rw);
        /* The decoder's own list of samples not hom-ref equals the list made from its output. */
        int32_t got_l[2 * NS];
        int nz[NS], nz_want[NS], m = -1;
        assert_int_equal(tsr_vcf_gt_decode_listed(rec, gt_id, NS, got_l, nz, &m), rw);
        if (rw == 0) {
            assert_memory_equal(got_l, want, sizeof got_l);
            assert_int_equal(m, tsr_gt_list_not_homref(want, NS, nz_want));
            assert_memory_equal(nz, nz_want, (size_t)m * sizeof *nz);
            assert_memory_equal(got, want, sizeof got);
            char what[64];
            snprintf(what, sizeof what, "record %d", r);
            check_paths(got, NS, pop, 2, rec->n_allele, what);
        } else
            assert_int_equal(rw, -3); /* the triploid sample */
        /* a header without GT: every allele missing */
        assert_int_equal(tsr_vcf_gt_decode(rec, -1, NS, got), 0);
        for (int k = 0; k < 2 * NS; k++)
            assert_int_equal(got[k], -1);
        assert_int_equal(tsr_vcf_gt_decode_listed(rec, -1, NS, got, nz, &m), 0);
        assert_int_equal(m, NS);
    }
    assert_int_equal(bcf_read(in, h2, rec), -1);
    bcf_destroy(rec);
    bcf_hdr_destroy(h2);
    bcf_hdr_destroy(hdr);
    hts_close(in);
    unlink(path);
}

static void test_histogram_against_per_sample(void **state)
{
    (void)state;
    enum { S = 301 };
    int32_t gt[2 * S];
    int pop[S];
    uint64_t x = 88172645463325252ull; /* xorshift64: fixed, reproducible */
#define RND() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
    int everyone[S];
    for (int j = 0; j < S; j++) {
        pop[j] = (int)(RND() % 4) - 1; /* populations 0..2 and unassigned */
        everyone[j] = 0;
    }
    for (int trial = 0; trial < 400; trial++) {
        int n = 1 + trial % 20;
        int missing_pct = (int)(RND() % 30), haploid_pct = (int)(RND() % 10);
        for (int j = 0; j < S; j++)
            for (int h = 0; h < 2; h++) {
                int u = (int)(RND() % 100);
                int32_t a = (int32_t)(RND() % 100 < 80 ? 0 : RND() % (uint64_t)n); /* mostly REF */
                gt[2 * j + h] = u < missing_pct ? -1 : h == 1 && u < missing_pct + haploid_pct ? -2 : a;
            }
        if (trial % 50 == 7) /* an allele beyond the site: both name the same sample */
            gt[2 * (trial % S) + 1] = n;
        char what[64];
        snprintf(what, sizeof what, "random trial %d (%d alleles)", trial, n);
        check_paths(gt, S, pop, 3, n, what);
        check_paths(gt, S, NULL, 0, n, what);
        check_paths(gt, S, everyone, 1, n, what); /* one population equal to the cohort */
    }
#undef RND
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decode_against_htslib),
        cmocka_unit_test(test_histogram_against_per_sample),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
