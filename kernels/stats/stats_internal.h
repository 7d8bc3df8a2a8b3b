/*
 * stats_internal.h - private to kernels/stats/: what the cohort writer and
 * `tessera stats` share beyond the public interface. Nothing outside
 * kernels/stats/ (and its tests) includes it.
 */
#ifndef TSR_STATS_INTERNAL_H
#define TSR_STATS_INTERNAL_H

#include "kernels/stats/stats.h"
#include "runtime/runtime.h"

#include <htslib/vcf.h>

/* ------------------------------------------- stats.tsv columns (site_stats.c) */

/*
 * The statistics columns of stats.tsv, shared by the cohort writer and
 * `tessera stats`: for the cohort and then each population (suffix
 * "_<pop>"), AC AN AF NS nhet nhomalt F_MISSING HWE ExcHet F (per-ALT columns
 * comma-separated, missing values "."). Append the header names (each
 * preceded by a tab) or one site's values; 0 or -1 on out of memory.
 */
int tsr_site_stats_tsv_header(tsr_str_t *s, int n_pops, char *const *pops);
int tsr_site_stats_tsv_values(tsr_str_t *s, const tsr_site_stats_t *st);

/* ------------------------------------------------ fast paths and their references */

/*
 * tsr_site_stats_compute with the counting pass chosen: per_sample = 1 forces
 * the per-sample pass (the reference the tests compare the histogram pass
 * against), 0 picks as tsr_site_stats_compute does. Same returns.
 */
int tsr_site_stats_compute_path(tsr_site_stats_t *st, const int32_t *gt, int n_alleles, int per_sample);

/*
 * The samples whose diploid call gt[2j], gt[2j + 1] is not hom-ref (0, 0), in
 * increasing order, into nz (n_samples entries); returns how many. Hom-ref is
 * most calls, and the "listed" functions below touch only these samples.
 */
int tsr_gt_list_not_homref(const int32_t *gt, int n_samples, int *nz);

/*
 * tsr_site_stats_compute given nz, the m samples tsr_gt_list_not_homref lists
 * for gt (the others are hom-ref and are counted from the group sizes). Same
 * results and returns.
 */
int tsr_site_stats_compute_listed(tsr_site_stats_t *st, const int32_t *gt, int n_alleles, const int *nz, int m);

/* tsr_cohort_acc_add_site_af given nz and m as above. Same results and returns. */
tsr_status_t tsr_cohort_acc_add_site_listed(tsr_cohort_acc_t *acc, const char *const *alleles, int n_alleles,
                                            const int32_t *gt, const int32_t *dp, const float *af, const int *nz,
                                            int m);

/*
 * Decode FORMAT/GT of an unpacked (BCF_UN_FMT) record straight from its
 * BCF-encoded bytes (int8, int16 or int32 values) into n_samples * 2 diploid
 * allele indices: -1 missing allele, -2 no second allele (haploid call),
 * phasing ignored; every sample -1 when the record has no GT (gt_id < 0:
 * the header defines none). Returns 0; -1 - j when sample j has more than two
 * alleles; INT32_MIN for a GT of another value type. Equals the values
 * bcf_get_genotypes gives, mapped the same way (vcf_stats.c).
 */
int tsr_vcf_gt_decode(const bcf1_t *rec, int gt_id, int n_samples, int32_t *gt_dip);

/*
 * tsr_vcf_gt_decode that also lists, when nz is not NULL, the samples
 * tsr_gt_list_not_homref would list for the decoded calls (*n_nz of them;
 * nz holds n_samples entries; n_nz is left alone when nz is NULL). Same
 * returns; on error nz is undefined.
 */
int tsr_vcf_gt_decode_listed(const bcf1_t *rec, int gt_id, int n_samples, int32_t *gt_dip, int *nz, int *n_nz);

/* ------------------------------------------------ number text (num_format.c) */

/*
 * The text snprintf gives for "%" PRId64, "%.<prec>g" and "%.<prec>f", written
 * faster: at b (at least TSR_NUM_FORMAT_MAX bytes), NUL-terminated; returns
 * the length. Equal to snprintf for every input (inputs the fast path cannot
 * vouch for go through snprintf); "%f" text longer than TSR_NUM_FORMAT_MAX - 1
 * is cut there.
 */
#define TSR_NUM_FORMAT_MAX 64
int tsr_num_format_int(char *b, int64_t v);
int tsr_num_format_g(char *b, double v, int prec);
int tsr_num_format_fixed(char *b, double v, int prec);

#endif /* TSR_STATS_INTERNAL_H */
