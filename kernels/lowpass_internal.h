/*
 * lowpass_internal.h - private to kernels/: the pure computations of the
 * low-pass mode (issue 6), callable and unit-testable without MPI, a plan or
 * a scheduler. The kernel objects are in kernels/pipeline/lowpass_kernel.c; the entry
 * points (options, evidence and discovery of a region) are public in kernels/kernels.h.
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
#include "kernels/kernels.h"
#include "runtime/runtime.h"

#include <stdint.h>

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

/*
 * The same EM with row s standing for weight[s] identical samples (weight NULL: 1 each; tsr_lp_em is this with
 * NULL). The pooled pre-test (lowpass_discover.c) uses it to give one row the weight of every covered sample
 * without ALT observations.
 */
int tsr_lp_em_weighted(int n_rows, int n_alleles, const double *gl, const double *weight, int max_iter, double tol,
                       double *freq);

/* ln L(freq) = sum over samples of ln sum_g gl[g] P_HWE(g | freq). */
double tsr_lp_loglik(int n_samples, int n_alleles, const double *gl, const double *freq);
/* The same with row s counted weight[s] times (weight NULL: once). */
double tsr_lp_loglik_weighted(int n_rows, int n_alleles, const double *gl, const double *weight, const double *freq);

/*
 * The likelihood-ratio statistic for polymorphism, 2 (ln L(freq) - ln L(REF
 * only)), and its QUAL: -10 log10 P(chi2_1 > lrt), capped at max_qual.
 */
double tsr_lp_lrt(int n_samples, int n_alleles, const double *gl, const double *freq);
double tsr_lp_qual(double lrt, double max_qual);

/*
 * tsr_lp_discover_region (kernels.h) that also reports, when pretest_counts is non-NULL, the sites the pooled
 * pre-test examined ([0]) and those it found unable to reach min_site_qual, so no per-sample EM ran ([1]).
 */
tsr_status_t tsr_lp_discover_region_counted(tsr_lp_evidence_t *const *batches, int n_batches, const int *sample_pop,
                                            int n_pops, const tsr_lp_opts_t *o, int64_t window_sites,
                                            tsr_lp_sink_t sink, void *ctx, int64_t *pretest_counts) TSR_RESULT_USED;

#endif /* TSR_LOWPASS_INTERNAL_H */
