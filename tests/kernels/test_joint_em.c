/* test_joint_em.c - joint genotyping over hand-made evidence batches. */
#include "kernels/kernels.h"

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Reference of the test region [0, 40): 'A' everywhere except "ATT" at 20. */
static const char *REF = "AAAAAAAAAAAAAAAAAAAAATTAAAAAAAAAAAAAAAAA";

typedef struct site_in {
    int64_t pos;
    int kind;
    const char *alleles; /* with <*> */
    const int32_t *pl;   /* n_samples * G */
    const int32_t *ad;   /* n_samples * n, may be NULL */
    const int32_t *dp;   /* n_samples */
} site_in_t;

static tsr_evidence_t *make_batch(int ns, int first_id, const site_in_t *s, int n, const int64_t (*blocks)[4],
                                  int nb)
{
    tsr_evidence_t *ev;
    assert_int_equal(tsr_evidence_create(&ev), TSR_OK);
    ev->contig = strdup("chrJ");
    ev->start = 0;
    ev->end = 40;
    ev->n_samples = ns;
    ev->sample_ids = calloc((size_t)ns, sizeof(char *));
    for (int j = 0; j < ns; j++) {
        char id[16];
        snprintf(id, sizeof id, "s%d", first_id + j);
        ev->sample_ids[j] = strdup(id);
    }
    ev->n_sites = n;
    ev->pos = calloc((size_t)n + 1, sizeof *ev->pos);
    ev->kind = calloc((size_t)n + 1, 1);
    ev->n_alleles = calloc((size_t)n + 1, sizeof *ev->n_alleles);
    ev->allele_off = calloc((size_t)n + 1, sizeof(int64_t));
    ev->pl_off = calloc((size_t)n + 1, sizeof(int64_t));
    ev->ad_off = calloc((size_t)n + 1, sizeof(int64_t));
    ev->dp = calloc((size_t)(n * ns) + 1, sizeof(int32_t));
    size_t blob = 0, npl = 0, nad = 0;
    for (int i = 0; i < n; i++) {
        int na = 1;
        for (const char *c = s[i].alleles; *c; c++)
            na += *c == ',';
        blob += strlen(s[i].alleles);
        npl += (size_t)ns * na * (na + 1) / 2;
        nad += (size_t)ns * na;
    }
    ev->allele_blob = calloc(blob + 1, 1);
    ev->pl = calloc(npl + 1, sizeof(int32_t));
    ev->ad = calloc(nad + 1, sizeof(int32_t));
    for (int i = 0; i < n; i++) {
        int na = 1;
        for (const char *c = s[i].alleles; *c; c++)
            na += *c == ',';
        int G = na * (na + 1) / 2;
        ev->pos[i] = s[i].pos;
        ev->kind[i] = (uint8_t)s[i].kind;
        ev->n_alleles[i] = na;
        memcpy(ev->allele_blob + ev->allele_off[i], s[i].alleles, strlen(s[i].alleles));
        ev->allele_off[i + 1] = ev->allele_off[i] + (int64_t)strlen(s[i].alleles);
        memcpy(ev->pl + ev->pl_off[i], s[i].pl, (size_t)ns * G * sizeof(int32_t));
        ev->pl_off[i + 1] = ev->pl_off[i] + (int64_t)ns * G;
        if (s[i].ad)
            memcpy(ev->ad + ev->ad_off[i], s[i].ad, (size_t)ns * na * sizeof(int32_t));
        ev->ad_off[i + 1] = ev->ad_off[i] + (int64_t)ns * na;
        memcpy(ev->dp + (size_t)i * ns, s[i].dp, (size_t)ns * sizeof(int32_t));
    }
    ev->n_blocks = nb;
    ev->block_sample = calloc((size_t)nb + 1, sizeof(int32_t));
    ev->block_start = calloc((size_t)nb + 1, sizeof(int64_t));
    ev->block_end = calloc((size_t)nb + 1, sizeof(int64_t));
    ev->block_min_dp = calloc((size_t)nb + 1, sizeof(int32_t));
    for (int b = 0; b < nb; b++) {
        ev->block_sample[b] = (int32_t)blocks[b][0];
        ev->block_start[b] = blocks[b][1];
        ev->block_end[b] = blocks[b][2];
        ev->block_min_dp[b] = (int32_t)blocks[b][3];
    }
    return ev;
}

static void site_alleles(const tsr_callset_t *cs, int64_t i, char *buf)
{
    int64_t l = cs->allele_off[i + 1] - cs->allele_off[i];
    memcpy(buf, cs->allele_blob + cs->allele_off[i], (size_t)l);
    buf[l] = '\0';
}

/* Batch 1 has an SNV; batch 2 has no record there: one sample under a ref block, one uncovered. */
static void test_joint_ref_blocks_and_missing(void **state)
{
    (void)state;
    const int32_t pl1[] = {90, 0, 90, 0, 0, 0, /* s0 het (A/<*> genotypes don't matter) */
                           200, 60, 0, 200, 60, 200};  /* s1 C/C */
    const int32_t ad1[] = {10, 9, 0, 0, 20, 0}, dp1[] = {19, 20};
    /* <*> genotypes: indices 3,4,5 = (0,2),(1,2),(2,2) */
    int32_t pl1b[12];
    memcpy(pl1b, pl1, sizeof pl1b);
    pl1b[3] = pl1b[4] = pl1b[5] = 120;
    pl1b[9] = pl1b[10] = pl1b[11] = 250;
    site_in_t s1[] = {{10, TSR_SITE_SNV, "A,C,<*>", pl1b, ad1, dp1}};
    const int64_t blocks2[][4] = {{0, 0, 20, 12}};
    tsr_evidence_t *b[2];
    b[0] = make_batch(2, 0, s1, 1, NULL, 0);
    b[1] = make_batch(2, 2, NULL, 0, blocks2, 1);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    tsr_callset_t *cs = NULL;
    assert_int_equal(tsr_joint_region(b, 2, REF, &o, &cs), TSR_OK);
    assert_int_equal(cs->n_samples, 4);
    assert_int_equal(cs->n_sites, 1);
    assert_int_equal(cs->pos[0], 10);
    char buf[64];
    site_alleles(cs, 0, buf);
    assert_string_equal(buf, "A,C");
    int8_t *gt = cs->gt;
    assert_int_equal(gt[0], 0); /* s0 0/1 */
    assert_int_equal(gt[1], 1);
    assert_int_equal(gt[2], 1); /* s1 1/1 */
    assert_int_equal(gt[3], 1);
    assert_int_equal(gt[4], 0); /* s2 hom-ref from its block */
    assert_int_equal(gt[5], 0);
    assert_true(cs->gq[2] > 0);
    assert_int_equal(cs->dp[2], 12);
    assert_int_equal(cs->ad[cs->ad_off[0] + 2 * 2 + 0], 12);
    /* PL(ref/alt) of a 12-read block: 12 * 10 * log10(0.99 / 0.5) ~ 36 */
    int32_t want = (int32_t)lround(-10.0 * 12 * (log10(0.5) - log10(0.99)));
    assert_int_equal(cs->pl[cs->pl_off[0] + 2 * 3 + 1], want);
    assert_int_equal(cs->pl[cs->pl_off[0] + 2 * 3 + 0], 0);
    assert_int_equal(gt[6], -1); /* s3 missing */
    assert_int_equal(gt[7], -1);
    assert_int_equal(cs->gq[3], -1);
    assert_int_equal(cs->dp[3], -1);
    assert_true(cs->qual[0] > 30);
    assert_int_equal(cs->filter[0], 0);
    /* AF: 3 ALT copies among 6 alleles of 3 called samples */
    assert_true(fabs(cs->af[cs->af_off[0] + 1] - 0.5) < 0.05);
    tsr_callset_destroy(&cs);
    tsr_evidence_destroy(&b[0]);
    tsr_evidence_destroy(&b[1]);
}

/* Batch 1 lists C, batch 2 lists G at the same SNV: each maps the other's ALT through its <*>. */
static void test_joint_allele_union(void **state)
{
    (void)state;
    /* G = 6 over A,X,<*>: (0,0) (0,1) (1,1) (0,2) (1,2) (2,2) */
    const int32_t pl1[] = {0, 30, 60, 33, 63, 66, /* s0 A/A */
                           80, 50, 0, 80, 50, 90}; /* s1 C/C */
    const int32_t pl2[] = {40, 0, 40, 17, 45, 70, /* s2 A/G; A/<*> = 17 */
                           0, 30, 60, 30, 60, 60}; /* s3 A/A */
    const int32_t dp[] = {10, 10};
    site_in_t s1[] = {{10, TSR_SITE_SNV, "A,C,<*>", pl1, NULL, dp}};
    site_in_t s2[] = {{10, TSR_SITE_SNV, "A,G,<*>", pl2, NULL, dp}};
    tsr_evidence_t *b[2];
    b[0] = make_batch(2, 0, s1, 1, NULL, 0);
    b[1] = make_batch(2, 2, s2, 1, NULL, 0);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    tsr_callset_t *cs = NULL;
    assert_int_equal(tsr_joint_region(b, 2, REF, &o, &cs), TSR_OK);
    assert_int_equal(cs->n_sites, 1);
    char buf[64];
    site_alleles(cs, 0, buf);
    assert_string_equal(buf, "A,C,G");
    /* s2: A/C takes batch 2's A/<*> (17); A/G is its A/G (0) */
    const int32_t *pl_s2 = cs->pl + cs->pl_off[0] + 2 * 6;
    assert_int_equal(pl_s2[tsr_gt_index(0, 1)], 17);
    assert_int_equal(pl_s2[tsr_gt_index(0, 2)], 0);
    /* s1: C/G takes batch 1's C/<*> (50) */
    const int32_t *pl_s1 = cs->pl + cs->pl_off[0] + 1 * 6;
    assert_int_equal(pl_s1[tsr_gt_index(1, 2)], 50);
    assert_int_equal(cs->gt[2 * 2 + 0], 0);
    assert_int_equal(cs->gt[2 * 2 + 1], 2);
    assert_int_equal(cs->gt[1 * 2 + 0], 1);
    assert_int_equal(cs->gt[1 * 2 + 1], 1);
    tsr_callset_destroy(&cs);
    tsr_evidence_destroy(&b[0]);
    tsr_evidence_destroy(&b[1]);
}

/*
 * 200 samples at allele frequency 0.3 under HWE (98 REF/REF, 84 het, 18 ALT/ALT) with clear PLs:
 * EM recovers the frequency. A weak one-sample site is kept but LowQual; an all-REF site and an
 * indel whose ALT nobody carries are dropped; indel alleles of two batches are re-padded.
 */
static void test_joint_em_frequency_and_filters(void **state)
{
    (void)state;
    enum { NS = 200 };
    static int32_t pl_snv[NS * 6], pl_ref[NS * 6], pl_weak[NS * 6], pl_drop[NS * 10];
    static int32_t dp[NS];
    for (int j = 0; j < NS; j++) {
        int g = j < 98 ? 0 : j < 182 ? 1 : 2; /* 0/0, 0/1, 1/1 */
        int32_t *p = pl_snv + j * 6;
        const int32_t byg[3][3] = {{0, 30, 90}, {40, 0, 40}, {90, 30, 0}};
        p[0] = byg[g][0];
        p[1] = byg[g][1];
        p[2] = byg[g][2];
        p[3] = p[4] = p[5] = 99;
        int32_t *r = pl_ref + j * 6;
        r[0] = 0, r[1] = 30, r[2] = 90, r[3] = 30, r[4] = 90, r[5] = 90;
        int32_t *w = pl_weak + j * 6;
        if (j == 0)
            w[0] = 10, w[1] = 0, w[2] = 25, w[3] = 20, w[4] = 25, w[5] = 40;
        dp[j] = 10;
        /* the same genotypes over A,C,T,<*> where nobody carries C */
        int32_t *d = pl_drop + j * 10;
        for (int k = 0; k < 10; k++)
            d[k] = 120;
        d[tsr_gt_index(0, 0)] = byg[g][0];
        d[tsr_gt_index(0, 2)] = byg[g][1];
        d[tsr_gt_index(2, 2)] = byg[g][2];
    }
    static int32_t dp_weak[NS];
    dp_weak[0] = 3; /* everyone else: DP 0 -> missing */
    site_in_t s[] = {{5, TSR_SITE_SNV, "A,T,<*>", pl_snv, NULL, dp},
                     {6, TSR_SITE_SNV, "A,T,<*>", pl_ref, NULL, dp},
                     {7, TSR_SITE_SNV, "A,G,<*>", pl_weak, NULL, dp_weak},
                     {8, TSR_SITE_SNV, "A,C,T,<*>", pl_drop, NULL, dp},
                     {20, TSR_SITE_INDEL, "AT,A,<*>", pl_snv, NULL, dp}};
    /* batch 2: one sample, the same deletion seen with a longer REF, and a longer deletion */
    const int32_t pl_b2[] = {90, 90, 90, 0, 90, 90, 90, 90, 90, 90}; /* G=10 over AT T,A T,A,<*>: het (0,2) */
    const int32_t dp_b2[] = {12};
    site_in_t s2[] = {{20, TSR_SITE_INDEL, "ATT,AT,A,<*>", pl_b2, NULL, dp_b2}};
    tsr_evidence_t *b[2];
    b[0] = make_batch(NS, 0, s, 5, NULL, 0);
    b[1] = make_batch(1, NS, s2, 1, NULL, 0);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    tsr_callset_t *cs = NULL;
    assert_int_equal(tsr_joint_region(b, 2, REF, &o, &cs), TSR_OK);
    assert_int_equal(cs->n_samples, NS + 1);
    assert_int_equal(cs->n_sites, 4); /* 5, 7, 8, 20 */
    assert_int_equal(cs->pos[0], 5);
    assert_int_equal(cs->pos[1], 7);
    assert_int_equal(cs->pos[2], 8);
    assert_int_equal(cs->pos[3], 20);
    /* site 5: batch 2 has no record and no block -> its sample is missing */
    double af = cs->af[cs->af_off[0] + 1];
    assert_true(fabs(af - 0.3) < 0.02);
    assert_int_equal(cs->filter[0], 0);
    assert_true(cs->qual[0] > 100);
    assert_int_equal(cs->gt[(0 * (NS + 1) + NS) * 2], -1);
    /* site 7: weak, LowQual */
    assert_true(cs->qual[1] >= 1 && cs->qual[1] < 30);
    assert_int_equal(cs->filter[1], 1);
    /* site 20: REF re-padded to ATT; batch 1's A (deletion of T) becomes AT; the 2-base deletion
     * only batch 2's single het sample carries keeps expected count 1 >= 0.5 */
    /* site 8: C dropped, genotypes and PL re-indexed to A,T */
    char buf[64];
    site_alleles(cs, 2, buf);
    assert_string_equal(buf, "A,T");
    assert_int_equal(cs->n_alleles[2], 2);
    assert_memory_equal(cs->pl + cs->pl_off[2] + 100 * 3, ((int32_t[]){40, 0, 40}), 3 * sizeof(int32_t));
    assert_memory_equal(cs->pl + cs->pl_off[2] + 190 * 3, ((int32_t[]){90, 30, 0}), 3 * sizeof(int32_t));
    assert_true(fabs(cs->af[cs->af_off[2] + 1] - 0.3) < 0.02);
    assert_int_equal(cs->gt[(2 * (NS + 1) + 100) * 2 + 1], 1);
    site_alleles(cs, 3, buf);
    assert_string_equal(buf, "ATT,A,AT");
    /* batch 1's hom-alt samples are AT/AT = (2,2) in the union, batch 2's sample ATT/A = (0,1) */
    int64_t base = 3 * (int64_t)(NS + 1) * 2;
    assert_int_equal(cs->gt[base + 199 * 2], 2);
    assert_int_equal(cs->gt[base + 199 * 2 + 1], 2);
    assert_int_equal(cs->gt[base + NS * 2], 0);
    assert_int_equal(cs->gt[base + NS * 2 + 1], 1);
    tsr_callset_destroy(&cs);

    /* deterministic: the same input gives the same call set */
    tsr_callset_t *again = NULL;
    assert_int_equal(tsr_joint_region(b, 2, REF, &o, &cs), TSR_OK);
    assert_int_equal(tsr_joint_region(b, 2, REF, &o, &again), TSR_OK);
    assert_memory_equal(cs->qual, again->qual, (size_t)cs->n_sites * sizeof(float));
    assert_memory_equal(cs->af, again->af, (size_t)cs->af_off[cs->n_sites] * sizeof(float));
    tsr_callset_destroy(&cs);
    tsr_callset_destroy(&again);

    /* a REF that disagrees with the reference is refused */
    tsr_error_clear();
    assert_int_equal(tsr_joint_region(b, 2, "CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC", &o, &cs), TSR_ERR_FORMAT);
    assert_null(cs);
    assert_non_null(strstr(tsr_error_msg(), "reference"));
    tsr_error_clear();
    tsr_evidence_destroy(&b[0]);
    tsr_evidence_destroy(&b[1]);
}

/* ExcHet: 40 samples all confidently heterozygous; a site in Hardy-Weinberg proportions passes. */
static void test_joint_exchet(void **state)
{
    (void)state;
    enum { N = 40 };
    static int32_t pl_het[N * 6], pl_hwe[N * 6], dp[N];
    for (int j = 0; j < N; j++) {
        const int32_t het[6] = {200, 0, 200, 250, 250, 250};
        const int32_t hom_ref[6] = {0, 200, 400, 250, 250, 250};
        const int32_t hom_alt[6] = {400, 200, 0, 250, 250, 250};
        memcpy(pl_het + j * 6, het, sizeof het);
        /* 1/4 hom-alt, 1/2 het, 1/4 hom-ref */
        memcpy(pl_hwe + j * 6, j % 4 == 0 ? hom_alt : j % 4 == 1 ? hom_ref : het, sizeof het);
        dp[j] = 20;
    }
    site_in_t s[] = {{5, TSR_SITE_SNV, "A,T,<*>", pl_het, NULL, dp}, {9, TSR_SITE_SNV, "A,G,<*>", pl_hwe, NULL, dp}};
    tsr_evidence_t *b = make_batch(N, 0, s, 2, NULL, 0);
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    tsr_callset_t *cs = NULL;
    assert_int_equal(tsr_joint_region(&b, 1, REF, &o, &cs), TSR_OK);
    assert_int_equal(cs->n_sites, 2);
    assert_true(cs->filter[0] & TSR_FILTER_EXCHET);
    assert_false(cs->filter[1] & TSR_FILTER_EXCHET);
    assert_int_equal(cs->filter[1], 0);
    tsr_callset_destroy(&cs);
    /* a looser threshold lets the all-het site pass */
    o.max_exchet_phred = 1000;
    assert_int_equal(tsr_joint_region(&b, 1, REF, &o, &cs), TSR_OK);
    assert_false(cs->filter[0] & TSR_FILTER_EXCHET);
    tsr_callset_destroy(&cs);
    tsr_evidence_destroy(&b);
}

/*
 * An SNV in batch 1 and an insertion in batch 2 at the same position: one
 * site of three alleles, no sample missing (before the merge, batch 2's
 * sample had no block there and came out missing at the SNV).
 */
static void test_joint_merge_snv_indel(void **state)
{
    (void)state;
    const int32_t pl1[] = {300, 0, 300, 350, 350, 350}, dp1[] = {20};  /* A/T het */
    const int32_t pl2[] = {300, 0, 300, 350, 350, 350}, dp2[] = {20};  /* A/AG het */
    site_in_t s1[] = {{12, TSR_SITE_SNV, "A,T,<*>", pl1, NULL, dp1}};
    site_in_t s2[] = {{12, TSR_SITE_INDEL, "A,AG,<*>", pl2, NULL, dp2}};
    tsr_evidence_t *b[2] = {make_batch(1, 0, s1, 1, NULL, 0), make_batch(1, 1, s2, 1, NULL, 0)};
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    tsr_callset_t *cs = NULL;
    assert_int_equal(tsr_joint_region(b, 2, REF, &o, &cs), TSR_OK);
    assert_int_equal(cs->n_sites, 1);
    char buf[64];
    site_alleles(cs, 0, buf);
    assert_string_equal(buf, "A,AG,T");
    /* sample 0: A/T = (0,2); sample 1: A/AG = (0,1) */
    assert_memory_equal(cs->gt, ((int8_t[]){0, 2, 0, 1}), 4);
    tsr_callset_destroy(&cs);
    tsr_evidence_destroy(&b[0]);
    tsr_evidence_destroy(&b[1]);
}

/*
 * More alleles than the site may be genotyped over (max_alleles): the ALTs with the fewest reads go,
 * the run goes on. Five insertions at 5, sample j het for ALT j with 2(j+1) reads, sample 5 REF/REF:
 * at max_alleles 4 the three best-read ALTs remain, their carriers keep their het calls; at the
 * default every allele stays.
 */
static void test_joint_allele_cap(void **state)
{
    (void)state;
    enum { NSM = 6, NA = 7, G = NA * (NA + 1) / 2 }; /* A, 5 ALTs, <*> */
    int32_t pl[NSM * G], ad[NSM * NA], dp[NSM];
    for (int j = 0; j < NSM; j++) {
        for (int g = 0; g < G; g++)
            pl[j * G + g] = j < 5 ? (g == tsr_gt_index(0, 0) ? 60 : 90) : (g == 0 ? 0 : 60);
        if (j < 5)
            pl[j * G + tsr_gt_index(0, j + 1)] = 0;
        for (int a = 0; a < NA; a++)
            ad[j * NA + a] = a == 0 ? 5 : (a == j + 1 ? 2 * (j + 1) : 0);
        dp[j] = 5 + (j < 5 ? 2 * (j + 1) : 0);
    }
    site_in_t s1[] = {{5, TSR_SITE_INDEL, "A,AC,ACC,ACCC,AG,AGG,<*>", pl, ad, dp}};
    for (int cap = 0; cap < 2; cap++) {
        tsr_evidence_t *b[1] = {make_batch(NSM, 0, s1, 1, NULL, 0)};
        tsr_joint_opts_t o;
        tsr_joint_opts_init(&o);
        if (cap)
            o.max_alleles = 4;
        tsr_callset_t *cs = NULL;
        assert_int_equal(tsr_joint_region(b, 1, REF, &o, &cs), TSR_OK);
        assert_int_equal(cs->n_sites, 1);
        char buf[64];
        site_alleles(cs, 0, buf);
        assert_string_equal(buf, cap ? "A,ACCC,AG,AGG" : "A,AC,ACC,ACCC,AG,AGG");
        /* the carriers of ACCC, AG and AGG (samples 2-4) are het for it either way */
        for (int j = 2; j < 5; j++) {
            assert_int_equal(cs->gt[j * 2], 0);
            assert_int_equal(cs->gt[j * 2 + 1], cap ? j - 1 : j + 1);
        }
        assert_memory_equal(cs->gt + 10, ((int8_t[]){0, 0}), 2);
        tsr_callset_destroy(&cs);
        tsr_evidence_destroy(&b[0]);
    }
    tsr_joint_opts_t o;
    tsr_joint_opts_init(&o);
    o.max_alleles = 128;
    assert_int_equal(tsr_joint_opts_check(&o), TSR_ERR_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_joint_ref_blocks_and_missing),
        cmocka_unit_test(test_joint_allele_union),
        cmocka_unit_test(test_joint_em_frequency_and_filters),
        cmocka_unit_test(test_joint_exchet),
        cmocka_unit_test(test_joint_merge_snv_indel),
        cmocka_unit_test(test_joint_allele_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
