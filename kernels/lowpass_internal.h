/*
 * lowpass_internal.h - private to kernels/: the pure computations of the
 * low-pass mode (issue 6), callable and unit-testable without MPI, a plan or
 * a scheduler. The kernel objects are in kernels/lowpass_kernel.c.
 *
 * Model (kernels/README.md, "Low-pass mode"). For one sample at one site with
 * alleles 0..n-1, each observation of allele a with phred quality q (error
 * e = 10^(-q/10) clamped to [1e-5, 0.75]) has P(a | allele b) = 1-e when
 * a == b, else e/3; a diploid genotype {j,k} gives P(obs | jk) =
 * (P(obs|j) + P(obs|k)) / 2, and the sample's genotype likelihood is the
 * product over its observations. Genotypes are in VCF order (tsr_lp_gt_index).
 */
#ifndef TSR_LOWPASS_INTERNAL_H
#define TSR_LOWPASS_INTERNAL_H

#include "io/io.h"
#include "runtime/runtime.h"

#include <stdint.h>

/* Options of the low-pass computations. Defaults from tsr_lp_opts_init(). */
typedef struct tsr_lp_opts {
    const char *ref_path;   /* the reference, to decode CRAM inputs (NULL: BAM only) */
    int min_mapq;           /* reads below are skipped (default 20) */
    int min_baseq;          /* bases below are not observed (default 13) */
    int indel_qual;         /* phred of an indel observation, capped by MAPQ (default 30) */
    double max_ref_qual;    /* the per-sample reference quality is capped here (default 40) */
    int min_alt_obs;        /* a site needs this many non-reference observations in the cohort (default 2) */
    double min_alt_count;   /* an ALT whose EM expected count (2 N_data f) is below is dropped (default 0.5) */
    int max_iter;           /* EM iterations at most (default 100) */
    double tol;             /* EM stops when no frequency moves more than this (default 1e-7) */
    double min_site_qual;   /* sites below this QUAL are not reported (default 10) */
    double min_qual;        /* sites below this QUAL are filtered LowQual (default 30) */
    double max_qual;        /* QUAL cap (default 9999) */
} tsr_lp_opts_t;

void tsr_lp_opts_init(tsr_lp_opts_t *o);

static inline int tsr_lp_gt_index(int a, int b)
{
    if (a > b) {
        int t = a;
        a = b;
        b = t;
    }
    return b * (b + 1) / 2 + a;
}

/*
 * Add the natural-log likelihoods of `count` observations of allele `a` with
 * quality `qual` to lgl[0..G) for a site of n_alleles alleles.
 */
void tsr_lp_gl_add(double *lgl, int n_alleles, int a, double qual, double count);

/*
 * EM allele frequencies under Hardy-Weinberg: gl holds n_samples rows of G
 * genotype likelihoods (any positive scale per row; a row of all-equal values
 * carries no information); freq (n_alleles) is the start and receives the
 * estimate. Returns the iterations run.
 */
int tsr_lp_em(int n_samples, int n_alleles, const double *gl, int max_iter, double tol, double *freq);

/* ln L(freq) = sum over samples of ln sum_g gl[g] P_HWE(g | freq). */
double tsr_lp_loglik(int n_samples, int n_alleles, const double *gl, const double *freq);

/*
 * The likelihood-ratio statistic for polymorphism, 2 (ln L(freq) - ln L(REF
 * only)), and its QUAL: -10 log10 P(chi2_1 > lrt), capped at max_qual.
 */
double tsr_lp_lrt(int n_samples, int n_alleles, const double *gl, const double *freq);
double tsr_lp_qual(double lrt, double max_qual);

/*
 * Low-pass evidence of one region for one batch: each sample's indexed
 * BAM/CRAM over contig:[start, end) (read filters as the deep caller: MAPQ,
 * base quality, unmapped/secondary/supplementary/QC-fail/duplicate records,
 * overlapping mates counted once). ref_seq covers [start, start + ref_len)
 * with ref_len >= end - start. Samples run on `pool` when non-NULL. Not
 * collective. *out is destroyed with tsr_lp_evidence_destroy().
 */
tsr_status_t tsr_lp_evidence_region(const char *ref_seq, int64_t ref_len, const char *contig, int64_t start,
                                    int64_t end, int n_samples, const char *const *sample_ids,
                                    const char *const *aln_paths, const tsr_lp_opts_t *o, tsr_pool_t *pool,
                                    tsr_lp_evidence_t **out) TSR_RESULT_USED;

/*
 * Discovery and frequencies of one region over all its batches (in batch
 * order; the cohort is the batches' samples concatenated): union of sites
 * and alleles, genotype likelihoods, EM frequencies for the cohort and per
 * population (sample_pop[j] in [0, n_pops)), LRT -> QUAL, posteriors with
 * the sample's population frequency as prior -> GT (missing without reads),
 * GQ, GP, DS, PL, AD, DP. The sites go to `sink` in windows of window_sites
 * (the last may be shorter; none when the region has no site), each a
 * low-pass call set whose offsets start at 0, valid during the call only:
 * the region's call set is never held whole. Deterministic. Not collective.
 */
typedef tsr_status_t (*tsr_lp_sink_t)(void *ctx, const tsr_callset_t *window);
tsr_status_t tsr_lp_discover_region(tsr_lp_evidence_t *const *batches, int n_batches, const int *sample_pop,
                                    int n_pops, const tsr_lp_opts_t *o, int64_t window_sites, tsr_lp_sink_t sink,
                                    void *ctx) TSR_RESULT_USED;

#endif /* TSR_LOWPASS_INTERNAL_H */
