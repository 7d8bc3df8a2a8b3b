/*
 * joint_internal.h - private to the joint stage files (kernels/joint_*.c):
 * the types the stages hand each other and the functions one stage calls in
 * another. Nothing outside those files includes it; the joint computation's
 * entry points (tsr_joint_opts_init/check, tsr_joint_region) are in
 * kernels/kernels.h. The model is described at the top of
 * kernels/joint_region.c.
 */
#ifndef TSR_JOINT_INTERNAL_H
#define TSR_JOINT_INTERNAL_H

#include "io/io.h"
#include "kernels/kernels.h"

#include <math.h>
#include <stdint.h>

#define TSR_JOINT_MAX_ALLELES 127 /* genotypes are int8 allele indices */
#define TSR_JOINT_PL_TABLE 4096    /* PLs whose likelihood is looked up (cs_build_t.pl_lik) */

/* 10^(-pl/10): from the table (NULL: none) when pl is in it, else pow(). */
static inline double tsr_joint_pl_lik(const double *table, int32_t pl)
{
    return table && pl >= 0 && pl < TSR_JOINT_PL_TABLE ? table[pl] : pow(10.0, -pl / 10.0);
}

/* The growing output and its capacities; blk_hint[N]: per sample, where its reference-block search last ended
 * (tsr_joint_site_gather; freed by whoever set up the build). */
typedef struct cs_build {
    tsr_callset_t *cs;
    int64_t c_blob, c_af, c_ad, c_pl;
    int64_t *blk_hint;
    /* pl_lik[k] = 10^(-k/10) for PL k < TSR_JOINT_PL_TABLE, computed once a region with pow() as the EM
     * and the posteriors did per sample (the same values); freed by whoever set up the build */
    double *pl_lik;
    /* counts over the region: union sites, skipped by the pre-test, genotyped and kept, ALTs the
     * pre-test left out of kept sites' unions; with o->pretest_check, the skipped sites the EM kept */
    int64_t n_union, n_skipped, n_kept, n_pruned, n_missed;
} cs_build_t;

/* Per-site scratch over the cohort. */
typedef struct site_work {
    int n;          /* alleles */
    int32_t *pl;    /* N*G */
    int32_t *ad;    /* N*n */
    int32_t *sb;    /* N*n*2: forward, reverse reads per allele */
    int32_t *dp;    /* N */
    uint8_t *miss;  /* N */
    uint8_t *ploidy; /* N: 1 haploid (PL read at the homozygous genotypes), 2 diploid; 0 (no call) is miss */
    char **allele;  /* n */
} site_work_t;

/* Genotype prior under HWE for genotype index g = (a, b). */
static inline double tsr_joint_hwe_prior(const double *f, int a, int b)
{
    return a == b ? f[a] * f[a] : 2 * f[a] * f[b];
}

/* ------------------------------------------------ alleles (joint_alleles.c) */

/* Free a[0..n) and a; a may be NULL. */
void tsr_joint_strs_free(char **a, int n);

/*
 * Union alleles of a site into w->allele / w->n (owned by w; freed with
 * tsr_joint_strs_free): REF = the longest batch REF, ALTs re-padded,
 * distinct and sorted (at most max_alleles in all: the ALTs with the most
 * reads, with a warning). rec[2*b], rec[2*b+1] are batch b's records at pos
 * (-1: none); ref_seq (from `start`, may be NULL) checks REF. Errors:
 * TSR_ERR_FORMAT on REFs that disagree, TSR_ERR_NOMEM.
 */
tsr_status_t tsr_joint_site_alleles_union(tsr_evidence_t *const *bt, int nb, const int64_t *rec, int64_t pos,
                                          const char *ref_seq, int64_t start, int max_alleles,
                                          site_work_t *w) TSR_RESULT_USED;

/*
 * Fill w's cohort PL (flat 0 for missing), AD, strand counts, DP and missing
 * flags of one union site from every batch (records rec as above, else the
 * reference-confidence block covering pos). w->allele / w->n come from
 * tsr_joint_site_alleles_union; the arrays are the caller's, sized for N
 * samples and w->n alleles. blk_hint (N entries, any values; may be NULL)
 * speeds up the search of a sample's reference block when sites come in
 * increasing positions; the result does not depend on it. Errors: TSR_ERR_NOMEM.
 */
tsr_status_t tsr_joint_site_gather(tsr_evidence_t *const *bt, int nb, const int64_t *rec, int64_t pos,
                                   site_work_t *w, const tsr_joint_opts_t *o, int64_t *blk_hint) TSR_RESULT_USED;

/* ------------------------------------------------- pre-test (joint_pretest.c) */

/* One window's covered-sample counts per batch (blocks with DP > 0), for the pre-test. */
typedef struct tsr_joint_pretest tsr_joint_pretest_t;

/*
 * Set up the pre-test over one window's batches (sites then come in increasing positions); N samples
 * in all. *pt is destroyed with tsr_joint_pretest_destroy. Errors: TSR_ERR_NOMEM.
 */
tsr_status_t tsr_joint_pretest_create(tsr_evidence_t *const *bt, int nb, int64_t N, const tsr_joint_opts_t *o,
                                      tsr_joint_pretest_t **pt) TSR_RESULT_USED;
void tsr_joint_pretest_destroy(tsr_joint_pretest_t **pt);

/*
 * The pre-test of the union site at pos (records rec as above; positions increasing across calls):
 * keep[a] (TSR_JOINT_MAX_ALLELES + 1 entries; over the union of tsr_joint_site_alleles_union, REF
 * always 1) is 0 for an ALT whose expected count, bounded from the batches with a record there and the
 * count of covered samples elsewhere, cannot reach o->min_alt_count (the model: kernels/joint_pretest.c);
 * *skip 1 when no ALT can. Errors: TSR_ERR_FORMAT (as tsr_joint_site_alleles_union), TSR_ERR_NOMEM.
 */
tsr_status_t tsr_joint_site_pretest(tsr_joint_pretest_t *pt, tsr_evidence_t *const *bt, int nb,
                                    const int64_t *rec, int64_t pos, const char *ref_seq,
                                    const tsr_joint_opts_t *o, uint8_t *keep, int *skip) TSR_RESULT_USED;

/* ---------------------------------------------------------- EM (joint_em.c) */

/*
 * Genotype one union site of N samples (records rec as above): alleles, EM
 * fit, ALT dropping, QUAL; appends it to bld's call set through
 * tsr_joint_site_emit unless it is dropped. keep (NULL: all): the union's
 * alleles to genotype over (tsr_joint_site_pretest's), the others left out
 * before the gather.
 */
tsr_status_t tsr_joint_site_genotype(cs_build_t *bld, tsr_evidence_t *const *bt, int nb, const int64_t *rec,
                                     int64_t pos, const char *ref_seq, int64_t N, const tsr_joint_opts_t *o,
                                     const uint8_t *keep) TSR_RESULT_USED;

/* ---------------------------------------------------- output (joint_region.c) */

/*
 * Append the genotyped site w (fitted frequencies f, QUAL qual) to bld's call
 * set: posterior-argmax genotypes, GQ, LowQual and the other filters. post is
 * scratch of w->n*(w->n+1)/2 doubles. Errors: TSR_ERR_NOMEM.
 */
tsr_status_t tsr_joint_site_emit(cs_build_t *bld, const site_work_t *w, int64_t N, int64_t pos, const double *f,
                                 double qual, const tsr_joint_opts_t *o, double *post) TSR_RESULT_USED;

/* ---------------------------------------------------- filters (joint_filters.c) */

/*
 * Set the ExcHet and StrandBias bits of the site being emitted (index
 * cs->n_sites, its genotypes already written) from w's strand counts.
 * Errors: TSR_ERR_NOMEM.
 */
tsr_status_t tsr_joint_site_filters(tsr_callset_t *cs, const site_work_t *w, int64_t N,
                                    const tsr_joint_opts_t *o) TSR_RESULT_USED;

#endif
